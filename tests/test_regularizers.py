"""Each regularizer's defining property, against hand computations where there is one."""

from __future__ import annotations

import warnings
from dataclasses import fields

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstm_overfit.config import Config, PenaltyScope, RegConfig, SeriesData, SyntheticData, Task
from lstm_overfit.data.splits import TaskData
from lstm_overfit.layers import LSTMLayer
from lstm_overfit.models import build_model, build_spec
from lstm_overfit.regularizers import (
    PENALTIES,
    LockedDropout,
    activation_penalty,
    dropout,
    embedding_dropout,
    l1_penalty,
    l2_penalty,
    penalized_parameters,
    temporal_activation_penalty,
    weight_penalty,
)
from lstm_overfit.zoneout import zoneout_lstm

VOCAB = 20


def model_with(
    reg: RegConfig | None = None, task: Task = Task.classify, bidirectional: bool = False, **m
) -> nn.Module:
    """A small model of the task's kind with `reg`'s model-side regularizers."""
    torch.manual_seed(0)
    dataset = SeriesData() if task == Task.forecast else SyntheticData()
    cfg = Config(dataset=dataset, reg=reg or RegConfig())
    cfg.model.embedding_size, cfg.model.hidden_size, cfg.model.num_layers = 8, 12, 2
    cfg.model.bidirectional = bidirectional
    for key, value in m.items():
        setattr(cfg.model, key, value)
    data = TaskData(task, None, None, None, vocab_size=VOCAB, num_classes=2)
    outputs = VOCAB if task == Task.lm else 1  # a word per step; one logit; one step ahead
    return build_model(build_spec(cfg, data, outputs))


def small_model(dropout: float = 0.0) -> nn.Module:
    return model_with(RegConfig(dropout=dropout))


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
    total = weight_penalty(RegConfig(l1=1e-3, l2=1e-2), params)()
    torch.testing.assert_close(total, by_hand)
    assert weight_penalty(RegConfig(), params) is None


def test_l2_gradient_is_lambda_times_weight() -> None:
    w = torch.randn(3, 4, requires_grad=True)
    weight_penalty(RegConfig(l2=0.1), [w])().backward()
    torch.testing.assert_close(w.grad, 0.1 * w.detach())


def test_each_weight_penalty_is_keyed_by_its_strengths_name_in_the_config() -> None:
    strengths = {f.name for f in fields(RegConfig) if f.type == "float"}
    assert set(PENALTIES) <= strengths
    for name in PENALTIES:  # on with its strength, off at zero
        assert weight_penalty(RegConfig(**{name: 0.5}), [torch.ones(2, 2)]) is not None
        assert weight_penalty(RegConfig(**{name: 0.0}), [torch.ones(2, 2)]) is None


def test_dropout_is_off_in_eval_mode_and_on_in_train_mode() -> None:
    model = small_model(dropout=0.5)
    tokens = torch.randint(0, 10, (16, 7))
    model.eval()
    torch.testing.assert_close(model(tokens).prediction, model(tokens).prediction)
    model.train()
    assert not torch.equal(model(tokens).prediction, model(tokens).prediction)


def test_without_dropout_train_mode_equals_eval_mode() -> None:
    model = small_model(0.0)
    tokens = torch.randint(0, 10, (4, 5))
    torch.testing.assert_close(model.train()(tokens).prediction, model.eval()(tokens).prediction)


def test_bidirectional_head_reads_both_directions() -> None:
    model = model_with(bidirectional=True)
    assert model.head.in_features == 24
    assert model(torch.randint(0, 10, (2, 5))).prediction.shape == (2, 1)


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_keeps_one_minus_p_scaled_and_its_gradient_is_the_mask(p: float) -> None:
    torch.manual_seed(0)
    x = torch.randn(64, 50, 32, requires_grad=True)
    out = dropout(x, p, training=True)
    kept = out != 0
    assert abs(kept.float().mean().item() - (1 - p)) < 0.01
    torch.testing.assert_close(out[kept], x[kept] / (1 - p))
    out.sum().backward()
    torch.testing.assert_close(x.grad, kept.float() / (1 - p))
    assert dropout(x, p, training=False) is x
    assert dropout(x, 0.0, training=True) is x
    assert not dropout(x, 1.0, training=True).any()


