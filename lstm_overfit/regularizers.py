"""Every regularizer, each small and testable on its own.

Where each acts:
- loss: weight penalties (L1, L2; chosen by name from PENALTIES), activation penalties (AR, TAR)
- model: dropout masks (standard, locked), embedding dropout, weight drop, zoneout
- optimizer: decoupled weight decay, gradient clipping (train.py)
- loop: early stopping (records.py)
All model-side regularizers are off in eval mode, except zoneout, which uses its expectation
there (Krueger et al. 2016), so evaluation is deterministic either way.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstm_overfit.config import PenaltyScope, RegConfig
from lstm_overfit.zoneout import zoneout_lstm


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


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Standard dropout: each element kept with probability 1 - p and scaled by 1/(1 - p).

    On CPU the mask comes from uniform draws, which PyTorch makes about four times faster
    there than the Bernoulli draws behind F.dropout; elsewhere F.dropout's fused kernel.
    """
    if not training or p == 0:
        return x
    if x.device.type != "cpu" or p >= 1:
        return F.dropout(x, p, training=True)
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


NON_CONTIGUOUS_WARNING = "RNN module weights are not part of single contiguous chunk"


ONE_WAY_NAMES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


@functools.cache
def _one_way_lstm(input_size: int, hidden_size: int) -> nn.LSTM:
    """A one-direction LSTM without weights of its own (on the meta device): each call gets
    one direction's weights of a layer through functional_call."""
    return nn.LSTM(input_size, hidden_size, 1, batch_first=True, device="meta")


class _ReverseWithinLengths(torch.autograd.Function):
    """x (batch, time, features) with each row's real steps in reverse order, padding in place.

    The reordering is its own inverse, so the backward pass applies it to the gradient: a
    row gather both ways, where autograd's gather would scatter-add."""

    @staticmethod
    def forward(x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, x.shape[-1]).index_select(0, rows).view(x.shape)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: torch.Tensor) -> None:
        ctx.rows = inputs[1]

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return _ReverseWithinLengths.apply(grad, ctx.rows), None


