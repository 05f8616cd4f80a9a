"""Each regularizer's defining property, against hand computations where there is one."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstm_overfit.config import Config, PenaltyScope, RegConfig, SeriesData, SyntheticData, Task
from lstm_overfit.data.splits import TaskData
from lstm_overfit.layers import LSTMLayer
from lstm_overfit.models import build_model, build_spec
from lstm_overfit.regularizers.active import ActiveRegularizers
from lstm_overfit.regularizers.ar_tar import activation_penalty, temporal_activation_penalty
from lstm_overfit.regularizers.contract import NETWORK_HOOKS, PenaltyInputs, overrides
from lstm_overfit.regularizers.dropout import dropout
from lstm_overfit.regularizers.embedding_dropout import drop_word_types
from lstm_overfit.regularizers.l1 import l1_penalty
from lstm_overfit.regularizers.l2 import l2_penalty
from lstm_overfit.regularizers.locked_dropout import LockedDropout
from lstm_overfit.regularizers.registry import regularizers
from lstm_overfit.regularizers.schema import presets, reg_config
from lstm_overfit.regularizers.scope import penalized_parameters
from lstm_overfit.regularizers.weight_drop import weight_drop
from lstm_overfit.tasks import task_kind
from lstm_overfit.zoneout import zoneout_lstm

VOCAB = 20


def model_with(
    reg: RegConfig | None = None, task: Task = Task.classify, bidirectional: bool = False, **m
) -> nn.Module:
    """A small model of the task's kind with `reg`'s network transforms."""
    torch.manual_seed(0)
    dataset = SeriesData() if task == Task.forecast else SyntheticData()
    cfg = Config(dataset=dataset, reg=reg or reg_config())
    cfg.model.embedding_size, cfg.model.hidden_size, cfg.model.num_layers = 8, 12, 2
    cfg.model.bidirectional = bidirectional
    for key, value in m.items():
        setattr(cfg.model, key, value)
    data = TaskData(task, None, None, None, vocab_size=VOCAB, num_classes=2)
    outputs = VOCAB if task == Task.lm else 1  # a word per step; one logit; one step ahead
    kind = task_kind(task)
    spec = build_spec(cfg, data, outputs, kind.token_input, kind.ties_weights)
    return build_model(spec, kind.head, ActiveRegularizers(cfg.reg).network())


def small_model(dropout: float = 0.0) -> nn.Module:
    return model_with(reg_config(dropout=dropout))


def batch_penalty(reg: RegConfig, model: nn.Module, tokens: torch.Tensor) -> torch.Tensor | None:
    """The penalty the loop adds for one batch, through the regularizers' hooks."""
    active = ActiveRegularizers(reg)
    active.attach(model)
    return active.penalty(PenaltyInputs(model, model(tokens).hidden))


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
    by_hand = sum(
        1e-3 * p.abs().sum() + 1e-2 * 0.5 * (p**2).sum()
        for n, p in model.named_parameters()
        if "bias" not in n
    )
    tokens = torch.randint(0, VOCAB, (3, 5))
    torch.testing.assert_close(batch_penalty(reg_config(l1=1e-3, l2=1e-2), model, tokens), by_hand)
    assert batch_penalty(reg_config(), model, tokens) is None


def test_l2_gradient_is_lambda_times_weight() -> None:
    model = small_model()
    weight = model.head.weight
    batch_penalty(reg_config(l2=0.1), model, torch.randint(0, VOCAB, (3, 5))).backward()
    torch.testing.assert_close(weight.grad, 0.1 * weight.detach())


def test_penalty_scope_all_takes_in_the_biases() -> None:
    model = small_model()
    tokens = torch.randint(0, VOCAB, (3, 5))
    everything = sum(0.5 * (p**2).sum() for p in model.parameters())
    reg = reg_config(l2=1.0, penalty_scope=PenaltyScope.all)
    torch.testing.assert_close(batch_penalty(reg, model, tokens), everything)


