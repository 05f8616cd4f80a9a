"""A report's sentences: how many comparisons were made and how many hold, per data set the
headline (what holds after Holm's adjustment, improvements and harms alike; what it would
take to see the rest), how strong each regularizer should be, the configuration to use, and
the warnings. report.md and the terminal show the same sentences.

Sentences say a direction and a magnitude ("lowers ... by 0.0104 [0.0035, 0.0174]"); the
tables keep the signed differences. Below MIN_SEEDS_FOR_INTERVAL seeds nothing is stated:
the headline says how many seeds there are and the command that adds seeds.
"""

from __future__ import annotations

from lstm_overfit.report import COMPARED, Group, Report, Section, Stratum
from lstm_overfit.report_advice import (
    more_seeds_command,
    power_note,
    recommendation,
    seeds_needed,
    strength_line,
)
from lstm_overfit.report_findings import SELECTED_ON
from lstm_overfit.report_words import (
    at_stratum,
    count,
    interval,
    magnitude,
    number_name,
    unit_of,
)
from lstm_overfit.runs import fmt_value
from lstm_overfit.stats import (
    FAMILY_ERROR,
    MIN_SEEDS_FOR_INTERVAL,
)


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
    apart = sum(report.survives(key) for key in report.versus)
    return (
        f"{tested} comparisons with a 95% interval{strengths}; with Holm's adjustment over all "
        f"of them (a {FAMILY_ERROR:.0%} chance of any false finding), "
        f"{count(better, 'improvement')} and {count(len(held) - better, 'harm')} against a "
        "baseline hold, marked † in the table"
        + (f", and {count(apart, 'difference')} between strengths (†)." if apart else ".")
    )


def _finding(report: Report, section: Section, stratum: Stratum, group: Group, number: str) -> str:
    c = report.comparisons[group.key, number]
    improvement = (c.mean > 0) == section.higher_is_better(number)
    verb = "raises" if c.mean > 0 else "lowers"
    low, high = (c.low, c.high) if c.mean > 0 else (-c.high, -c.low)
    p = report.adjusted[group.key, number]
    return (
        f"{group.label} {verb} {number_name(section, number)} against "
        f"{stratum.baseline.label}{at_stratum(stratum)} by {magnitude(c.mean)} "
        f"{interval(low, high)}{unit_of(section, number)}, better on {c.better} "
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
            f"{group.label}{at_stratum(stratum)} {verb} {number_name(section, number)} by "
            f"{magnitude(c.mean)} {interval(low, high)}{unit_of(section, number)} would need "
            f"{seeds_needed(report, c)}"
        )
    if needs or any(_compared(report, section, n) for n in numbers):
        lines.append(
            f"No configuration changes {listed} against {bases} distinguishably once adjusted "
            "for the number of comparisons."
        )
    if needs:
        lines.append(
            "The clearest of those changes, to hold after the adjustment "
            f"{power_note(report)}: " + "; ".join(needs) + "."
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
    configurations that learned nothing, runs not finished, many strata."""
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
    return found + report.notes  # runs not finished; data sets split into many strata
