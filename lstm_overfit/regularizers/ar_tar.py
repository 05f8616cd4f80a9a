"""Activation regularization and temporal activation regularization (Merity et al. 2017):
penalties on the last layer's outputs and on their changes from step to step."""

from __future__ import annotations

import torch

from lstm_overfit.knobs import STRENGTH
from lstm_overfit.regularizers.contract import Knob, PenaltyInputs, Regularizer


def _masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean over (batch, time, features), counting only steps where mask (batch, time) holds."""
    if mask is None:
        return values.mean()
    weights = mask.unsqueeze(-1).to(values.dtype)
    return (values * weights).sum() / (weights.sum() * values.shape[-1]).clamp(min=1)


def activation_penalty(
    dropped: torch.Tensor, alpha: float, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """AR: alpha * mean h^2 over the dropped last-layer outputs."""
    return alpha * _masked_mean(dropped.pow(2), mask)


def temporal_activation_penalty(
    raw: torch.Tensor, beta: float, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """TAR: beta * mean (h_t - h_{t-1})^2 over the last-layer outputs (batch, time, features),
    over pairs of real steps."""
    pairs = None if mask is None else mask[:, 1:] & mask[:, :-1]
    return beta * _masked_mean((raw[:, 1:] - raw[:, :-1]).pow(2), pairs)


class ArTar(Regularizer):
    name = "ar_tar"
    summary = "penalties on activations and their changes"
    # A classifier reads one step, so TAR must be far stronger than AWD-LSTM's
    # language-model values (alpha 2, beta 1, kept in the awd preset) to shrink the default
    # run's gap.
    knobs = (
        Knob("ar", 0.0, "AR: alpha * mean h^2 on the dropped last-layer outputs", STRENGTH, 2.0),
        Knob(
            "tar",
            0.0,
            "TAR: beta * mean (h_t - h_{t-1})^2 on the last-layer outputs",
            STRENGTH,
            1000.0,
        ),
    )

    def penalties(self, inputs: PenaltyInputs) -> list[torch.Tensor]:
        hidden, terms = inputs.hidden, []
        if self.reg.ar > 0:
            terms.append(activation_penalty(hidden.dropped, self.reg.ar, hidden.mask))
        if self.reg.tar > 0:
            terms.append(temporal_activation_penalty(hidden.raw, self.reg.tar, hidden.mask))
        return terms
