"""What a report writes: report.md (per data set its opening sentences and its table),
summary.csv and the plots; the terminal shows the same sentences and a narrower table
(console.py)."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from lstm_overfit.report import COMPARED, Group, Report, Section
from lstm_overfit.report_text import family_line, headline, warnings
from lstm_overfit.run_folder import CSV, shown_in
from lstm_overfit.runs import ReportError, Run, fmt_value
from lstm_overfit.stats import (
    BOOTSTRAP_RESAMPLES,
    MIN_SEEDS_FOR_INTERVAL,
    Comparison,
    t_half_width,
)
from lstm_overfit.storage import atomic_write_text


def _signed(x: float) -> str:
    return f"{x:+.1f}" if abs(x) >= 100 else f"{x:+.4f}"


def fmt_interval(c: Comparison, survives: bool = False) -> str:
    """The mean difference with its interval (* where it excludes zero, † where that holds
    after Holm's adjustment), its seed count where there are too few seeds for one, or that
    it is undefined."""
    if not c.defined:
        return "undefined"
    if c.low is None:
        return f"{_signed(c.mean)} (n={c.seeds})"
    marks = ("*" if c.excludes_zero else "") + ("†" if survives else "")
    return f"{_signed(c.mean)} [{_signed(c.low)}, {_signed(c.high)}]{marks}"


def _mean_interval(group: Group, number: str) -> str:
    """The mean over seeds ± half its 95% t interval (the mean alone below 3 seeds)."""
    stats = group.stats(number)
    if stats is None:
        return "-"
    mean, std, n = stats
    if not math.isfinite(mean):
        return "undefined"
    half = t_half_width(std, n)
    return f"{mean:.4g}" if half is None else f"{mean:.4g} ± {half:.2g}"


def table_rows(report: Report, section: Section) -> list[dict[str, str]]:
    """One row per configuration: what sets its stratum apart, its numbers over seeds and
    its paired differences from its stratum's baseline."""
    rows = []
    for stratum in section.strata:
        for group in stratum.groups:
            row = {k: str(v) for k, v in stratum.context.items()}
            row |= {
                "configuration": group.label
                + ("" if report.learned(group) else " (did not learn)"),
                "runs": group.statuses(),
                "n": str(len(group.usable)),
                "best val loss": _mean_interval(group, "best_val_loss"),
                "final val loss": _mean_interval(group, "final_val_loss"),
                "gap at best": _mean_interval(group, "gap_at_best"),
                f"test {section.metric or 'metric'}": _mean_interval(group, "test"),
            }
            if group.by_seed("final_train_acc_flipped"):
                row["flipped memorized"] = _mean_interval(group, "final_train_acc_flipped")
            for number in COMPARED:
                key = (group.key, number)
                c = report.comparisons.get(key)
                column = COMPARED[number][1] + (f" {section.metric}" if number == "test" else "")
                if group is stratum.baseline:
                    row[column] = "baseline"
                else:
                    row[column] = fmt_interval(c, report.survives(key)) if c else "-"
            rows.append(row)
    return rows


# The numbers a terminal of 80 columns shows: the one strengths are chosen by, and the test.
NARROW = ("best_val_loss", "test")


def narrow_rows(report: Report, section: Section) -> list[dict[str, str]]:
    """The table for a terminal of 80 columns: what sets the stratum apart (by the last part
    of its key), the configuration, its seeds, and the paired differences from the baseline
    in the best validation loss and the test metric as mean ± half the 95% interval."""
    rows = []
    for stratum in section.strata:
        for group in stratum.groups:
            row = {k.rsplit(".", 1)[-1]: fmt_value(v) for k, v in stratum.context.items()}
            mark = "" if report.learned(group) else " (did not learn)"
            row |= {"configuration": group.label + mark, "n": str(len(group.usable))}
            for number in NARROW:
                column = COMPARED[number][1] + (f" {section.metric}" if number == "test" else "")
                c = report.comparisons.get((group.key, number))
                if group is stratum.baseline:
                    row[column] = "baseline"
                else:
                    row[column] = _plus_minus(c, report.survives((group.key, number)))
            rows.append(row)
    return rows


def _plus_minus(c: Comparison | None, survives: bool) -> str:
    if c is None:
        return "-"
    if not c.defined or c.low is None:
        return fmt_interval(c)
    marks = ("*" if c.excludes_zero else "") + ("†" if survives else "")
    return f"{_signed(c.mean)} ±{(c.high - c.low) / 2:.2g}{marks}"


def _markdown_table(rows: list[dict[str, str]]) -> list[str]:
    header = list(dict.fromkeys(k for row in rows for k in row))
    return [
        "| " + " | ".join(header) + " |",
        "|" + " --- |" * len(header),
        *("| " + " | ".join(row.get(h, "") for h in header) + " |" for row in rows),
    ]


def report_markdown(report: Report) -> str:
    lines = ["# Sweep report", ""]
    if len(report.sections) > 1:
        names = ", ".join(s.dataset for s in report.sections)
        lines += [f"Runs on {len(report.sections)} data sets ({names}), each reported apart.", ""]
    if family := family_line(report):
        lines += [family, ""]
    for warning in warnings(report):
        lines += [f"**{warning}**", ""]
    seeds = [c.seeds for c in report.comparisons.values()]
    lines += [
        "Mean ± half its 95% Student t interval over the n usable runs (completed or "
        "stopped early) of each configuration, sorted by best validation loss. Δ columns: "
        "the mean paired difference from the baseline over the seeds both have (negative: "
        "lower), with its "
        "95% Student t interval; * marks an interval that excludes zero, † a difference that "
        "still holds after Holm's adjustment over all the comparisons; undefined, a "
        "difference over a value that is not a finite number (a diverged loss)."
        + (
            f" With fewer than {MIN_SEEDS_FOR_INTERVAL} seeds no interval is given: it would "
            "not mean anything."
            if seeds and min(seeds) < MIN_SEEDS_FOR_INTERVAL
            else ""
        ),
        "",
    ]
    for section in report.sections:
        lines += [f"## {section.title}", "", *headline(report, section), ""]
        lines += [*_markdown_table(table_rows(report, section)), ""]
    boots = [(k, c) for k, c in report.comparisons.items() if c.boot_low is not None]
    if boots:
        lines += [
            f"Percentile bootstrap ({BOOTSTRAP_RESAMPLES:,} resamples of the seeds), beside the "
            "t interval:",
            "",
        ]
        labels = {g.key: g.label for g in report.groups}
        lines += [
            f"- {labels[key]}, {n}: [{c.boot_low:+.3g}, {c.boot_high:+.3g}]"
            for (key, n), c in boots
        ]
    return "\n".join(lines).rstrip("\n") + "\n"


# The summary's numbers, then the test split's loss and metric, and where the run is.
SUMMARY_COLUMNS = (*shown_in(CSV), "metric", "test_loss", "test_metric", "folder")


def summary_csv(report: Report) -> str:
    """One row per run: its data set and configuration, the config keys that vary, then its
    summary's numbers."""
    varying = sorted({k for section in report.sections for k in section.varying})
    columns = ["dataset", "configuration", *varying, *SUMMARY_COLUMNS]
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, extrasaction="ignore")
    writer.writeheader()
    for section in report.sections:
        for group in section.groups:
            for run in group.runs:
                writer.writerow(_csv_row(run, section, group, varying))
    return out.getvalue()


