"""The LSTM layer: PyTorch's fused kernel, both directions, padded batches, and the
regularizers' hooks on the recurrent weights (weight drop) and on the state (zoneout)."""

from __future__ import annotations

import functools
import warnings
from typing import Any

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstm_overfit.regularizers.contract import WeightTransform
from lstm_overfit.zoneout import keep_weights, zoneout_lstm

LayerState = tuple[torch.Tensor, torch.Tensor]  # (h, c), each (directions, batch, hidden)

NON_CONTIGUOUS_WARNING = "RNN module weights are not part of single contiguous chunk"
ONE_WAY_NAMES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


@functools.cache
def _one_way_lstm(input_size: int, hidden_size: int) -> nn.LSTM:
    """A one-direction LSTM without weights of its own (on the meta device): each call gets
    one direction's weights of a layer through functional_call."""
    return nn.LSTM(input_size, hidden_size, 1, batch_first=True, device="meta")


def reversal_rows(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """Flat row indices into (batch * steps) that reverse each row's first `length` steps."""
    t = torch.arange(steps, device=lengths.device).unsqueeze(0)
    ends = lengths.unsqueeze(1)
    within = torch.where(t < ends, ends - 1 - t, t)
    row_starts = steps * torch.arange(len(lengths), device=lengths.device).unsqueeze(1)
    return (row_starts + within).view(-1)


def reverse_within_lengths(x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """x (batch, time, features) with each row's real steps in reverse order, padding in place."""
    return x.reshape(-1, x.shape[-1]).index_select(0, rows).view(x.shape)


def _fused(lstm: nn.LSTM, x: Any, state: Any, weights: dict[str, torch.Tensor]) -> tuple:
    """`lstm` on x, with `weights` (a dropped W_hh, one direction's weights) swapped in for
    this call only: no parameter is replaced and the raw weights receive the gradient."""
    if not weights:
        return lstm(x, state)
    with warnings.catch_warnings():
        # cuDNN copies weights that are not in its flat buffer into one at every call, and
        # says so each time; a freshly dropped W_hh is never in that buffer.
        warnings.filterwarnings("ignore", message=NON_CONTIGUOUS_WARNING)
        return functional_call(lstm, weights, (x, state))


class LSTMLayer(nn.Module):
    """One (bi)directional LSTM layer, with the regularizers' transforms of its recurrent
    weights (in training) and the share of its state each unit keeps from step to step.

    The weights live in a one-layer `nn.LSTM` in every case, so the state dict is the same
    whichever regularizers are on. Without a state hook it runs PyTorch's fused kernel; a
    recurrent-weight transform hands it the transformed W_hh for one call.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bidirectional: bool,
        recurrent_weight: list[WeightTransform] | None = None,
        state_keep: tuple[float, float] | None = None,
    ) -> None:
        """state_keep: the (cell, hidden) probabilities that a unit keeps its previous
        value (zoneout), for a unidirectional layer (zoneout's check refuses
        model.bidirectional)."""
        super().__init__()
        self.lstm = nn.LSTM(
            input_size, hidden_size, 1, batch_first=True, bidirectional=bidirectional
        )
        self.recurrent_weight = list(recurrent_weight or [])
        self.keep_cell, self.keep_hidden = state_keep or (0.0, 0.0)

    @property
    def has_state_keep(self) -> bool:
        return self.keep_cell > 0 or self.keep_hidden > 0

    def _dropped_weights(self) -> dict[str, torch.Tensor]:
        if not self.training or not self.recurrent_weight:
            return {}
        names = [n for n in self.lstm._flat_weights_names if n.startswith("weight_hh")]
        dropped = {}
        for name in names:
            weight = getattr(self.lstm, name)
            for transform in self.recurrent_weight:
                weight = transform(weight)
            dropped[name] = weight
        return dropped

    def forward(
        self,
        x: torch.Tensor,
        state: LayerState | None = None,
        lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, LayerState]:
        """x: (batch, time, input) -> outputs (batch, time, hidden * directions), (h_n, c_n).

        With `lengths`, each row's real steps are computed as if it were alone: outputs at
        padded steps are zero and the backward direction starts at the row's last real step.
        On CUDA the fused kernel runs a packed sequence. On CPU, where PyTorch's LSTM runs
        packed sequences about ten times slower than a padded tensor, each direction runs the
        padded batch through the fused kernel, the backward one on the rows reversed within
        their lengths, so padding only ever trails real steps. The final state is then the
        state after the padded steps; nothing reads it for batches of varying lengths.
        Zoneout layers step through time themselves and ignore `lengths`: they are
        unidirectional, so padding only trails and the outputs at real steps are exact.
        """
        dropped = self._dropped_weights()
        if self.has_state_keep:
            w_hh = dropped.get("weight_hh_l0", self.lstm.weight_hh_l0)
            return self._zoneout_forward(x, w_hh, state)
        if lengths is not None and x.device.type == "cpu":
            return self._padded_forward(x, state, lengths.to(x.device), dropped)
        steps = x.shape[1]
        if lengths is not None:
            x = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, final = _fused(self.lstm, x, state, dropped)
        if lengths is not None:
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=steps)
        return out, final

    def _padded_forward(
        self,
        x: torch.Tensor,
        state: LayerState | None,
        lengths: torch.Tensor,
        dropped: dict[str, torch.Tensor],
    ) -> tuple[torch.Tensor, LayerState]:
        steps = torch.arange(x.shape[1], device=x.device).unsqueeze(0)
        real = (steps < lengths.unsqueeze(1)).unsqueeze(-1)
        if not self.lstm.bidirectional:
            out, final = _fused(self.lstm, x, state, dropped)
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
            inputs = x if direction == 0 else reverse_within_lengths(x, rows)
            out, final = _fused(one_way, inputs, hx, weights)
            outputs.append(out if direction == 0 else reverse_within_lengths(out, rows))
            finals.append(final)
        h_n, c_n = (torch.cat(parts) for parts in zip(*finals, strict=True))
        return torch.cat(outputs, -1) * real, (h_n, c_n)

    def _zoneout_forward(
        self, x: torch.Tensor, w_hh: torch.Tensor, state: LayerState | None
    ) -> tuple[torch.Tensor, LayerState]:
        """Zoneout's step loop, in float32 even under bf16 autocast (its hand-written backward
        is written for one dtype)."""
        with torch.autocast(x.device.type, enabled=False):
            x = x.float()
            lstm = self.lstm
            batch, steps, hidden = x.shape[0], x.shape[1], lstm.hidden_size
            if state is None:
                h = c = x.new_zeros(batch, hidden)
            else:
                h, c = state[0][0].float(), state[1][0].float()
            # The input projection for every step at once: one large matrix product.
            gates_x = F.linear(x, lstm.weight_ih_l0, lstm.bias_ih_l0 + lstm.bias_hh_l0)
            gates_x = gates_x.transpose(0, 1).contiguous()
            shape = (steps, batch, hidden)
            keep_c = keep_weights(shape, self.keep_cell, self.training, x)
            keep_h = keep_weights(shape, self.keep_hidden, self.training, x)
            outputs, h, c = zoneout_lstm(gates_x, w_hh, h, c, keep_h, keep_c)
        return outputs.transpose(0, 1), (h.unsqueeze(0), c.unsqueeze(0))
