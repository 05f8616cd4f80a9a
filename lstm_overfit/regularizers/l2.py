"""L2: lambda/2 * sum w^2 over the weight matrices, added to the loss (coupled, as in the
tutorial; for decoupled decay see weight_decay)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from lstm_overfit.knobs import Range
from lstm_overfit.regularizers.contract import Knob, PenaltyInputs, Regularizer
from lstm_overfit.regularizers.scope import PENALTY_SCOPE, penalized_parameters


def l2_penalty(params: Iterable[torch.Tensor]) -> torch.Tensor:
    """1/2 sum w^2 over the given parameters (the tutorial's lambda/2 * ||W||^2)."""
    return 0.5 * torch.stack([p.pow(2).sum() for p in params]).sum()


class L2(Regularizer):
    name = "l2"
    summary = "lambda/2 * sum w^2 added to the loss"
    knobs = (
        Knob(
            "l2",
            0.0,
            "coefficient on 1/2 sum w^2, added to the loss",
            Range(0, example=1e-4),
            1e-3,
        ),
        PENALTY_SCOPE,
    )

    def attach(self, model: nn.Module) -> None:
        self.params = penalized_parameters(model, self.reg.penalty_scope)

    def penalties(self, inputs: PenaltyInputs) -> list[torch.Tensor]:
        return [self.reg.l2 * l2_penalty(self.params)]
