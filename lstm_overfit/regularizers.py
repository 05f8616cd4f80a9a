"""Every regularizer, each small and testable on its own.

Where each acts:
- loss: weight penalties (L1, L2; chosen by name from PENALTIES), activation penalties (AR, TAR)
- model: dropout masks (standard, locked), embedding dropout, weight drop and zoneout masks
  (the LSTM layer in layers.py applies the last two)
- optimizer: decoupled weight decay (optim.py), gradient clipping (train.py)
- loop: early stopping (stopping.py)
All model-side regularizers are off in eval mode, except zoneout, which uses its expectation
there (Krueger et al. 2016), so evaluation is deterministic either way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from lstm_overfit.config import PenaltyScope, RegConfig

# -- penalties on the loss ---------------------------------------------------------------------


def l1_penalty(params: Iterable[torch.Tensor]) -> torch.Tensor:
    """sum |w| over the given parameters."""
    return torch.stack([p.abs().sum() for p in params]).sum()


def l2_penalty(params: Iterable[torch.Tensor]) -> torch.Tensor:
    """1/2 sum w^2 over the given parameters (the tutorial's lambda/2 * ||W||^2)."""
    return 0.5 * torch.stack([p.pow(2).sum() for p in params]).sum()


# Each weight penalty by the name of its strength in RegConfig (weight_penalty reads it so).
PENALTIES: dict[str, Callable[[Iterable[torch.Tensor]], torch.Tensor]] = {
    "l1": l1_penalty,
    "l2": l2_penalty,
}


def penalized_parameters(model: nn.Module, scope: PenaltyScope) -> list[torch.Tensor]:
    """Weight matrices (two or more dimensions) by default; every parameter with `all`."""
    params = [p for p in model.parameters() if p.requires_grad]
    if scope == PenaltyScope.all:
        return params
    return [p for p in params if p.dim() >= 2]


def weight_penalty(reg: RegConfig, params: list[torch.Tensor]) -> Callable[[], torch.Tensor] | None:
    """A closure that sums every active weight penalty times its strength, or None."""
    active = [(getattr(reg, name), fn) for name, fn in PENALTIES.items() if getattr(reg, name) > 0]
    if not active:
        return None

    def total() -> torch.Tensor:
        return sum(strength * fn(params) for strength, fn in active)

    return total


def _masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean over (batch, time, features), counting only steps where mask (batch, time) holds."""
    if mask is None:
        return values.mean()
    weights = mask.unsqueeze(-1).to(values.dtype)
    return (values * weights).sum() / (weights.sum() * values.shape[-1]).clamp(min=1)


def activation_penalty(
    dropped: torch.Tensor, alpha: float, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """AR (Merity et al. 2017): alpha * mean h^2 over the dropped last-layer outputs."""
    return alpha * _masked_mean(dropped.pow(2), mask)


def temporal_activation_penalty(
    raw: torch.Tensor, beta: float, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """TAR: beta * mean (h_t - h_{t-1})^2 over the last-layer outputs (batch, time, features),
    over pairs of real steps."""
    pairs = None if mask is None else mask[:, 1:] & mask[:, :-1]
    return beta * _masked_mean((raw[:, 1:] - raw[:, :-1]).pow(2), pairs)


def batch_penalty(
    reg: RegConfig, weights: Callable[[], torch.Tensor] | None, hidden: Any
) -> torch.Tensor | None:
    """The batch's penalty: the weight penalties (`weight_penalty`'s closure) plus AR and TAR
    on its activations (`hidden`: the backbone's output); None when all are off."""
    terms = [] if weights is None else [weights()]
    if reg.ar > 0:
        terms.append(activation_penalty(hidden.dropped, reg.ar, hidden.mask))
    if reg.tar > 0:
        terms.append(temporal_activation_penalty(hidden.raw, reg.tar, hidden.mask))
    return sum(terms) if terms else None


# -- masks on the model ------------------------------------------------------------------------


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Standard dropout: each element kept with probability 1 - p and scaled by 1/(1 - p)."""
    if not training or p == 0:
        return x
    if x.device.type != "cpu" or p >= 1:
        return F.dropout(x, p, training=True)
    # Uniform draws: the default run's training pass 17% faster on CPU than F.dropout's.
    # Drawn in float32 whatever x's dtype: bf16 draws would skew the keep rate.
    mask = torch.rand(x.shape, device=x.device).ge_(p).mul_(1 / (1 - p))
    return x * mask.to(x.dtype)


class Dropout(nn.Module):
    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class LockedDropout(nn.Module):
    """Variational dropout (Gal & Ghahramani 2016): one mask per sequence, every time step."""

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


def embedding_dropout(
    embedding: nn.Embedding, tokens: torch.Tensor, p: float, training: bool
) -> torch.Tensor:
    """Drop whole word types for the batch: rows of the embedding matrix, scaled by 1/(1-p).

    A dropped word is zero at every position it occurs in (Gal & Ghahramani 2016).
    """
    weight = embedding.weight
    if training and p > 0:
        keep = 1 - p
        mask = weight.new_empty(weight.shape[0], 1).bernoulli_(keep) / keep
        weight = weight * mask
    return F.embedding(tokens, weight, embedding.padding_idx)


def weight_drop(weight: torch.Tensor, p: float) -> torch.Tensor:
    """DropConnect (Merity et al. 2017): the weight matrix with a fresh mask, for one forward
    pass; the raw weight receives the gradient through the mask."""
    return F.dropout(weight, p, training=True)


def zoneout_keep(
    shape: tuple[int, ...], rate: float, training: bool, like: torch.Tensor
) -> torch.Tensor:
    """Zoneout's weights on each unit's previous value: per-step 0/1 masks drawn with
    probability `rate` in training, the expectation (the rate itself) in evaluation."""
    if training:
        return like.new_empty(shape).bernoulli_(rate)
    return like.new_full(shape, rate)
