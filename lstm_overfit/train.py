"""The training loop: one optimizer step, an epoch's training pass, its evaluation, its
record and its checkpoints.

`last.pt` is written after every epoch with everything needed to continue bit for bit
(checkpoints.py); a signal that lands before an epoch's last batch writes it mid-epoch,
after the current batch. `fit.py` runs the epochs and records how the run ended.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from lstm_overfit.build import build_run, describe
from lstm_overfit.checkpoints import capture, save_checkpoint
from lstm_overfit.config import Config, OptimizerName
from lstm_overfit.optim import (
    averaged_weights,
    averaging_due,
    averaging_optimizer,
    epoch_lr,
    set_lr,
)
from lstm_overfit.records import EarlyStopper, EpochRecord, JsonlWriter, RunSummary
from lstm_overfit.regularizers import batch_penalty
from lstm_overfit.stopping import Diverged, Interrupted

log = logging.getLogger(__name__)

# How often (in batches) the running loss is read back, for the progress display and the
# divergence check: reading it every batch would stall a GPU.
CHECK_EVERY = 10
# Kept on the device: the sums of the batches' loss, penalty and gradient norm, and the
# largest batch loss (NaN once any was NaN), which the divergence check reads.
SUM_KEYS = ("loss", "penalty", "grad_norm", "worst")


class Observer(Protocol):
    """Follows the run's epochs and its end: the progress bar, the TensorBoard writer."""

    def start_epoch(self, epoch: int, num_batches: int) -> None: ...

    def batch_done(self, running_loss: float | None) -> None: ...

    def end_epoch(self, record: EpochRecord) -> None: ...

    def end_run(self, summary: RunSummary) -> None: ...


