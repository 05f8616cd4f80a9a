"""The training loop: fit, evaluate, early stopping, divergence, and the records.

A run can stop four ways besides completing: early stopping, divergence (a non-finite loss,
or one above a bound), a signal (SIGINT/SIGTERM: the current batch finishes, then the run
saves and stops), or an error. summary.json is written in every case. `last.pt` is written
after every epoch, and mid-epoch when a signal stops the run, with everything needed to
continue bit for bit (checkpoints.py).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from lstm_overfit.build import build_run, describe
from lstm_overfit.checkpoints import capture, load_checkpoint, restore, save_checkpoint
from lstm_overfit.config import Config, Logger, OptimizerName
from lstm_overfit.optim import (
    averaged_weights,
    averaging_due,
    averaging_optimizer,
    epoch_lr,
    set_lr,
)
from lstm_overfit.records import (
    FINISHED,
    EarlyStopper,
    EpochRecord,
    JsonlWriter,
    RunSummary,
    atomic_write_json,
    curve_summary,
)
from lstm_overfit.regularizers import batch_penalty
from lstm_overfit.runtime import versions
from lstm_overfit.stopping import Diverged, Interrupted, stop_on_signals
from lstm_overfit.tasks import ForecastTask

log = logging.getLogger(__name__)

# How often (in batches) the running loss is read back, for the progress display and the
# divergence check: reading it every batch would stall a GPU.
CHECK_EVERY = 10
# Kept on the device: the sums of the batches' loss, penalty and gradient norm, and the
# largest batch loss (NaN once any was NaN), which the divergence check reads.
SUM_KEYS = ("loss", "penalty", "grad_norm", "worst")


class Observer(Protocol):
    """Follows the loop: the progress bar, the TensorBoard writer."""

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

    def test_at_best(self) -> dict[str, float] | None:
        best = self.checkpoints / "best.pt"
        if not best.exists():
            return None
        self.model.load_state_dict(load_checkpoint(best, self.device)["model"])
        with self.autocast:
            return self.task.evaluate(self.model, self.data.test)

    def summary(self, status: str, test: dict | None, error: str | None) -> RunSummary:
        train = self.cfg.train
        curves = curve_summary(
            self.records, self.stopper.best_epoch, train.onset_patience, train.onset_min_rise
        )
        last = self.records[-1].task_metrics if self.records else {}
        bayes = self.data.bayes_loss or {}
        forecasting = isinstance(self.task, ForecastTask)
        return RunSummary(
            **asdict(curves),
            status=status,
            bayes_val_loss=bayes.get("val"),
            bayes_test_loss=bayes.get("test"),
            final_train_acc_clean=last.get("train_acc_clean"),
            final_train_acc_flipped=last.get("train_acc_flipped"),
            naive_forecast=self.task.naive_forecast() if forecasting else None,
            pretrained_coverage=self.pretrained_coverage,
            test=test,
            reg=self.cfg.reg.active(),
            seed=self.cfg.seed,
            num_threads=self.num_threads,
            device=str(self.device),
            error=error,
            wall_seconds=self.earlier_seconds + time.perf_counter() - self.started,
            versions=versions(),
        )


def _stopped_early(run: TrainingRun) -> bool:
    if run.stopper.should_stop:
        log.info(
            "early stopping after epoch %d: no better validation loss for %d epochs",
            run.records[-1].epoch if run.records else 0,
            run.stopper.patience,
        )
    return run.stopper.should_stop


def fit(
    cfg: Config, out_dir: Path, observers: Sequence[Observer] = (), resume: bool = False
) -> RunSummary:
    """Train one run into `out_dir` (continuing it with `resume`); return the summary.

    summary.json is written however the run ends. Divergence ends the run with status
    `diverged`; a signal raises Interrupted and an error re-raises, both after the summary.
    """
    observers = list(observers)
    if cfg.logger == Logger.tensorboard:
        from lstm_overfit.tensorboard import TensorBoardWriter

        observers.append(TensorBoardWriter(out_dir, cfg))
    run = TrainingRun(cfg, out_dir, observers)
    run.checkpoints.mkdir(parents=True, exist_ok=True)
    if resume:
        restore(run)
    status, test, error = "completed", None, None
    try:
        with stop_on_signals(run):
            if _stopped_early(run):
                status = "stopped_early"
            else:
                for epoch in range(run.first_epoch, cfg.train.epochs + 1):
                    run.run_epoch(epoch)
                    if _stopped_early(run):
                        status = "stopped_early"
                        break
    except Diverged as err:
        status, error = "diverged", str(err)
        log.error("%s; stopping (the best checkpoint so far is kept)", err)
    except Interrupted:
        status = "interrupted"
        raise
    except BaseException as err:
        status, error = "failed", f"{type(err).__name__}: {err}"
        raise
    finally:
        if status in FINISHED:
            test = run.test_at_best()
        summary = run.summary(status, test, error)
        atomic_write_json(out_dir / "summary.json", summary.to_dict())
        if run.records:
            from lstm_overfit.plots import plot_curves

            plot_curves(run.records, summary, cfg, out_dir / "curves.png")
        for observer in run.observers:
            observer.end_run(summary)
    return summary