def test_every_head_drops_the_output_and_is_deterministic_in_eval_mode() -> None:
    tokens = torch.randint(0, 10, (16, 7))
    for task in (Task.classify, Task.lm, Task.forecast):
        model = model_with(RegConfig(dropout=0.5), task).train()
        inputs = tokens.float() if task == Task.forecast else tokens
        out = model(inputs)
        assert not torch.equal(model(inputs).prediction, out.prediction)  # dropout acts
        model.eval()
        torch.testing.assert_close(model(inputs).prediction, model(inputs).prediction)


def test_locked_dropout_on_one_step_drops_features() -> None:
    torch.manual_seed(0)
    out = LockedDropout(0.5).train()(torch.ones(200, 32))
    assert set(out.unique().tolist()) == {0.0, 2.0}
    assert 0.4 < (out == 0).float().mean().item() < 0.6


def test_locked_dropout_mask_is_the_same_at_every_step() -> None:
    torch.manual_seed(0)
    drop = LockedDropout(0.5).train()
    out = drop(torch.ones(8, 20, 32))
    assert torch.equal(out, out[:, :1].expand_as(out))
    assert set(out.unique().tolist()) == {0.0, 2.0}
    assert 0.35 < (out[:, 0] == 0).float().mean().item() < 0.65
    drop.eval()
    x = torch.randn(4, 5, 6)
    assert torch.equal(drop(x), x)


def test_embedding_dropout_drops_whole_rows_for_the_batch() -> None:
    torch.manual_seed(0)
    emb = nn.Embedding(50, 4)
    tokens = torch.randint(0, 50, (16, 30))
    out = embedding_dropout(emb, tokens, 0.5, training=True)
    dropped = out.abs().sum(-1) == 0
    for word in tokens.unique():
        where = tokens == word
        # a word type is dropped at every position or at none
        assert dropped[where].all() or not dropped[where].any()
        if not dropped[where].any():
            torch.testing.assert_close(out[where], emb.weight[word].expand_as(out[where]) * 2)
    assert 0.3 < dropped.float().mean().item() < 0.7
    torch.testing.assert_close(embedding_dropout(emb, tokens, 0.5, training=False), emb(tokens))


def test_ar_and_tar_equal_hand_computations() -> None:
    h = torch.tensor([[[1.0, 2.0], [3.0, 5.0], [0.0, 1.0]]])  # (batch 1, time 3, features 2)
    ar = (1 + 4 + 9 + 25 + 0 + 1) / 6
    assert activation_penalty(h, 2.0).item() == pytest.approx(2.0 * ar)
    tar = ((3 - 1) ** 2 + (5 - 2) ** 2 + (0 - 3) ** 2 + (1 - 5) ** 2) / 4
    assert temporal_activation_penalty(h, 0.5).item() == pytest.approx(0.5 * tar)


def plain_and(reg: RegConfig) -> tuple[nn.Module, nn.Module]:
    """The same weights in a model without regularizers and one with `reg`."""
    plain, regularized = model_with(), model_with(reg)
    regularized.load_state_dict(plain.state_dict())
    return plain.eval(), regularized


MODEL_SIDE = {
    "dropout": RegConfig(dropout=0.5),
    "locked_dropout": RegConfig(locked_dropout=0.5),
    "embedding_dropout": RegConfig(embedding_dropout=0.5),
    "weight_drop": RegConfig(weight_drop=0.5),
    "awd": RegConfig(
        locked_dropout_input=0.4,
        locked_dropout_hidden=0.3,
        locked_dropout_output=0.4,
        embedding_dropout=0.1,
        weight_drop=0.5,
    ),
}


