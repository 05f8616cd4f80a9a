"""curves_overlay.png: validation loss and gap per epoch, a pair of panels per regularizer
(the unregularized configuration in grey in each), each configuration's mean over seeds with
its 95% t interval as a band, and the epochs so far of runs that have not ended, dashed."""

from __future__ import annotations

import statistics
from pathlib import Path

from lstm_overfit.plots import pyplot, save
from lstm_overfit.report import Group, Section
from lstm_overfit.report_colours import family, group_colours, strength_order
from lstm_overfit.runs import UNFINISHED, Run, fmt_value
from lstm_overfit.stats import MIN_SEEDS_FOR_INTERVAL, t_half_width


def has_curves(section: Section) -> bool:
    """Whether any run of the section has an epoch to draw."""
    return bool(_curves(section) or _partial_curves(section))


def _label(section: Section, group: Group, short: bool = False) -> str:
    """The configuration (its strength alone where the panel names the regularizer) and,
    where the section has strata, what sets its stratum apart."""
    context = " ".join(f"{k}={fmt_value(group.settings.get(k))}" for k in section.context_keys)
    if short and len(group.reg) == 1:
        return f"{fmt_value(next(iter(group.reg.values())))} {context}".strip()
    return f"{group.label} {context}".strip()


def _interval_band(curves: list[list[float]]) -> tuple[list[float], list[float] | None]:
    """Mean over the seeds' curves epoch by epoch (the shortest's length), and the half width
    of its 95% t interval (None below 3 seeds)."""
    length = min(len(c) for c in curves)
    columns = [[c[i] for c in curves] for i in range(length)]
    means = [statistics.fmean(v) for v in columns]
    if len(curves) < MIN_SEEDS_FOR_INTERVAL:
        return means, None
    return means, [t_half_width(statistics.stdev(v), len(v)) for v in columns]


def _curves(section: Section) -> dict[str, list[list[dict]]]:
    """The epoch records of each configuration's finished runs (those compared)."""
    return {
        g.key: runs for g in section.groups if (runs := [m for r in g.usable if (m := r.metrics())])
    }


def _partial_curves(section: Section) -> dict[str, list[tuple[Run, list[dict]]]]:
    """The epochs so far of each configuration's runs that have not ended (running, killed,
    interrupted), beside the run."""
    unfinished = (*UNFINISHED, "interrupted")
    return {
        g.key: runs
        for g in section.groups
        if (runs := [(r, m) for r in g.runs if r.status in unfinished and (m := r.metrics())])
    }


def plot_overlay(section: Section, path: Path) -> None:
    """Validation loss and gap per epoch, one pair of panels per regularizer (the
    unregularized configuration in grey in each): each configuration's mean over seeds in its
    regularizer's hue, shaded by strength, with the 95% t interval of the mean as a band; a run
    that has not ended, its epochs so far dashed."""
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    curves, partial = _curves(section), _partial_curves(section)
    drawn = [g for g in section.groups if g.key in curves or g.key in partial]
    names = sorted({family(g) for g in drawn if g.reg}) or sorted({family(g) for g in drawn})
    reference = [g for g in drawn if not g.reg]
    colour = group_colours(section)
    columns = min(len(names), 3)
    rows = -(-len(names) // columns)
    fig, grid = plt.subplots(
        2 * rows,
        columns,
        figsize=(4.8 * columns + 0.6, 5.4 * rows + 1.0),
        sharex=True,
        squeeze=False,
    )
    for unused in range(len(names), rows * columns):
        grid[2 * (unused // columns)][unused % columns].set_visible(False)
        grid[2 * (unused // columns) + 1][unused % columns].set_visible(False)
    for i, name in enumerate(names):
        top, bottom = (
            grid[2 * (i // columns)][i % columns],
            grid[2 * (i // columns) + 1][i % columns],
        )
        mine = [g for g in drawn if family(g) == name]
        others = [g for g in reference if g not in mine]
        for group in [*others, *sorted(mine, key=lambda g: strength_order(section, g))]:
            own = group in mine
            runs = curves.get(group.key, [])
            for ax, key in ((top, "val_loss"), (bottom, "gap")):
                for run, rows_ in partial.get(group.key, []):
                    ax.plot(
                        [row["epoch"] for row in rows_],
                        [row[key] for row in rows_],
                        color=colour[group.key],
                        linestyle="--",
                        linewidth=1.0,
                        label=f"{_label(section, group, short=True)} seed {run.seed}: "
                        f"{run.status}, {len(rows_)} epochs so far",
                    )
                if not runs:
                    continue
                mean, half = _interval_band([[row[key] for row in rows_] for rows_ in runs])
                epochs = range(1, len(mean) + 1)
                label = f"{_label(section, group, short=own)} (n={len(runs)})"
                ax.plot(
                    epochs,
                    mean,
                    color=colour[group.key],
                    linewidth=1.6 if own else 0.9,
                    label=label,
                )
                if half is not None and own:
                    low = [m - h for m, h in zip(mean, half, strict=True)]
                    high = [m + h for m, h in zip(mean, half, strict=True)]
                    ax.fill_between(epochs, low, high, color=colour[group.key], alpha=0.15)
        top.set_title(name, fontsize="medium")
        top.legend(fontsize="x-small", loc="best")
        bottom.axhline(0, color="black", linewidth=0.6)
        bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
        if i + columns >= len(names):  # the lowest panel of its column
            bottom.set_xlabel("epoch")
            bottom.xaxis.set_tick_params(labelbottom=True)
    for r in range(rows):
        grid[2 * r][0].set_ylabel(f"validation loss ({section.loss_unit})")
        grid[2 * r + 1][0].set_ylabel("gap (validation - training)")
    fig.subplots_adjust(hspace=0.3)
    fig.suptitle(
        f"{section.title}\nmean over seeds per epoch; bands: the 95% t interval of the mean "
        f"({MIN_SEEDS_FOR_INTERVAL} or more seeds); grey: the unregularized configuration; "
        "dashed: runs not ended, so far",
        fontsize="medium",
        y=1.0,
        va="bottom",  # above the panels' own titles, whatever the figure's height
    )
    save(fig, path)
