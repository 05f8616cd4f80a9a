"""What a report compares: which runs (`--where KEY=VALUE`), along which keys (`--vary KEY`),
which data set each run is (its name and the content of its files), and where a data set
splits into more strata than a reader can use."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lstm_overfit.runs import ReportError, Run, fmt_value, parse_settings

if TYPE_CHECKING:
    from lstm_overfit.report import Section

# Past this many strata in one data set, the report names the keys that split it and how to
# compare fewer.
READABLE_STRATA = 4


def select_runs(runs: list[Run], where: list[str] | None) -> list[Run]:
    """--where KEY=VALUE...: the runs for which every item holds (a config key against its
    composed value, a config group such as +reg=l2 against the overrides as typed)."""
    if not where:
        return runs
    kept = runs
    for key, value in parse_settings(where, "--where"):
        known = [r for r in runs if key in r.config or any(k == key for k, _ in _typed(r))]
        if not known:
            raise ReportError(f"--where {key}=...: no run has the key '{key}'{_close(key, runs)}")
        before, kept = kept, [r for r in kept if _run_holds(r, key, value)]
        if not kept:
            values = Counter(fmt_value(r.config.get(key)) for r in before)
            listed = ", ".join(f"{v} ({_runs(n)})" for v, n in sorted(values.items()))
            raise ReportError(
                f"--where {key}={fmt_value(value)} leaves no runs; its values there: {listed}"
            )
    return kept


def _typed(run: Run) -> list[tuple[str, Any]]:
    return parse_settings([o for o in run.overrides if "=" in o], "--where")


def _run_holds(run: Run, key: str, value: Any) -> bool:
    if key in run.config:
        return run.config[key] == value
    return (key, value) in _typed(run)


def _runs(n: int) -> str:
    return f"{n} run{'' if n == 1 else 's'}"


def _close(key: str, runs: list[Run]) -> str:
    import difflib

    keys = sorted({k for r in runs for k in r.config})
    close = difflib.get_close_matches(key, keys, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def check_vary(sections: list[Section], vary: list[str], runs: list[Run]) -> None:
    """--vary KEY...: the report compares along these keys only (regularizer settings within
    a stratum, other keys as strata side by side: a learning curve), so every other key that
    would split the runs must have one value (pinned with --where)."""
    for key in vary:
        if not any(key in r.config for r in runs):
            raise ReportError(f"--vary {key}: no run has the key '{key}'{_close(key, runs)}")
    for section in sections:
        others = [k for k in section.varying if k not in vary]
        if not others:
            continue
        runs_of = [r for g in section.groups for r in g.runs]
        described = "; ".join(_spread(k, runs_of) for k in others[:3])
        more = f" and {len(others) - 3} more keys" if len(others) > 3 else ""
        first = others[0]
        example = Counter(fmt_value(r.config.get(first)) for r in runs_of).most_common(1)[0][0]
        raise ReportError(
            f"--vary {' '.join(vary)}: the runs on {section.dataset} also differ in "
            f"{described}{more}; keep one value with --where (such as --where "
            f"{first}={example}), or add the key to --vary"
        )


def _spread(key: str, runs: list[Run]) -> str:
    values = Counter(fmt_value(r.config.get(key)) for r in runs)
    listed = ", ".join(f"{v}: {_runs(n)}" for v, n in sorted(values.items()))
    return f"{key} ({listed})"


def strata_note(section: Section) -> str | None:
    """Where a data set splits into more strata than a reader can use: the keys that split
    it, and how to compare fewer."""
    if len(section.strata) <= READABLE_STRATA:
        return None
    runs = [r for g in section.groups for r in g.runs]
    keys = section.context_keys
    counts = {k: len({repr(s.context.get(k)) for s in section.strata}) for k in keys}
    keys = sorted(counts, key=lambda k: -counts[k])
    split = ", ".join(f"{k} ({counts[k]} values)" for k in keys)
    first = keys[0]
    example = Counter(fmt_value(r.config.get(first)) for r in runs).most_common(1)[0][0]
    return (
        f"note: the runs on {section.dataset} split into {len(section.strata)} strata by "
        f"{split}, each compared only within itself; to compare fewer, keep one value with "
        f"`--where {first}={example}`, or name what to compare with `--vary KEY`"
    )


def dataset_labels(runs: list[Run]) -> dict[int, str]:
    """Each run's data set as the report names it (by the run's position in `runs`): its
    name, with its files and their digest where runs of one name read different files."""
    sources: dict[str, set] = {}
    for run in runs:
        sources.setdefault(_name(run), set()).add(run.data_source)
    labels = {}
    for i, run in enumerate(runs):
        name = _name(run)
        if len(sources[name]) == 1:
            labels[i] = name
        elif run.data_source is None:
            labels[i] = f"{name} (no local files)"
        else:
            where = Path(str(run.config.get("dataset.path") or "")).name
            labels[i] = f"{name} ({where} {run.data_source[:8]})"
    return labels


def _name(run: Run) -> str:
    return str(run.config.get("dataset.name", "?"))
