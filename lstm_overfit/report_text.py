"""A report's sentences: how many comparisons were made and how many hold, per data set the
headline (what holds after Holm's adjustment, improvements and harms alike; what it would
take to see the rest), how strong each regularizer should be, the configuration to use, and
the warnings. report.md and the terminal show the same sentences.

Sentences say a direction and a magnitude ("lowers ... by 0.0104 [0.0035, 0.0174]"); the
tables keep the signed differences. Below MIN_SEEDS_FOR_INTERVAL seeds nothing is stated:
the headline says how many seeds there are and the command that adds seeds.
"""

from __future__ import annotations

import math
import shlex
from pathlib import Path

from lstm_overfit.report import COMPARED, Group, Report, Section, Stratum
from lstm_overfit.report_findings import SELECTED_ON, StrengthSweep, finite_mean
from lstm_overfit.runs import Run, fmt_value
from lstm_overfit.stats import (
    FAMILY_ERROR,
    MIN_SEEDS_FOR_INTERVAL,
    MOST_SEEDS,
    POWER,
    Comparison,
    seeds_for_power,
)


def number_name(section: Section, number: str) -> str:
    if number == "test":
        return f"the test {section.metric or 'metric'}"
    return COMPARED[number][0]


def magnitude(x: float) -> str:
    x = abs(x)
    return f"{x:.1f}" if x >= 100 else f"{x:.4f}" if x >= 1e-3 or x == 0 else f"{x:.2g}"


def _interval(low: float, high: float) -> str:
    return "[" + ", ".join(("-" if x < 0 else "") + magnitude(x) for x in (low, high)) + "]"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _where(stratum: Stratum) -> str:
    return f" at {stratum.label}" if stratum.label else ""


def _unit(section: Section, number: str) -> str:
    return "" if number == "test" else f" {section.loss_unit}".rstrip()


def change(c: Comparison, unit: str = "", survives: bool = False) -> str:
    """'0.0104 lower [0.0035, 0.0174] nats': the direction, the magnitude and its 95%
    interval in that direction († where it holds after the adjustment)."""
    if not c.defined:
        return "undefined (a value that is not a finite number)"
    if c.mean == 0:
        return "no change"
    adjective = "higher" if c.mean > 0 else "lower"
    if c.low is None:
        return f"{magnitude(c.mean)}{unit} {adjective} (n={c.seeds}: too few seeds for an interval)"
    low, high = (c.low, c.high) if c.mean > 0 else (-c.high, -c.low)
    return f"{magnitude(c.mean)} {_interval(low, high)}{unit} {adjective}{'†' * survives}"


def family_line(report: Report) -> str:
    """How many comparisons the report makes and how many findings survive Holm."""
    tested = len(report.adjusted)
    if not tested:
        return ""
    held = [k for k in report.comparisons if report.survives(k)]
    better = 0
    for key in held:
        section = next(s for s in report.sections if any(g.key == key[0] for g in s.groups))
        c = report.comparisons[key]
        better += (c.mean > 0) == section.higher_is_better(key[1])
    between = sum(key in report.adjusted for key in report.versus)
    strengths = f", {between} of them between strengths of one regularizer" if between else ""
    return (
        f"{tested} comparisons with a 95% interval{strengths}; with Holm's adjustment over all "
        f"of them (a {FAMILY_ERROR:.0%} chance of any false finding), "
        f"{_count(better, 'improvement')} and {_count(len(held) - better, 'harm')} against a "
        "baseline hold, marked † in the table."
    )


def _seeds_needed(report: Report, c: Comparison) -> str:
    """About how many seeds a difference of this size and spread needs to hold after the
    adjustment over the report's comparisons."""
    alpha = FAMILY_ERROR / max(1, len(report.adjusted))
    n = seeds_for_power(c.mean, c.spread or 0.0, alpha)
    if n >= MOST_SEEDS:
        return f"more than {MOST_SEEDS:,} seeds, where it has {c.seeds}"
    return f"about {n} seeds, where it has {c.seeds}"


def _power_note(report: Report) -> str:
    return (
        f"(paired t test, {POWER:.0%} power, its observed spread, at the level Holm's first "
        f"step sets for {len(report.adjusted)} comparisons)"
    )


def _finding(report: Report, section: Section, stratum: Stratum, group: Group, number: str) -> str:
    c = report.comparisons[group.key, number]
    improvement = (c.mean > 0) == section.higher_is_better(number)
    verb = "raises" if c.mean > 0 else "lowers"
    low, high = (c.low, c.high) if c.mean > 0 else (-c.high, -c.low)
    p = report.adjusted[group.key, number]
    return (
        f"{group.label} {verb} {number_name(section, number)} against "
        f"{stratum.baseline.label}{_where(stratum)} by {magnitude(c.mean)} "
        f"{_interval(low, high)}{_unit(section, number)}, better on {c.better} "
        f"of {c.seeds} seeds{'' if improvement else ': a harm'} (Holm-adjusted p = {p:.2g})."
    )


def _compared(report: Report, section: Section, number: str) -> list:
    """(stratum, group, comparison) of each configuration headlines may speak of: compared
    with its baseline over enough seeds for an interval, and one that learned."""
    found = []
    for stratum in section.strata:
        if stratum.baseline is None:
            continue
        for group in stratum.groups:
            c = report.comparisons.get((group.key, number))
            if c is not None and c.p_value is not None and report.learned(group):
                found.append((stratum, group, c))
    return found


