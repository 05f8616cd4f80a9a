"""Aggregate runs and sweeps: which regularizer, how strong, how sure.

Reads every run folder under the given paths (a folder with `.hydra/config.yaml`) and
compares only like with like:

- runs on different data sets are never compared: each data set is a section of its own, a
  data set being its name and the content of its files (dataset_identity.py), so runs of
  `csv` on two files are two sections;
- within a data set, runs that differ only in `seed` form one configuration;
- configurations that differ in keys other than the regularizer settings (training-set
  size, model size, epochs...) fall into separate strata, one per value of those keys, and
  each configuration is compared with the baseline of its own stratum, seed by seed (stats.py):
  the unregularized configuration, one named with `--baseline KEY=VALUE...`, or else the best;
- every number is the composed config's value, so `reg.l2=1e-3` and `reg.l2=0.001` are one
  configuration.

Holm's adjustment runs over every comparison the report makes, those of each regularizer's
best strength with its neighbouring strengths included (report_findings.py). Runs still in
progress or failed are listed with their status; runs not finished, with how far they got
and the command that continues them. `--where KEY=VALUE` keeps the runs with that value, and
`--vary KEY` names the keys to compare (every other key must then have one value).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lstm_overfit.regularizers.schema import active_settings, config_keys
from lstm_overfit.report_findings import (
    SELECTED_ON,
    Learning,
    StrengthSweep,
    compare_groups,
    learning,
    strength_sweeps,
)
from lstm_overfit.report_scope import check_vary, dataset_labels, select_runs, strata_note
from lstm_overfit.run_folder import USABLE, compared_numbers
from lstm_overfit.runs import (
    ReportError,
    Run,
    fmt_value,
    is_number,
    parse_settings,
    unfinished_lines,
)
from lstm_overfit.stats import FAMILY_ERROR, Comparison, holm, paired

# The summary numbers compared: name -> (its name in sentences, its column in tables). Lower
# is better for each but the test metric, whose direction its runs' summaries record.
COMPARED = compared_numbers()
# What --baseline names the unregularized configuration by: its label in every table.
UNREGULARIZED = "none"


def is_regularizer_key(key: str, recorded: Iterable[str] = ()) -> bool:
    """Whether a config key sets a regularizer: the one place the report decides it. A key
    is one if a registered regularizer declares it (regularizers/schema.py), or if the runs'
    summaries record it as on (`recorded`: a plug-in this process did not load)."""
    return key in config_keys(recorded)


@dataclass
class Group:
    """The runs of one configuration, over seeds."""

    settings: dict[str, Any]
    runs: list[Run] = field(default_factory=list)

    @property
    def key(self) -> str:
        return " ".join(f"{k}={fmt_value(v)}" for k, v in sorted(self.settings.items()))

    @property
    def reg(self) -> dict[str, Any]:
        """The regularizers it switches on, with their settings (regularizers/schema.py)."""
        return active_settings(self.settings, _recorded(self.runs))

    @property
    def label(self) -> str:
        """The regularizers switched on, as KEY=VALUE, or `none`: one label everywhere."""
        return " ".join(f"{k}={fmt_value(v)}" for k, v in self.reg.items()) or UNREGULARIZED

    @property
    def usable(self) -> list[Run]:
        return [r for r in self.runs if r.status in USABLE]

    def by_seed(self, name: str) -> dict[int, float]:
        """The number of each usable run, by seed (of two runs with one seed, the last)."""
        return {r.seed: v for r in self.usable if (v := r.number(name)) is not None}

    @property
    def repeated_seeds(self) -> list[int]:
        seeds = [r.seed for r in self.usable]
        return sorted({s for s in seeds if seeds.count(s) > 1})

    def stats(self, name: str) -> tuple[float, float, int] | None:
        """(mean, std, n) over the usable runs, one per seed; std is 0 for a single run, and
        both are NaN where a value is not a finite number (a diverged loss)."""
        values = list(self.by_seed(name).values())
        if not values:
            return None
        if not all(math.isfinite(v) for v in values):
            return math.nan, math.nan, len(values)
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        return statistics.fmean(values), std, len(values)

    def statuses(self) -> str:
        counts: dict[str, int] = {}
        for run in self.runs:
            counts[run.status] = counts.get(run.status, 0) + 1
        return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


def _by_best_val_loss(group: Group) -> tuple:
    best = group.stats("best_val_loss")
    mean = best[0] if best and math.isfinite(best[0]) else math.inf
    return (best is None, mean, group.key)


@dataclass
class Stratum:
    """The configurations that share every setting but the regularizers'."""

    context: dict[str, Any]  # the values of the section's non-regularizer keys that vary
    groups: list[Group]  # sorted by mean best validation loss
    baseline: Group | None = None
    baseline_reason: str = ""

    @property
    def label(self) -> str:
        return " ".join(f"{k}={fmt_value(v)}" for k, v in self.context.items())