@pytest.mark.parametrize("name", MODEL_SIDE)
def test_model_side_regularizers_are_off_in_eval_mode(name: str) -> None:
    torch.manual_seed(0)
    plain, regularized = plain_and(MODEL_SIDE[name])
    tokens = torch.randint(0, 20, (6, 9))
    regularized.train()
    assert not torch.equal(regularized(tokens).prediction, regularized(tokens).prediction)
    regularized.eval()
    torch.testing.assert_close(regularized(tokens).prediction, plain(tokens).prediction)


def test_weight_drop_keeps_the_fused_kernel_trains_the_raw_weight_and_stays_quiet() -> None:
    torch.manual_seed(0)
    plain, dropped = plain_and(RegConfig(weight_drop=0.5))
    dropped.train()
    plain.train()
    tokens = torch.randint(0, 20, (6, 9))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hidden = dropped.backbone(tokens).raw
        # The same autograd node as the plain nn.LSTM: the fused kernel, not a step loop.
        assert type(hidden.grad_fn) is type(plain.backbone(tokens).raw.grad_fn)
        raw = dropped.backbone.layers[0].lstm.weight_hh_l0
        before = raw.detach().clone()
        optimizer = torch.optim.SGD(dropped.parameters(), lr=0.1)
        for _ in range(3):
            optimizer.zero_grad()
            dropped(tokens).prediction.sum().backward()
            assert raw.grad is not None and raw.grad.abs().sum() > 0
            optimizer.step()
    assert not torch.equal(raw.detach(), before)
    assert [n for n, _ in dropped.named_parameters()] == [n for n, _ in plain.named_parameters()]


def test_weight_drop_masks_w_hh_only() -> None:
    torch.manual_seed(0)
    layer = LSTMLayer(4, 6, bidirectional=True, weight_drop=0.5)
    dropped = layer._dropped_weights()
    assert set(dropped) == {"weight_hh_l0", "weight_hh_l0_reverse"}
    for name, weight in dropped.items():
        raw = getattr(layer.lstm, name)
        zero = weight == 0
        assert 0.3 < zero.float().mean() < 0.7
        torch.testing.assert_close(weight[~zero], 2 * raw[~zero])


def packed_reference(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    return pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=x.shape[1])[0]


@pytest.mark.parametrize("bidirectional", [True, False])
def test_varying_lengths_on_cpu_equal_the_packed_sequence(bidirectional: bool) -> None:
    """The padded fast path gives what PyTorch's packed LSTM gives: outputs and gradients."""
    torch.manual_seed(0)
    layer = LSTMLayer(6, 5, bidirectional)
    x = torch.randn(4, 9, 6, requires_grad=True)
    lengths = torch.tensor([9, 3, 7, 1])
    out, _ = layer(x, None, lengths)
    reference = packed_reference(layer.lstm, x, lengths)
    torch.testing.assert_close(out, reference)
    assert (out[1, 3:] == 0).all()
    inputs = [x, *layer.parameters()]
    ours = torch.autograd.grad(out.pow(2).sum(), inputs)
    theirs = torch.autograd.grad(reference.pow(2).sum(), inputs)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b)


def test_weight_drop_on_varying_lengths_trains_both_directions_raw_weights() -> None:
    torch.manual_seed(0)
    layer = LSTMLayer(6, 5, bidirectional=True, weight_drop=0.5).train()
    out, _ = layer(torch.randn(3, 7, 6), None, torch.tensor([7, 2, 5]))
    out.sum().backward()
    for name in ("weight_hh_l0", "weight_hh_l0_reverse"):
        grad = getattr(layer.lstm, name).grad
        assert grad is not None and 0.3 < (grad == 0).float().mean() < 0.7  # through the mask


