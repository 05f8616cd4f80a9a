"""A report's pictures, each readable alone: titled with data set, model, epochs and what
varies, axes named by their config keys, and saying what they draw. Colour means the same
in all of them: a hue per regularizer (grey for none), shaded light to dark from weak to
strong; uncertainty is the 95% t interval of the mean over seeds everywhere, as in the text.

- curves_overlay.png: validation loss and gap per epoch (report_overlay.py);
- val_loss_vs_strength.png, gap_vs_strength.png: one panel per regularizer's knob;
- vs_KEY.png: best validation loss and gap against any other swept number (training-set
  size, model size...), one line per regularizer setting;
- gap_heatmap_KEY1_KEY2.png: the gap over two swept numbers that form a grid, as the
  difference from each cell's baseline on a scale centred on zero.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from lstm_overfit.plots import pyplot, save
from lstm_overfit.report import Group, Report, Section
from lstm_overfit.report_colours import (
    UNREGULARIZED_COLOUR,
    family,
    family_colours,
    shades,
    strength_order,
)
from lstm_overfit.report_heatmap import compared_panels, grids, plot_heatmap
from lstm_overfit.report_overlay import has_curves, plot_overlay
from lstm_overfit.runs import fmt_value, is_number
from lstm_overfit.stats import t_half_width

STRENGTH_PLOTS = ("val_loss_vs_strength.png", "gap_vs_strength.png")
# Every name a report's plots may have, after an optional data-set prefix.
PLOT_PATTERNS = ("*curves_overlay.png", "*_vs_strength.png", "*vs_*.png", "*gap_heatmap_*.png")


def existing_plots(out: Path) -> set[Path]:
    """The plot files an earlier report may have left in `out`."""
    return {path for pattern in PLOT_PATTERNS for path in out.glob(pattern)}


def plot_section(report: Report, section: Section, out: Path, prefix: str = "") -> list[str]:
    """Every plot that the section's runs support; returns the files written."""
    if not any(g.usable for g in section.groups):
        return []
    written = []
    if has_curves(section):  # none before an epoch
        written.append(f"{prefix}curves_overlay.png")
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
        if panels := compared_panels(report, grids(section, a, b)):
            written.append(f"{prefix}gap_heatmap_{a}_{b}.png")
            plot_heatmap(report, section, a, b, panels, out / written[-1])
    return written


def _stats_line(
    groups: list[Group], x_of: Any, number: str
) -> list[tuple[float, float, float | None, int]]:
    """(x, mean, half width of its 95% t interval or None, n) of `number` for each group,
    in order of x."""
    points = []
    for group in groups:
        if (stats := group.stats(number)) is not None:
            mean, std, n = stats
            points.append((x_of(group), mean, t_half_width(std, n), n))
    return sorted(points, key=lambda p: p[0])


def _set_x(ax: Any, key: str, xs: list[float]) -> None:
    """The knob's name on the axis; a log scale where the values span a factor of ten."""
    positive = [x for x in xs if x > 0]
    if positive and len(positive) == len(xs) and max(xs) / min(xs) >= 10:
        ax.set_xscale("log")
    ax.set_xticks(sorted(set(xs)), [fmt_value(x) for x in sorted(set(xs))])
    ax.minorticks_off()
    ax.set_xlabel(key)


def _errorbars(ax: Any, points: list, **style: Any) -> None:
    xs, ys, halves, _ = zip(*points, strict=True)
    errors = [h if h is not None else 0.0 for h in halves]
    ax.errorbar(xs, ys, yerr=errors if any(errors) else None, capsize=3, **style)


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
# marker, size and line style (the style says which number; the hue which regularizer, the
# shade which stratum). The second is drawn small and hollow over the first, so both show
# where they coincide (the best epoch is the last).
STRENGTH_NUMBERS = {
    "val_loss_vs_strength.png": (
        "validation loss",
        {
            "best_val_loss": ("best", "o", 9, "-"),
            "final_val_loss": ("last epoch", "s", 4.5, "--"),
        },
    ),
    "gap_vs_strength.png": (
        "validation - training loss",
        {
            "gap_at_best": ("gap at the best epoch", "o", 9, "-"),
            "max_gap": ("largest gap over epochs", "s", 4.5, "--"),
        },
    ),
}


