"""The training loop: fit, evaluate, early stopping, checkpoints and resume, the records.

A run can stop four ways besides completing: early stopping, divergence (a non-finite or
exploding loss), a signal (SIGINT/SIGTERM: the current batch finishes, then the run saves
and stops), or an error. summary.json is written in every case. `last.pt` is written after
every epoch, and mid-epoch when a signal stops the run, with everything needed to continue
bit for bit: model, optimizer, schedule, early-stopping state, RNG states, the epoch's batch
order and position, and the running sums.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

import lstm_overfit
from lstm_overfit.checkpoints import load_checkpoint
from lstm_overfit.config import Config, ConfigError, Device, Precision, active_regularizers
from lstm_overfit.data import load_data
from lstm_overfit.embeddings import load_pretrained
from lstm_overfit.models import BackboneOutput, build_model
from lstm_overfit.optim import (
    build_optimizer,
    step_decay,
    total_norm,
    upgrade_optimizer_state,
    upgrade_schedule_state,
)
from lstm_overfit.records import (
    EarlyStopper,
    EpochRecord,
    JsonlWriter,
    atomic_torch_save,
    atomic_write_json,
    curve_summary,
    read_jsonl,
    write_jsonl,
)
from lstm_overfit.regularizers import (
    activation_penalty,
    penalized_parameters,
    penalty_fn,
    temporal_activation_penalty,
)
from lstm_overfit.stopping import Diverged, Interrupted, stop_on_signals
from lstm_overfit.tasks import make_task

log = logging.getLogger(__name__)

# How often (in batches) the running loss is read back: for the progress display and the
# divergence check. Reading it every batch would stall a GPU.
CHECK_EVERY = 10
# Kept on the device: the sums of the batches' loss, penalty and gradient norm, and the
# largest batch loss (NaN once any was NaN), which the divergence check reads.
SUM_KEYS = ("loss", "penalty", "grad_norm", "worst")
# The default training sample is never cut below this many examples (tokens for language
# models): a smaller sample's loss is too noisy to read a gap from, and costs little anyway.
MIN_TRAIN_SAMPLE = 256


def upgrade_sums(sums: dict[str, Any]) -> dict[str, Any]:
    """Running sums saved mid-epoch by earlier releases counted bad batches ("bad") where
    the largest batch loss is kept now: a count above zero becomes NaN, which the next check
    reports as divergence, as it would have been."""
    if "bad" in sums:
        sums["worst"] = torch.where(sums.pop("bad") > 0, math.nan, -math.inf)
    return sums


class Observer(Protocol):
    """Receives progress from the loop (the CLI shows it as a progress bar)."""

    def start_epoch(self, epoch: int, num_batches: int) -> None: ...

    def batch_done(self, running_loss: float | None) -> None: ...

    def end_epoch(self, record: EpochRecord) -> None: ...


class _Silent:
    def start_epoch(self, epoch: int, num_batches: int) -> None:
        pass

    def batch_done(self, running_loss: float | None) -> None:
        pass

    def end_epoch(self, record: EpochRecord) -> None:
        pass


def resolve_device(device: Device) -> torch.device:
    if device == Device.auto:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == Device.cuda and not torch.cuda.is_available():
        raise ConfigError("device=cuda but no CUDA device is available; use device=auto or cpu")
    return torch.device(device.value)


def cpu_has_bf16() -> bool:
    """Whether this CPU has native bf16 arithmetic (AVX-512 BF16 or AMX), which oneDNN's
    LSTM kernel needs to run bf16."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(check()) if check is not None else False
    except RuntimeError:
        return False


def autocast_for(precision: Precision, device: torch.device) -> AbstractContextManager:
    """The context the forward passes run in: bf16 autocast, or nothing.

    bf16 runs on CUDA, and on CPUs with native bf16; elsewhere oneDNN's LSTM kernel fails
    under bf16 autocast and the fallback is many times slower than float32.
    """
    if precision == Precision.fp32:
        return nullcontext()
    if device.type == "cpu" and not cpu_has_bf16():
        raise ConfigError(
            "train.precision=bf16 needs a CUDA device or a CPU with native bf16 (AVX-512 BF16 "
            "or AMX), and this CPU has neither: use train.precision=fp32"
        )
    return torch.autocast(device.type, dtype=torch.bfloat16)


