"""The optimizer, the learning rate of each epoch, and NT-ASGD's switch to averaging."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from lstm_overfit.config import OptimConfig, OptimizerName


def build_optimizer(
    cfg: OptimConfig,
    params: list[torch.Tensor],
    groups: list[dict[str, Any]] | None = None,
    objective_scale: float = 1.0,
) -> torch.optim.Optimizer:
    """The optimizer over `params`, or over the regularizers' parameter `groups`, each with
    its "weight_decay". Decoupled decay makes Adam AdamW: the decay shrinks weights directly
    instead of passing through Adam's per-parameter scaling as an L2 gradient would. For SGD
    the two are the same thing, so SGD's own (coupled) weight decay is used, scaled like the
    objective (`objective_scale`: a loss summed over steps) so its strength relative to the
    data term stays what the config says."""
    groups = groups or [{"params": params, "weight_decay": 0.0}]
    if cfg.name in (OptimizerName.sgd, OptimizerName.nt_asgd):
        scaled = [{**g, "weight_decay": g["weight_decay"] * objective_scale} for g in groups]
        return torch.optim.SGD(scaled, lr=cfg.lr, momentum=cfg.momentum)
    if cfg.name == OptimizerName.adamw or any(g["weight_decay"] > 0 for g in groups):
        return torch.optim.AdamW(groups, lr=cfg.lr)
    return torch.optim.Adam(groups, lr=cfg.lr)


def epoch_lr(cfg: OptimConfig, epoch: int) -> float:
    """The learning rate of epoch `epoch` (from 1): optim.lr for the first lr_decay_start
    epochs, then times lr_decay each epoch (Zaremba et al. 2014's schedule)."""
    return cfg.lr * cfg.lr_decay ** max(0, epoch - cfg.lr_decay_start)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def averaging_due(val_losses: list[float], nonmono: int) -> bool:
    """NT-ASGD's trigger (Merity et al. 2017): the newest validation loss is worse than the
    best of those more than `nonmono` epochs before it."""
    *before, newest = val_losses
    return len(before) > nonmono and newest > min(before[:-nonmono])


def averaging_optimizer(optimizer: torch.optim.Optimizer, lr: float) -> torch.optim.ASGD:
    """Averaged SGD over the same parameters and weight decay, averaging from its first
    step (t0 = 0, no decay of the step size: lambd = 0), as AWD-LSTM switches to."""
    groups = [
        {"params": g["params"], "weight_decay": g["weight_decay"]} for g in optimizer.param_groups
    ]
    return torch.optim.ASGD(groups, lr=lr, t0=0, lambd=0.0)


class RunOptimizer:
    """The optimizer a run steps. With NT-ASGD (Merity et al. 2017) it starts as SGD and
    switches, once, to averaged SGD when the validation loss stops improving; the averaged
    weights are then the ones evaluated and kept as best."""

    def __init__(self, cfg: OptimConfig, optimizer: torch.optim.Optimizer) -> None:
        self.cfg, self.current = cfg, optimizer

    @property
    def averaging(self) -> bool:
        """Switched to averaged SGD (a run's optimizer is ASGD only after the switch)."""
        return isinstance(self.current, torch.optim.ASGD)

    def set_lr(self, lr: float) -> None:
        set_lr(self.current, lr)

    def zero_grad(self) -> None:
        self.current.zero_grad(set_to_none=True)

    def step(self) -> None:
        self.current.step()

    def epoch_done(self, val_losses: list[float]) -> bool:
        """After an epoch's record: switch to averaging where NT-ASGD's trigger fires; True
        when it switched."""
        due = (
            self.cfg.name == OptimizerName.nt_asgd
            and not self.averaging
            and averaging_due(val_losses, self.cfg.nonmono)
        )
        if due:
            self._switch()
        return due

    def _switch(self) -> None:
        self.current = averaging_optimizer(self.current, self.cfg.lr)

    @contextmanager
    def averaged_weights(self) -> Iterator[None]:
        """Inside the block every parameter holds its running average, where the optimizer
        keeps one (ASGD's `ax`); outside, the weights being trained."""
        saved = []
        if self.averaging:
            with torch.no_grad():
                for group in self.current.param_groups:
                    for param in group["params"]:
                        average = self.current.state.get(param, {}).get("ax")
                        if average is not None:
                            saved.append((param, param.detach().clone()))
                            param.copy_(average)
        try:
            yield
        finally:
            with torch.no_grad():
                for param, weights in saved:
                    param.copy_(weights)

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.current.state_dict(), "averaging": self.averaging}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["averaging"] and not self.averaging:
            self._switch()
        self.current.load_state_dict(state["optimizer"])
