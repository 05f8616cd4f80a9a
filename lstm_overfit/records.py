"""What a run writes: epoch records, the summary, the overfitting analysis, atomic files."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

# How a run ended. Finished runs are not resumed; usable ones count in reports; failed ones
# make a command exit with status 1.
FINISHED = ("completed", "stopped_early", "diverged")
USABLE = ("completed", "stopped_early")
FAILED = ("diverged", "failed")


def _atomic_write(path: Path, write: Any) -> None:
    """Write through a temp file in the same folder, fsync, then rename over `path`.

    A reader sees the old file or the new one, never a partial one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    _atomic_write(path, lambda f: f.write(text.encode()))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, allow_nan=True) + "\n")


def atomic_torch_save(obj: Any, path: Path) -> None:
    import torch  # here, so that reading records does not load torch

    _atomic_write(path, lambda f: torch.save(obj, f))


class JsonlWriter:
    """Appends one JSON object per line, flushed and synced, so a killed run keeps its history."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, row: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSON-lines file; a last line cut short by a kill is left out."""
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    rows = []
    for number, line in enumerate(lines, 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if number < len(lines):
                raise
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Replace a JSON-lines file whole, atomically."""
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in rows))


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float  # eval mode, fixed training sample, same weights as val_loss
    train_loss_running: float  # train mode, as optimized, without penalty
    penalty: float
    val_loss: float
    lr: float
    grad_norm: float  # mean global gradient norm over the epoch's batches, before clipping
    epoch_seconds: float  # training and evaluation
    tokens_per_second: float  # training only
    eval_seconds: float = 0.0  # the two evaluation passes (training sample, validation)
    ended_at: float = 0.0  # Unix time when the record was written
    task_metrics: dict[str, float] = field(default_factory=dict)  # train_acc, val_acc, ...

    @property
    def gap(self) -> float:
        return self.val_loss - self.train_loss

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> EpochRecord:
        names = {f.name for f in fields(cls)} - {"task_metrics"}
        metrics = {k: v for k, v in row.items() if k.startswith(("train_", "val_"))}
        for key in ("train_loss", "train_loss_running", "val_loss"):
            metrics.pop(key)
        # Records written before eval_seconds and ended_at existed lack them.
        return cls(**{k: row[k] for k in names if k in row}, task_metrics=metrics)

    def to_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "train_loss": self.train_loss,
            "train_loss_running": self.train_loss_running,
            "penalty": self.penalty,
            "val_loss": self.val_loss,
            "gap": self.gap,
            **self.task_metrics,
            "lr": self.lr,
            "grad_norm": self.grad_norm,
            "epoch_seconds": self.epoch_seconds,
            "tokens_per_second": self.tokens_per_second,
            "eval_seconds": self.eval_seconds,
            "ended_at": self.ended_at,
        }


class EarlyStopper:
    """Tracks the best validation loss; says stop after `patience` epochs without a new best.

    patience 0 never stops (it still tracks the best epoch for checkpointing).
    """

    def __init__(self, patience: int = 0) -> None:
        self.patience = patience
        self.best_loss = math.inf
        self.best_epoch: int | None = None
        self.bad_epochs = 0

    def update(self, epoch: int, val_loss: float) -> bool:
        """Record one epoch; True when it is a new best."""
        if val_loss < self.best_loss:
            self.best_loss, self.best_epoch, self.bad_epochs = val_loss, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.bad_epochs >= self.patience


def overfit_onset(
    train_losses: Sequence[float], val_losses: Sequence[float], patience: int
) -> int | None:
    """First epoch (1-based) after which overfitting set in, or None.

    Epoch e qualifies when its validation loss is the best so far, each of the next
    `patience` epochs has a higher validation loss, and training loss is lower at the end of
    that stretch than at e: validation got worse while training kept improving.
    """
    best = math.inf
    for e in range(len(val_losses) - patience):
        if val_losses[e] >= best:
            continue
        best = val_losses[e]
        window = range(e + 1, e + 1 + patience)
        rose = all(val_losses[t] > best for t in window)
        if rose and train_losses[e + patience] < train_losses[e]:
            return e + 1
    return None


def curve_summary(
    records: Sequence[EpochRecord], best_epoch: int | None, onset_patience: int
) -> dict[str, Any]:
    """Gap statistics over the epochs run (empty values when no epoch finished)."""
    if not records:
        return {
            "best_epoch": None,
            "best_val_loss": None,
            "gap_at_best": None,
            "final_val_loss": None,
            "final_gap": None,
            "max_gap": None,
            "overfit_onset_epoch": None,
        }
    by_epoch = {r.epoch: r for r in records}
    best = by_epoch.get(best_epoch) if best_epoch is not None else None
    return {
        "best_epoch": best_epoch,
        "best_val_loss": best.val_loss if best else None,
        "gap_at_best": best.gap if best else None,
        "final_val_loss": records[-1].val_loss,
        "final_gap": records[-1].gap,
        "max_gap": max(r.gap for r in records),
        "overfit_onset_epoch": overfit_onset(
            [r.train_loss for r in records], [r.val_loss for r in records], onset_patience
        ),
    }