def default_train_sample_size(train: int, val: int) -> int:
    """Size of the training sample that train_loss is measured on when none is configured
    (examples; tokens for language models): as large as the validation split, so both losses
    of the gap are equally precise, but at most a tenth of the training split (and no less
    than MIN_TRAIN_SAMPLE), so its forward pass costs about a thirtieth of a training pass."""
    return min(val, max(train // 10, MIN_TRAIN_SAMPLE))


def _versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lstm_overfit": lstm_overfit.__version__,
    }


class TrainingRun:
    """One training run: the state the epoch loop shares, and the files it writes."""

    def __init__(self, cfg: Config, out_dir: Path, observer: Observer | None = None) -> None:
        self.cfg, self.out_dir, self.observer = cfg, out_dir, observer or _Silent()
        if cfg.train.num_threads > 0:
            torch.set_num_threads(cfg.train.num_threads)
        self.device = resolve_device(cfg.device)
        self.autocast = autocast_for(cfg.train.precision, self.device)
        torch.manual_seed(cfg.seed)
        self.data = load_data(cfg.dataset, cfg.seed)
        self.model = build_model(
            cfg.model,
            cfg.reg,
            self.data.task,
            self.data.vocab_size,
            self.data.num_classes,
            cfg.dataset.horizon,
        ).to(self.device)
        self.pretrained_coverage = None
        if cfg.model.embedding.pretrained:
            self.pretrained_coverage = load_pretrained(
                self.model.backbone.embedding, self.data.vocab or [], cfg.model.embedding
            )
        self.penalized = penalized_parameters(self.model, cfg.reg.penalty_scope)
        self.optimizer = build_optimizer(
            cfg.optim, self.model, cfg.reg.weight_decay, self.penalized
        )
        self.scheduler = step_decay(self.optimizer, cfg.optim)
        self.penalty = penalty_fn(cfg.reg, self.penalized)
        self.task = make_task(self.data, cfg.train, self.device, cfg.dataset.bptt)
        self.order_gen = torch.Generator().manual_seed(cfg.seed)
        sample_size = cfg.train.train_eval_size or default_train_sample_size(
            len(self.data.train), len(self.data.val)
        )
        sample_gen = torch.Generator().manual_seed(cfg.seed + 1)
        self.train_sample = self.task.train_sample(sample_size, sample_gen)
        self.stopper = EarlyStopper(cfg.reg.early_stopping)
        self.records: list[EpochRecord] = []
        self.first_epoch = 1
        self.partial: dict[str, Any] | None = None  # a mid-epoch position to continue from
        self.earlier_seconds = 0.0  # wall time of the invocations before a resume
        self.stop_signal: int | None = None
        self.started = time.perf_counter()
        self.checkpoints = out_dir / "checkpoints"
        self.metrics = JsonlWriter(out_dir / "metrics.jsonl")
        log.info(
            "data %s (%s): %d train / %d val / %d test examples; model: %d parameters on %s",
            cfg.dataset.name,
            self.data.task.value,
            len(self.data.train),
            len(self.data.val),
            len(self.data.test),
            sum(p.numel() for p in self.model.parameters()),
            self.device,
        )
        log.info("regularizers: %s", active_regularizers(cfg.reg) or "none")
        log.info("torch threads: %d", torch.get_num_threads())

    # -- checkpoints ------------------------------------------------------------------

    def state(self, epoch: int, partial: dict[str, Any] | None = None) -> dict[str, Any]:
        """Everything needed to continue after `epoch` (and `partial`, mid-epoch)."""
        return {
            "epoch": epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "order": self.order_gen.get_state()},
            "early_stopping": vars(self.stopper).copy(),
            "partial": partial,
            "wall_seconds": self.earlier_seconds + time.perf_counter() - self.started,
            "config": json.loads(json.dumps(asdict(self.cfg))),
        }

    def resume(self) -> None:
        """Continue from checkpoints/last.pt; drop records of epochs it does not hold."""
        last = self.checkpoints / "last.pt"
        rows = read_jsonl(self.metrics.path) if self.metrics.path.exists() else []
        if not last.exists():
            log.info("no checkpoint yet in %s: starting from the beginning", self.out_dir)
            rows = []
        else:
            state = load_checkpoint(last, self.device)
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(
                upgrade_optimizer_state(state["optimizer"], self.optimizer, self.penalized)
            )
            self.scheduler.load_state_dict(
                upgrade_schedule_state(state["scheduler"], self.optimizer)
            )
            torch.set_rng_state(state["rng"]["torch"])
            self.order_gen.set_state(state["rng"]["order"])
            vars(self.stopper).update(state["early_stopping"])
            self.first_epoch = state["epoch"] + 1
            self.partial = state["partial"]
            self.earlier_seconds = state["wall_seconds"]
            rows = [row for row in rows if row["epoch"] <= state["epoch"]]
            log.info("resuming after epoch %d from %s", state["epoch"], last)
        write_jsonl(self.metrics.path, rows)
        self.records = [EpochRecord.from_dict(row) for row in rows]

    # -- the loop ---------------------------------------------------------------------

    def batch_penalty(self, hidden: BackboneOutput) -> torch.Tensor | None:
        """Weight penalties plus AR/TAR on this batch's activations; None when all are off."""
        reg = self.cfg.reg
        terms = []
        if self.penalty is not None:
            terms.append(self.penalty())
        if reg.ar > 0:
            terms.append(activation_penalty(hidden.dropped, reg.ar, hidden.mask))
        if reg.tar > 0:
            terms.append(temporal_activation_penalty(hidden.raw, reg.tar, hidden.mask))
        return sum(terms) if terms else None

    def _check(self, sums: dict[str, Any], epoch: int, batch: int) -> float:
        """The running loss; raises Diverged if a batch's loss was non-finite or too large."""
        loss, worst = torch.stack((sums["loss"], sums["worst"])).tolist()  # one read-back
        limit = self.cfg.train.max_loss
        if not math.isfinite(worst) or (limit is not None and worst > limit):
            what = "non-finite" if limit is None else f"non-finite or above {limit}"
            raise Diverged(f"the training loss became {what} in epoch {epoch} (by batch {batch})")
        return loss / sums["examples"]

    def train_epoch(self, epoch: int) -> dict[str, float]:
        cfg, model, task = self.cfg, self.model, self.task
        model.train()
        task.start_epoch()
        order_before = self.order_gen.get_state()
        batches = task.epoch_batches(self.order_gen)
        zero = torch.zeros((), device=self.device)
        sums: dict[str, Any] = {key: zero.clone() for key in SUM_KEYS}
        sums["worst"].fill_(-math.inf)
        sums.update(examples=0, tokens=0, seconds=0.0)
        done = 0
        if self.partial is not None:  # continue an epoch a signal stopped
            sums, done = upgrade_sums(self.partial["sums"]), self.partial["batches_done"]
            task.state = self.partial["task_state"]
            self.partial = None
        self.observer.start_epoch(epoch, len(batches))
        params = [p for p in model.parameters() if p.requires_grad]
        start = time.perf_counter() - sums["seconds"]
        for i, batch in enumerate(batches[done:], done + 1):
            with self.autocast:
                result = task.step(model, batch)
                penalty = self.batch_penalty(result.hidden)
            loss = result.loss
            if result.objective_scale != 1.0:
                loss = loss * result.objective_scale
            if penalty is not None:
                loss = loss + penalty
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            # The norm before clipping is recorded whether or not it clips (what
            # clip_grad_norm_ does, without its multiply by one when nothing clips).
            norm = total_norm([p.grad for p in params if p.grad is not None])
            if cfg.reg.grad_clip > 0:
                nn.utils.clip_grads_with_norm_(params, cfg.reg.grad_clip, norm)
            sums["grad_norm"] += norm
            self.optimizer.step()
            data_loss = result.loss.detach()
            sums["worst"] = torch.maximum(sums["worst"], data_loss)
            sums["loss"].add_(data_loss, alpha=result.examples)
            if penalty is not None:
                sums["penalty"] += penalty.detach()
            sums["examples"] += result.examples
            sums["tokens"] += result.tokens
            if i % CHECK_EVERY == 0 or i == len(batches):
                self.observer.batch_done(self._check(sums, epoch, i))
            else:
                self.observer.batch_done(None)
            if self.stop_signal is not None and i < len(batches):
                sums["seconds"] = time.perf_counter() - start
                partial = {
                    "batches_done": i,
                    "sums": sums,
                    "task_state": getattr(task, "state", None),
                }
                self.order_gen.set_state(order_before)  # replayed on resume
                atomic_torch_save(self.state(epoch - 1, partial), self.checkpoints / "last.pt")
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
        lr = self.optimizer.param_groups[0]["lr"]
        fit_stats = self.train_epoch(epoch)
        self.scheduler.step()
        eval_start = time.perf_counter()
        with self.autocast:
            on_train = self.task.evaluate(self.model, self.train_sample)
            on_val = self.task.evaluate(self.model, self.data.val)
        metric = self.task.metric
        end = time.perf_counter()
        record = EpochRecord(
            epoch=epoch,
            train_loss=on_train["loss"],
            val_loss=on_val["loss"],
            lr=lr,
            epoch_seconds=end - start,
            eval_seconds=end - eval_start,
            ended_at=time.time(),
            task_metrics={f"train_{metric}": on_train[metric], f"val_{metric}": on_val[metric]},
            **fit_stats,
        )
        if not math.isfinite(record.val_loss):
            raise Diverged(f"the validation loss became non-finite in epoch {epoch}")
        # The record first, then the checkpoint: a kill between the two leaves a record
        # that resume drops and recomputes, never a checkpoint without its record.
        self.records.append(record)
        self.metrics.append(record.to_dict())
        log.info(
            "epoch %d/%d  train %.4f  val %.4f  gap %+.4f  val_%s %.4g  (%.1f s)",
            epoch,
            cfg.train.epochs,
            record.train_loss,
            record.val_loss,
            record.gap,
            metric,
            on_val[metric],
            record.epoch_seconds,
        )
        if self.stopper.update(epoch, record.val_loss):
            atomic_torch_save(self.state(epoch), self.checkpoints / "best.pt")
        atomic_torch_save(self.state(epoch), self.checkpoints / "last.pt")
        self.observer.end_epoch(record)
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

    def summary(self, status: str, test: dict | None, error: str | None) -> dict[str, Any]:
        curves = curve_summary(self.records, self.stopper.best_epoch, self.cfg.train.onset_patience)
        return {
            "status": status,
            **curves,
            "epochs_run": len(self.records),
            "bayes_val_loss": self.data.bayes_val_loss,
            "pretrained_coverage": self.pretrained_coverage,
            "test": test,
            "reg": active_regularizers(self.cfg.reg),
            "seed": self.cfg.seed,
            "error": error,
            "wall_seconds": self.earlier_seconds + time.perf_counter() - self.started,
            "versions": _versions(),
        }


def _stopped_early(run: TrainingRun) -> bool:
    if run.stopper.should_stop:
        log.info(
            "early stopping after epoch %d: no better validation loss for %d epochs",
            run.records[-1].epoch if run.records else 0,
            run.stopper.patience,
        )
    return run.stopper.should_stop


def fit(
    cfg: Config, out_dir: Path, observer: Observer | None = None, resume: bool = False
) -> dict[str, Any]:
    """Train one run into `out_dir` (continuing it with `resume`); return the summary.

    summary.json is written however the run ends. Divergence ends the run with status
    `diverged`; a signal raises Interrupted and an error re-raises, both after the summary.
    """
    run = TrainingRun(cfg, out_dir, observer)
    run.checkpoints.mkdir(parents=True, exist_ok=True)
    if resume:
        run.resume()
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
        if status in ("completed", "stopped_early", "diverged"):
            test = run.test_at_best()
        summary = run.summary(status, test, error)
        atomic_write_json(out_dir / "summary.json", summary)
        if run.records:
            from lstm_overfit.plots import plot_curves

            plot_curves(run.records, summary, out_dir / "curves.png")
    return summary
