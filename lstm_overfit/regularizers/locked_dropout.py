"""Variational (locked) dropout (Gal & Ghahramani 2016): one mask per sequence, the same at
every time step, on the LSTM's input, between its layers and on its output."""

from __future__ import annotations

import torch
from torch import nn

from lstm_overfit.knobs import RATE
from lstm_overfit.regularizers.contract import Knob, Regularizer


class LockedDropout(nn.Module):
    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, time, features), mask (batch, 1, features); or one step (batch, features)."""
        if not self.training or self.p == 0:
            return x
        keep = 1 - self.p
        shape = (x.shape[0], 1, x.shape[2]) if x.dim() == 3 else x.shape
        mask = x.new_empty(shape).bernoulli_(keep) / keep
        return x * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Locked(Regularizer):
    name = "locked_dropout"
    summary = "one mask per sequence at every step"
    knobs = (
        # Set a place's own rate with reg.locked_dropout_input / _hidden / _output.
        Knob("locked_dropout", 0.0, "variational dropout rate at all three places", RATE, 0.5),
        Knob(
            "locked_dropout_input",
            None,
            "locked dropout on the LSTM input",
            RATE,
            None,
            "float | None",
        ),
        Knob(
            "locked_dropout_hidden",
            None,
            "locked dropout between LSTM layers",
            RATE,
            None,
            "float | None",
        ),
        Knob(
            "locked_dropout_output",
            None,
            "locked dropout on the LSTM output",
            RATE,
            None,
            "float | None",
        ),
    )

    def rate(self, place: str) -> float:
        """The place's own rate, or the shared one."""
        own = getattr(self.reg, f"locked_dropout_{place if place != 'between' else 'hidden'}")
        return self.reg.locked_dropout if own is None else own

    def place_transform(self, place: str) -> nn.Module | None:
        rate = self.rate(place)
        return LockedDropout(rate) if rate > 0 else None