@pytest.mark.parametrize("regularizer", regularizers(), ids=lambda r: r.name)
def test_each_regularizer_declares_knobs_in_range_and_is_on_exactly_at_its_preset(
    regularizer,
) -> None:
    """Every registered regularizer, without a hand-kept list: its preset switches it on
    (and no other), each preset value is in its knob's range, the defaults leave it off."""
    assert regularizer.name and regularizer.summary and regularizer.knobs
    preset = presets()[regularizer.name]
    assert preset, "a preset sets at least one knob"
    for knob in regularizer.knobs:
        if knob.name in preset and knob.range is not None:
            assert knob.range.holds(preset[knob.name])
    on = reg_config(**preset)
    assert [r.name for r in regularizers() if r.is_on(on)] == [regularizer.name]
    assert not regularizer.is_on(reg_config())


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
        model = model_with(reg_config(dropout=0.5), task).train()
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
    out = nn.functional.embedding(tokens, drop_word_types(emb.weight, 0.5, training=True))
    dropped = out.abs().sum(-1) == 0
    for word in tokens.unique():
        where = tokens == word
        # a word type is dropped at every position or at none
        assert dropped[where].all() or not dropped[where].any()
        if not dropped[where].any():
            torch.testing.assert_close(out[where], emb.weight[word].expand_as(out[where]) * 2)
    assert 0.3 < dropped.float().mean().item() < 0.7
    assert drop_word_types(emb.weight, 0.5, training=False) is emb.weight


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


# Every registered regularizer that changes the network, at its preset; and AWD-LSTM's mix.
MODEL_SIDE = {
    **{
        r.name: reg_config(**presets()[r.name])
        for r in regularizers()
        if any(overrides(r, hook) for hook in NETWORK_HOOKS)
    },
    "awd": reg_config(
        locked_dropout_input=0.4,
        locked_dropout_hidden=0.3,
        locked_dropout_output=0.4,
        embedding_dropout=0.1,
        weight_drop=0.5,
    ),
}


@pytest.mark.parametrize("name", MODEL_SIDE)
def test_model_side_regularizers_are_off_or_their_expectation_in_eval_mode(name: str) -> None:
    torch.manual_seed(0)
    plain, regularized = plain_and(MODEL_SIDE[name])
    tokens = torch.randint(0, 20, (6, 9))
    regularized.train()
    assert not torch.equal(regularized(tokens).prediction, regularized(tokens).prediction)
    regularized.eval()
    assert torch.equal(regularized(tokens).prediction, regularized(tokens).prediction)
    if not ActiveRegularizers(MODEL_SIDE[name]).network().state_keep:  # zoneout: expectation
        torch.testing.assert_close(regularized(tokens).prediction, plain(tokens).prediction)


def test_weight_drop_keeps_the_fused_kernel_trains_the_raw_weight_and_stays_quiet() -> None:
    torch.manual_seed(0)
    plain, dropped = plain_and(reg_config(weight_drop=0.5))
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
    layer = LSTMLayer(4, 6, bidirectional=True, recurrent_weight=[lambda w: weight_drop(w, 0.5)])
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
    drop = [lambda w: weight_drop(w, 0.5)]
    layer = LSTMLayer(6, 5, bidirectional=True, recurrent_weight=drop).train()
    out, _ = layer(torch.randn(3, 7, 6), None, torch.tensor([7, 2, 5]))
    out.sum().backward()
    for name in ("weight_hh_l0", "weight_hh_l0_reverse"):
        grad = getattr(layer.lstm, name).grad
        assert grad is not None and 0.3 < (grad == 0).float().mean() < 0.7  # through the mask


def test_zoneout_rate_zero_is_the_plain_lstm() -> None:
    torch.manual_seed(0)
    plain = LSTMLayer(5, 7, bidirectional=False)
    zoneout = LSTMLayer(5, 7, bidirectional=False, state_keep=(1e-30, 0.0))
    zoneout.load_state_dict(plain.state_dict())
    assert zoneout.has_state_keep
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
    layer = LSTMLayer(5, 7, bidirectional=False, state_keep=(1.0, 1.0))
    getattr(layer, mode)()
    h0, c0 = torch.randn(1, 3, 7), torch.randn(1, 3, 7)
    out, (h, c) = layer(torch.randn(3, 6, 5), (h0, c0))
    torch.testing.assert_close(out, h0[0].unsqueeze(1).expand(3, 6, 7))
    torch.testing.assert_close((h, c), (h0, c0))


def test_zoneout_masks_differ_in_training_and_evaluation_is_deterministic() -> None:
    torch.manual_seed(0)
    layer = LSTMLayer(5, 7, bidirectional=False, state_keep=(0.3, 0.3))
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
    reg = reg_config(locked_dropout=0.5, locked_dropout_hidden=0.1, zoneout=0.2)
    reg.zoneout_hidden = 0.05
    hooks = ActiveRegularizers(reg).network()
    rates = {place: [m.p for m in modules] for place, modules in hooks.places.items()}
    assert rates == {"input": [0.5], "between": [0.1], "output": [0.5]}
    assert hooks.state_keep == (0.2, 0.05)


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
