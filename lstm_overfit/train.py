"""The training loop: fit, evaluate, early stopping, checkpoints, the run's records."""

from __future__ import annotations

import json
import logging
import math
import platform
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

import lstm_overfit
from lstm_overfit.config import (
    Config,
    ConfigError,
    Device,
    OptimConfig,
    OptimizerName,
    active_regularizers,
)
from lstm_overfit.data import load_data
from lstm_overfit.embeddings import load_pretrained
from lstm_overfit.models import BackboneOutput, build_model
from lstm_overfit.records import (
    EarlyStopper,
    EpochRecord,
    JsonlWriter,
    atomic_torch_save,
    atomic_write_json,
    curve_summary,
)
from lstm_overfit.regularizers import (
    activation_penalty,
    penalized_parameters,
    penalty_fn,
    temporal_activation_penalty,
)
from lstm_overfit.tasks import make_task

log = logging.getLogger(__name__)

# How often (in batches) the running loss is read back for the progress display.
PROGRESS_EVERY = 10


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


def build_optimizer(
    cfg: OptimConfig, model: nn.Module, weight_decay: float, decayed: list[torch.Tensor]
) -> torch.optim.Optimizer:
    """Decoupled weight decay acts on `decayed` only (weight matrices by default).

    With weight decay, Adam becomes AdamW: the decay shrinks weights directly instead of
    passing through Adam's per-parameter scaling as an L2 gradient would. For plain SGD the
    two are the same thing, so SGD's own weight_decay is used.
    """
    decayed_ids = {id(p) for p in decayed}
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if id(p) in decayed_ids], "weight_decay": weight_decay},
        {"params": [p for p in params if id(p) not in decayed_ids], "weight_decay": 0.0},
    ]
    if cfg.name == OptimizerName.sgd:
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    if cfg.name == OptimizerName.adamw or weight_decay > 0:
        return torch.optim.AdamW(groups, lr=cfg.lr)
    return torch.optim.Adam(groups, lr=cfg.lr)


