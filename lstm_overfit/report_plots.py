"""A report's pictures, each readable alone: titled with data set, model, epochs and what
varies, axes named by their config keys, error bars that say what they are, legends beside
the lines rather than on them, and one meaning per colour in each figure.

- curves_overlay.png: validation loss and gap per epoch, each configuration's mean over seeds;
- val_loss_vs_strength.png, gap_vs_strength.png: one panel per regularizer's knob;
- vs_KEY.png: best validation loss and gap against any other swept number (training-set
  size, model size...), one line per regularizer setting;
- gap_heatmap_KEY1_KEY2.png: the gap over two swept numbers that form a grid.
"""

from __future__ import annotations

import itertools
import statistics
from pathlib import Path
from typing import Any

from lstm_overfit.plots import pyplot, save
from lstm_overfit.report import Group, Section
from lstm_overfit.runs import fmt_value, is_number

STRENGTH_PLOTS = ("val_loss_vs_strength.png", "gap_vs_strength.png")
# Every name a report's plots may have, after an optional data-set prefix.
PLOT_PATTERNS = ("*curves_overlay.png", "*_vs_strength.png", "*vs_*.png", "*gap_heatmap_*.png")


def existing_plots(out: Path) -> set[Path]:
    """The plot files an earlier report may have left in `out`."""
    return {path for pattern in PLOT_PATTERNS for path in out.glob(pattern)}


def plot_section(section: Section, out: Path, prefix: str = "") -> list[str]:
    """Every plot that the section's runs support; returns the files written."""
    if not any(g.usable for g in section.groups):
        return []
    written = [f"{prefix}curves_overlay.png"]
    plot_overlay(section, out / written[0])
    if _strength_panels(section):
        for name in STRENGTH_PLOTS:
            plot_strengths(section, name, out / f"{prefix}{name}")
            written.append(f"{prefix}{name}")
    for key in section.context_keys:
        if _numeric(section, key):
            written.append(f"{prefix}vs_{key}.png")
            plot_against(section, key, out / written[-1])
    for a, b in itertools.combinations(_numeric_keys(section), 2):
        if panels := _grids(section, a, b):
            written.append(f"{prefix}gap_heatmap_{a}_{b}.png")
            plot_heatmap(section, a, b, panels, out / written[-1])
    return written


def colours(n: int) -> list[Any]:
    """n colours no two alike: matplotlib's ten, its twenty, or a sample of a wide map."""
    plt = pyplot()
    if n <= 10:
        return [f"C{i}" for i in range(n)]
    if n <= 20:
        return [plt.get_cmap("tab20")(i) for i in range(n)]
    cmap = plt.get_cmap("turbo")
    return [cmap(i / (n - 1)) for i in range(n)]


def _legend_beside(ax: Any, title: str | None = None) -> None:
    ax.legend(fontsize="small", title=title, loc="upper left", bbox_to_anchor=(1.02, 1))


def _label(section: Section, group: Group) -> str:
    """The configuration and, where the section has strata, what sets its stratum apart."""
    context = " ".join(f"{k}={fmt_value(group.settings.get(k))}" for k in section.context_keys)
    return f"{group.label} {context}".strip()


def _band(curves: list[list[float]]) -> tuple[list[float], list[float], list[float]]:
    """Mean, min and max over the seeds' curves, epoch by epoch (the shortest's length)."""
    length = min(len(c) for c in curves)
    columns = [[c[i] for c in curves] for i in range(length)]
    return (
        [statistics.fmean(v) for v in columns],
        [min(v) for v in columns],
        [max(v) for v in columns],
    )


def plot_overlay(section: Section, path: Path) -> None:
    """Each configuration's validation loss and gap per epoch: the mean over seeds, the band
    from the lowest to the highest seed."""
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    drawn = [
        (g, runs) for g in section.groups if (runs := [m for r in g.usable if (m := r.metrics())])
    ]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    for (group, runs), colour in zip(drawn, colours(len(drawn)), strict=True):
        for ax, key in ((top, "val_loss"), (bottom, "gap")):
            mean, low, high = _band([[row[key] for row in rows] for rows in runs])
            epochs = range(1, len(mean) + 1)
            label = f"{_label(section, group)[:60]} (n={len(runs)})"
            ax.plot(epochs, mean, color=colour, label=label)
            if len(runs) > 1:
                ax.fill_between(epochs, low, high, color=colour, alpha=0.12)
    top.set_ylabel(f"validation loss ({section.loss_unit})")
    top.set_title(
        f"{section.title}\nmean over seeds; bands from the lowest to the highest seed",
        fontsize="medium",
    )
    _legend_beside(top, "configuration (seeds)")
    bottom.set_ylabel("gap (validation - training loss)")
    bottom.axhline(0, color="black", linewidth=0.6)
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.set_xlabel("epoch")
    save(fig, path)