def headline(report: Report, section: Section) -> list[str]:
    """The baseline; whether there are seeds enough to say anything; per compared number the
    largest improvement and the largest harm that hold after Holm's adjustment, or what it
    would take to see a difference; how strong each regularizer should be; the configuration
    to use."""
    lines = [_baseline_line(section)]
    if not any(s.baseline is not None and len(s.groups) > 1 for s in section.strata):
        return lines
    if few := _few_seeds_line(report, section):
        lines.append(few)
    quiet = []
    for number in COMPARED:
        sign = 1 if section.higher_is_better(number) else -1
        held = [
            f for f in _compared(report, section, number) if report.survives((f[1].key, number))
        ]
        better = [f for f in held if sign * f[2].mean > 0]
        worse = [f for f in held if sign * f[2].mean < 0]
        for found, more in ((better, "improvements"), (worse, "harms")):
            if found:
                stratum, group, c = max(found, key=lambda f: abs(f[2].mean))
                sentence = _finding(report, section, stratum, group, number)
                if len(found) > 1:
                    sentence += f" ({len(found) - 1} more {more} hold, marked † in the table.)"
                lines.append(sentence)
        if not held:
            quiet.append(number)
    if quiet:
        lines += _quiet_lines(report, section, quiet)
    lines += [
        strength_line(report, section, sweep)
        for sweep in report.sweeps
        if sweep.stratum in section.strata
    ]
    lines += [recommendation(report, section, s) for s in section.strata if s.baseline]
    return lines


def _quiet_lines(report: Report, section: Section, numbers: list[str]) -> list[str]:
    """The numbers no configuration changes distinguishably, in one sentence; then for each
    the largest change seen and the seeds it would need."""
    bases = " or ".join(sorted({s.baseline.label for s in section.strata if s.baseline}))
    names = [number_name(section, n) for n in numbers]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    lines = []
    needs = []
    for number in numbers:
        found = [f for f in _compared(report, section, number) if f[2].mean != 0]
        if not found:
            continue
        stratum, group, c = max(found, key=lambda f: abs(f[2].mean) / (f[2].spread or 1e-300))
        verb = "raising" if c.mean > 0 else "lowering"
        low, high = (c.low, c.high) if c.mean > 0 else (-c.high, -c.low)
        needs.append(
            f"{group.label}{_where(stratum)} {verb} {number_name(section, number)} by "
            f"{magnitude(c.mean)} {_interval(low, high)}{_unit(section, number)} would need "
            f"{_seeds_needed(report, c)}"
        )
    if needs or any(_compared(report, section, n) for n in numbers):
        lines.append(
            f"No configuration changes {listed} against {bases} distinguishably once adjusted "
            "for the number of comparisons."
        )
    if needs:
        lines.append(
            "The clearest of those changes, to hold after the adjustment "
            f"{_power_note(report)}: " + "; ".join(needs) + "."
        )
    return lines


def _few_seeds_line(report: Report, section: Section) -> str:
    """Configurations compared over fewer seeds than an interval needs: nothing is stated
    about them, and the command that adds seeds is given."""
    few = [
        c.seeds
        for g in section.groups
        if (c := report.comparisons.get((g.key, SELECTED_ON))) and c.low is None
    ]
    if not few:
        return ""
    compared = sum((g.key, SELECTED_ON) in report.comparisons for g in section.groups)
    who = (
        "Nothing is stated about the configurations"
        if len(few) == compared
        else f"Nothing is stated about {len(few)} of the {compared} configurations compared"
    )
    had = "-".join(map(str, sorted({min(few), max(few)})))
    runs = [r for g in section.groups for r in g.runs]
    command = more_seeds_command(runs, MIN_SEEDS_FOR_INTERVAL)
    return (
        f"{who}: they have {had} seed{'s' if max(few) > 1 else ''} in common with the "
        f"baseline, and {MIN_SEEDS_FOR_INTERVAL} are the least for an interval. Add seeds with "
        + (f"`{command}`" if command.startswith("lstm-overfit ") else command)
        + "."
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
    unit = _unit(section, SELECTED_ON)
    strength = fmt_value(sweep.strength(best))
    swept = ", ".join(fmt_value(sweep.strength(g)) for g in sweep.groups)
    seeds = min(len(g.by_seed(SELECTED_ON)) for g in [*sweep.groups, *([base] if base else [])])
    if seeds < MIN_SEEDS_FOR_INTERVAL:
        return (
            f"How strong, {sweep.knob}{_where(stratum)}: not stated: {swept} swept, some with "
            f"{_count(seeds, 'seed')}; {MIN_SEEDS_FOR_INTERVAL} are the least for an interval."
        )
    if not report.learned(best):
        return (
            f"How strong, {sweep.knob}{_where(stratum)}: not stated: {swept} swept, and "
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
        f"How strong, {sweep.knob}{_where(stratum)}: best at {strength} of {swept} (best "
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
    where, base = _where(stratum), stratum.baseline
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
    unit = _unit(section, SELECTED_ON)
    if c is None or c.low is None:
        return (
            f"Recommended{where}: not yet: the configuration with the lowest mean best "
            f"validation loss has {_count(c.seeds if c else 0, 'seed')} in common with "
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
        f"{_seeds_needed(report, c)} {_power_note(report)}."
    )


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


def warnings(report: Report) -> list[str]:
    """What makes the comparison less than it seems: mixed thread counts, repeated seeds,
    configurations that learned nothing."""
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
    for section in report.sections:
        for group in section.groups:
            if (found_ := report.learning.get(group.key)) and not found_.learned:
                context = " ".join(
                    f"{k}={fmt_value(group.settings.get(k))}" for k in section.context_keys
                )
                found.append(
                    f"warning: {group.label}{' at ' + context if context else ''} "
                    f"({section.dataset}) did not learn: its best {found_.what}, "
                    f"{found_.model:.4g}, is no better than that of {found_.reference}, "
                    f"{found_.constant:.4g}; it is left out of the headline"
                )
    return found
