"""The shape every data source produces, and the dispatch from config to source."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lstm_overfit.config import ConfigError, DataConfig


@dataclass
class Split:
    inputs: torch.Tensor  # (N, L) token ids
    targets: torch.Tensor  # (N,) class ids

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def subset(self, index: torch.Tensor) -> Split:
        return Split(self.inputs[index], self.targets[index])


@dataclass
class TaskData:
    train: Split
    val: Split
    test: Split
    vocab_size: int
    num_classes: int
    # Expected loss of the best possible predictor on the validation labels, where known.
    bayes_val_loss: float | None = None


def load_data(cfg: DataConfig, seed: int) -> TaskData:
    """Build the data set named by `cfg.name`."""
    from lstm_overfit.data import synthetic

    sources = {"synthetic": synthetic.generate}
    if cfg.name not in sources:
        valid = ", ".join(sorted(sources))
        raise ConfigError(f"dataset.name={cfg.name} is unknown; valid names: {valid}")
    return sources[cfg.name](cfg, seed)