def _stats_line(
    groups: list[Group], x_of: Any, number: str
) -> list[tuple[float, float, float, int]]:
    """(x, mean, std, n) of `number` for each group, in order of x."""
    points = []
    for group in groups:
        if (stats := group.stats(number)) is not None:
            points.append((x_of(group), *stats))
    return sorted(points)


def _set_x(ax: Any, key: str, xs: list[float]) -> None:
    """The knob's name on the axis; a log scale where the values span a factor of ten."""
    positive = [x for x in xs if x > 0]
    if positive and len(positive) == len(xs) and max(xs) / min(xs) >= 10:
        ax.set_xscale("log")
    ax.set_xticks(sorted(set(xs)), [fmt_value(x) for x in sorted(set(xs))])
    ax.minorticks_off()
    ax.set_xlabel(key)


def _errorbars(ax: Any, points: list, **style: Any) -> None:
    xs, ys, errs, _ = zip(*points, strict=True)
    ax.errorbar(xs, ys, yerr=errs, capsize=3, **style)


def _strength_panels(section: Section) -> dict[str, list[Group]]:
    """The groups with one regularizer switched on, by its knob (reg.l2...)."""
    panels: dict[str, list[Group]] = {}
    for group in section.groups:
        if len(group.reg) == 1 and group.usable:
            ((knob, strength),) = group.reg.items()
            if is_number(strength) and strength > 0:
                panels.setdefault(knob, []).append(group)
    return dict(sorted(panels.items()))


# What each plot against strength draws: its y label, and the two numbers with their names,
# marker and line style (the style says which number; colour says which stratum, if any).
STRENGTH_NUMBERS = {
    "val_loss_vs_strength.png": (
        "validation loss",
        {"best_val_loss": ("best", "o", "-"), "final_val_loss": ("last epoch", "s", "--")},
    ),
    "gap_vs_strength.png": (
        "validation - training loss",
        {
            "gap_at_best": ("gap at the best epoch", "o", "-"),
            "max_gap": ("largest gap over epochs", "s", "--"),
        },
    ),
}


