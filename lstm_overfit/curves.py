"""The overfitting story of a run's curves: its best epoch, its gaps, and when overfitting
set in."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from lstm_overfit.run_folder import EpochRecord


def overfit_onset(
    train_losses: Sequence[float], val_losses: Sequence[float], patience: int, min_rise: float
) -> tuple[int | None, float | None]:
    """(first epoch after which overfitting set in, the rise that marked it), or Nones.

    Epoch e (1-based) qualifies when its validation loss is the best so far, each of the next
    `patience` epochs has a higher one, the last of them by at least `min_rise` times the
    best (so noise does not count), and the training loss is lower at the end of that
    stretch than at e: validation got worse while training kept improving.
    """
    best = math.inf
    for e in range(len(val_losses) - patience):
        if val_losses[e] >= best:
            continue
        best = val_losses[e]
        end = e + patience
        rose = all(val_losses[t] > best for t in range(e + 1, end + 1))
        rise = val_losses[end] - best
        if rose and rise >= min_rise * abs(best) and train_losses[end] < train_losses[e]:
            return e + 1, rise
    return None, None


def curve_summary(
    records: Sequence[EpochRecord], best_epoch: int | None, patience: int, min_rise: float
) -> dict[str, Any]:
    """The summary's curve numbers (RunSummary fields) of the epochs run; none without one."""
    if not records:
        return {}
    best = next((r for r in records if r.epoch == best_epoch), None)
    onset, rise = overfit_onset(
        [r.train_loss for r in records], [r.val_loss for r in records], patience, min_rise
    )
    return {
        "best_epoch": best_epoch,
        "best_val_loss": best.val_loss if best else None,
        "gap_at_best": best.gap if best else None,
        "final_val_loss": records[-1].val_loss,
        "final_gap": records[-1].gap,
        "max_gap": max(r.gap for r in records),
        "overfit_onset_epoch": onset,
        "overfit_onset_rise": rise,
        "epochs_run": len(records),
    }
