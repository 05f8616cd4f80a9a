"""Decoupled weight decay (Loshchilov & Hutter 2019): shrinks the weights by lr * lambda at
each step, outside the loss gradient; Adam becomes AdamW. For SGD the two are the same
thing, and SGD's own weight decay is used."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lstm_overfit.knobs import Range
from lstm_overfit.regularizers.contract import Knob, Regularizer
from lstm_overfit.regularizers.scope import PENALTY_SCOPE, penalized_parameters


class WeightDecay(Regularizer):
    name = "weight_decay"
    summary = "decoupled decay (Adam becomes AdamW)"
    knobs = (
        # The preset is strong enough at Adam's 3e-3 to shrink the default run's gap.
        Knob(
            "weight_decay",
            0.0,
            "decoupled weight decay (Adam becomes AdamW)",
            Range(0, example=0.1),
            1.0,
        ),
        PENALTY_SCOPE,
    )

    def attach(self, model: nn.Module) -> None:
        self.decayed = penalized_parameters(model, self.reg.penalty_scope)

    def optimizer_groups(self, params: list[torch.Tensor]) -> list[dict[str, Any]]:
        """The decay acts on the weight matrices only, unless penalty_scope says all."""
        decayed = {id(p) for p in self.decayed}
        return [
            {
                "params": [p for p in params if id(p) in decayed],
                "weight_decay": self.reg.weight_decay,
            },
            {"params": [p for p in params if id(p) not in decayed], "weight_decay": 0.0},
        ]
