"""The pictures: one run's curves.png, and a report's overlay and strength plots."""

from __future__ import annotations

import io
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lstm_overfit.records import EpochRecord, RunSummary, atomic_write_bytes

if TYPE_CHECKING:
    from lstm_overfit.config import Config
    from lstm_overfit.report import Group


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    _pyplot().close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def _whole_epochs(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")


def run_title(cfg: Config, status: str) -> str:
    """What the run trained: data set, model size, regularizers, and how it ended."""
    m = cfg.model
    model = f"LSTM {m.num_layers}x{m.hidden_size}{' bidirectional' if m.bidirectional else ''}"
    reg = ", ".join(f"{k}={v:g}" for k, v in cfg.reg.active().items()) or "no regularizer"
    return f"{cfg.dataset.name} · {model} · {reg}\nseed {cfg.seed}, {status}"


def plot_curves(
    records: Sequence[EpochRecord], summary: RunSummary, cfg: Config, path: Path
) -> None:
    """Train (eval mode) and validation loss per epoch, the gap shaded, best epoch, onset
    and Bayes floor marked; below, where the flipped labels are known, what was memorized."""
    plt = _pyplot()
    epochs = [r.epoch for r in records]
    memorization = "train_acc_flipped" in records[0].task_metrics
    fig, axes = plt.subplots(
        2 if memorization else 1, 1, figsize=(7, 7 if memorization else 4.5), sharex=True
    )
    ax = axes[0] if memorization else axes
    train = [r.train_loss for r in records]
    val = [r.val_loss for r in records]
    ax.plot(epochs, train, marker="o", markersize=3, label="train (eval mode)")
    ax.plot(epochs, val, marker="o", markersize=3, label="validation")
    ax.fill_between(epochs, train, val, alpha=0.15, color="tab:red", label="gap")
    if summary.best_epoch is not None:
        ax.axvline(summary.best_epoch, color="tab:green", linestyle="--", label="best epoch")
    if summary.overfit_onset_epoch is not None:
        ax.axvline(
            summary.overfit_onset_epoch, color="tab:red", linestyle=":", label="overfit onset"
        )
    if summary.bayes_val_loss is not None:
        ax.axhline(summary.bayes_val_loss, color="grey", linestyle="-.", label="Bayes floor (val)")
    ax.set_ylabel("loss")
    ax.set_title(run_title(cfg, summary.status), fontsize="medium")
    ax.legend(fontsize="small")
    if memorization:
        low = axes[1]
        for key, label in (
            ("train_acc_clean", "train, clean labels"),
            ("train_acc_flipped", "train, flipped labels (memorized)"),
            ("val_acc", "validation"),
        ):
            low.plot(
                epochs,
                [r.task_metrics[key] for r in records],
                marker="o",
                markersize=3,
                label=label,
            )
        low.set_ylabel("accuracy")
        low.set_ylim(-0.02, 1.02)
        low.legend(fontsize="small")
    _whole_epochs(axes[-1] if memorization else ax)
    fig.tight_layout()
    _save(fig, path)


def _band(curves: list[list[float]]) -> tuple[list[float], list[float], list[float]]:
    """Mean, min and max over the seeds' curves, epoch by epoch (the shortest's length)."""
    length = min(len(c) for c in curves)
    columns = [[c[i] for c in curves] for i in range(length)]
    return (
        [statistics.fmean(v) for v in columns],
        [min(v) for v in columns],
        [max(v) for v in columns],
    )


def plot_overlay(groups: list[Group], path: Path) -> None:
    """Each configuration's validation loss and gap per epoch: the mean over seeds, the band
    from the lowest to the highest seed."""
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    for i, group in enumerate(groups):
        runs = [rows for rows in (r.metrics() for r in group.usable) if rows]
        if not runs:
            continue
        color, line = f"C{i % 10}", ("-", "--", ":")[i // 10 % 3]  # ten colours, then dashes
        for ax, key in ((top, "val_loss"), (bottom, "gap")):
            mean, low, high = _band([[row[key] for row in rows] for rows in runs])
            epochs = range(1, len(mean) + 1)
            label = f"{group.label[:50]} (n={len(runs)})"
            ax.plot(epochs, mean, color=color, linestyle=line, label=label)
            if len(runs) > 1:
                ax.fill_between(epochs, low, high, color=color, alpha=0.15)
    top.set_ylabel("validation loss")
    top.set_title("mean over seeds; bands from the lowest to the highest seed", fontsize="medium")
    top.legend(fontsize="small")
    bottom.set_ylabel("gap (validation - training loss)")
    bottom.axhline(0, color="grey", linewidth=0.8)
    _whole_epochs(bottom)
    fig.tight_layout()
    _save(fig, path)


def _strength_lines(groups: list[Group], number: str) -> dict[str, list[tuple]]:
    """For each regularizer alone: (strength, mean, std) of `number` per strength."""
    lines: dict[str, list[tuple[float, float, float]]] = {}
    for group in groups:
        reg, stats = group.reg, group.stats(number)
        if len(reg) != 1 or stats is None:
            continue
        ((name, strength),) = reg.items()
        if isinstance(strength, (int, float)) and strength > 0:
            lines.setdefault(name, []).append((float(strength), stats[0], stats[1]))
    return {name: sorted(points) for name, points in sorted(lines.items())}


# Each plot against strength: its file, y label, and the two numbers it draws with their
# legend names, marker and line style.
STRENGTH_PLOTS = {
    "val_loss_vs_strength.png": (
        "validation loss",
        {"best_val_loss": ("best", "o", "-"), "final_val_loss": ("last epoch", "s", "--")},
    ),
    "gap_vs_strength.png": (
        "validation - training loss",
        {"gap_at_best": ("at best epoch", "o", "-"), "max_gap": ("largest", "s", "--")},
    ),
}


def plot_strengths(groups: list[Group], baseline: Group | None, out: Path) -> list[str]:
    """One line per regularizer and number against strength (log x), error bars of one
    standard deviation over seeds, the baseline as a grey line; returns the files written
    (none where no configuration has one regularizer at a strength, and stale ones go)."""
    if not any(_strength_lines(groups, "best_val_loss").values()):
        for name in STRENGTH_PLOTS:
            (out / name).unlink(missing_ok=True)
        return []
    plt = _pyplot()
    for name, (ylabel, numbers) in STRENGTH_PLOTS.items():
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for number, (what, marker, style) in numbers.items():
            for i, (reg, points) in enumerate(_strength_lines(groups, number).items()):
                xs, ys, errs = zip(*points, strict=True)
                ax.errorbar(
                    xs,
                    ys,
                    yerr=errs,
                    marker=marker,
                    markerfacecolor="white" if style == "--" else None,
                    capsize=3,
                    linestyle=style,
                    color=f"C{i % 10}",
                    label=f"{reg}: {what}",
                )
            stats = baseline.stats(number) if baseline else None
            if stats:
                ax.axhline(
                    stats[0], color="grey", linestyle=style, label=f"{baseline.label}: {what}"
                )
        ax.set_xscale("log")
        ax.set_xlabel("strength")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize="small")
        fig.tight_layout()
        _save(fig, out / name)
    return list(STRENGTH_PLOTS)