@dataclass
class Section:
    """The runs of one data set."""

    dataset: str
    strata: list[Stratum]
    varying: list[str]  # config keys whose values differ between its configurations
    shared: dict[str, Any]  # the settings every configuration has
    metric: str | None  # acc, ppl, mae: the task's metric, as its runs' summaries name it
    metric_higher_is_better: bool
    loss_unit: str

    @property
    def groups(self) -> list[Group]:
        return [g for s in self.strata for g in s.groups]

    @property
    def context_keys(self) -> list[str]:
        recorded = _recorded(r for g in self.groups for r in g.runs)
        return [k for k in self.varying if not is_regularizer_key(k, recorded)]

    def higher_is_better(self, number: str) -> bool:
        """Only the test metric can be better higher (accuracy); losses and gaps are lower."""
        return number == "test" and self.metric_higher_is_better

    @property
    def title(self) -> str:
        """Data set, model, epochs and what varies: what a plot must say to read alone."""
        s = self.shared
        if "model.hidden_size" in s and "model.num_layers" in s:
            both = " bidirectional" if s.get("model.bidirectional") else ""
            model = f"LSTM {s['model.num_layers']}x{s['model.hidden_size']}{both}"
        else:
            model = "LSTM of several sizes"
        epochs = f"{s['train.epochs']} epochs" if "train.epochs" in s else "epochs vary"
        recorded = _recorded(r for g in self.groups for r in g.runs)
        varies = ", ".join(_varying_names(self.varying, recorded)) or "seed only"
        return f"{self.dataset} · {model} · {epochs} · varies: {varies}"


def _recorded(runs: Iterable[Run]) -> set[str]:
    """The knobs the runs' summaries list as on."""
    return {name for r in runs for name in ((r.summary or {}).get("reg") or {})}


def _varying_names(keys: list[str], recorded: Iterable[str] = ()) -> list[str]:
    """What varies, in words: the regularizer settings as one item, other keys by name."""
    names = [k for k in keys if not is_regularizer_key(k, recorded)]
    return (["regularizer"] if len(names) < len(keys) else []) + names


@dataclass
class Report:
    sections: list[Section]
    comparisons: dict[tuple[str, str], Comparison]  # (group key, number) -> vs its baseline
    # Holm's p-value of each comparison that has one: those above, and each best strength's
    # against its neighbours, keyed (best's key, SELECTED_ON, neighbour's key).
    adjusted: dict[tuple[str, ...], float]
    thread_counts: list[int]  # distinct torch thread counts of the usable runs
    sweeps: list[StrengthSweep] = field(default_factory=list)
    versus: dict[tuple[str, str, str], Comparison] = field(default_factory=dict)
    learning: dict[str, Learning] = field(default_factory=dict)  # by group key, where known
    notes: list[str] = field(default_factory=list)  # runs not finished; too many strata

    @property
    def groups(self) -> list[Group]:
        return [g for section in self.sections for g in section.groups]

    def survives(self, key: tuple[str, ...]) -> bool:
        """The comparison's difference stands after Holm's adjustment over all of them."""
        return self.adjusted.get(key, 1.0) < FAMILY_ERROR

    def learned(self, group: Group) -> bool:
        """Better than the constant predictor, or not known to be worse (no record of it)."""
        found = self.learning.get(group.key)
        return found is None or found.learned


def _section(dataset: str, groups: list[Group]) -> Section:
    finished = [g for g in groups if g.usable] or groups
    keys = sorted({k for g in finished for k in g.settings})
    varying = [k for k in keys if len({repr(g.settings.get(k)) for g in finished}) > 1]
    shared = {k: finished[0].settings[k] for k in keys if k not in varying}
    recorded = _recorded(r for g in groups for r in g.runs)
    context_keys = [k for k in varying if not is_regularizer_key(k, recorded)]
    strata: dict[str, Stratum] = {}
    for group in groups:
        context = {k: group.settings.get(k) for k in context_keys}
        strata.setdefault(repr(context), Stratum(context, [])).groups.append(group)
    summaries = [r.summary for g in groups for r in g.usable] or [{}]
    ordered = sorted(strata.values(), key=lambda s: [str(v) for v in s.context.values()])
    for stratum in ordered:
        stratum.groups.sort(key=_by_best_val_loss)
    numeric = all(is_number(v) or v is None for s in ordered for v in s.context.values())
    if numeric:  # training-set sizes and the like in their numeric order
        ordered.sort(key=lambda s: [(v is None, v or 0) for v in s.context.values()])
    task = summaries[0]  # one data set, one task kind
    return Section(
        dataset,
        ordered,
        varying,
        shared,
        task.get("metric"),
        bool(task.get("metric_higher_is_better")),
        task.get("loss_unit") or "",
    )


