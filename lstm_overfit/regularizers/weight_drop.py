"""Weight drop (Merity et al. 2017): DropConnect on each layer's hidden-to-hidden matrix
W_hh, a fresh mask per forward pass, on PyTorch's fused kernel."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from lstm_overfit.knobs import RATE
from lstm_overfit.regularizers.contract import Knob, Regularizer, WeightTransform


def weight_drop(weight: torch.Tensor, p: float) -> torch.Tensor:
    """The weight matrix with a fresh mask, for one forward pass; the raw weight receives the
    gradient through the mask."""
    return F.dropout(weight, p, training=True)


class WeightDrop(Regularizer):
    name = "weight_drop"
    summary = "DropConnect on W_hh, on the fused kernel"
    # AWD-LSTM used 0.5 on 1150-unit layers; the default run's small layers need more to
    # shrink the gap.
    knobs = (Knob("weight_drop", 0.0, "DropConnect on the hidden-to-hidden matrices", RATE, 0.8),)

    def recurrent_weight_transform(self) -> WeightTransform:
        p = self.reg.weight_drop
        return lambda weight: weight_drop(weight, p)