def test_zoneout_rate_zero_is_the_plain_lstm() -> None:
    torch.manual_seed(0)
    plain = LSTMLayer(5, 7, bidirectional=False)
    zoneout = LSTMLayer(5, 7, bidirectional=False, zoneout=(1e-30, 0.0))
    zoneout.load_state_dict(plain.state_dict())
    assert zoneout.has_zoneout
    x = torch.randn(3, 11, 5)
    for mode in ("train", "eval"):
        getattr(plain, mode)()
        getattr(zoneout, mode)()
        out_p, (h_p, c_p) = plain(x)
        out_z, (h_z, c_z) = zoneout(x)
        torch.testing.assert_close(out_z, out_p, atol=1e-6, rtol=0)
        torch.testing.assert_close(c_z, c_p, atol=1e-6, rtol=0)
    (out_p.sum() + c_p.sum()).backward()
    (out_z.sum() + c_z.sum()).backward()
    for p_plain, p_zone in zip(plain.parameters(), zoneout.parameters(), strict=True):
        torch.testing.assert_close(p_zone.grad, p_plain.grad, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_zoneout_rate_one_keeps_the_previous_state(mode: str) -> None:
    layer = LSTMLayer(5, 7, bidirectional=False, zoneout=(1.0, 1.0))
    getattr(layer, mode)()
    h0, c0 = torch.randn(1, 3, 7), torch.randn(1, 3, 7)
    out, (h, c) = layer(torch.randn(3, 6, 5), (h0, c0))
    torch.testing.assert_close(out, h0[0].unsqueeze(1).expand(3, 6, 7))
    torch.testing.assert_close((h, c), (h0, c0))


def test_zoneout_masks_differ_in_training_and_evaluation_is_deterministic() -> None:
    torch.manual_seed(0)
    layer = LSTMLayer(5, 7, bidirectional=False, zoneout=(0.3, 0.3))
    x = torch.randn(3, 6, 5)
    assert not torch.equal(layer.train()(x)[0], layer(x)[0])
    layer.eval()
    assert torch.equal(layer(x)[0], layer(x)[0])


def test_zoneout_backward_matches_finite_differences() -> None:
    torch.manual_seed(0)
    steps, batch, hidden = 4, 2, 3
    args = [
        torch.randn(steps, batch, 4 * hidden, dtype=torch.double, requires_grad=True),
        torch.randn(4 * hidden, hidden, dtype=torch.double, requires_grad=True),
        torch.randn(batch, hidden, dtype=torch.double, requires_grad=True),
        torch.randn(batch, hidden, dtype=torch.double, requires_grad=True),
    ]
    keep_h = (torch.rand(steps, batch, hidden) < 0.3).double()
    keep_c = (torch.rand(steps, batch, hidden) < 0.5).double()
    assert torch.autograd.gradcheck(lambda *a: zoneout_lstm(*a, keep_h, keep_c), args)


def test_each_place_takes_its_own_rate_or_the_shared_one() -> None:
    cfg = Config(reg=RegConfig(locked_dropout=0.5, locked_dropout_hidden=0.1, zoneout=0.2))
    cfg.reg.zoneout_hidden = 0.05
    spec = build_spec(cfg, TaskData(Task.classify, None, None, None, vocab_size=VOCAB), 1)
    assert spec.locked_dropout == (0.5, 0.1, 0.5) and spec.zoneout == (0.2, 0.05)


def test_awd_initialization() -> None:
    model = model_with(task=Task.lm, init="awd", init_range=0.1, tie_weights=True)
    embedding = model.backbone.embedding.weight
    assert model.decoder.weight is embedding and embedding.abs().max() <= 0.1
    assert embedding.std() > 0.05  # uniform over the range, not N(0, 1) nor zero
    assert not model.decoder.bias.any()
    lstm = model.backbone.layers[0].lstm
    assert lstm.weight_hh_l0.abs().max() <= 1 / lstm.hidden_size**0.5  # PyTorch's own
    uniform = model_with(init="uniform", init_range=0.05)
    assert all(p.abs().max() <= 0.05 for p in uniform.parameters())
