"""The optimizer, each epoch's learning rate, NT-ASGD, and how weight decay is grouped."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lstm_overfit.config import OptimConfig, OptimizerName
from lstm_overfit.optim import RunOptimizer, averaging_due, build_optimizer, epoch_lr
from lstm_overfit.regularizers.schema import reg_config
from lstm_overfit.regularizers.weight_decay import WeightDecay


def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 1))


def decay_groups(model: nn.Module, strength: float) -> list[dict]:
    """The parameter groups the weight_decay regularizer gives the optimizer."""
    decay = WeightDecay(reg_config(weight_decay=strength))
    decay.attach(model)
    return decay.optimizer_groups(list(model.parameters()))


def test_the_first_n_epochs_run_at_the_learning_rate_then_it_decays() -> None:
    cfg = OptimConfig(lr=1.0, lr_decay=0.5, lr_decay_start=4)
    assert [epoch_lr(cfg, e) for e in range(1, 7)] == [1.0, 1.0, 1.0, 1.0, 0.5, 0.25]
    assert epoch_lr(OptimConfig(lr=0.3), 40) == 0.3


def test_decoupled_weight_decay_shrinks_weights_outside_the_gradient() -> None:
    model = small_model()
    params = list(model.parameters())
    optimizer = build_optimizer(OptimConfig(lr=0.1), params, decay_groups(model, 0.5))
    assert isinstance(optimizer, torch.optim.AdamW)
    decayed, kept = optimizer.param_groups
    assert decayed["weight_decay"] == 0.5 and kept["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decayed["params"])
    assert all(p.dim() == 1 for p in kept["params"])
    before = [p.detach().clone() for p in params]
    for p in params:
        p.grad = torch.zeros_like(p)  # no gradient at all: only the decay can move weights
    optimizer.step()
    for p, old in zip(params, before, strict=True):
        expected = old * (1 - 0.1 * 0.5) if p.dim() >= 2 else old
        torch.testing.assert_close(p.detach(), expected)
    assert type(build_optimizer(OptimConfig(), params)) is torch.optim.Adam
    for name in OptimizerName:
        (group,) = build_optimizer(OptimConfig(name=name), params).param_groups
        assert group["weight_decay"] == 0.0 and len(group["params"]) == len(params)


def test_sgds_coupled_decay_scales_with_a_summed_objective() -> None:
    """A loss summed over 35 steps has 35 times the gradient: the coupled decay follows, so
    its strength relative to the data term stays what the config says."""
    model = small_model()
    params = list(model.parameters())
    cfg = OptimConfig(name=OptimizerName.sgd)
    decayed, _ = build_optimizer(cfg, params, decay_groups(model, 1e-4), 35.0).param_groups
    assert decayed["weight_decay"] == pytest.approx(35e-4)
    adamw = build_optimizer(OptimConfig(), params, decay_groups(model, 1e-4), 35.0)
    assert adamw.param_groups[0]["weight_decay"] == 1e-4  # decoupled: no gradient involved


def test_nt_asgd_starts_averaging_when_validation_stops_improving() -> None:
    # AWD-LSTM's rule: the newest loss is above the best of those more than n epochs before.
    assert not averaging_due([5.0, 4.0, 3.0, 2.9, 3.5], nonmono=2)  # above 2.9, not 3.0's best
    assert averaging_due([5.0, 4.0, 3.0, 2.9, 2.95, 3.1], nonmono=2)
    assert not averaging_due([5.0, 6.0], nonmono=5)  # too few epochs to judge


def test_nt_asgd_switches_once_and_evaluates_with_the_running_average() -> None:
    model = small_model()
    params = list(model.parameters())
    cfg = OptimConfig(name=OptimizerName.nt_asgd, lr=0.1, nonmono=2)
    optimizer = RunOptimizer(cfg, build_optimizer(cfg, params))
    assert not optimizer.epoch_done([5.0, 4.0, 3.0])
    fresh = list(small_model().parameters())
    with optimizer.averaged_weights():  # plain SGD keeps no average: nothing changes
        assert all(torch.equal(p, q) for p, q in zip(params, fresh, strict=True))
    assert optimizer.epoch_done([5.0, 4.0, 3.0, 2.9, 2.95, 3.1])
    assert optimizer.averaging and isinstance(optimizer.current, torch.optim.ASGD)
    assert not optimizer.epoch_done([5.0, 4.0, 3.0, 2.9, 2.95, 3.1, 3.2])  # once only
    history = []
    gen = torch.Generator().manual_seed(0)
    for _ in range(4):
        for p in params:
            p.grad = torch.randn(p.shape, generator=gen)
        optimizer.step()
        history.append([p.detach().clone() for p in params])
    trained = [p.detach().clone() for p in params]
    with optimizer.averaged_weights():
        # PyTorch's ASGD (as AWD-LSTM runs it, t0 = 0) averages from its second step on.
        for p, *steps in zip(params, *history[1:], strict=True):
            torch.testing.assert_close(p.detach(), torch.stack(steps).mean(0))
    for p, weight in zip(params, trained, strict=True):
        assert torch.equal(p.detach(), weight)  # the trained weights are back


def test_an_averaging_optimizer_comes_back_from_its_state_dict() -> None:
    model = small_model()
    cfg = OptimConfig(name=OptimizerName.nt_asgd, lr=0.1, nonmono=1)
    optimizer = RunOptimizer(cfg, build_optimizer(cfg, list(model.parameters())))
    assert optimizer.epoch_done([0.5, 0.6, 0.9])
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()
    again = RunOptimizer(cfg, build_optimizer(cfg, list(model.parameters())))
    again.load_state_dict(optimizer.state_dict())
    assert again.averaging and isinstance(again.current, torch.optim.ASGD)
    saved, loaded = optimizer.current.state_dict(), again.current.state_dict()
    for key, state in saved["state"].items():
        assert torch.equal(state["ax"], loaded["state"][key]["ax"])