def step_decay(optimizer: torch.optim.Optimizer, cfg: OptimConfig) -> LambdaLR:
    """lr * lr_decay ** (epochs past lr_decay_start), stepped once per epoch."""
    return LambdaLR(optimizer, lambda done: cfg.lr_decay ** max(0, done + 1 - cfg.lr_decay_start))


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def _plain_config(cfg: Config) -> dict:
    """The config as JSON-able builtins (enums become their values), for checkpoints."""
    return json.loads(json.dumps(asdict(cfg)))


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
        _seed_everything(cfg.seed)
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
        penalized = penalized_parameters(self.model, cfg.reg.penalty_scope)
        self.optimizer = build_optimizer(cfg.optim, self.model, cfg.reg.weight_decay, penalized)
        self.scheduler = step_decay(self.optimizer, cfg.optim)
        self.penalty = penalty_fn(cfg.reg, penalized)
        self.task = make_task(self.data, cfg.train, self.device, cfg.dataset.bptt)
        self.order_gen = torch.Generator().manual_seed(cfg.seed)
        sample_size = cfg.train.train_eval_size or len(self.data.val)
        sample_gen = torch.Generator().manual_seed(cfg.seed + 1)
        self.train_sample = self.task.train_sample(sample_size, sample_gen)
        self.stopper = EarlyStopper(cfg.reg.early_stopping)
        self.records: list[EpochRecord] = []
        self.checkpoints = out_dir / "checkpoints"
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self.metrics = JsonlWriter(out_dir / "metrics.jsonl")
        num_params = sum(p.numel() for p in self.model.parameters())
        log.info(
            "data %s (%s): %d train / %d val / %d test examples; model: %d parameters on %s",
            cfg.dataset.name,
            self.data.task.value,
            len(self.data.train),
            len(self.data.val),
            len(self.data.test),
            num_params,
            self.device,
        )
        log.info("regularizers: %s", active_regularizers(cfg.reg) or "none")

    def train_epoch(self, epoch: int) -> dict[str, float]:
        cfg, model, task = self.cfg, self.model, self.task
        model.train()
        task.start_epoch()
        batches = task.epoch_batches(self.order_gen)
        self.observer.start_epoch(epoch, len(batches))
        zero = torch.zeros((), device=self.device)
        loss_sum, penalty_sum, norm_sum = zero.clone(), zero.clone(), zero.clone()
        params = [p for p in model.parameters() if p.requires_grad]
        max_norm = cfg.reg.grad_clip if cfg.reg.grad_clip > 0 else math.inf
        examples, tokens, start = 0, 0, time.perf_counter()
        for i, batch in enumerate(batches, 1):
            result = task.step(model, batch)
            penalty = self.batch_penalty(result.hidden)
            loss = result.loss
            if penalty is not None:
                loss = loss + penalty
                penalty_sum += penalty.detach()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            # With max_norm=inf this only measures the norm: it is recorded either way.
            norm_sum += nn.utils.clip_grad_norm_(params, max_norm)
            self.optimizer.step()
            loss_sum += result.loss.detach() * result.examples
            examples += result.examples
            tokens += result.tokens
            running = loss_sum.item() / examples if i % PROGRESS_EVERY == 0 else None
            self.observer.batch_done(running)
        seconds = time.perf_counter() - start
        return {
            "train_loss_running": loss_sum.item() / examples,
            "penalty": penalty_sum.item() / len(batches),
            "grad_norm": norm_sum.item() / len(batches),
            "tokens_per_second": tokens / seconds,
        }

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

    def checkpoint(self, epoch: int) -> dict[str, Any]:
        return {
            "epoch": epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "order": self.order_gen.get_state()},
            "early_stopping": {
                "best_loss": self.stopper.best_loss,
                "best_epoch": self.stopper.best_epoch,
                "bad_epochs": self.stopper.bad_epochs,
            },
            "config": _plain_config(self.cfg),
        }

    def run_epoch(self, epoch: int) -> EpochRecord:
        cfg = self.cfg
        start = time.perf_counter()
        lr = self.optimizer.param_groups[0]["lr"]
        fit_stats = self.train_epoch(epoch)
        self.scheduler.step()
        on_train = self.task.evaluate(self.model, self.train_sample)
        on_val = self.task.evaluate(self.model, self.data.val)
        metric = self.task.metric
        record = EpochRecord(
            epoch=epoch,
            train_loss=on_train["loss"],
            val_loss=on_val["loss"],
            lr=lr,
            epoch_seconds=time.perf_counter() - start,
            task_metrics={f"train_{metric}": on_train[metric], f"val_{metric}": on_val[metric]},
            **fit_stats,
        )
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
            atomic_torch_save(self.checkpoint(epoch), self.checkpoints / "best.pt")
        atomic_torch_save(self.checkpoint(epoch), self.checkpoints / "last.pt")
        self.observer.end_epoch(record)
        return record

    def test_at_best(self) -> dict[str, float] | None:
        best = self.checkpoints / "best.pt"
        if not best.exists():
            return None
        state = torch.load(best, map_location=self.device, weights_only=True)
        self.model.load_state_dict(state["model"])
        return self.task.evaluate(self.model, self.data.test)

    def summary(self, status: str, wall_seconds: float, test: dict | None) -> dict[str, Any]:
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
            "wall_seconds": wall_seconds,
            "versions": _versions(),
        }


def fit(cfg: Config, out_dir: Path, observer: Observer | None = None) -> dict[str, Any]:
    """Train one run into `out_dir`; return the summary, also written as summary.json.

    summary.json is written however the run ends; an exception is re-raised after it.
    """
    started = time.perf_counter()
    run = TrainingRun(cfg, out_dir, observer)
    status, test = "failed", None
    try:
        status = "completed"
        for epoch in range(1, cfg.train.epochs + 1):
            record = run.run_epoch(epoch)
            if not math.isfinite(record.train_loss_running) or not math.isfinite(record.val_loss):
                status = "diverged"
                log.error("the loss became non-finite in epoch %d; stopping", epoch)
                break
            if run.stopper.should_stop:
                status = "stopped_early"
                log.info(
                    "early stopping after epoch %d: no better validation loss for %d epochs",
                    epoch,
                    cfg.reg.early_stopping,
                )
                break
        test = run.test_at_best()
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    except BaseException:
        status = "failed"
        raise
    finally:
        summary = run.summary(status, time.perf_counter() - started, test)
        atomic_write_json(out_dir / "summary.json", summary)
        if run.records:
            from lstm_overfit.plots import plot_curves

            plot_curves(run.records, summary, out_dir / "curves.png")
    return summary
