"""A report's advice: how strong each regularizer should be, the configuration to use, and
how many seeds (and which command) would settle what the runs leave open."""

from __future__ import annotations

import math
import shlex
from pathlib import Path

from lstm_overfit.report import Report, Section, Stratum
from lstm_overfit.report_findings import SELECTED_ON, StrengthSweep, finite_mean
from lstm_overfit.report_words import at_stratum, change, count, unit_of
from lstm_overfit.runs import Run, fmt_value
from lstm_overfit.stats import (
    FAMILY_ERROR,
    MIN_SEEDS_FOR_INTERVAL,
    MOST_SEEDS,
    POWER,
    Comparison,
    seeds_for_power,
)


def seeds_needed(report: Report, c: Comparison) -> str:
    """About how many seeds a difference of this size and spread needs to hold after the
    adjustment over the report's comparisons."""
    alpha = FAMILY_ERROR / max(1, len(report.adjusted))
    n = seeds_for_power(c.mean, c.spread or 0.0, alpha)
    if n >= MOST_SEEDS:
        return f"more than {MOST_SEEDS:,} seeds, where it has {c.seeds}"
    return f"about {n} seeds, where it has {c.seeds}"


def power_note(report: Report) -> str:
    return (
        f"(paired t test, {POWER:.0%} power, its observed spread, at the level Holm's first "
        f"step sets for {len(report.adjusted)} comparisons)"
    )


def more_seeds_command(runs: list[Run], seeds: int) -> str:
    """The command that brings the runs to `seeds` seeds: their sweep again with more seed
    values and resume=SWEEP (only the new jobs run), or their overrides with -m."""
    have = sorted({r.seed for r in runs if r.seed is not None}) or [0]
    values = have + [s for s in range(max(have) + 1, max(have) + seeds + 1)][: seeds - len(have)]
    wanted = f"seed={','.join(map(str, values))}"
    sweeps = {r.folder.parent for r in runs}
    if len(sweeps) == 1 and _grid_sweep(sweep := sweeps.pop()):
        from lstm_overfit.resume import sweep_resume_command

        command = sweep_resume_command(sweep.resolve())  # ... resume=SWEEP, or words
        if command.startswith("lstm-overfit "):
            words = [w for w in shlex.split(command) if not w.startswith("seed=")]
            return shlex.join([*words[:-1], wanted, words[-1]])
        return f"the sweep's command with {wanted} and resume={shlex.quote(str(sweep))}"
    overrides = {tuple(o for o in r.overrides if not o.startswith("seed=")) for r in runs}
    if len(overrides) == 1:
        return shlex.join(["lstm-overfit", "train", "-m", *overrides.pop(), wanted])
    return f"each configuration's command with -m {wanted}"


def _grid_sweep(folder: Path) -> bool:
    """Whether `folder` holds a sweep that runs every combination of its values (Hydra's
    basic sweeper): one that more seed values extend. A search (Optuna) samples them."""
    import yaml

    try:
        saved = yaml.safe_load((folder / "multirun.yaml").read_text())
        return saved["hydra"]["sweeper"]["_target_"].endswith(".BasicSweeper")
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return False


def strength_line(report: Report, section: Section, sweep: StrengthSweep) -> str:
    """The best strength of one regularizer, against the baseline and the strengths beside
    it, and whether the swept range holds it."""
    best, stratum, base = sweep.best, sweep.stratum, sweep.stratum.baseline
    unit = unit_of(section, SELECTED_ON)
    strength = fmt_value(sweep.strength(best))
    swept = ", ".join(fmt_value(sweep.strength(g)) for g in sweep.groups)
    seeds = min(len(g.by_seed(SELECTED_ON)) for g in [*sweep.groups, *([base] if base else [])])
    if seeds < MIN_SEEDS_FOR_INTERVAL:
        return (
            f"How strong, {sweep.knob}{at_stratum(stratum)}: not stated: {swept} swept, some with "
            f"{count(seeds, 'seed')}; {MIN_SEEDS_FOR_INTERVAL} are the least for an interval."
        )
    if not report.learned(best):
        return (
            f"How strong, {sweep.knob}{at_stratum(stratum)}: not stated: {swept} swept, and "
            "not even the best of them learned."
        )
    against = [(base.label, (best.key, SELECTED_ON), report.comparisons)] if base else []
    against += [
        (fmt_value(sweep.strength(other)), (best.key, SELECTED_ON, other.key), report.versus)
        for other in sweep.neighbours
    ]
    parts = [
        f"against {name}, {change(c, unit, report.survives(key))}"
        for name, key, found in against
        if (c := found.get(key)) is not None
    ]
    mean = best.stats(SELECTED_ON)[0]
    text = (
        f"How strong, {sweep.knob}{at_stratum(stratum)}: best at {strength} of {swept} (best "
        f"validation loss {mean:.4g}{unit})" + (": " + "; ".join(parts) if parts else "") + ". "
    )
    if base is not None and not base.reg and (finite_mean(base) or math.inf) <= mean:
        return text + f"No strength swept beats {base.label} on average."
    if sweep.edge == "above":
        return text + f"It is the strongest swept: extend the sweep above {strength}."
    if sweep.edge == "below":
        return text + f"It is the weakest swept: extend the sweep below {strength}."
    return text + "It lies inside the swept range."


def recommendation(report: Report, section: Section, stratum: Stratum) -> str:
    """The configuration to use in the stratum (the lowest mean best validation loss among
    those that learned) and the evidence for it."""
    where, base = at_stratum(stratum), stratum.baseline
    ranked = [g for g in stratum.groups if finite_mean(g) is not None and report.learned(g)]
    if not ranked:
        return f"Recommended{where}: none can be: no configuration learned."
    choice = min(ranked, key=finite_mean)
    if choice is base:
        return (
            f"Recommended{where}: {base.label} (the baseline): no configuration has a lower "
            "mean best validation loss."
        )
    c = report.comparisons.get((choice.key, SELECTED_ON))
    unit = unit_of(section, SELECTED_ON)
    if c is None or c.low is None:
        return (
            f"Recommended{where}: not yet: the configuration with the lowest mean best "
            f"validation loss has {count(c.seeds if c else 0, 'seed')} in common with "
            f"{base.label}; {MIN_SEEDS_FOR_INTERVAL} are the least for an interval."
        )
    p = report.adjusted[choice.key, SELECTED_ON]
    if report.survives((choice.key, SELECTED_ON)):
        return (
            f"Recommended{where}: {choice.label}: its best validation loss is "
            f"{change(c, unit)} than {base.label}'s, and that holds after Holm's adjustment "
            f"(Holm-adjusted p = {p:.2g})."
        )
    return (
        f"Recommended{where}, provisionally: {choice.label} has the lowest mean best validation "
        f"loss, {change(c, unit)} than {base.label}'s, which does not hold after Holm's "
        f"adjustment (Holm-adjusted p = {p:.2g}); a difference of this size would need "
        f"{seeds_needed(report, c)} {power_note(report)}."
    )