def plot_strengths(section: Section, name: str, path: Path) -> None:
    """One panel per knob in its regularizer's hue: each number's mean against strength with
    the 95% t interval of the mean as error bars, the stratum's baseline as a horizontal line
    with its interval as a band."""
    plt = pyplot()
    ylabel, numbers = STRENGTH_NUMBERS[name]
    panels = _strength_panels(section)
    strata = [s for s in section.strata if any(g in s.groups for gs in panels.values() for g in gs)]
    columns = min(len(panels), 4)
    rows = -(-len(panels) // columns)
    fig, grid = plt.subplots(
        rows, columns, figsize=(4.4 * columns + 0.6, 3.8 * rows + 1.0), sharey=True, squeeze=False
    )
    axes = grid.flatten()
    for unused in axes[len(panels) :]:
        unused.set_visible(False)
    hue = family_colours(section)
    seeds: set[int] = set()
    for ax, (knob, groups) in zip(axes, panels.items(), strict=False):
        xs = []
        stratum_shades = shades(hue[family(groups[0])], len(strata))
        for stratum, colour in zip(strata, stratum_shades, strict=True):
            mine = [g for g in groups if g in stratum.groups]
            where = f"{stratum.label}: " if len(strata) > 1 else ""
            for number, (what, marker, size, style) in numbers.items():
                if points := _stats_line(mine, lambda g, k=knob: g.reg[k], number):
                    xs += [p[0] for p in points]
                    seeds |= {p[3] for p in points}
                    _errorbars(
                        ax,
                        points,
                        marker=marker,
                        markersize=size,
                        linestyle=style,
                        color=colour,
                        markerfacecolor="white" if style == "--" else colour,
                        zorder=3 if style == "--" else 2,
                        label=f"{where}{what}",
                    )
                base = stratum.baseline
                if base is not None and mine and (stats := base.stats(number)):
                    ax.axhline(
                        stats[0],
                        color=UNREGULARIZED_COLOUR,
                        linestyle=style,
                        linewidth=0.8,
                        label=f"{where}{what}, {base.label}",
                    )
                    if (half := t_half_width(stats[1], stats[2])) is not None:
                        ax.axhspan(
                            stats[0] - half, stats[0] + half, color=UNREGULARIZED_COLOUR, alpha=0.08
                        )
        _set_x(ax, knob, xs)
        ax.set_title(knob, fontsize="medium")
    # One legend, beside the first row: the styles are the same in every panel.
    grid[0][columns - 1].legend(
        *axes[0].get_legend_handles_labels(),
        fontsize="x-small",
        loc="upper left",
        bbox_to_anchor=(1.02, 1),
    )
    for row in grid:
        row[0].set_ylabel(f"{ylabel} ({section.loss_unit})")
    n = "-".join(map(str, sorted({min(seeds), max(seeds)}))) if seeds else "0"
    fig.subplots_adjust(hspace=0.4)
    fig.suptitle(
        f"{section.title}\nmean over {n} seeds per point; error bars: the 95% t interval of "
        "the mean; grey lines and bands: the baseline and its interval",
        fontsize="medium",
        y=1.0,
        va="bottom",  # above the panels' own titles, whatever the figure's height
    )
    save(fig, path)


def _numeric(section: Section, key: str) -> bool:
    values = {g.settings.get(key) for g in section.groups}
    return len(values) > 1 and all(is_number(v) for v in values)


def _numeric_keys(section: Section) -> list[str]:
    return [k for k in section.varying if _numeric(section, k)]


def plot_against(section: Section, key: str, path: Path) -> None:
    """The best validation loss and the gap at the best epoch against a swept number, one
    line per setting of everything else (the regularizer's hue, shaded by the rest), error
    bars the 95% t interval of the mean."""
    plt = pyplot()
    lines: dict[str, list[Group]] = {}
    for group in sorted(section.groups, key=lambda g: strength_order(section, g)):
        rest = " ".join(
            f"{k}={fmt_value(group.settings.get(k))}" for k in section.context_keys if k != key
        )
        lines.setdefault(f"{group.label} {rest}".strip(), []).append(group)
    hue = family_colours(section)
    by_family: dict[str, list[str]] = {}
    for label, groups in lines.items():
        by_family.setdefault(family(groups[0]), []).append(label)
    colour = {
        label: shade
        for name, labels in by_family.items()
        for label, shade in zip(labels, shades(hue[name], len(labels)), strict=True)
    }
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    xs = [g.settings[key] for g in section.groups]
    for label, groups in lines.items():
        for ax, number in ((top, "best_val_loss"), (bottom, "gap_at_best")):
            if points := _stats_line(groups, lambda g: g.settings[key], number):
                n = min(p[3] for p in points)
                _errorbars(ax, points, marker="o", color=colour[label], label=f"{label} (n={n})")
    top.set_ylabel(f"best validation loss ({section.loss_unit})")
    bottom.set_ylabel("gap at the best epoch")
    top.set_title(
        f"{section.title}\nmean over the n seeds; error bars: the 95% t interval of the mean",
        fontsize="medium",
    )
    top.legend(
        fontsize="small", title="configuration (seeds)", loc="upper left", bbox_to_anchor=(1.02, 1)
    )
    _set_x(bottom, key, xs)
    save(fig, path)
