"""gap_heatmap_KEY1_KEY2.png: the gap at the best epoch over two swept numbers that form a
grid, as the paired difference from each cell's baseline on a scale centred on zero."""

from __future__ import annotations

from pathlib import Path

from lstm_overfit.plots import pyplot, save
from lstm_overfit.report import Group, Report, Section
from lstm_overfit.runs import fmt_value


def grids(section: Section, a: str, b: str) -> list[tuple[str, dict[tuple, Group]]]:
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


HEATMAP_NUMBER = "gap_at_best"


def compared_panels(report: Report, panels: list) -> list:
    """The panels with at least one cell compared with its baseline (a grid of baselines
    alone has nothing to centre)."""
    return [
        (rest, cells)
        for rest, cells in panels
        if any((g.key, HEATMAP_NUMBER) in report.comparisons for g in cells.values())
    ]


def plot_heatmap(
    report: Report, section: Section, a: str, b: str, panels: list, path: Path
) -> None:
    """The gap at the best epoch over a grid of two swept numbers as the paired difference
    from each cell's baseline: a diverging scale centred on zero (the baseline), each cell
    written out with its 95% t interval, outlined where the interval excludes zero."""
    import numpy as np
    from matplotlib.patches import Rectangle

    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels) + 1.5, 4.8), squeeze=False)
    found = [
        report.comparisons.get((g.key, HEATMAP_NUMBER))
        for _, cells in panels
        for g in cells.values()
    ]
    extent = max([abs(c.mean) for c in found if c is not None and c.defined] or [1.0]) or 1.0
    for ax, (rest, cells) in zip(axes[0], panels, strict=True):
        xs, ys = sorted({x for x, _ in cells}), sorted({y for _, y in cells})
        grid = np.full((len(ys), len(xs)), np.nan)
        for (x, y), group in cells.items():
            at = (xs.index(x), ys.index(y))
            c = report.comparisons.get((group.key, HEATMAP_NUMBER))
            stratum = next(s for s in section.strata if group in s.groups)
            if group is stratum.baseline and (stats := group.stats(HEATMAP_NUMBER)):
                grid[at[1], at[0]] = 0.0
                text = f"baseline\n{stats[0]:.3g}"
            elif c is not None and c.defined:
                grid[at[1], at[0]] = c.mean
                text = f"{c.mean:+.2g}"
                if c.low is not None:
                    mark = "†" if report.survives((group.key, HEATMAP_NUMBER)) else ""
                    text += f"\n[{c.low:+.2g}, {c.high:+.2g}]{mark}"
                if c.excludes_zero:
                    ax.add_patch(
                        Rectangle(
                            (at[0] - 0.5, at[1] - 0.5),
                            1,
                            1,
                            fill=False,
                            edgecolor="black",
                            linewidth=2,
                        )
                    )
            else:
                text = "-"
            dark = abs(grid[at[1], at[0]]) > 0.6 * extent  # NaN: not dark
            colour = "white" if dark else "black"
            ax.text(*at, text, ha="center", va="center", fontsize="x-small", color=colour)
        image = ax.imshow(grid, origin="lower", cmap="RdBu_r", vmin=-extent, vmax=extent)
        ax.set_xticks(range(len(xs)), [fmt_value(x) for x in xs])
        ax.set_yticks(range(len(ys)), [fmt_value(y) for y in ys])
        ax.set_xlabel(a)
        ax.set_ylabel(b)
        ax.set_title(rest or "", fontsize="small")
    fig.colorbar(
        image,
        ax=axes[0].tolist(),
        label=f"Δ gap at the best epoch against the baseline ({section.loss_unit})",
    )
    fig.suptitle(
        f"{section.title}\ngap at the best epoch minus its baseline's, paired over seeds, with "
        "the 95% t interval; outlined: the interval excludes zero; †: holds after Holm's "
        "adjustment",
        fontsize="medium",
        y=1.0,
        va="bottom",  # above the panels' own titles, whatever the figure's height
    )
    save(fig, path)
