"""The run folder's format: metrics.jsonl (one EpochRecord per epoch), summary.json (the
RunSummary) and the overrides Hydra saved, with their readers.

Each summary number is declared once, with its description and where it is shown (the
terminal's run summary, a report's summary.csv, TensorBoard's hparams table, the report's
comparisons); those lists are derived from the declarations.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from lstm_overfit.config import UsageError
from lstm_overfit.storage import parse_jsonl

# How a run ended. Finished runs are not resumed; usable ones count in reports; failed ones
# make a command exit with status 1.
FINISHED = ("completed", "stopped_early", "diverged")
USABLE = ("completed", "stopped_early")
FAILED = ("diverged", "failed")

# Where a summary number is shown: the terminal's run summary, a report's summary.csv,
# TensorBoard's hparams table.
CONSOLE, CSV, HPARAMS = "console", "csv", "hparams"


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


def summary_number(
    default: Any,
    description: str,
    shown: tuple[str, ...] = (),
    compared: tuple[str, str] | None = None,
) -> Any:
    """A RunSummary field: `shown` in those views; `compared`, (its name in sentences, its
    column in tables), where reports compare it between configurations (lower is better)."""
    metadata = {"description": description, "shown": shown, "compared": compared}
    if isinstance(default, (dict, list)):
        return field(default_factory=type(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class RunSummary:
    """summary.json: how the run ended, its curves' story, the test at the best epoch."""

    status: str = summary_number(
        "completed", "completed, stopped_early, diverged, interrupted or failed", (CONSOLE, CSV)
    )
    metric: str | None = summary_number(
        None, "the task's metric: acc (macro_f1 from three classes on), ppl or mae"
    )
    metric_higher_is_better: bool | None = summary_number(None, "whether more is better")
    loss_unit: str | None = summary_number(None, "the loss's unit: nats, or normalized MSE")
    best_epoch: int | None = summary_number(
        None, "the epoch of the lowest validation loss", (CONSOLE, CSV)
    )
    best_val_loss: float | None = summary_number(
        None,
        "the lowest validation loss",
        (CONSOLE, CSV, HPARAMS),
        ("the best validation loss", "Δ best val"),
    )
    bayes_val_loss: float | None = summary_number(
        None, "the Bayes predictor's validation loss, where the data set knows it", (CONSOLE,)
    )
    bayes_test_loss: float | None = summary_number(
        None, "the Bayes predictor's test loss, where the data set knows it"
    )
    constant_loss: float | None = summary_number(
        None,
        "the loss of the best constant predictor on the training split (class or token "
        "frequencies, the mean): what a model that learned nothing scores",
    )
    final_val_loss: float | None = summary_number(
        None,
        "the last epoch's validation loss",
        (CSV, HPARAMS),
        ("the final validation loss", "Δ final val"),
    )
    gap_at_best: float | None = summary_number(
        None,
        "validation minus training loss at the best epoch",
        (CONSOLE, CSV, HPARAMS),
        ("the gap at the best epoch", "Δ gap at best"),
    )
    final_gap: float | None = summary_number(None, "the last epoch's gap", (CONSOLE, CSV))
    max_gap: float | None = summary_number(
        None, "the largest gap over the epochs", (CONSOLE, CSV, HPARAMS)
    )
    overfit_onset_epoch: int | None = summary_number(
        None, "the best epoch after which validation rose while training fell", (CONSOLE, CSV)
    )
    overfit_onset_rise: float | None = summary_number(
        None, "the validation loss's rise that marked the onset", (CSV,)
    )
    epochs_run: int = summary_number(0, "epochs finished", (CONSOLE, CSV, HPARAMS))
    # Memorization where the flipped labels are known: accuracy on the training split's
    # clean and flipped examples at the last epoch.
    final_train_acc_clean: float | None = summary_number(
        None, "the last epoch's training accuracy on the labels left as they were"
    )
    final_train_acc_flipped: float | None = summary_number(
        None, "the last epoch's training accuracy on flipped labels: memorized", (CONSOLE, CSV)
    )
    test: dict[str, float] | None = summary_number(
        None, "the best checkpoint on the test split", (CONSOLE,), ("the test", "Δ test")
    )
    classes: list[str] | None = summary_number(
        None, "classification: the class names, by class id (the training labels, sorted)"
    )
    majority_baseline: dict[str, float] | None = summary_number(
        None, "classification: always the most frequent training class, on each split", (CONSOLE,)
    )
    naive_forecast: dict[str, float] | None = summary_number(
        None, "forecasting: persistence's errors on val and test", (CONSOLE,)
    )
    pretrained_coverage: dict[str, int] | None = summary_number(
        None, "words of the vocabulary found in the pretrained vectors"
    )
    reg: dict[str, Any] = summary_number({}, "the regularizers switched on", (CONSOLE,))
    seed: int = summary_number(0, "the run's seed", (CSV,))
    num_threads: int = summary_number(0, "torch threads", (CONSOLE, CSV))
    threads_reason: str | None = summary_number(None, "why the run uses that many threads")
    device: str = summary_number("cpu", "where it computed")
    error: str | None = summary_number(None, "why it diverged or failed", (CSV,))
    wall_seconds: float = summary_number(0.0, "wall time of every invocation", (CONSOLE,))
    versions: dict[str, str] = summary_number({}, "Python, torch, this package, CPU capability")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def shown_in(view: str) -> list[str]:
    """The summary's fields shown in `view`, in their declared order."""
    return [f.name for f in fields(RunSummary) if view in f.metadata["shown"]]


def compared_numbers() -> dict[str, tuple[str, str]]:
    """The summary numbers a report compares: name -> (words, column)."""
    return {f.name: f.metadata["compared"] for f in fields(RunSummary) if f.metadata["compared"]}


def read_metrics(folder: Path) -> list[dict[str, Any]]:
    """The rows of the run's metrics.jsonl (none before its first epoch); a last row cut short
    by a kill is left out."""
    path = folder / "metrics.jsonl"
    return parse_jsonl(path.read_text(), path, last_may_be_cut=True) if path.exists() else []


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
