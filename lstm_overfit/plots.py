"""curves.png: the story of one run's overfitting in one picture."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lstm_overfit.records import EpochRecord


def plot_curves(records: Sequence[EpochRecord], summary: dict[str, Any], path: Path) -> None:
    """Train (eval mode) and validation loss per epoch, the gap shaded, best epoch marked."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    epochs = [r.epoch for r in records]
    train = [r.train_loss for r in records]
    val = [r.val_loss for r in records]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(epochs, train, marker="o", markersize=3, label="train (eval mode)")
    ax.plot(epochs, val, marker="o", markersize=3, label="validation")
    ax.fill_between(epochs, train, val, alpha=0.15, color="tab:red", label="gap")
    if summary.get("best_epoch") is not None:
        ax.axvline(summary["best_epoch"], color="tab:green", linestyle="--", label="best epoch")
    if summary.get("overfit_onset_epoch") is not None:
        ax.axvline(
            summary["overfit_onset_epoch"], color="tab:red", linestyle=":", label="overfit onset"
        )
    if summary.get("bayes_val_loss") is not None:
        ax.axhline(summary["bayes_val_loss"], color="grey", linestyle="-.", label="Bayes optimum")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(f"status: {summary['status']}")
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
