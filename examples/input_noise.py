"""A regularizer of your own, outside the package: Gaussian noise on the LSTM's input.

Training with additive input noise is a classic regularizer: to first order it equals a
Tikhonov penalty on the network's sensitivity to its input (Bishop 1995, "Training with
noise is equivalent to Tikhonov regularization"). Here each element of the LSTM's input
(the word vectors, or a series' input layer) gets independent N(0, sigma^2) noise in
training; evaluation reads clean inputs.

Use it without installing anything:

    LSTM_OVERFIT_PLUGINS=examples/input_noise.py lstm-overfit train +reg=input_noise
    LSTM_OVERFIT_PLUGINS=examples/input_noise.py lstm-overfit train -m \\
        +reg=input_noise reg.input_noise=0,0.1,0.3 seed=0,1,2

or package it with an entry point in the group `lstm_overfit.plugins` (see
docs/extending.md).
"""

from __future__ import annotations

import torch
from torch import nn

from lstm_overfit.regularizers import Knob, Range, Regularizer


class GaussianNoise(nn.Module):
    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.sigma = sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        return x + self.sigma * torch.randn_like(x)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}"


class InputNoise(Regularizer):
    name = "input_noise"
    summary = "Gaussian noise added to the LSTM's input in training"
    knobs = (
        Knob(
            name="input_noise",
            default=0.0,
            help="std of the Gaussian noise added to the LSTM's input in training",
            range=Range(0, example=0.1),
            preset=0.3,
        ),
    )

    def place_transform(self, place: str) -> nn.Module | None:
        if place != "input" or self.reg.input_noise == 0:
            return None
        return GaussianNoise(self.reg.input_noise)


REGULARIZERS = (InputNoise,)
