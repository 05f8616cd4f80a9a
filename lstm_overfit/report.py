"""Aggregate runs and sweeps: which regularizer, how strong, how sure.

Reads every run folder under the given paths (a folder with `.hydra/overrides.yaml`),
joins its summary.json with its overrides, groups runs that differ only in `seed`, and
reports mean +- std over seeds of the key numbers, each configuration against the
unregularized baseline. Runs still in progress or failed are listed with their status.
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

from lstm_overfit.records import USABLE, atomic_write_text, read_jsonl

# Overrides that say where or how a run executes, not what it computes.
NOT_CONFIGURATION = (
    "sweep",
    "seed",
    "resume",
    "dataset.path",
    "dataset.cache_dir",
    "train.progress",
    "train.num_threads",
    "device",
)
NUMBERS = (
    "best_val_loss",
    "final_val_loss",
    "gap_at_best",
    "max_gap",
    "test_loss",
    "test_metric",
    "epochs_run",
)


@dataclass
class Run:
    folder: Path
    overrides: dict[str, str]
    summary: dict[str, Any] | None  # None while the run is in progress

    @property
    def status(self) -> str:
        return "running" if self.summary is None else self.summary["status"]

    @property
    def configuration(self) -> str:
        kept = {k: v for k, v in self.overrides.items() if k.lstrip("+") not in NOT_CONFIGURATION}
        return " ".join(f"{k}={v}" for k, v in sorted(kept.items())) or "(defaults)"

    def number(self, name: str) -> float | None:
        if self.summary is None:
            return None
        if name.startswith("test_"):
            test = self.summary.get("test") or {}
            if name == "test_loss":
                return test.get("loss")
            return next((v for k, v in test.items() if k != "loss"), None)
        return self.summary.get(name)


@dataclass
class Group:
    configuration: str
    runs: list[Run] = field(default_factory=list)

    @property
    def usable(self) -> list[Run]:
        return [r for r in self.runs if r.status in USABLE]

    @property
    def reg(self) -> dict[str, Any]:
        for run in self.usable:
            return run.summary["reg"]
        return {}

    def stats(self, name: str) -> tuple[float, float, int] | None:
        """(mean, std, n) over the group's usable runs; std is 0 for a single run."""
        values = [v for r in self.usable if (v := r.number(name)) is not None]
        if not values:
            return None
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        return statistics.fmean(values), std, len(values)


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


def group_runs(runs: list[Run]) -> list[Group]:
    groups: dict[str, Group] = {}
    for run in runs:
        groups.setdefault(run.configuration, Group(run.configuration)).runs.append(run)

    def order(group: Group) -> tuple:
        best = group.stats("best_val_loss")
        return (best is None, best[0] if best else math.inf, group.configuration)

    return sorted(groups.values(), key=order)


def baseline_of(groups: list[Group]) -> Group | None:
    """The unregularized configuration: usable runs with no active regularizer."""
    candidates = [g for g in groups if g.usable and not g.reg]
    return candidates[0] if candidates else None


def _fmt(stats: tuple[float, float, int] | None) -> str:
    if stats is None:
        return "-"
    mean, std, _ = stats
    return f"{mean:.4g} ± {std:.2g}"


def _statuses(group: Group) -> str:
    counts: dict[str, int] = {}
    for run in group.runs:
        counts[run.status] = counts.get(run.status, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


def table_rows(groups: list[Group]) -> list[dict[str, str]]:
    """One row per configuration, with the difference of its mean best validation loss from
    the baseline's."""
    base = baseline_of(groups)
    base_best = base.stats("best_val_loss") if base else None
    rows = []
    for group in groups:
        best = group.stats("best_val_loss")
        if group is base:
            delta = "baseline"
        elif best and base_best:
            delta = f"{best[0] - base_best[0]:+.4f}"
        else:
            delta = "-"
        rows.append(
            {
                "configuration": group.configuration,
                "runs": _statuses(group),
                "n": str(len(group.usable)),
                **{name: _fmt(group.stats(name)) for name in NUMBERS},
                "vs baseline": delta,
            }
        )
    return rows


def summary_csv(runs: list[Run]) -> str:
    """One row per run: its overrides as columns, then its summary's keys."""
    override_keys = sorted({k for run in runs for k in run.overrides})
    summary_keys = [
        "status",
        "best_epoch",
        "best_val_loss",
        "final_val_loss",
        "gap_at_best",
        "final_gap",
        "max_gap",
        "overfit_onset_epoch",
        "epochs_run",
        "test_loss",
        "test_metric",
        "seed",
        "error",
        "folder",
    ]
    out = io.StringIO()
    writer = csv.DictWriter(out, [*override_keys, *summary_keys])
    writer.writeheader()
    for run in runs:
        row: dict[str, Any] = {k: run.overrides.get(k, "") for k in override_keys}
        summary = run.summary or {}
        for key in summary_keys:
            row[key] = summary.get(key, "")
        row.update(
            status=run.status,
            test_loss=run.number("test_loss") or "",
            test_metric=run.number("test_metric") or "",
            folder=str(run.folder),
        )
        writer.writerow(row)
    return out.getvalue()


def report_markdown(groups: list[Group]) -> str:
    rows = table_rows(groups)
    header = list(rows[0]) if rows else []
    lines = [
        "# Sweep report",
        "",
        "Mean ± std over the n usable runs (completed or stopped early) of each configuration, "
        "sorted by best validation loss; `vs baseline` is the difference of the mean best "
        "validation loss from the unregularized configuration's.",
        "",
    ]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + " --- |" * len(header))
    for row in rows:
        lines.append("| " + " | ".join(str(row[h]) for h in header) + " |")
    return "\n".join(lines) + "\n"


