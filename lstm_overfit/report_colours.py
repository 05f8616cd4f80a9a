"""Colour in a report's plots, the same meaning in all of them: a hue per regularizer (grey
for the unregularized configuration), shaded light to dark from weak to strong."""

from __future__ import annotations

from typing import Any

from lstm_overfit.plots import pyplot
from lstm_overfit.report import Group, Section
from lstm_overfit.runs import is_number


def colours(n: int) -> list[Any]:
    """n colours no two alike: matplotlib's ten, its twenty, or a sample of a wide map."""
    plt = pyplot()
    if n <= 10:
        return [f"C{i}" for i in range(n)]
    if n <= 20:
        return [plt.get_cmap("tab20")(i) for i in range(n)]
    cmap = plt.get_cmap("turbo")
    return [cmap(i / (n - 1)) for i in range(n)]


# The baseline's colour: the reference every other colour is read against.
UNREGULARIZED_COLOUR = (0.3, 0.3, 0.3)


def family(group: Group) -> str:
    """The regularizer (or regularizers, stacked) a configuration switches on: its colour."""
    return " + ".join(group.reg) or group.label


def family_colours(section: Section) -> dict[str, Any]:
    """One hue per regularizer (matplotlib's ten, grey left for the unregularized)."""
    from matplotlib.colors import to_rgb

    names = sorted({family(g) for g in section.groups if g.reg})
    hues = [c for c in colours(10) if c != "C7"]
    found = {name: to_rgb(hues[i % len(hues)]) for i, name in enumerate(names)}
    return found | {family(g): UNREGULARIZED_COLOUR for g in section.groups if not g.reg}


def shades(colour: Any, n: int) -> list[tuple[float, float, float]]:
    """n shades of one hue from light to full: weak to strong."""
    return [
        tuple(1 - (1 - c) * (0.35 + 0.65 * (i + 1) / n) for c in colour)  # type: ignore[misc]
        for i in range(n)
    ]


def strength_order(section: Section, group: Group) -> tuple:
    """Weak to strong, then by the other swept keys: numbers in their numeric order."""
    return tuple(
        (0, v, "") if is_number(v) else (1, 0, str(v))
        for v in [*group.reg.values(), *(group.settings.get(k) for k in section.context_keys)]
    )


def group_colours(section: Section) -> dict[str, Any]:
    """Each configuration's colour: its regularizer's hue, shaded by its strength (and the
    other swept keys), weakest lightest."""
    hue = family_colours(section)
    by_family: dict[str, list[Group]] = {}
    for group in section.groups:
        by_family.setdefault(family(group), []).append(group)
    found = {}
    for name, groups in by_family.items():
        groups.sort(key=lambda g: strength_order(section, g))
        found |= dict(zip((g.key for g in groups), shades(hue[name], len(groups)), strict=True))
    return found
