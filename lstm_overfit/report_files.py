"""What a report writes: report.md (its opening sentences, its table), summary.csv and the
plots; the terminal shows the same sentences and a narrower table (console.py)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from lstm_overfit.records import atomic_write_text
from lstm_overfit.report import COMPARED, SHORT, Group, Report, Run
from lstm_overfit.stats import BOOTSTRAP_RESAMPLES, MIN_SEEDS_FOR_INTERVAL, Comparison


def _number_name(report: Report, number: str) -> str:
    if number == "test_metric":
        return f"the test {report.test_metric or 'metric'}"
    return COMPARED[number]


def _signed(x: float) -> str:
    return f"{x:+.1f}" if abs(x) >= 100 else f"{x:+.4f}"


def fmt_interval(c: Comparison) -> str:
    """The mean difference with its interval (* where it excludes zero), or its seed count
    where there are too few seeds for one."""
    if c.low is None:
        return f"{_signed(c.mean)} (n={c.seeds})"
    star = "*" if c.excludes_zero else ""
    return f"{_signed(c.mean)} [{_signed(c.low)}, {_signed(c.high)}]{star}"


def headline(report: Report) -> list[str]:
    """One sentence per compared number: which configuration does best, and how sure."""
    base = report.baseline
    if base is None:
        return ["No configuration has finished runs to compare."]
    lines = [f"Baseline: {base.label} ({report.baseline_reason})."]
    if len(report.groups) == 1:
        return lines
    for number in COMPARED:
        found = [(g, report.comparisons.get((g.key, number))) for g in report.groups]
        found = [(g, c) for g, c in found if c is not None]
        if not found:
            continue
        sign = 1 if report.higher_is_better(number) else -1
        group, c = max(found, key=lambda gc: sign * gc[1].mean)
        what = _number_name(report, number)
        if sign * c.mean <= 0:
            lines.append(f"No configuration improves {what} on {base.label} on average.")
            continue
        verb, way = ("raises", 1) if c.mean > 0 else ("lowers", -1)
        unit = "" if number == "test_metric" else f" {report.loss_unit}"
        size = f"{abs(c.mean):.3g}"
        if c.low is not None:  # the interval of the change's size, in the verb's direction
            low, high = sorted((way * c.low, way * c.high))
            size += f" [{low:.3g}, {high:.3g}]"
        sure = f"better on {c.better} of {c.seeds} seeds"
        if c.low is None:
            sure += " (too few seeds for an interval)"
        elif not c.excludes_zero:
            sure += "; the interval includes zero: not distinguishable"
        lines.append(f"{group.label} {verb} {what} by {size}{unit} against {base.label}, {sure}.")
    return lines


def _mean_sd(group: Group, number: str) -> str:
    stats = group.stats(number)
    return "-" if stats is None else f"{stats[0]:.4g} ± {stats[1]:.2g}"


def table_rows(report: Report) -> list[dict[str, str]]:
    """One row per configuration: its numbers over seeds and its paired differences."""
    rows = []
    for group in report.groups:
        row = {
            "configuration": group.label,
            "runs": group.statuses(),
            "n": str(len(group.usable)),
            "best val loss": _mean_sd(group, "best_val_loss"),
            "final val loss": _mean_sd(group, "final_val_loss"),
            "gap at best": _mean_sd(group, "gap_at_best"),
            f"test {report.test_metric or 'metric'}": _mean_sd(group, "test_metric"),
        }
        if group.by_seed("final_train_acc_flipped"):
            row["flipped memorized"] = _mean_sd(group, "final_train_acc_flipped")
        for number in COMPARED:
            c = report.comparisons.get((group.key, number))
            name = SHORT[number] + (f" {report.test_metric}" if number == "test_metric" else "")
            row[name] = "baseline" if group is report.baseline else (fmt_interval(c) if c else "-")
        rows.append(row)
    return rows


def warnings(report: Report) -> list[str]:
    """What makes the comparison less than it seems: mixed thread counts, repeated seeds."""
    found = []
    if len(report.thread_counts) > 1:
        counts = ", ".join(map(str, report.thread_counts))
        found.append(
            f"warning: these runs used different torch thread counts ({counts}); the same "
            "config and seed give different numbers at different thread counts"
        )
    for group in report.groups:
        if seeds := group.repeated_seeds:
            found.append(
                f"warning: {group.label} has more than one finished run with seed "
                f"{', '.join(map(str, seeds))}; only the last of each is counted (report "
                "one sweep, or remove the repeated runs)"
            )
    return found


def report_markdown(report: Report) -> str:
    rows = table_rows(report)
    header = list(dict.fromkeys(k for row in rows for k in row))
    if report.comparisons:  # the seeds the paired intervals rest on
        n = min(c.seeds for c in report.comparisons.values())
    else:
        n = min((len(g.by_seed("best_val_loss")) for g in report.groups), default=0)
    lines = ["# Sweep report", "", *headline(report), ""]
    for warning in warnings(report):
        lines += [f"**{warning}**", ""]
    lines += [
        "Mean ± std over the n usable runs (completed or stopped early) of each "
        "configuration, sorted by best validation loss. Δ columns: the mean paired "
        "difference from the baseline over the seeds both have, with its 95% Student t "
        "interval; * marks an interval that excludes zero."
        + (
            f" With fewer than {MIN_SEEDS_FOR_INTERVAL} seeds no interval is given: it would "
            "not mean anything."
            if n < MIN_SEEDS_FOR_INTERVAL
            else ""
        ),
        "",
        "| " + " | ".join(header) + " |",
        "|" + " --- |" * len(header),
    ]
    lines += ["| " + " | ".join(row.get(h, "") for h in header) + " |" for row in rows]
    boots = [(k, c) for k, c in report.comparisons.items() if c.boot_low is not None]
    if boots:
        lines += [
            "",
            f"Percentile bootstrap ({BOOTSTRAP_RESAMPLES:,} resamples of the seeds), beside the "
            "t interval:",
            "",
        ]
        for (key, number), c in boots:
            label = next(g.label for g in report.groups if g.key == key)
            lines.append(f"- {label}, {number}: [{c.boot_low:+.3g}, {c.boot_high:+.3g}]")
    return "\n".join(lines) + "\n"


SUMMARY_COLUMNS = (
    "status",
    "seed",
    "num_threads",
    "best_epoch",
    "best_val_loss",
    "final_val_loss",
    "gap_at_best",
    "final_gap",
    "max_gap",
    "overfit_onset_epoch",
    "overfit_onset_rise",
    "epochs_run",
    "test_loss",
    "test_metric",
    "final_train_acc_flipped",
    "error",
    "folder",
)


def summary_csv(runs: list[Run]) -> str:
    """One row per run: its overrides as columns, then its summary's keys (each once)."""
    override_keys = sorted({k for run in runs for k in run.overrides})
    columns = [*override_keys, *(k for k in SUMMARY_COLUMNS if k not in override_keys)]
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, extrasaction="ignore")
    writer.writeheader()
    for run in runs:
        summary = run.summary or {}
        row: dict[str, Any] = {k: summary.get(k, "") for k in SUMMARY_COLUMNS}
        row.update({k: run.overrides.get(k, "") for k in override_keys})
        test_loss, test_metric = run.number("test_loss"), run.number("test_metric")
        row.update(
            status=run.status,
            test_loss="" if test_loss is None else test_loss,
            test_metric="" if test_metric is None else test_metric,
            folder=str(run.folder),
        )
        writer.writerow(row)
    return out.getvalue()


def write_report(report: Report, out: Path) -> list[str]:
    """Write summary.csv, report.md and the plots into `out`; return the names written.

    The plots against strength are drawn only when some configuration has one regularizer
    at a strength (a sweep over seeds alone has none); stale ones are removed.
    """
    from lstm_overfit import plots

    out.mkdir(parents=True, exist_ok=True)
    runs = [run for group in report.groups for run in group.runs]
    atomic_write_text(out / "summary.csv", summary_csv(runs))
    atomic_write_text(out / "report.md", report_markdown(report))
    written = ["summary.csv", "report.md"]
    written += plots.plot_strengths(report.groups, report.baseline, out)
    if any(g.usable for g in report.groups):
        plots.plot_overlay(report.groups, out / "curves_overlay.png")
        written.append("curves_overlay.png")
    return written
