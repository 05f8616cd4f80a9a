"""Gradient clipping: the global gradient norm clipped to a maximum after each backward."""

from __future__ import annotations

import torch
from torch import nn

from lstm_overfit.knobs import STRENGTH
from lstm_overfit.regularizers.contract import Knob, Regularizer


class GradClip(Regularizer):
    name = "grad_clip"
    summary = "clips the global gradient norm"
    knobs = (Knob("grad_clip", 0.0, "max global gradient norm (0: no clipping)", STRENGTH, 1.0),)

    def clip_gradients(self, params: list[torch.Tensor], norm: torch.Tensor) -> None:
        nn.utils.clip_grads_with_norm_(params, self.reg.grad_clip, norm)
