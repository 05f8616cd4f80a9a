"""The shapes every data source produces: plain tensors, one class per task kind."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from lstm_overfit.config import Task


@dataclass
class Sequences:
    """Variable-length token sequences with class labels (sequence classification).

    Stored flat (all ids end to end, with offsets) and padded per batch, so a batch is only
    as wide as its longest member.
    """

    ids: torch.Tensor  # (total tokens,) int64
    offsets: torch.Tensor  # (N + 1,) start of each sequence in ids
    labels: torch.Tensor  # (N,)
    # Where the labels are known to be flipped (the synthetic data set), else None.
    flipped: torch.Tensor | None = None  # (N,) bool
    # The common length when every sequence has it (ids then form a matrix), else None.
    width: int | None = field(init=False)

    def __post_init__(self) -> None:
        lengths = self.lengths
        equal = len(lengths) > 0 and bool((lengths == lengths[0]).all())
        matrix = equal and self.ids.numel() == len(lengths) * int(lengths[0])
        self.width = int(lengths[0]) if matrix else None

    def __len__(self) -> int:
        return self.labels.shape[0]

    @property
    def lengths(self) -> torch.Tensor:
        return self.offsets[1:] - self.offsets[:-1]

    @classmethod
    def from_matrix(
        cls, tokens: torch.Tensor, labels: torch.Tensor, flipped: torch.Tensor | None = None
    ) -> Sequences:
        n, length = tokens.shape
        offsets = torch.arange(n + 1) * length
        return cls(tokens.reshape(-1).clone(), offsets, labels, flipped)

    @classmethod
    def from_lists(
        cls, sequences: list[list[int]], labels: list[int], max_len: int | None
    ) -> Sequences:
        """Each sequence cut at max_len; an empty one becomes a single padding token."""
        cut = [seq[:max_len] or [0] for seq in sequences]
        lengths = torch.tensor([len(seq) for seq in cut], dtype=torch.long)
        offsets = torch.zeros(len(cut) + 1, dtype=torch.long)
        torch.cumsum(lengths, 0, out=offsets[1:])
        ids = torch.tensor([i for seq in cut for i in seq], dtype=torch.long)
        return cls(ids, offsets, torch.tensor(labels, dtype=torch.long))

    def subset(self, index: torch.Tensor) -> Sequences:
        pieces = [self.ids[self.offsets[i] : self.offsets[i + 1]] for i in index.tolist()]
        lengths = torch.tensor([len(p) for p in pieces], dtype=torch.long)
        offsets = torch.zeros(len(pieces) + 1, dtype=torch.long)
        torch.cumsum(lengths, 0, out=offsets[1:])
        ids = torch.cat(pieces) if pieces else self.ids[:0]
        flipped = None if self.flipped is None else self.flipped[index]
        return Sequences(ids, offsets, self.labels[index], flipped)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(tokens (B, longest) right-padded with 0, lengths (B,), labels (B,)), gathered in
        one indexing operation for the whole batch."""
        if self.width is not None:
            tokens = self.ids.view(-1, self.width)[index]
            return tokens, torch.full_like(index, self.width), self.labels[index]
        starts = self.offsets[index]
        lengths = self.offsets[index + 1] - starts
        steps = torch.arange(int(lengths.max()))
        padding = steps >= lengths.unsqueeze(1)
        positions = (starts.unsqueeze(1) + steps).masked_fill_(padding, 0)
        return self.ids[positions].masked_fill_(padding, 0), lengths, self.labels[index]


@dataclass
class Stream:
    """One long token stream (word language modelling)."""

    ids: torch.Tensor  # (T,) int64

    def __len__(self) -> int:
        return self.ids.shape[0]


@dataclass
class SeriesScale:
    """How model values map back to the series' own units."""

    mean: float  # of the modelled values (levels, or changes) on the training part
    std: float
    differenced: bool  # the model reads and predicts step-to-step changes

    def levels(self, predicted: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        """Predicted values (N, horizon) in the series' units, given each window's last
        input level (N,)."""
        values = predicted * self.std + self.mean
        if self.differenced:
            return last.unsqueeze(1) + values.cumsum(dim=1)
        return values


@dataclass
class Windows:
    """Sliding windows over a series (forecasting): model inputs and targets (normalized),
    and each window's last input level and target levels in the series' units."""

    inputs: torch.Tensor  # (N, window) float32
    targets: torch.Tensor  # (N, horizon) float32
    last: torch.Tensor  # (N,) float64
    target_levels: torch.Tensor  # (N, horizon) float64

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def subset(self, index: torch.Tensor) -> Windows:
        return Windows(
            self.inputs[index], self.targets[index], self.last[index], self.target_levels[index]
        )


Split = Sequences | Stream | Windows


@dataclass
class TaskData:
    task: Task
    train: Split  # all three of the task's kind
    val: Split
    test: Split
    vocab_size: int = 0  # 0 for forecasting (real-valued input)
    num_classes: int = 0
    vocab: list[str] | None = None
    # The loss of the best possible predictor on each split, where the data set knows it.
    bayes_loss: dict[str, float] | None = None
    scale: SeriesScale | None = None  # forecasting
    # Forecasting: the mean absolute one-step change over the training part, in the series'
    # units (the error of persistence in-sample), the denominator of MASE.
    naive_step_mae: float | None = None
    info: dict[str, Any] = field(default_factory=dict)
