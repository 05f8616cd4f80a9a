"""The shapes every data source produces, and the dispatch from config to source."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from lstm_overfit.config import ConfigError, DataConfig, Task


@dataclass
class Sequences:
    """Variable-length token sequences with class labels (sequence classification).

    Stored flat (all ids end to end, with offsets) and padded per batch, so a batch is only
    as wide as its longest member.
    """

    ids: torch.Tensor  # (total tokens,) int64
    offsets: torch.Tensor  # (N + 1,) start of each sequence in ids
    labels: torch.Tensor  # (N,)
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
    def from_matrix(cls, tokens: torch.Tensor, labels: torch.Tensor) -> Sequences:
        n, length = tokens.shape
        offsets = torch.arange(n + 1) * length
        return cls(tokens.reshape(-1).clone(), offsets, labels)

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
        return Sequences(ids, offsets, self.labels[index])

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(tokens (B, longest) right-padded with 0, lengths (B,), labels (B,)).

        One gather for the whole batch rather than a slice per row: a handful of tensor
        operations whatever the batch size, which matters where the host feeds a GPU, and
        fewer still when all sequences have one length.
        """
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
class Windows:
    """Sliding windows over a series (forecasting), in normalized units."""

    inputs: torch.Tensor  # (N, window) float32
    targets: torch.Tensor  # (N, horizon) float32

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def subset(self, index: torch.Tensor) -> Windows:
        return Windows(self.inputs[index], self.targets[index])


Split = Sequences | Stream | Windows


@dataclass
class TaskData:
    task: Task
    train: Split  # all three of the task's kind
    val: Split
    test: Split
    vocab_size: int = 0  # 0 for forecasting (real-valued input)
    num_classes: int = 0
    # Expected loss of the best possible predictor on the validation split, where known.
    bayes_val_loss: float | None = None
    vocab: list[str] | None = None
    scale: float = 1.0  # forecasting: standard deviation used to normalize (for MAE)
    info: dict[str, Any] = field(default_factory=dict)


def empty_split_check(data: TaskData, source: str) -> TaskData:
    for name in ("train", "val", "test"):
        if len(getattr(data, name)) == 0:
            raise ConfigError(f"{source}: the {name} split is empty; check the data or sizes")
    return data


def load_data(cfg: DataConfig, seed: int) -> TaskData:
    """Build the data set named by `cfg.name`."""
    from lstm_overfit.data import corpus, imdb, series, synthetic

    sources = {
        "synthetic": synthetic.generate,
        "imdb": imdb.load,
        "ptb": corpus.load,
        "wikitext2": corpus.load,
        "sunspots": series.load,
        "co2": series.load,
        "csv": series.load,
    }
    if cfg.name not in sources:
        valid = ", ".join(sorted(sources))
        raise ConfigError(f"dataset.name={cfg.name} is unknown; valid names: {valid}")
    return empty_split_check(sources[cfg.name](cfg, seed), cfg.path or cfg.name)
