"""What the weight regularizers (l1, l2, weight_decay) act on: one setting they share."""

from __future__ import annotations

import torch
from torch import nn

from lstm_overfit.config import PenaltyScope
from lstm_overfit.regularizers.contract import Knob

PENALTY_SCOPE = Knob(
    "penalty_scope",
    PenaltyScope.weights,
    "what l1, l2 and weight_decay act on: weights or all",
    type=PenaltyScope,
    setting=True,
)


def penalized_parameters(model: nn.Module, scope: PenaltyScope) -> list[torch.Tensor]:
    """Weight matrices (two or more dimensions) by default; every parameter with `all`."""
    params = [p for p in model.parameters() if p.requires_grad]
    if scope == PenaltyScope.all:
        return params
    return [p for p in params if p.dim() >= 2]