def _matches(group: Group, wanted: list[tuple[str, Any]]) -> bool:
    """Every KEY=VALUE holds: a config key against the composed value, a config group (such
    as +reg=l2) against the overrides its runs were made with."""
    for key, value in wanted:
        if key in group.settings:
            if group.settings[key] != value:
                return False
        elif not all((key, value) in _parsed_overrides(run) for run in group.runs):
            return False
    return True


def _parsed_overrides(run: Run) -> list[tuple[str, Any]]:
    return parse_settings([o for o in run.overrides if "=" in o])


def _choose_baselines(sections: list[Section], baseline: list[str] | None) -> None:
    named_none = baseline == [UNREGULARIZED]  # the default, named as the tables name it
    wanted = parse_settings(baseline) if baseline and not named_none else None
    found = False
    for stratum in (s for section in sections for s in section.strata):
        usable = [g for g in stratum.groups if g.usable]
        if named_none:
            named = [g for g in usable if not g.reg]
            stratum.baseline = named[0] if named else None
            stratum.baseline_reason = "the unregularized configuration" if named else ""
            found = found or bool(named)
        elif wanted is not None:
            named = [g for g in usable if _matches(g, wanted)]
            stratum.baseline = named[0] if named else None
            stratum.baseline_reason = "named with --baseline" if named else ""
            found = found or bool(named)
        elif unregularized := [g for g in usable if not g.reg]:
            stratum.baseline, stratum.baseline_reason = (
                unregularized[0],
                "the unregularized configuration",
            )
        elif usable:
            stratum.baseline = usable[0]
            stratum.baseline_reason = "no unregularized configuration: the best by validation loss"
    if (wanted is not None or named_none) and not found:
        keys = "; ".join(g.label for section in sections for g in section.groups)
        raise ReportError(
            f"--baseline {' '.join(baseline or [])} matches no configuration with finished "
            f"runs; the configurations are: {keys}"
        )


def build_report(
    runs: list[Run],
    baseline: list[str] | None = None,
    where: list[str] | None = None,
    vary: list[str] | None = None,
) -> Report:
    runs = select_runs(runs, where)
    labels = dataset_labels(runs)
    by_dataset: dict[str, dict[str, Group]] = {}
    for i, run in enumerate(runs):
        groups = by_dataset.setdefault(labels[i], {})
        group = Group(run.settings)
        groups.setdefault(group.key, group).runs.append(run)
    sections = [_section(name, list(groups.values())) for name, groups in by_dataset.items()]
    sections.sort(key=lambda s: s.dataset)
    if vary:
        check_vary(sections, vary, runs)
    _choose_baselines(sections, baseline)
    comparisons = {}
    for section in sections:
        for stratum in section.strata:
            base = stratum.baseline
            for group in stratum.groups:
                if base is None or group is base:
                    continue
                for number in COMPARED:
                    mine, theirs = group.by_seed(number), base.by_seed(number)
                    if seeds := sorted(set(mine) & set(theirs)):
                        comparisons[group.key, number] = paired(
                            [mine[s] for s in seeds],
                            [theirs[s] for s in seeds],
                            section.higher_is_better(number),
                        )
    sweeps = [sweep for section in sections for sweep in strength_sweeps(section)]
    versus = _neighbour_comparisons(sweeps)
    family = {**comparisons, **versus}
    tested = [k for k, c in family.items() if c.p_value is not None]
    adjusted = dict(zip(tested, holm([family[k].p_value for k in tested]), strict=True))
    threads = sorted({r.summary.get("num_threads") for r in runs if r.status in USABLE} - {None})
    learned = {g.key: found for s in sections for g in s.groups if (found := learning(g))}
    notes = unfinished_lines(runs) + [n for s in sections if (n := strata_note(s))]
    return Report(sections, comparisons, adjusted, threads, sweeps, versus, learned, notes)


def _neighbour_comparisons(
    sweeps: list[StrengthSweep],
) -> dict[tuple[str, str, str], Comparison]:
    """Each regularizer's best strength against the strengths beside it, seed by seed."""
    versus = {}
    for sweep in sweeps:
        for other in sweep.neighbours:
            if (c := compare_groups(sweep.best, other)) is not None:
                versus[sweep.best.key, SELECTED_ON, other.key] = c
    return versus
