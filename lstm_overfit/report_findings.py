"""What a report concludes beyond each comparison with the baseline: how strong a regularizer
should be (its strengths side by side within a stratum), and whether a configuration learned
anything at all (its best validation figure against a predictor that ignores the input).

A regularizer swept at two or more strengths is judged by its best validation loss, the
number a researcher selects on: the best strength, its neighbours in the sweep, and whether
the best lies at an edge of the swept range (then the sweep should be extended that way).

A model that learned nothing is no better than the constant predictor: the class frequencies
for a classifier, the unigram model for a language model (both `constant_loss` in its
summary), persistence for a forecaster (`naive_forecast`, on the task's metric). Such a
configuration is flagged and never headlined as an improvement or a harm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lstm_overfit.runs import Run, is_number
from lstm_overfit.stats import MIN_SEEDS_FOR_INTERVAL, Comparison, paired

if TYPE_CHECKING:
    from lstm_overfit.report import Group, Section, Stratum

# The number strengths are chosen by: selection on validation, never on test.
SELECTED_ON = "best_val_loss"


@dataclass
class StrengthSweep:
    """One regularizer knob at two or more strengths within one stratum."""

    stratum: Stratum
    knob: str  # reg.dropout...
    groups: list[Group]  # by strength, ascending
    best: Group  # the lowest mean best validation loss

    def strength(self, group: Group) -> float:
        return group.reg[self.knob]

    @property
    def neighbours(self) -> list[Group]:
        """The strengths beside the best one in the sweep (one at an edge)."""
        i = self.groups.index(self.best)
        return [g for j, g in enumerate(self.groups) if abs(i - j) == 1]

    @property
    def edge(self) -> str | None:
        """'above' or 'below' where the best is the strongest or weakest swept: the way to
        extend the sweep; None where it lies inside the range."""
        if self.best is self.groups[-1]:
            return "above"
        return "below" if self.best is self.groups[0] else None


def strength_sweeps(section: Section) -> list[StrengthSweep]:
    """Each knob swept alone at two or more numeric strengths, per stratum, where the
    configurations have finished runs."""
    found = []
    for stratum in section.strata:
        by_knob: dict[str, list[Group]] = {}
        for group in stratum.groups:
            if len(group.reg) == 1 and finite_mean(group) is not None:
                ((knob, strength),) = group.reg.items()
                if is_number(strength):
                    by_knob.setdefault(knob, []).append(group)
        for knob, groups in sorted(by_knob.items()):
            if len(groups) >= 2:
                groups.sort(key=lambda g, k=knob: g.reg[k])
                best = min(groups, key=finite_mean)
                found.append(StrengthSweep(stratum, knob, groups, best))
    return found


def finite_mean(group: Group, number: str = SELECTED_ON) -> float | None:
    """The mean of `number` over the group's seeds, where it has one and it is finite."""
    stats = group.stats(number)
    return stats[0] if stats is not None and math.isfinite(stats[0]) else None


def compare_groups(group: Group, other: Group, number: str = SELECTED_ON) -> Comparison | None:
    """`group` against `other` seed by seed on `number` (lower is better), over the seeds
    both have; None where they share none."""
    mine, theirs = group.by_seed(number), other.by_seed(number)
    seeds = sorted(set(mine) & set(theirs))
    if not seeds:
        return None
    return paired([mine[s] for s in seeds], [theirs[s] for s in seeds], False)


@dataclass(frozen=True)
class Learning:
    """A configuration's best validation figure against the constant predictor's."""

    reference: str  # what the constant predictor is, in words
    model: float  # the configuration's mean best validation figure
    constant: float  # the constant predictor's mean
    what: str  # the figure compared: "validation loss", "validation mae"...
    comparison: Comparison  # (configuration - constant predictor) over its runs

    @property
    def learned(self) -> bool:
        """Better than the constant predictor: with an interval, one wholly below zero;
        below MIN_SEEDS_FOR_INTERVAL runs, every run below it."""
        c = self.comparison
        if not c.defined:
            return False
        if c.seeds >= MIN_SEEDS_FOR_INTERVAL:
            return c.high is not None and c.high < 0
        return c.better == c.seeds


# The constant predictor of each task's metric, in words.
CONSTANT_PREDICTOR = {
    "acc": "predicting the training split's class frequencies",
    "ppl": "the training split's unigram model",
}


def _against_constant(run: Run) -> tuple[str, float, float, str] | None:
    """(what the constant predictor is, its value, the run's best validation value, what is
    compared) for a run that records one, else None."""
    summary = run.summary or {}
    metric = summary.get("metric")
    naive = summary.get("naive_forecast") or {}
    if f"val_{metric}" in naive and summary.get("best_epoch") is not None:
        rows = [r for r in run.metrics() if r.get("epoch") == summary["best_epoch"]]
        if rows and is_number(value := rows[-1].get(f"val_{metric}")):
            return "persistence (the naive forecast)", naive[f"val_{metric}"], value, metric
    constant, best = summary.get("constant_loss"), summary.get("best_val_loss")
    if is_number(constant) and is_number(best):
        reference = CONSTANT_PREDICTOR.get(metric, "predicting the training split's mean")
        return reference, constant, best, "loss"
    return None


def learning(group: Group) -> Learning | None:
    """How the configuration's best validation figure compares with the constant
    predictor's, over its usable runs; None where its runs record no constant predictor."""
    found = [f for run in group.usable if (f := _against_constant(run)) is not None]
    if not found:
        return None
    reference, what = found[0][0], found[0][3]
    constants = [f[1] for f in found]
    models = [f[2] for f in found]
    return Learning(
        reference,
        sum(models) / len(models),
        sum(constants) / len(constants),
        f"validation {what}",
        paired(models, constants, higher_is_better=False),
    )