def reversal_rows(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """Flat row indices into (batch * steps) that reverse each row's first `length` steps."""
    t = torch.arange(steps, device=lengths.device).unsqueeze(0)
    ends = lengths.unsqueeze(1)
    within = torch.where(t < ends, ends - 1 - t, t)
    row_starts = steps * torch.arange(len(lengths), device=lengths.device).unsqueeze(1)
    return (row_starts + within).view(-1)


class LSTMLayer(nn.Module):
    """One (bi)directional LSTM layer with optional weight drop and zoneout.

    The weights live in a one-layer `nn.LSTM` in every case, so the state dict is the same
    whichever regularizers are on. Without zoneout it runs PyTorch's fused kernel.

    Weight drop (DropConnect on W_hh, Merity et al. 2017): one mask per forward pass. The
    dropped matrix is passed to the fused kernel through `torch.func.functional_call`, which
    swaps it in for that call only: no torch internals are patched, no parameter is deleted,
    and the raw weight receives the gradient through the mask.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bidirectional: bool,
        weight_drop: float = 0.0,
        zoneout_cell: float = 0.0,
        zoneout_hidden: float = 0.0,
        use_compiled_zoneout: bool = True,
    ) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            input_size, hidden_size, 1, batch_first=True, bidirectional=bidirectional
        )
        self.weight_drop = weight_drop
        self.zoneout_cell, self.zoneout_hidden = zoneout_cell, zoneout_hidden
        self.use_compiled_zoneout = use_compiled_zoneout
        if self.zoneout and bidirectional:
            raise ValueError("zoneout runs unidirectional layers only")

    @property
    def zoneout(self) -> bool:
        return self.zoneout_cell > 0 or self.zoneout_hidden > 0

    def _hh_names(self) -> list[str]:
        return [n for n in self.lstm._flat_weights_names if n.startswith("weight_hh")]

    def _dropped_hh(self) -> dict[str, torch.Tensor]:
        return {
            name: F.dropout(getattr(self.lstm, name), self.weight_drop, training=True)
            for name in self._hh_names()
        }

    def forward(
        self,
        x: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor] | None = None,
        lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x: (batch, time, input) -> outputs (batch, time, hidden * directions), (h_n, c_n).

        With `lengths`, each row's real steps are computed as if it were alone: outputs at
        padded steps are zero and the backward direction starts at the row's last real step.
        On CUDA the fused kernel runs a packed sequence. On CPU, where PyTorch's LSTM runs
        packed sequences about ten times slower than a padded tensor, the padded batch goes
        through the fused kernel instead, each direction on its own, the backward one on the
        rows reversed within their lengths; padding then only trails real steps. The final
        state (h_n, c_n) is the state after the padded steps there; nothing reads it for
        batches of varying lengths. Zoneout runs the padded batch (its layers are
        unidirectional, so real steps never see padding).
        """
        dropped = self._dropped_hh() if self.training and self.weight_drop > 0 else {}
        if self.zoneout:
            w_hh = dropped.get("weight_hh_l0", self.lstm.weight_hh_l0)
            return self._zoneout_forward(x, w_hh, state)
        if lengths is not None and x.device.type == "cpu":
            return self._padded_forward(x, state, lengths.to(x.device), dropped)
        steps = x.shape[1]
        if lengths is not None:
            x = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, final = self._fused(self.lstm, x, state, dropped)
        if lengths is not None:
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=steps)
        return out, final

    @staticmethod
    def _fused(lstm: nn.LSTM, x: Any, state: Any, weights: dict[str, torch.Tensor]) -> tuple:
        """`lstm` on x, with `weights` (a dropped W_hh, one direction's weights) swapped in."""
        if not weights:
            return lstm(x, state)
        with warnings.catch_warnings():
            # cuDNN copies weights that are not in its flat buffer into one at every call,
            # and says so each time; a freshly dropped W_hh is never in that buffer.
            warnings.filterwarnings("ignore", message=NON_CONTIGUOUS_WARNING)
            return functional_call(lstm, weights, (x, state))

    def _padded_forward(
        self,
        x: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor] | None,
        lengths: torch.Tensor,
        dropped: dict[str, torch.Tensor],
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        steps = torch.arange(x.shape[1], device=x.device).unsqueeze(0)
        real = (steps < lengths.unsqueeze(1)).unsqueeze(-1)
        if not self.lstm.bidirectional:
            out, final = self._fused(self.lstm, x, state, dropped)
            return out * real, final
        one_way = _one_way_lstm(self.lstm.input_size, self.lstm.hidden_size)
        rows = reversal_rows(lengths, x.shape[1])
        outputs, finals = [], []
        for direction, suffix in enumerate(("", "_reverse")):
            weights = {
                name: dropped.get(name + suffix, getattr(self.lstm, name + suffix))
                for name in ONE_WAY_NAMES
            }
            hx = None if state is None else tuple(s[direction : direction + 1] for s in state)
            inputs = x if direction == 0 else _ReverseWithinLengths.apply(x, rows)
            out, final = self._fused(one_way, inputs, hx, weights)
            outputs.append(out if direction == 0 else _ReverseWithinLengths.apply(out, rows))
            finals.append(final)
        h_n, c_n = (torch.cat(parts) for parts in zip(*finals, strict=True))
        return torch.cat(outputs, -1) * real, (h_n, c_n)

    def _zoneout_forward(
        self,
        x: torch.Tensor,
        w_hh: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        # Zoneout's hand-written backward is written for one dtype: it runs in float32
        # even under bf16 autocast.
        with torch.autocast(x.device.type, enabled=False):
            return self._zoneout_fp32(x.float(), w_hh, state)

    def _zoneout_fp32(
        self,
        x: torch.Tensor,
        w_hh: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        lstm = self.lstm
        batch, steps = x.shape[0], x.shape[1]
        if state is None:
            h = x.new_zeros(batch, lstm.hidden_size)
            c = x.new_zeros(batch, lstm.hidden_size)
        else:
            h, c = state[0][0].float(), state[1][0].float()
        # The input projection for every step at once: one large matrix product.
        gates_x = F.linear(x, lstm.weight_ih_l0, lstm.bias_ih_l0 + lstm.bias_hh_l0)
        gates_x = gates_x.transpose(0, 1).contiguous()
        shape = (steps, batch, lstm.hidden_size)
        keep_c = self._keep(shape, self.zoneout_cell, x)
        keep_h = self._keep(shape, self.zoneout_hidden, x)
        outputs, h, c = zoneout_lstm(
            gates_x, w_hh, h, c, keep_h, keep_c, compiled=self.use_compiled_zoneout
        )
        return outputs.transpose(0, 1), (h.unsqueeze(0), c.unsqueeze(0))

    def _keep(self, shape: tuple[int, int, int], rate: float, like: torch.Tensor) -> torch.Tensor:
        """Per-unit keep-previous masks in training; the expectation (the rate) in eval."""
        if self.training:
            return like.new_empty(shape).bernoulli_(rate)
        return like.new_full(shape, rate)
