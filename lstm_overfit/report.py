"""Aggregate runs and sweeps: which regularizer, how strong, how sure.

Reads every run folder under the given paths (a folder with `.hydra/overrides.yaml`), joins
its summary.json with its overrides, and groups runs that differ only in `seed`. Each
configuration is compared with a baseline seed by seed (stats.py): the unregularized
configuration, one named with `--baseline KEY=VALUE...`, or else the best one. Runs still in
progress or failed are listed with their status.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lstm_overfit.config import ConfigError
from lstm_overfit.records import USABLE, atomic_write_text
from lstm_overfit.stats import MIN_SEEDS_FOR_INTERVAL, Comparison, paired

# Overrides that say where or how a run executes, not what it computes.
NOT_CONFIGURATION = (
    "sweep",
    "seed",
    "resume",
    "logger",
    "dataset.path",
    "dataset.cache_dir",
    "train.progress",
    "train.num_threads",
    "device",
)
# The numbers compared, each with its name in sentences and whether higher is better (the
# test metric's direction depends on the metric: accuracy up, perplexity and error down).
COMPARED = {
    "best_val_loss": "the best validation loss",
    "final_val_loss": "the final validation loss",
    "gap_at_best": "the gap at the best epoch",
    "test_metric": "the test",
}
# Their column names in the tables, short enough for a terminal.
SHORT = {
    "best_val_loss": "Δ best val",
    "final_val_loss": "Δ final val",
    "gap_at_best": "Δ gap at best",
    "test_metric": "Δ test",
}
HIGHER_IS_BETTER = {"acc"}


class ReportError(ConfigError):
    """A report that cannot be made as asked: one line, exit status 2."""


@dataclass
class Run:
    folder: Path
    overrides: dict[str, str]
    summary: dict[str, Any] | None  # None while the run is in progress

    @property
    def status(self) -> str:
        return "running" if self.summary is None else self.summary["status"]

    @property
    def settings(self) -> dict[str, str]:
        """The overrides that change what the run computes."""
        return {k: v for k, v in self.overrides.items() if k.lstrip("+") not in NOT_CONFIGURATION}

    @property
    def seed(self) -> int | None:
        return None if self.summary is None else self.summary.get("seed")

    def number(self, name: str) -> float | None:
        if self.summary is None:
            return None
        if name.startswith("test_"):
            test = self.summary.get("test") or {}
            if name == "test_loss":
                return test.get("loss")
            return next((v for k, v in test.items() if k != "loss"), None)
        return self.summary.get(name)

    def metrics(self) -> list[dict[str, Any]]:
        from lstm_overfit.records import read_jsonl

        path = self.folder / "metrics.jsonl"
        return read_jsonl(path) if path.exists() else []


def find_runs(paths: Iterable[Path]) -> list[Run]:
    runs = []
    for path in paths:
        for saved in sorted(path.rglob(".hydra/overrides.yaml")):
            folder = saved.parent.parent
            overrides = {}
            for item in yaml.safe_load(saved.read_text()) or []:
                key, _, value = item.partition("=")
                overrides[key] = value
            summary_file = folder / "summary.json"
            summary = json.loads(summary_file.read_text()) if summary_file.exists() else None
            runs.append(Run(folder, overrides, summary))
    return runs


@dataclass
class Group:
    """The runs of one configuration, over seeds."""

    settings: dict[str, str]
    runs: list[Run] = field(default_factory=list)
    label: str = ""  # the settings that set it apart from the other configurations

    @property
    def key(self) -> str:
        return " ".join(f"{k}={v}" for k, v in sorted(self.settings.items())) or "(defaults)"

    @property
    def usable(self) -> list[Run]:
        return [r for r in self.runs if r.status in USABLE]

    @property
    def reg(self) -> dict[str, Any]:
        for run in self.usable:
            return run.summary["reg"]
        return {}

    def values(self, name: str) -> dict[int, float]:
        """The number of each usable run, by seed."""
        return {r.seed: v for r in self.usable if (v := r.number(name)) is not None}

    def stats(self, name: str) -> tuple[float, float, int] | None:
        """(mean, std, n) over the usable runs; std is 0 for a single run."""
        values = list(self.values(name).values())
        if not values:
            return None
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        return statistics.fmean(values), std, len(values)

    def statuses(self) -> str:
        counts: dict[str, int] = {}
        for run in self.runs:
            counts[run.status] = counts.get(run.status, 0) + 1
        return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


def group_runs(runs: list[Run]) -> list[Group]:
    """Groups by configuration, sorted by mean best validation loss, each labelled by the
    settings not every configuration shares."""
    groups: dict[str, Group] = {}
    for run in runs:
        group = Group(run.settings)
        groups.setdefault(group.key, group).runs.append(run)
    if not groups:
        return []
    shared = set.intersection(*(set(g.settings.items()) for g in groups.values()))
    for group in groups.values():
        own = sorted(set(group.settings.items()) - shared)
        group.label = " ".join(f"{k}={v}" for k, v in own) or ("none" if not group.reg else "")
        group.label = group.label or "(defaults)"

    def order(group: Group) -> tuple:
        best = group.stats("best_val_loss")
        return (best is None, best[0] if best else math.inf, group.key)

    return sorted(groups.values(), key=order)


@dataclass
class Report:
    groups: list[Group]
    baseline: Group | None
    baseline_reason: str  # why this baseline: the unregularized, the named or the best one
    test_metric: str | None  # acc, ppl, mae: the name of the test metric the runs report
    comparisons: dict[tuple[str, str], Comparison]  # (group key, number) -> vs baseline
    thread_counts: list[int]  # distinct torch thread counts of the usable runs

    def higher_is_better(self, number: str) -> bool:
        return number == "test_metric" and self.test_metric in HIGHER_IS_BETTER


def _named_baseline(groups: list[Group], spec: list[str]) -> Group:
    wanted = dict(item.partition("=")[::2] for item in spec)
    bad = [item for item in spec if "=" not in item]
    if bad:
        raise ReportError(f"--baseline {bad[0]}: write it as KEY=VALUE, such as reg.l2=0.001")
    for group in groups:
        settings = {k.lstrip("+"): v for k, v in group.settings.items()}
        if all(settings.get(k.lstrip("+")) == v for k, v in wanted.items()) and group.usable:
            return group
    keys = "; ".join(g.key for g in groups)
    raise ReportError(
        f"--baseline {' '.join(spec)} matches no configuration with finished runs; "
        f"the configurations are: {keys}"
    )


def build_report(runs: list[Run], baseline: list[str] | None = None) -> Report:
    groups = group_runs(runs)
    if baseline:
        base, reason = _named_baseline(groups, baseline), "named with --baseline"
    else:
        unregularized = [g for g in groups if g.usable and not g.reg]
        if unregularized:
            base, reason = unregularized[0], "the unregularized configuration"
        else:
            base = next((g for g in groups if g.usable), None)
            reason = "no unregularized configuration: the best by validation loss"
    tests = [r.summary.get("test") for g in groups for r in g.usable if r.summary.get("test")]
    test_metric = next((k for k in tests[0] if k != "loss"), None) if tests else None
    comparisons = {}
    for group in groups:
        if base is None or group is base:
            continue
        for number in COMPARED:
            mine, theirs = group.values(number), base.values(number)
            seeds = sorted(set(mine) & set(theirs))
            if seeds:
                higher = number == "test_metric" and test_metric in HIGHER_IS_BETTER
                comparisons[group.key, number] = paired(
                    [mine[s] for s in seeds], [theirs[s] for s in seeds], higher
                )
    threads = sorted({r.summary.get("num_threads") for g in groups for r in g.usable} - {None})
    return Report(groups, base, reason, test_metric, comparisons, threads)


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
        verb = "raises" if c.mean > 0 else "lowers"
        size = f"{abs(c.mean):.3g}" + ("" if number == "test_metric" else " nats")
        if c.low is None:
            sure = f"on {c.better} of {c.seeds} seeds (too few seeds for an interval)"
        else:
            sure = f"[{c.low:+.3g}, {c.high:+.3g}], better on {c.better} of {c.seeds} seeds" + (
                "" if c.excludes_zero else "; the interval includes zero: not distinguishable"
            )
        lines.append(f"{group.label} {verb} {what} by {size} {sure} against {base.label}.")
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
        if group.values("final_train_acc_flipped"):
            row["flipped memorized"] = _mean_sd(group, "final_train_acc_flipped")
        for number in COMPARED:
            c = report.comparisons.get((group.key, number))
            name = SHORT[number] + (f" {report.test_metric}" if number == "test_metric" else "")
            row[name] = "baseline" if group is report.baseline else (fmt_interval(c) if c else "-")
        rows.append(row)
    return rows


def thread_warning(report: Report) -> str | None:
    if len(report.thread_counts) < 2:
        return None
    counts = ", ".join(map(str, report.thread_counts))
    return (
        f"warning: these runs used different torch thread counts ({counts}); the same "
        "config and seed give different numbers at different thread counts"
    )


def report_markdown(report: Report) -> str:
    rows = table_rows(report)
    header = list(dict.fromkeys(k for row in rows for k in row))
    n = min((c.seeds for c in report.comparisons.values()), default=0)
    lines = ["# Sweep report", "", *headline(report), ""]
    if warning := thread_warning(report):
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
            "Percentile bootstrap (10,000 resamples of the seeds), beside the t interval:",
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
