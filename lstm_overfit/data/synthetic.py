"""The embedded default data set: motif detection with a known rate of flipped labels.

A sequence is labelled 1 when a fixed motif (a short run of tokens) occurs in it, else 0;
half the sequences carry the motif. Then every label in every split is flipped with
probability `label_noise`. The rule is learnable, the flipped labels are not, so an LSTM
with enough capacity first learns the rule and then memorises the noise: the validation
loss bottoms out near the Bayes-optimal loss and rises again. Each split keeps which of its
labels were flipped: every mask gives the exact loss of the Bayes predictor on its split, and
the training split's also measures memorization. Generated from the seed; no file, no download.
"""

from __future__ import annotations

import math

import torch

from lstm_overfit.config import SyntheticData, Task
from lstm_overfit.data.splits import Sequences, TaskData


def bayes_loss(label_noise: float, flipped_share: float) -> float:
    """Cross-entropy (nats) of the Bayes predictor, the true rule at confidence
    1 - label_noise, on a split whose share of flipped labels is `flipped_share`. Its
    expectation over splits is the binary entropy of the flip rate."""
    p = label_noise
    if p == 0.0:
        return 0.0
    return -(flipped_share * math.log(p) + (1 - flipped_share) * math.log(1 - p))


def _motif_starts(tokens: torch.Tensor, motif: torch.Tensor) -> torch.Tensor:
    """Boolean (N, L - k + 1): where the motif starts in each sequence."""
    windows = tokens.unfold(1, motif.numel(), 1)
    return (windows == motif).all(dim=-1)


def _remove_motif(
    tokens: torch.Tensor, motif: torch.Tensor, vocab_size: int, gen: torch.Generator
) -> None:
    """Redraw the first token of every motif occurrence until none is left (in place)."""
    while True:
        rows, cols = _motif_starts(tokens, motif).nonzero(as_tuple=True)
        if rows.numel() == 0:
            return
        # A replacement that differs from motif[0] cannot start the motif at that place.
        offset = torch.randint(1, vocab_size - 1, (rows.numel(),), generator=gen)
        tokens[rows, cols] = (motif[0] - 1 + offset) % (vocab_size - 1) + 1


def _make_split(n: int, cfg: SyntheticData, motif: torch.Tensor, gen: torch.Generator) -> Sequences:
    # Id 0 is left unused, as padding is in the text data sets.
    tokens = torch.randint(1, cfg.vocab_size, (n, cfg.seq_len), generator=gen)
    clean = torch.rand(n, generator=gen) < 0.5
    negatives = tokens[~clean]
    _remove_motif(negatives, motif, cfg.vocab_size, gen)
    tokens[~clean] = negatives
    positions = torch.randint(0, cfg.seq_len - motif.numel() + 1, (n,), generator=gen)
    for row in clean.nonzero(as_tuple=True)[0].tolist():
        start = int(positions[row])
        tokens[row, start : start + motif.numel()] = motif
    flipped = torch.rand(n, generator=gen) < cfg.label_noise
    labels = (clean ^ flipped).long()
    return Sequences.from_matrix(tokens, labels, flipped)


def load(cfg: SyntheticData, seed: int) -> TaskData:
    gen = torch.Generator().manual_seed(seed)
    motif = torch.randint(1, cfg.vocab_size, (cfg.motif_length,), generator=gen)
    splits = {
        name: _make_split(size, cfg, motif, gen)
        for name, size in (("train", cfg.num_train), ("val", cfg.num_val), ("test", cfg.num_test))
    }
    bayes = {
        name: bayes_loss(cfg.label_noise, split.flipped.float().mean().item())
        for name, split in splits.items()
    }
    # Only the training split's mask has a use beyond the floor: memorization.
    splits["val"].flipped = splits["test"].flipped = None
    return TaskData(
        task=Task.classify,
        **splits,
        vocab_size=cfg.vocab_size,
        num_classes=2,
        bayes_loss=bayes,
    )
