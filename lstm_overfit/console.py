"""What the terminal shows: the progress bar, the run summary, the report, `train --help`."""

from __future__ import annotations

import logging
import time
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from lstm_overfit.config import Config
from lstm_overfit.knobs import help_lines
from lstm_overfit.regularizers.registry import origin, regularizers
from lstm_overfit.run_folder import CONSOLE, EpochRecord, RunSummary, shown_in
from lstm_overfit.throughput import rate_text

if TYPE_CHECKING:
    from lstm_overfit.report import Report


class ConsoleHandler(RichHandler):
    """Log lines on the console: rich's columns on a terminal; piped into a file or another
    program, one plain line per record (rich would wrap them at 80 columns there)."""

    def emit(self, record: logging.LogRecord) -> None:
        if self.console.is_terminal:
            super().emit(record)
            return
        try:
            stamp = time.strftime("[%x %X]", time.localtime(record.created))
            self.console.file.write(f"{stamp} {record.levelname:<8} {self.format(record)}\n")
            self.console.file.flush()
        except Exception:
            self.handleError(record)


class RichProgress:
    """Two bars: epochs (with the last validation loss, gap and training speed) and this
    epoch's batches."""

    def __init__(self, epochs: int, unit: str) -> None:
        """unit: what the training speed counts, the task kind's `rate_unit`."""
        self.unit = unit
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
        stats = (
            f"train {record.train_loss:.4f}  val {record.val_loss:.4f}  gap {record.gap:+.4f}  "
            f"{rate_text(record.tokens_per_second, self.unit)}"
        )
        self.progress.update(self.epochs, advance=1, stats=stats)

    def end_run(self, summary: RunSummary) -> None:
        pass


def _fmt(value: Any) -> str:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items()) or "none"
    return "-" if value is None else str(value)


# Shown even when unset: "-" says there was no best epoch, or no onset.
ALWAYS_SHOWN = ("best_epoch", "overfit_onset_epoch")


def print_summary(summary: RunSummary, run_dir: Path, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title="run summary", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for key in shown_in(CONSOLE):
        value = getattr(summary, key)
        if value is not None or key in ALWAYS_SHOWN:
            table.add_row(key, _fmt(value))
    console.print(table)
    console.print(f"run folder: {run_dir}")


# Below this terminal width the report table keeps its key columns only.
WIDE_REPORT = 140


def print_report(
    report: Report, written: list[str], out: Path, console: Console | None = None
) -> None:
    """Per data set its headline, then its table: every column where the terminal is wide,
    else (at 80 columns) what sets the stratum apart, the configuration, its seeds and its
    paired differences in the best validation loss and the test metric, each as the mean
    ± half its 95% interval (report.md always has them all)."""
    from lstm_overfit.report_files import narrow_rows, table_rows
    from lstm_overfit.report_text import family_line, headline, warnings

    console = console or Console()
    if family := family_line(report):
        console.print(family)
    for warning in warnings(report):  # labels such as +reg=[l2] are text, not markup
        console.print(warning, style="bold yellow", markup=False)
    wide = console.width >= WIDE_REPORT
    for section in report.sections:
        console.print(f"\n[bold]{section.title}[/bold]")
        for line in headline(report, section):
            console.print(line, markup=False)
        rows = table_rows(report, section) if wide else narrow_rows(report, section)
        columns = list(dict.fromkeys(k for row in rows for k in row))
        title = "[95% interval]" if wide else "± half the 95% interval; report.md has every column"
        table = Table(title=f"against the baseline: mean difference {title}")
        for column in columns:
            table.add_column(
                column,
                overflow="fold",
                min_width=len(column) if column != "configuration" else 13,
                max_width=36 if column == "configuration" else None,
            )
        for row in rows:
            style = "bold green" if row.get(columns[-1]) == "baseline" else None
            table.add_row(*(escape(row.get(c, "")) for c in columns), style=style)
        console.print(table)
    console.print(f"written to {out}: {', '.join(written)}")


def print_train_help(cfg: Config, groups: dict[str, list[str]]) -> None:
    """Every config group with its options, then every key with its value and description."""
    print("lstm-overfit train: train an LSTM and record how it overfits.\n")
    print("usage: lstm-overfit train [-m] [OVERRIDES...]\n")
    print("config groups (GROUP=OPTION; reg, experiment and sweep are added with +GROUP=OPTION):")
    for group, options in groups.items():
        print(f"  {group:<16} {', '.join(options)}")
    print("\nregularizers (+reg=NAME sets its knobs to the preset; reg.KNOB=VALUE any strength):")
    for regularizer in regularizers():
        source = origin(regularizer.name)
        plugin = f" (plug-in {source})" if source else ""
        knobs = ", ".join(f"reg.{k.name}" for k in regularizer.knobs if not k.setting)
        print(f"  {regularizer.name:<18} {regularizer.summary}: {knobs}{plugin}")
    print("\nkeys (KEY=VALUE), with their values given the overrides on this command line:")
    lines = [(f"{key}={_fmt(value)}", description) for key, value, description in help_lines(cfg)]
    width = max(len(setting) for setting, _ in lines) + 2
    for setting, description in lines:
        print(f"  {setting:<{width}}{description}")
    print(
        """
examples:
  lstm-overfit train                               the default run (synthetic data, CPU)
  lstm-overfit train +reg=l2 reg.l2=1e-4           add an L2 penalty, set its strength
  lstm-overfit train '+reg=[l2,dropout]'           stack regularizers (quoted for the shell)
  lstm-overfit train dataset=ptb --help            the keys of another data set
  lstm-overfit train -m +reg=l1,l2 seed=0,1        a sweep: four runs, one folder each
  lstm-overfit train +experiment=smoke             seconds: check an installation

Each run writes metrics.jsonl, summary.json, curves.png, run.log and checkpoints/
under outputs/runs/ (sweeps: outputs/sweeps/)."""
    )
