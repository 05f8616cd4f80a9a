"""Regularizers that act on the loss: weight penalties, chosen by name from PENALTIES."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from lstm_overfit.config import PenaltyScope, RegConfig


def l1_penalty(params: Iterable[torch.Tensor]) -> torch.Tensor:
    """sum |w| over the given parameters."""
    return torch.stack([p.abs().sum() for p in params]).sum()


def l2_penalty(params: Iterable[torch.Tensor]) -> torch.Tensor:
    """1/2 sum w^2 over the given parameters (the tutorial's lambda/2 * ||W||^2)."""
    return 0.5 * torch.stack([p.pow(2).sum() for p in params]).sum()


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


def penalty_fn(reg: RegConfig, params: list[torch.Tensor]) -> Callable[[], torch.Tensor] | None:
    """A closure that sums every active penalty times its strength, or None when none is on."""
    active = [(getattr(reg, name), fn) for name, fn in PENALTIES.items() if getattr(reg, name) > 0]
    if not active:
        return None

    def total() -> torch.Tensor:
        return sum(strength * fn(params) for strength, fn in active)

    return total
