"""One run's curves.png, and the matplotlib set-up that a report's plots share."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lstm_overfit.regularizers.schema import label
from lstm_overfit.run_folder import EpochRecord, RunSummary
from lstm_overfit.storage import atomic_write_bytes

if TYPE_CHECKING:
    from lstm_overfit.config import Config


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt


def save(fig: Any, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")  # legends beside the axes
    pyplot().close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def _whole_epochs(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")


def run_title(cfg: Config, status: str) -> str:
    """What the run trained: data set, model size, regularizers, and how it ended."""
    m = cfg.model
    model = f"LSTM {m.num_layers}x{m.hidden_size}{' bidirectional' if m.bidirectional else ''}"
    reg = label(cfg.reg)
    reg = "no regularizer" if reg == "none" else reg
    return f"{cfg.dataset.name} · {model} · {reg}\nseed {cfg.seed}, {status}"


def plot_curves(
    records: Sequence[EpochRecord], summary: RunSummary, cfg: Config, path: Path
) -> None:
    """Train (eval mode) and validation loss per epoch, the gap shaded, best epoch, onset
    and Bayes floor marked; below, where the flipped labels are known, what was memorized.

    Colours keep one meaning across both panels (blue: training, orange: validation); the best
    epoch and the onset are each a line and a marker of their own on the validation curve, so
    both show when they fall on the same epoch."""
    plt = pyplot()
    epochs = [r.epoch for r in records]
    memorization = "train_acc_flipped" in records[0].task_metrics
    fig, axes = plt.subplots(
        2 if memorization else 1, 1, figsize=(7, 7 if memorization else 4.5), sharex=True
    )
    ax = axes[0] if memorization else axes
    train = [r.train_loss for r in records]
    val = [r.val_loss for r in records]
    ax.plot(epochs, train, "o-", color="C0", markersize=3, label="train (eval mode)")
    ax.plot(epochs, val, "o-", color="C1", markersize=3, label="validation")
    ax.fill_between(epochs, train, val, alpha=0.15, color="tab:red", label="gap")
    best, onset = summary.best_epoch, summary.overfit_onset_epoch
    if best is not None:
        ax.axvline(best, color="tab:green", linestyle="--", linewidth=1)
        ax.plot(
            best,
            val[epochs.index(best)],
            "o",
            markersize=11,
            markerfacecolor="none",
            markeredgecolor="tab:green",
            markeredgewidth=2,
            label=f"best epoch ({best})",
        )
    if onset is not None:  # a marker just below the point, clear of the best epoch's ring
        from matplotlib.transforms import offset_copy

        ax.axvline(onset, color="tab:purple", linestyle=":", linewidth=1.5)
        below = offset_copy(ax.transData, fig=fig, y=-16, units="points")
        ax.plot(
            onset,
            val[epochs.index(onset)],
            "^:",
            color="tab:purple",
            markersize=9,
            transform=below,
            label=f"overfit onset ({onset})",
        )
    if summary.bayes_val_loss is not None:
        ax.axhline(summary.bayes_val_loss, color="grey", linestyle="-.", label="Bayes floor (val)")
    ax.set_ylabel("loss")
    ax.set_title(run_title(cfg, summary.status), fontsize="medium")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1))
    if memorization:
        low = axes[1]
        for key, label, colour, style in (
            ("train_acc_clean", "train, clean labels", "C0", "-"),
            ("train_acc_flipped", "train, flipped labels (memorized)", "C0", "--"),
            ("val_acc", "validation", "C1", "-"),
        ):
            values = [r.task_metrics[key] for r in records]
            low.plot(
                epochs, values, marker="o", markersize=3, color=colour, linestyle=style, label=label
            )
        low.set_ylabel("accuracy")
        low.set_ylim(-0.02, 1.02)
        low.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1))
    _whole_epochs(axes[-1] if memorization else ax)
    save(fig, path)