def _strength_lines(groups: list[Group], number: str) -> dict[str, list[tuple]]:
    """For each regularizer alone: (strength, mean, std) of `number` per strength."""
    lines: dict[str, list[tuple[float, float, float]]] = {}
    for group in groups:
        reg, stats = group.reg, group.stats(number)
        if len(reg) != 1 or stats is None:
            continue
        ((name, strength),) = reg.items()
        if isinstance(strength, (int, float)) and strength > 0:
            lines.setdefault(name, []).append((float(strength), stats[0], stats[1]))
    return {name: sorted(points) for name, points in sorted(lines.items())}


def _strength_plot(groups: list[Group], numbers: dict[str, str], path: Path, ylabel: str) -> None:
    """One line per regularizer and number against strength (log x), std error bars; the
    unregularized baseline as a horizontal line of the same style."""
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    base = baseline_of(groups)
    for (number, label), style in zip(numbers.items(), ("-", "--"), strict=False):
        for i, (name, points) in enumerate(_strength_lines(groups, number).items()):
            xs, ys, errs = zip(*points, strict=True)
            color = f"C{i}"
            ax.errorbar(
                xs,
                ys,
                yerr=errs,
                marker="o",
                capsize=3,
                linestyle=style,
                color=color,
                label=f"{name}: {label}",
            )
        if base is not None and base.stats(number):
            ax.axhline(
                base.stats(number)[0],
                color="grey",
                linestyle=style,
                label=f"no regularizer: {label}",
            )
    ax.set_xscale("log")
    ax.set_xlabel("strength")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _curves_overlay(groups: list[Group], path: Path) -> None:
    """Mean validation loss per epoch of each configuration (first seed's length)."""
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for group in groups:
        curves = [read_jsonl(r.folder / "metrics.jsonl") for r in group.usable]
        curves = [c for c in curves if c]
        if not curves:
            continue
        length = min(len(c) for c in curves)
        mean = [statistics.fmean(c[i]["val_loss"] for c in curves) for i in range(length)]
        ax.plot(range(1, length + 1), mean, label=group.configuration[:60])
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation loss")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(runs: list[Run], out: Path) -> list[Group]:
    """Write summary.csv, report.md and the plots into `out`; return the groups. The plots
    against strength are drawn only when some configuration has one regularizer at a strength."""
    import matplotlib

    matplotlib.use("Agg")
    groups = group_runs(runs)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "summary.csv", summary_csv(runs))
    atomic_write_text(out / "report.md", report_markdown(groups))
    val = {"best_val_loss": "best", "final_val_loss": "last epoch"}
    gap = {"gap_at_best": "at best epoch", "max_gap": "largest"}
    strength_plots = {
        "val_loss_vs_strength.png": (val, "validation loss"),
        "gap_vs_strength.png": (gap, "validation - training loss"),
    }
    against_strength = any(_strength_lines(groups, number) for number in val)
    for name, (numbers, ylabel) in strength_plots.items():
        if against_strength:
            _strength_plot(groups, numbers, out / name, ylabel)
        else:  # nothing against strength (seeds only): no empty axes, none left from before
            (out / name).unlink(missing_ok=True)
    if any(g.usable for g in groups):
        _curves_overlay(groups, out / "curves_overlay.png")
    return groups
