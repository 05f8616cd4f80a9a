"""What a run writes: epoch records, the summary, the overfitting analysis, atomic files."""

from __future__ import annotations

import functools
import json
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import IO, Any

from lstm_overfit.config import UsageError

# How a run ended. Finished runs are not resumed; usable ones count in reports; failed ones
# make a command exit with status 1.
FINISHED = ("completed", "stopped_early", "diverged")
USABLE = ("completed", "stopped_early")
FAILED = ("diverged", "failed")


@functools.cache
def _plain_mode() -> int:
    """The mode a plain open() gives a new file: 0666 less the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _atomic_write(path: Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Write through a temp file in the same folder, fsync, then rename over `path`.

    A reader sees the old file or the new one, never a partial one. The file gets the mode a
    plain write would give it (mkstemp's own is private to the user).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fchmod(f.fileno(), _plain_mode())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    _atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, allow_nan=True) + "\n")


def atomic_torch_save(path: Path, obj: Any) -> None:
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


def read_overrides(folder: Path) -> list[str] | None:
    """The overrides Hydra saved for the run in `folder`; None if it is not a run folder."""
    import yaml

    saved = folder / ".hydra" / "overrides.yaml"
    return (yaml.safe_load(saved.read_text()) or []) if saved.is_file() else None


def as_settings(overrides: list[str]) -> dict[str, str]:
    """KEY=VALUE overrides as {KEY: VALUE} (the last one of a key wins)."""
    return dict(item.partition("=")[::2] for item in overrides)


def read_summary(folder: Path) -> dict[str, Any] | None:
    """The run's summary.json, or None before it has one; raises UsageError naming the file
    when it is damaged (summaries are written atomically, so only a disk fault or a hand
    edit leaves one unreadable)."""
    path = folder / "summary.json"
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError):
        summary = None
    if not isinstance(summary, dict):
        raise UsageError(
            f"{path}: is damaged, not a run summary in JSON; delete the run folder or its "
            "summary.json"
        )
    return summary


def finished_summary(folder: Path) -> dict[str, Any] | None:
    """The summary of a run that has ended (and is not to be resumed), else None."""
    summary = read_summary(folder)
    return summary if summary and summary.get("status") in FINISHED else None


@dataclass
class EpochRecord:
    """One line of metrics.jsonl."""

    epoch: int
    train_loss: float  # eval mode, fixed training sample, same weights as val_loss
    train_loss_running: float  # train mode, as optimized, without penalty
    penalty: float
    val_loss: float
    gap: float  # val_loss - train_loss
    lr: float
    grad_norm: float  # mean global gradient norm over the epoch's batches, before clipping
    epoch_seconds: float  # training and evaluation
    tokens_per_second: float  # training only
    eval_seconds: float  # the two evaluation passes (training sample, validation)
    ended_at: float  # Unix time when the record was written
    task_metrics: dict[str, float] = field(default_factory=dict)  # train_acc, val_acc, ...

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> EpochRecord:
        names = {f.name for f in fields(cls)} - {"task_metrics"}
        metrics = {k: v for k, v in row.items() if k not in names}
        return cls(**{k: row[k] for k in names}, task_metrics=metrics)

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        metrics = row.pop("task_metrics")
        return {**row, **metrics}


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

    def state_dict(self) -> dict[str, Any]:
        return {"best_loss": self.best_loss, "best_epoch": self.best_epoch, "bad": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_loss, self.best_epoch = state["best_loss"], state["best_epoch"]
        self.bad_epochs = state["bad"]


def overfit_onset(
    train_losses: Sequence[float], val_losses: Sequence[float], patience: int, min_rise: float
) -> tuple[int | None, float | None]:
    """(first epoch after which overfitting set in, the rise that marked it), or Nones.

    Epoch e (1-based) qualifies when its validation loss is the best so far, each of the next
    `patience` epochs has a higher one, the last of them by at least `min_rise` times the
    best (so noise does not count), and the training loss is lower at the end of that
    stretch than at e: validation got worse while training kept improving.
    """
    best = math.inf
    for e in range(len(val_losses) - patience):
        if val_losses[e] >= best:
            continue
        best = val_losses[e]
        end = e + patience
        rose = all(val_losses[t] > best for t in range(e + 1, end + 1))
        rise = val_losses[end] - best
        if rose and rise >= min_rise * abs(best) and train_losses[end] < train_losses[e]:
            return e + 1, rise
    return None, None


@dataclass
class CurveSummary:
    """The overfitting story of the epochs run (Nones when no epoch finished)."""

    best_epoch: int | None = None
    best_val_loss: float | None = None
    gap_at_best: float | None = None
    final_val_loss: float | None = None
    final_gap: float | None = None
    max_gap: float | None = None
    overfit_onset_epoch: int | None = None
    overfit_onset_rise: float | None = None  # the validation loss's rise that marked it
    epochs_run: int = 0


def curve_summary(
    records: Sequence[EpochRecord], best_epoch: int | None, patience: int, min_rise: float
) -> CurveSummary:
    if not records:
        return CurveSummary()
    best = next((r for r in records if r.epoch == best_epoch), None)
    onset, rise = overfit_onset(
        [r.train_loss for r in records], [r.val_loss for r in records], patience, min_rise
    )
    return CurveSummary(
        best_epoch=best_epoch,
        best_val_loss=best.val_loss if best else None,
        gap_at_best=best.gap if best else None,
        final_val_loss=records[-1].val_loss,
        final_gap=records[-1].gap,
        max_gap=max(r.gap for r in records),
        overfit_onset_epoch=onset,
        overfit_onset_rise=rise,
        epochs_run=len(records),
    )


@dataclass
class RunSummary(CurveSummary):
    """summary.json: how the run ended, its curves' story, the test at the best epoch."""

    status: str = "completed"
    # The loss of the Bayes predictor on each split, where the data set knows it.
    bayes_val_loss: float | None = None
    bayes_test_loss: float | None = None
    # Memorization where the flipped labels are known: accuracy on the training split's
    # clean and flipped examples at the last epoch.
    final_train_acc_clean: float | None = None
    final_train_acc_flipped: float | None = None
    # Forecasting: the errors of persistence (the last value repeated) on val and test.
    naive_forecast: dict[str, float] | None = None
    pretrained_coverage: dict[str, int] | None = None
    test: dict[str, float] | None = None  # the best checkpoint on the test split
    reg: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    num_threads: int = 0
    device: str = "cpu"
    error: str | None = None
    wall_seconds: float = 0.0
    versions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        # Status first: the line a reader looks for.
        row = asdict(self)
        return {"status": row.pop("status"), **row}