def plot_strengths(section: Section, name: str, path: Path) -> None:
    """One panel per knob: each number's mean against strength, error bars of one standard
    deviation over the seeds, the stratum's baseline as a horizontal line in its colour."""
    plt = pyplot()
    ylabel, numbers = STRENGTH_NUMBERS[name]
    panels = _strength_panels(section)
    strata = [s for s in section.strata if any(g in s.groups for gs in panels.values() for g in gs)]
    several = len(strata) > 1
    columns = min(len(panels), 4)
    rows = -(-len(panels) // columns)
    fig, grid = plt.subplots(
        rows, columns, figsize=(4.2 * columns + 2.5, 3.6 * rows + 0.8), sharey=True, squeeze=False
    )
    axes = grid.flatten()
    for unused in axes[len(panels) :]:
        unused.set_visible(False)
    number_colours = dict(zip(numbers, colours(len(numbers)), strict=True))
    stratum_colours = dict(zip(range(len(strata)), colours(len(strata)), strict=True))
    seeds: set[int] = set()
    for ax, (knob, groups) in zip(axes, panels.items(), strict=False):
        xs = []
        for i, stratum in enumerate(strata):
            mine = [g for g in groups if g in stratum.groups]
            for number, (what, marker, style) in numbers.items():
                colour = stratum_colours[i] if several else number_colours[number]
                where = f"{stratum.label}: " if several else ""
                if points := _stats_line(mine, lambda g, k=knob: g.reg[k], number):
                    xs += [p[0] for p in points]
                    seeds |= {p[3] for p in points}
                    _errorbars(
                        ax,
                        points,
                        marker=marker,
                        linestyle=style,
                        color=colour,
                        markerfacecolor="white" if style == "--" else colour,
                        label=f"{where}{what}",
                    )
                base = stratum.baseline
                if base is not None and (stats := base.stats(number)):
                    ax.axhline(
                        stats[0],
                        color=colour,
                        linestyle=style,
                        linewidth=0.8,
                        alpha=0.6,
                        label=f"{where}{what}, {base.label}",
                    )
        _set_x(ax, knob, xs)
    for row in grid:
        row[0].set_ylabel(f"{ylabel} ({section.loss_unit})")
    n = "-".join(map(str, sorted({min(seeds), max(seeds)}))) if seeds else "0"
    fig.suptitle(
        f"{section.title}\nmean over {n} seeds per point; error bars ±1 std over them; thin "
        "lines: the baseline",
        fontsize="medium",
    )
    _legend_beside(grid[0][-1])
    fig.tight_layout()
    save(fig, path)


def _numeric(section: Section, key: str) -> bool:
    values = {g.settings.get(key) for g in section.groups}
    return len(values) > 1 and all(is_number(v) for v in values)


def _numeric_keys(section: Section) -> list[str]:
    return [k for k in section.varying if _numeric(section, k)]


def plot_against(section: Section, key: str, path: Path) -> None:
    """The best validation loss and the gap at the best epoch against a swept number, one
    line per setting of everything else (the regularizer, other swept keys)."""
    plt = pyplot()
    lines: dict[str, list[Group]] = {}
    for group in section.groups:
        rest = " ".join(
            f"{k}={fmt_value(group.settings.get(k))}" for k in section.context_keys if k != key
        )
        lines.setdefault(f"{group.label} {rest}".strip(), []).append(group)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    xs = [g.settings[key] for g in section.groups]
    for (label, groups), colour in zip(lines.items(), colours(len(lines)), strict=True):
        for ax, number in ((top, "best_val_loss"), (bottom, "gap_at_best")):
            if points := _stats_line(groups, lambda g: g.settings[key], number):
                n = min(p[3] for p in points)
                _errorbars(ax, points, marker="o", color=colour, label=f"{label} (n={n})")
    top.set_ylabel(f"best validation loss ({section.loss_unit})")
    bottom.set_ylabel("gap at the best epoch")
    top.set_title(
        f"{section.title}\nmean over seeds; error bars ±1 std over the n seeds", fontsize="medium"
    )
    _legend_beside(top, "configuration (seeds)")
    _set_x(bottom, key, xs)
    save(fig, path)


def _grids(section: Section, a: str, b: str) -> list[tuple[str, dict[tuple, Group]]]:
    """The panels of a heatmap over keys a and b: for each setting of the other varying keys,
    the groups by (a, b) where they fill a grid of at least 2x2 values."""
    others = [k for k in section.varying if k not in (a, b)]
    partitions: dict[str, dict[tuple, Group]] = {}
    for group in section.groups:
        if not group.usable:
            continue
        rest = " ".join(f"{k}={fmt_value(group.settings.get(k))}" for k in others)
        partitions.setdefault(rest, {})[group.settings[a], group.settings[b]] = group
    panels = []
    for rest, cells in sorted(partitions.items()):
        rows, columns = {x for x, _ in cells}, {y for _, y in cells}
        if len(rows) > 1 and len(columns) > 1 and len(cells) == len(rows) * len(columns):
            panels.append((rest, cells))
    return panels


def plot_heatmap(
    section: Section, a: str, b: str, panels: list[tuple[str, dict[tuple, Group]]], path: Path
) -> None:
    """The mean gap at the best epoch over a grid of two swept numbers, one panel per
    setting of the other varying keys, each cell written out with its seed count."""
    import numpy as np

    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels) + 1.5, 4.4), squeeze=False)
    means = [s[0] for _, cells in panels for g in cells.values() if (s := g.stats("gap_at_best"))]
    low, high = (min(means), max(means)) if means else (0.0, 1.0)
    for ax, (rest, cells) in zip(axes[0], panels, strict=True):
        xs, ys = sorted({x for x, _ in cells}), sorted({y for _, y in cells})
        grid = np.full((len(ys), len(xs)), np.nan)
        for (x, y), group in cells.items():
            if (stats := group.stats("gap_at_best")) is not None:
                grid[ys.index(y), xs.index(x)] = stats[0]
                ax.text(
                    xs.index(x),
                    ys.index(y),
                    f"{stats[0]:.3g}\nn={stats[2]}",
                    ha="center",
                    va="center",
                    fontsize="small",
                    color="white" if stats[0] > (low + high) / 2 else "black",
                )
        image = ax.imshow(grid, origin="lower", cmap="viridis", vmin=low, vmax=high)
        ax.set_xticks(range(len(xs)), [fmt_value(x) for x in xs])
        ax.set_yticks(range(len(ys)), [fmt_value(y) for y in ys])
        ax.set_xlabel(a)
        ax.set_ylabel(b)
        ax.set_title(rest or "", fontsize="small")
    fig.colorbar(image, ax=axes[0].tolist(), label=f"gap at the best epoch ({section.loss_unit})")
    fig.suptitle(
        f"{section.title}\nmean gap at the best epoch over the n seeds of each cell",
        fontsize="medium",
    )
    save(fig, path)