class TrainingRun:
    """One training run: the state the epoch loop shares, and the files it writes."""

    def __init__(self, cfg: Config, out_dir: Path, observers: Sequence[Observer] = ()) -> None:
        self.cfg, self.out_dir, self.observers = cfg, out_dir, list(observers)
        parts = build_run(cfg)
        self.num_threads = parts.num_threads
        self.device = parts.device
        self.autocast = parts.autocast
        self.data = parts.data
        self.model = parts.model
        self.pretrained_coverage = parts.pretrained_coverage
        self.task = parts.task
        self.params = parts.params
        self.penalty = parts.penalty
        self.optimizer = parts.optimizer
        self.train_sample = parts.train_sample
        self.max_loss = parts.max_loss
        self.averaging = False  # NT-ASGD has switched to averaged SGD
        self.order_gen = torch.Generator().manual_seed(cfg.seed)
        self.stopper = EarlyStopper(cfg.reg.early_stopping)
        self.records: list[EpochRecord] = []
        self.first_epoch = 1
        self.partial: dict[str, Any] | None = None  # a mid-epoch position to continue from
        self.earlier_seconds = 0.0  # wall time of the invocations before a resume
        self.stop_signal: int | None = None
        self.started = time.perf_counter()
        self.checkpoints = out_dir / "checkpoints"
        self.metrics = JsonlWriter(out_dir / "metrics.jsonl")
        log.info("%s", describe(cfg, parts))

    def switch_to_averaging(self) -> None:
        self.optimizer = averaging_optimizer(self.optimizer, self.cfg.optim.lr)
        self.averaging = True

    # -- the loop ---------------------------------------------------------------------

    def _check(self, sums: dict[str, Any], epoch: int, batch: int) -> float:
        """The running loss; raises Diverged if a batch's loss was non-finite or too large."""
        loss, worst = torch.stack((sums["loss"], sums["worst"])).tolist()  # one read-back
        if not math.isfinite(worst) or worst > self.max_loss:
            raise Diverged(
                f"the training loss became non-finite or above {self.max_loss:.4g} in epoch "
                f"{epoch} (by batch {batch})"
            )
        return loss / sums["examples"]

    def _step(self, batch: Any, lr: float, sums: dict[str, Any]) -> None:
        """One optimizer step on one batch, its figures added to `sums`."""
        with self.autocast:
            result = self.task.step(self.model, batch)
            penalty = batch_penalty(self.cfg.reg, self.penalty, result.hidden)
        objective = result.loss if penalty is None else result.loss + penalty
        if result.objective_scale != 1.0:
            objective = objective * result.objective_scale
        self.optimizer.zero_grad(set_to_none=True)
        objective.backward()
        # The norm before clipping is recorded whether or not it clips.
        norm = nn.utils.get_total_norm([p.grad for p in self.params if p.grad is not None])
        if self.cfg.reg.grad_clip > 0:
            nn.utils.clip_grads_with_norm_(self.params, self.cfg.reg.grad_clip, norm)
        if result.lr_scale != 1.0:
            set_lr(self.optimizer, lr * result.lr_scale)
        self.optimizer.step()
        if result.lr_scale != 1.0:
            set_lr(self.optimizer, lr)
        data_loss = result.loss.detach()
        sums["grad_norm"] += norm
        sums["worst"] = torch.maximum(sums["worst"], data_loss)
        sums["loss"].add_(data_loss, alpha=result.examples)
        if penalty is not None:
            sums["penalty"] += penalty.detach()
        sums["examples"] += result.examples
        sums["tokens"] += result.tokens

    def train_epoch(self, epoch: int, lr: float) -> dict[str, float]:
        self.model.train()
        set_lr(self.optimizer, lr)
        order_before = self.order_gen.get_state()
        batches = self.task.epoch_batches(self.order_gen)
        zero = torch.zeros((), device=self.device)
        sums: dict[str, Any] = {key: zero.clone() for key in SUM_KEYS}
        sums["worst"].fill_(-math.inf)
        sums.update(examples=0, tokens=0, seconds=0.0)
        done = 0
        if self.partial is not None:  # continue an epoch a signal stopped
            sums, done = self.partial["sums"], self.partial["batches_done"]
            self.task.load_state_dict(self.partial["task"])
            self.partial = None
        for observer in self.observers:
            observer.start_epoch(epoch, len(batches))
        start = time.perf_counter() - sums["seconds"]
        for i, batch in enumerate(batches[done:], done + 1):
            self._step(batch, lr, sums)
            checked = i % CHECK_EVERY == 0 or i == len(batches)
            running = self._check(sums, epoch, i) if checked else None
            for observer in self.observers:
                observer.batch_done(running)
            if self.stop_signal is not None and i < len(batches):
                sums["seconds"] = time.perf_counter() - start
                partial = {"batches_done": i, "sums": sums, "task": self.task.state_dict()}
                self.order_gen.set_state(order_before)  # replayed on resume
                save_checkpoint(capture(self, epoch - 1, partial), self.checkpoints / "last.pt")
                raise Interrupted(self.stop_signal)
        seconds = time.perf_counter() - start
        return {
            "train_loss_running": sums["loss"].item() / sums["examples"],
            "penalty": sums["penalty"].item() / len(batches),
            "grad_norm": sums["grad_norm"].item() / len(batches),
            "tokens_per_second": sums["tokens"] / seconds,
        }

    def run_epoch(self, epoch: int) -> EpochRecord:
        cfg = self.cfg
        start = time.perf_counter()
        lr = epoch_lr(cfg.optim, epoch)
        fit_stats = self.train_epoch(epoch, lr)
        eval_start = time.perf_counter()
        # NT-ASGD evaluates (and keeps as best) the averaged weights.
        with averaged_weights(self.optimizer), self.autocast:
            on_train = self.task.evaluate(self.model, self.train_sample)
            on_val = self.task.evaluate(self.model, self.data.val)
            end = time.perf_counter()
            train_loss, val_loss = on_train.pop("loss"), on_val.pop("loss")
            record = EpochRecord(
                epoch=epoch,
                train_loss=train_loss,
                val_loss=val_loss,
                gap=val_loss - train_loss,
                lr=lr,
                epoch_seconds=end - start,
                eval_seconds=end - eval_start,
                ended_at=time.time(),
                task_metrics={
                    **{f"train_{k}": v for k, v in on_train.items()},
                    **{f"val_{k}": v for k, v in on_val.items()},
                },
                **fit_stats,
            )
            if not math.isfinite(record.val_loss):
                raise Diverged(f"the validation loss became non-finite in epoch {epoch}")
            # The record first, then the checkpoints: a kill between the two leaves a record
            # that resume drops and recomputes, never a checkpoint without its record.
            self.records.append(record)
            self.metrics.append(record.to_dict())
            if self.stopper.update(epoch, record.val_loss):
                save_checkpoint(capture(self, epoch), self.checkpoints / "best.pt")
        metric = self.task.metric
        log.info(
            "epoch %d/%d  train %.4f  val %.4f  gap %+.4f  val_%s %.4g  (%.1f s)",
            epoch,
            cfg.train.epochs,
            record.train_loss,
            record.val_loss,
            record.gap,
            metric,
            record.task_metrics[f"val_{metric}"],
            record.epoch_seconds,
        )
        val_losses = [r.val_loss for r in self.records]
        if (
            cfg.optim.name == OptimizerName.nt_asgd
            and not self.averaging
            and averaging_due(val_losses, cfg.optim.nonmono)
        ):
            self.switch_to_averaging()
            log.info("NT-ASGD: averaging the weights from epoch %d on", epoch + 1)
        save_checkpoint(capture(self, epoch), self.checkpoints / "last.pt")
        for observer in self.observers:
            observer.end_epoch(record)
        if self.stop_signal is not None:
            raise Interrupted(self.stop_signal)
        return record