def _csv_row(run: Run, section: Section, group: Group, varying: list[str]) -> dict[str, Any]:
    summary = run.summary or {}
    row: dict[str, Any] = {k: summary.get(k, "") for k in SUMMARY_COLUMNS}
    row.update({k: run.config.get(k, "") for k in varying})
    test_loss, test_metric = run.number("test_loss"), run.number("test")
    row.update(
        dataset=section.dataset,
        configuration=group.label,
        status=run.status,
        seed=run.seed,
        test_loss="" if test_loss is None else test_loss,
        test_metric="" if test_metric is None else test_metric,
        folder=str(run.folder),
    )
    return row


def report_folder(path: Path) -> Path:
    """What `report PATH` reads: a run's folder for a file in it (RUN/summary.json), else
    the path as given."""
    return path.parent if path.is_file() else path


def write_report(report: Report, out: Path) -> list[str]:
    """Write summary.csv, report.md and the plots into `out`; return the names written.

    Each data set gets its plots (their names start with the data set's where there are
    several); plots an earlier report left that this one does not draw are removed.
    """
    from lstm_overfit import report_plots

    try:  # the first files written: a folder that takes none fails here, before any is
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "summary.csv", summary_csv(report))
    except OSError as err:
        raise ReportError(
            f"{out}: cannot write the report there ({err.strerror or err}); choose a folder "
            "you can write to with --out DIR"
        ) from None
    atomic_write_text(out / "report.md", report_markdown(report))
    written = ["summary.csv", "report.md"]
    several = len(report.sections) > 1
    for section in report.sections:
        prefix = f"{section.dataset}_" if several else ""
        written += report_plots.plot_section(report, section, out, prefix)
    for stale in report_plots.existing_plots(out):
        if stale.name not in written:
            stale.unlink()
    return written
