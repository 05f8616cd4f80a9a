"""Aggregate runs and sweeps: which regularizer, how strong, how sure.

Reads every run folder under the given paths (a folder with `.hydra/overrides.yaml`), joins
its summary.json with its overrides, and groups runs that differ only in `seed`. Each
configuration is compared with a baseline seed by seed (stats.py): the unregularized
configuration, one named with `--baseline KEY=VALUE...`, or else the best one. Runs still in
progress or failed are listed with their status.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lstm_overfit.config import UsageError
from lstm_overfit.records import USABLE, as_settings, read_jsonl, read_overrides, read_summary
from lstm_overfit.stats import Comparison, paired

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
# The numbers compared, each with its name in sentences. Lower is better for each but the
# test metric, whose direction depends on the metric (HIGHER_IS_BETTER).
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


class ReportError(UsageError):
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
        path = self.folder / "metrics.jsonl"
        return read_jsonl(path) if path.exists() else []


def find_runs(paths: Iterable[Path]) -> list[Run]:
    runs, seen = [], set()
    for path in paths:
        for saved in sorted(path.rglob(".hydra/overrides.yaml")):
            folder = saved.parent.parent
            if (where := folder.resolve()) in seen:  # paths that overlap name a run twice
                continue
            seen.add(where)
            overrides = as_settings(read_overrides(folder) or [])
            runs.append(Run(folder, overrides, read_summary(folder)))
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

    def by_seed(self, name: str) -> dict[int, float]:
        """The number of each usable run, by seed (of two runs with one seed, the last)."""
        return {r.seed: v for r in self.usable if (v := r.number(name)) is not None}

    @property
    def repeated_seeds(self) -> list[int]:
        seeds = [r.seed for r in self.usable]
        return sorted({s for s in seeds if seeds.count(s) > 1})

    def stats(self, name: str) -> tuple[float, float, int] | None:
        """(mean, std, n) over the usable runs, one per seed; std is 0 for a single run."""
        values = list(self.by_seed(name).values())
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
    # What every configuration with finished runs shares says nothing about any of them.
    finished = [g for g in groups.values() if g.usable] or list(groups.values())
    shared = set.intersection(*(set(g.settings.items()) for g in finished))
    for group in groups.values():
        own = sorted(set(group.settings.items()) - shared)
        only_reg = all(k.lstrip("+") == "reg" or k.startswith("reg.") for k, _ in own)
        if not own:
            group.label = "(defaults)" if group.reg else "none"
        elif group.usable and not group.reg and only_reg:  # such as reg={} or reg.l2=0
            group.label = "none"
        else:
            group.label = " ".join(f"{k}={v}" for k, v in own)

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
        return _higher_is_better(number, self.test_metric)

    @property
    def loss_unit(self) -> str:
        """Cross-entropy is in nats; a forecaster's loss is the MSE of normalized values."""
        return "(normalized MSE)" if self.test_metric == "mae" else "nats"


def _higher_is_better(number: str, test_metric: str | None) -> bool:
    """Only the test metric can be better higher (accuracy); losses and gaps are better lower."""
    return number == "test_metric" and test_metric in HIGHER_IS_BETTER


def _named_baseline(groups: list[Group], spec: list[str]) -> Group:
    wanted = as_settings(spec)
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
            mine, theirs = group.by_seed(number), base.by_seed(number)
            seeds = sorted(set(mine) & set(theirs))
            if seeds:
                comparisons[group.key, number] = paired(
                    [mine[s] for s in seeds],
                    [theirs[s] for s in seeds],
                    _higher_is_better(number, test_metric),
                )
    threads = sorted({r.summary.get("num_threads") for g in groups for r in g.usable} - {None})
    return Report(groups, base, reason, test_metric, comparisons, threads)
