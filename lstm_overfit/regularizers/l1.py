"""L1: lambda * sum |w| over the weight matrices, added to the loss."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from lstm_overfit.knobs import Range
from lstm_overfit.regularizers.contract import Knob, PenaltyInputs, Regularizer
from lstm_overfit.regularizers.scope import PENALTY_SCOPE, penalized_parameters


def l1_penalty(params: Iterable[torch.Tensor]) -> torch.Tensor:
    """sum |w| over the given parameters."""
    return torch.stack([p.abs().sum() for p in params]).sum()


class L1(Regularizer):
    name = "l1"
    summary = "lambda * sum |w| added to the loss"
    knobs = (
        Knob("l1", 0.0, "coefficient on sum |w|, added to the loss", Range(0, example=1e-5), 1e-5),
        PENALTY_SCOPE,
    )

    def attach(self, model: nn.Module) -> None:
        self.params = penalized_parameters(model, self.reg.penalty_scope)

    def penalties(self, inputs: PenaltyInputs) -> list[torch.Tensor]:
        return [self.reg.l1 * l1_penalty(self.params)]
