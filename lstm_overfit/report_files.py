"""What a report writes: report.md (per data set its opening sentences and its table),
summary.csv and the plots; the terminal shows the same sentences and a narrower table
(console.py)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from lstm_overfit.report import COMPARED, Group, Report, Section, Stratum
from lstm_overfit.run_folder import CSV, shown_in
from lstm_overfit.runs import Run
from lstm_overfit.stats import (
    BOOTSTRAP_RESAMPLES,
    FAMILY_ERROR,
    MIN_SEEDS_FOR_INTERVAL,
    Comparison,
)
from lstm_overfit.storage import atomic_write_text


def _number_name(section: Section, number: str) -> str:
    if number == "test":
        return f"the test {section.metric or 'metric'}"
    return COMPARED[number][0]


def _signed(x: float) -> str:
    return f"{x:+.1f}" if abs(x) >= 100 else f"{x:+.4f}"


def fmt_interval(c: Comparison, survives: bool = False) -> str:
    """The mean difference with its interval (* where it excludes zero, † where that holds
    after Holm's adjustment), or its seed count where there are too few seeds for one."""
    if c.low is None:
        return f"{_signed(c.mean)} (n={c.seeds})"
    marks = ("*" if c.excludes_zero else "") + ("†" if survives else "")
    return f"{_signed(c.mean)} [{_signed(c.low)}, {_signed(c.high)}]{marks}"


def _where(stratum: Stratum) -> str:
    return f" at {stratum.label}" if stratum.label else ""


def _baseline_line(section: Section) -> str:
    named = {(s.baseline.label, s.baseline_reason) for s in section.strata if s.baseline}
    if not named:
        return "Baseline: none has finished runs, so nothing is compared."
    if len(section.strata) == 1:
        ((label, reason),) = named
        return f"Baseline: {label} ({reason})."
    keys = ", ".join(section.context_keys)
    missing = [s.label for s in section.strata if s.baseline is None]
    text = (
        f"Runs differ in {keys} besides the regularizers, so each configuration is compared "
        f"only with the baseline of the same {keys}: "
        + "; ".join(f"{label} ({reason})" for label, reason in sorted(named))
        + "."
    )
    if missing:
        text += f" Not compared (no baseline): {'; '.join(missing)}."
    return text


def _finding(report: Report, section: Section, stratum: Stratum, group: Group, number: str) -> str:
    c = report.comparisons[group.key, number]
    base = stratum.baseline
    verb = "raises" if c.mean > 0 else "lowers"
    unit = "" if number == "test" else f" {section.loss_unit}"
    what = _number_name(section, number)
    sure = f"better on {c.better} of {c.seeds} seeds"
    if c.low is None:
        return (
            f"{group.label} {verb} {what} against {base.label}{_where(stratum)} by "
            f"{_signed(c.mean)}{unit} on average, {sure} (too few seeds for an interval)."
        )
    p = report.adjusted[group.key, number]
    return (
        f"{group.label} {verb} {what} against {base.label}{_where(stratum)}: "
        f"{_signed(c.mean)} [{_signed(c.low)}, {_signed(c.high)}]{unit}, {sure} "
        f"(Holm-adjusted p = {p:.2g})."
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def family_line(report: Report) -> str:
    """How many comparisons the report makes and how many findings survive Holm."""
    tested = len(report.adjusted)
    if not tested:
        return ""
    held = [k for k in report.adjusted if report.survives(k)]
    better = 0
    for key in held:
        section = next(s for s in report.sections if any(g.key == key[0] for g in s.groups))
        c = report.comparisons[key]
        better += (c.mean > 0) == section.higher_is_better(key[1])
    return (
        f"{tested} comparisons with a 95% interval; with Holm's adjustment over all of them "
        f"(a {FAMILY_ERROR:.0%} chance of any false finding), {len(held)} hold: "
        f"{_count(better, 'improvement')} and {_count(len(held) - better, 'harm')}, marked † "
        "in the table."
    )


def headline(report: Report, section: Section) -> list[str]:
    """The baseline, then one sentence per compared number: the largest improvement that
    holds after Holm's adjustment, or that none does."""
    lines = [_baseline_line(section)]
    strata = [s for s in section.strata if s.baseline is not None and len(s.groups) > 1]
    if not strata:
        return lines
    for number in COMPARED:
        sign = 1 if section.higher_is_better(number) else -1
        found = [
            (sign * report.comparisons[g.key, number].mean, s, g)
            for s in strata
            for g in s.groups
            if (g.key, number) in report.comparisons
        ]
        if not found:
            continue
        held = [f for f in found if (f[2].key, number) in report.adjusted]
        if held:  # intervals: only what survives the adjustment is stated
            held = [f for f in held if report.survives((f[2].key, number))]
        else:  # too few seeds for any interval: the largest mean change, said to be that
            held = found
        held = [f for f in held if f[0] > 0]
        what = _number_name(section, number)
        if not held:
            bases = sorted({s.baseline.label for s in strata})
            lines.append(
                f"No configuration improves {what} against {' or '.join(bases)} "
                "distinguishably once adjusted for the number of comparisons."
            )
            continue
        _, stratum, group = max(held, key=lambda f: f[0])
        lines.append(_finding(report, section, stratum, group, number))
    return lines


def _mean_sd(group: Group, number: str) -> str:
    stats = group.stats(number)
    return "-" if stats is None else f"{stats[0]:.4g} ± {stats[1]:.2g}"


def table_rows(report: Report, section: Section) -> list[dict[str, str]]:
    """One row per configuration: what sets its stratum apart, its numbers over seeds and
    its paired differences from its stratum's baseline."""
    rows = []
    for stratum in section.strata:
        for group in stratum.groups:
            row = {k: str(v) for k, v in stratum.context.items()}
            row |= {
                "configuration": group.label,
                "runs": group.statuses(),
                "n": str(len(group.usable)),
                "best val loss": _mean_sd(group, "best_val_loss"),
                "final val loss": _mean_sd(group, "final_val_loss"),
                "gap at best": _mean_sd(group, "gap_at_best"),
                f"test {section.metric or 'metric'}": _mean_sd(group, "test"),
            }
            if group.by_seed("final_train_acc_flipped"):
                row["flipped memorized"] = _mean_sd(group, "final_train_acc_flipped")
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
    return found + report.notes  # runs not finished; data sets split into many strata


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
        "Mean ± std over the n usable runs (completed or stopped early) of each "
        "configuration, sorted by best validation loss. Δ columns: the mean paired "
        "difference from the baseline over the seeds both have (negative: lower), with its "
        "95% Student t interval; * marks an interval that excludes zero, † a difference that "
        "still holds after Holm's adjustment over all the comparisons."
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


def write_report(report: Report, out: Path) -> list[str]:
    """Write summary.csv, report.md and the plots into `out`; return the names written.

    Each data set gets its plots (their names start with the data set's where there are
    several); plots an earlier report left that this one does not draw are removed.
    """
    from lstm_overfit import report_plots

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "summary.csv", summary_csv(report))
    atomic_write_text(out / "report.md", report_markdown(report))
    written = ["summary.csv", "report.md"]
    several = len(report.sections) > 1
    for section in report.sections:
        written += report_plots.plot_section(section, out, f"{section.dataset}_" if several else "")
    for stale in report_plots.existing_plots(out):
        if stale.name not in written:
            stale.unlink()
    return written
