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
from lstm_overfit.checkpoints import RunState, save_checkpoint
from lstm_overfit.config import Config
from lstm_overfit.optim import epoch_lr
from lstm_overfit.regularizers.contract import PenaltyInputs
from lstm_overfit.run_folder import EpochRecord, RunSummary
from lstm_overfit.stopping import BestEpoch, Diverged, Interrupted
from lstm_overfit.storage import JsonlWriter

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
    """One training run: what it is made of (`parts`, fixed once built), its state (`state`,
    what checkpoints save), its history (`records`) and the files it writes."""

    def __init__(self, cfg: Config, out_dir: Path, observers: Sequence[Observer] = ()) -> None:
        self.cfg, self.out_dir, self.observers = cfg, out_dir, list(observers)
        self.parts = build_run(cfg)
        self.state = RunState(
            model=self.parts.model,
            optimizer=self.parts.optimizer,
            order=torch.Generator().manual_seed(cfg.seed),
            best=BestEpoch(),
            regularizers=self.parts.regularizers,
            num_threads=self.parts.num_threads,
        )
        self.records: list[EpochRecord] = []
        self.stop_signal: int | None = None
        self.checkpoints = out_dir / "checkpoints"
        self.metrics = JsonlWriter(out_dir / "metrics.jsonl")
        log.info("%s", describe(cfg, self.parts))

    def save(self, name: str) -> None:
        save_checkpoint(self.checkpoints / name, self.state, self.cfg)

    # -- the loop ---------------------------------------------------------------------

    def _check(self, sums: dict[str, Any], epoch: int, batch: int) -> float:
        """The running loss; raises Diverged if a batch's loss was non-finite or too large."""
        loss, worst = torch.stack((sums["loss"], sums["worst"])).tolist()  # one read-back
        if not math.isfinite(worst) or worst > self.parts.max_loss:
            raise Diverged(
                f"the training loss became non-finite or above {self.parts.max_loss:.4g} in epoch "
                f"{epoch} (by batch {batch})"
            )
        return loss / sums["examples"]

    def _step(self, batch: Any, lr: float, sums: dict[str, Any]) -> None:
        """One optimizer step on one batch, its figures added to `sums`."""
        parts, model, optimizer = self.parts, self.state.model, self.state.optimizer
        with parts.autocast:
            result = parts.task.step(model, batch)
            penalty = parts.regularizers.penalty(PenaltyInputs(model, result.hidden))
        objective = result.loss if penalty is None else result.loss + penalty
        if result.objective_scale != 1.0:
            objective = objective * result.objective_scale
        optimizer.zero_grad()
        objective.backward()
        # The norm before clipping is recorded whether or not it clips.
        norm = nn.utils.get_total_norm([p.grad for p in parts.params if p.grad is not None])
        parts.regularizers.clip_gradients(parts.params, norm)
        if result.lr_scale != 1.0:
            optimizer.set_lr(lr * result.lr_scale)
        optimizer.step()
        if result.lr_scale != 1.0:
            optimizer.set_lr(lr)
        data_loss = result.loss.detach()
        sums["grad_norm"] += norm
        sums["worst"] = torch.maximum(sums["worst"], data_loss)
        sums["loss"].add_(data_loss, alpha=result.examples)
        if penalty is not None:
            sums["penalty"] += penalty.detach()
        sums["examples"] += result.examples
        sums["tokens"] += result.tokens

    def train_epoch(self, epoch: int, lr: float) -> dict[str, float]:
        state, task = self.state, self.parts.task
        state.model.train()
        state.optimizer.set_lr(lr)
        order_before = state.order.get_state()
        batches = task.epoch_batches(state.order)
        zero = torch.zeros((), device=self.parts.device)
        sums: dict[str, Any] = {key: zero.clone() for key in SUM_KEYS}
        sums["worst"].fill_(-math.inf)
        sums.update(examples=0, tokens=0, seconds=0.0)
        done = 0
        if state.partial is not None:  # continue an epoch a signal stopped
            sums, done = state.partial["sums"], state.partial["batches_done"]
            task.load_state_dict(state.partial["task"])
            state.partial = None
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
                state.partial = {"batches_done": i, "sums": sums, "task": task.state_dict()}
                state.order.set_state(order_before)  # replayed on resume
                self.save("last.pt")
                raise Interrupted(self.stop_signal)
        seconds = time.perf_counter() - start
        return {
            "train_loss_running": sums["loss"].item() / sums["examples"],
            "penalty": sums["penalty"].item() / len(batches),
            "grad_norm": sums["grad_norm"].item() / len(batches),
            "tokens_per_second": sums["tokens"] / seconds,
        }

    def run_epoch(self, epoch: int) -> EpochRecord:
        cfg, parts, state = self.cfg, self.parts, self.state
        start = time.perf_counter()
        lr = epoch_lr(cfg.optim, epoch)
        fit_stats = self.train_epoch(epoch, lr)
        eval_start = time.perf_counter()
        # NT-ASGD evaluates (and keeps as best) the averaged weights.
        with state.optimizer.averaged_weights(), parts.autocast:
            on_train = parts.task.evaluate(state.model, parts.train_sample)
            on_val = parts.task.evaluate(state.model, parts.data.val)
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
            state.epoch = epoch
            if state.best.update(epoch, record.val_loss):
                self.save("best.pt")
        metric = parts.task.metric
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
        if state.optimizer.epoch_done([r.val_loss for r in self.records]):
            log.info("NT-ASGD: averaging the weights from epoch %d on", epoch + 1)
        self.save("last.pt")
        for observer in self.observers:
            observer.end_epoch(record)
        if self.stop_signal is not None:
            raise Interrupted(self.stop_signal)
        return record
