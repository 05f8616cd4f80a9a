"""What the terminal shows: a live progress bar during training, a summary table at the end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from lstm_overfit.records import EpochRecord


class RichProgress:
    """Two bars: epochs (with the last validation loss and gap) and this epoch's batches."""

    def __init__(self, epochs: int) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[stats]}"),
        )
        self.epochs = self.progress.add_task("epochs ", total=epochs, stats="")
        self.batches = self.progress.add_task("batches", total=None, stats="")

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def start_epoch(self, epoch: int, num_batches: int) -> None:
        self.progress.reset(self.batches, total=num_batches, stats="")

    def batch_done(self, running_loss: float | None) -> None:
        if running_loss is None:
            self.progress.advance(self.batches)
        else:
            stats = f"train loss (running) {running_loss:.4f}"
            self.progress.update(self.batches, advance=1, stats=stats)

    def end_epoch(self, record: EpochRecord) -> None:
        stats = f"train {record.train_loss:.4f}  val {record.val_loss:.4f}  gap {record.gap:+.4f}"
        self.progress.update(self.epochs, advance=1, stats=stats)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items()) or "none"
    return "-" if value is None else str(value)


SUMMARY_ROWS = (
    "status",
    "best_epoch",
    "best_val_loss",
    "bayes_val_loss",
    "gap_at_best",
    "max_gap",
    "final_gap",
    "overfit_onset_epoch",
    "epochs_run",
    "test",
    "reg",
    "wall_seconds",
)


def print_summary(summary: dict[str, Any], run_dir: Path, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title="run summary", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for key in SUMMARY_ROWS:
        if key in summary:
            table.add_row(key, _fmt(summary[key]))
    console.print(table)
    console.print(f"run folder: {run_dir}")


def print_report(rows: list[dict[str, str]], out: Path, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title="runs by configuration (mean ± std over seeds)")
    for column in rows[0] if rows else []:
        table.add_column(column, overflow="fold")
    for row in rows:
        style = "bold green" if row["vs baseline"] == "baseline" else None
        table.add_row(*row.values(), style=style)
    console.print(table)
    console.print(f"report written to {out} (summary.csv, report.md, plots)")
