"""Early stopping: the run stops after N epochs without a better validation loss; the test
split is scored at the best checkpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lstm_overfit.knobs import Range
from lstm_overfit.regularizers.contract import Knob, Regularizer

if TYPE_CHECKING:
    from lstm_overfit.stopping import BestEpoch


class EarlyStopping(Regularizer):
    name = "early_stopping"
    summary = "stops after N epochs without a better validation loss"
    knobs = (
        Knob(
            "early_stopping",
            0,
            "epochs without a better validation loss before stopping",
            Range(0, example=3),
            3,
            int,
        ),
    )

    def stop_reason(self, best: BestEpoch) -> str | None:
        patience = self.reg.early_stopping
        if best.bad_epochs >= patience:
            return f"no better validation loss for {patience} epochs"
        return None
