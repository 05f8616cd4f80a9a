"""What each construct the runner keeps beyond PyTorch's plain API buys, on the setup where
it matters: the training pass with it against the same pass with PyTorch's own way,
alternating epoch by epoch in one process (median of the pairs after a warm-up pair).

- uniform-draw dropout (regularizers.dropout) against F.dropout, default run +reg=dropout;
- one fused call per direction on the padded batch (layers.LSTMLayer on CPU) against a
  packed sequence, the tutorial's model on an IMDB slice;
- zoneout's hand-written backward (zoneout.py) against autograd over the same step loop,
  default run +reg=zoneout.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from bare_loop import compose_config
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import lstm_overfit.layers as layers
import lstm_overfit.regularizers as regularizers
from lstm_overfit.train import TrainingRun


@contextmanager
def standard_dropout() -> Iterator[None]:
    ours = regularizers.dropout
    regularizers.dropout = lambda x, p, training: F.dropout(x, p, training)
    try:
        yield
    finally:
        regularizers.dropout = ours


@contextmanager
def packed_sequences() -> Iterator[None]:
    def packed(self, x, state, lengths, dropped):
        steps = x.shape[1]
        x = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, final = layers._fused(self.lstm, x, state, dropped)
        return pad_packed_sequence(out, batch_first=True, total_length=steps)[0], final

    ours = layers.LSTMLayer._padded_forward
    layers.LSTMLayer._padded_forward = packed
    try:
        yield
    finally:
        layers.LSTMLayer._padded_forward = ours


def _autograd_zoneout(gates_x, w_hh, h, c, keep_h, keep_c):
    """The same recurrence as zoneout.py, written as autograd records it."""
    hidden, outputs = h.shape[1], []
    for t in range(gates_x.shape[0]):
        gates = torch.addmm(gates_x[t], h, w_hh.t())
        i, f, o = (torch.sigmoid(gates[:, k * hidden : (k + 1) * hidden]) for k in (0, 1, 3))
        g = torch.tanh(gates[:, 2 * hidden : 3 * hidden])
        c_new = f * c + i * g
        h_new = o * torch.tanh(c_new)
        c = torch.lerp(c_new, c, keep_c[t])
        h = torch.lerp(h_new, h, keep_h[t])
        outputs.append(h)
    return torch.stack(outputs), h, c


@contextmanager
def autograd_zoneout() -> Iterator[None]:
    ours = layers.zoneout_lstm
    layers.zoneout_lstm = _autograd_zoneout
    try:
        yield
    finally:
        layers.zoneout_lstm = ours


def _paired(run: TrainingRun, standard: Callable, pairs: int) -> list[float]:
    """Seconds of PyTorch's way over seconds of ours, per pair of training passes."""
    ratios = []
    for epoch in range(1, pairs + 2):
        seconds = {}
        for side in ("ours", "standard") if epoch % 2 else ("standard", "ours"):
            start = time.perf_counter()
            if side == "ours":
                run.train_epoch(epoch, 1e-3)
            else:
                with standard():
                    run.train_epoch(epoch, 1e-3)
            seconds[side] = time.perf_counter() - start
        ratios.append(seconds["standard"] / seconds["ours"])
    return ratios[1:]


def rows(data: Path, pairs: int) -> list[dict]:
    # A packed sequence runs about ten times slower on CPU: a slice of 300 reviews.
    imdb = [
        "+experiment=tutorial_imdb",
        f"dataset.path={data / 'imdb'}",
        "dataset.num_train=300",
        "dataset.num_val=100",
        "dataset.num_test=100",
        "dataset.max_len=400",
    ]
    # (what, setup, PyTorch's way, pairs): the packed sequence's tenfold cost needs one pair.
    cases = (
        ("uniform-draw dropout vs F.dropout", ["+reg=dropout"], standard_dropout, pairs),
        ("padded fused calls vs a packed sequence", imdb, packed_sequences, 1),
        ("zoneout's own backward vs autograd", ["+reg=zoneout"], autograd_zoneout, pairs),
    )
    out = []
    for name, overrides, standard, n in cases:
        cfg = compose_config([*overrides, "train.progress=false"])
        with tempfile.TemporaryDirectory() as tmp:
            ratios = _paired(TrainingRun(cfg, Path(tmp)), standard, n)
        out.append(
            {
                "configuration": " ".join(overrides[:1]) or "default run",
                "figure": f"{name}: training pass, PyTorch's way over ours, median of "
                f"{len(ratios)} pairs ({min(ratios):.2f}-{max(ratios):.2f})",
                "value": statistics.median(ratios),
                "target": ">= 1.05 to keep",
            }
        )
    return out
