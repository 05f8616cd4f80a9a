"""Penalties against hand computations; dropout off in eval mode; clipping bounds the step."""

from __future__ import annotations

import torch
from torch import nn

from lstm_overfit.config import ModelConfig, PenaltyScope, RegConfig
from lstm_overfit.models import build_model
from lstm_overfit.regularizers import l1_penalty, l2_penalty, penalized_parameters, penalty_fn


def small_model(dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(0)
    return build_model(ModelConfig(8, 6, 2, False), vocab_size=10, num_classes=2, dropout=dropout)


def test_l1_and_l2_equal_hand_sums() -> None:
    a = torch.tensor([[1.0, -2.0], [3.0, -4.0]])
    b = torch.tensor([[0.5, -0.5]])
    assert l1_penalty([a, b]).item() == 1 + 2 + 3 + 4 + 0.5 + 0.5
    assert l2_penalty([a, b]).item() == 0.5 * (1 + 4 + 9 + 16 + 0.25 + 0.25)


def test_default_scope_is_weight_matrices_only() -> None:
    model = small_model()
    weights = penalized_parameters(model, PenaltyScope.weights)
    everything = penalized_parameters(model, PenaltyScope.all)
    names = {id(p): n for n, p in model.named_parameters()}
    assert all("bias" not in names[id(p)] for p in weights)
    assert any("bias" in names[id(p)] for p in everything)
    assert {names[id(p)] for p in weights} == {
        n for n, p in model.named_parameters() if "bias" not in n
    }


def test_penalty_combines_strengths_over_the_model() -> None:
    model = small_model()
    params = penalized_parameters(model, PenaltyScope.weights)
    by_hand = sum(
        1e-3 * p.abs().sum() + 1e-2 * 0.5 * (p**2).sum()
        for n, p in model.named_parameters()
        if "bias" not in n
    )
    total = penalty_fn(RegConfig(l1=1e-3, l2=1e-2), params)()
    torch.testing.assert_close(total, by_hand)
    assert penalty_fn(RegConfig(), params) is None


def test_l2_gradient_is_lambda_times_weight() -> None:
    w = torch.randn(3, 4, requires_grad=True)
    penalty_fn(RegConfig(l2=0.1), [w])().backward()
    torch.testing.assert_close(w.grad, 0.1 * w.detach())


def test_dropout_is_off_in_eval_mode_and_on_in_train_mode() -> None:
    model = small_model(dropout=0.5)
    tokens = torch.randint(0, 10, (16, 7))
    model.eval()
    torch.testing.assert_close(model(tokens), model(tokens))
    model.train()
    assert not torch.equal(model(tokens), model(tokens))


def test_without_dropout_train_mode_equals_eval_mode() -> None:
    model = small_model(0.0)
    tokens = torch.randint(0, 10, (4, 5))
    torch.testing.assert_close(model.train()(tokens), model.eval()(tokens))


def test_bidirectional_head_reads_both_directions() -> None:
    model = build_model(ModelConfig(8, 6, 2, True), vocab_size=10, num_classes=3, dropout=0.0)
    assert model.head.in_features == 12
    assert model(torch.randint(0, 10, (2, 5))).shape == (2, 3)
