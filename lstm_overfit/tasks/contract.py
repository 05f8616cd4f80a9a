"""The contract between the training loop and a task kind: what one step returns and what
the loop, the model builder and the summary ask of a task; and the helpers every kind
shares."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from lstm_overfit.models import BackboneOutput
from lstm_overfit.run_folder import EpochRecord


@dataclass
class StepResult:
    loss: torch.Tensor  # mean data loss of the batch (without penalties)
    hidden: BackboneOutput
    examples: int  # rows in the batch, the weight of its loss in an epoch mean
    tokens: int  # real steps processed
    # The optimized objective is (loss + penalties) * objective_scale (language models may
    # sum over steps), taken at the learning rate times lr_scale (variable-length windows).
    objective_scale: float = 1.0
    lr_scale: float = 1.0


class TrainingTask(Protocol):
    """What the loop asks of a task kind."""

    metric: str  # its metric's name in records and summaries: val_<metric>, test[<metric>]
    higher_is_better: bool  # of the metric
    loss_unit: str  # the unit of its loss
    output_size: int  # the model's outputs per prediction
    # The factor on a full batch's objective (a loss summed over steps), which SGD's coupled
    # weight decay is scaled by so it keeps its strength against the data term.
    objective_scale: float

    def train_sample(self, size: int, gen: torch.Generator) -> Any:
        """The fixed part of the training split train_loss is measured on."""
        ...

    def constant_loss(self) -> float:
        """The loss of the best constant predictor on the training split."""
        ...

    def epoch_batches(self, gen: torch.Generator) -> list[Any]: ...

    def step(self, model: nn.Module, batch: Any) -> StepResult: ...

    def evaluate(self, model: nn.Module, split: Any) -> dict[str, float]:
        """{"loss": ..., metric: ..., and any other figures} over a split, in eval mode."""
        ...

    def summary_extras(self, records: Sequence[EpochRecord]) -> dict[str, Any]:
        """The RunSummary fields only this task kind fills."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """What an epoch stopped midway needs to continue (a carried hidden state)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def entropy(counts: torch.Tensor) -> float:
    """Entropy (nats) of the distribution the counts describe."""
    p = counts[counts > 0].double() / counts.sum()
    return float(-(p * p.log()).sum())


def share(hits: torch.Tensor) -> float:
    """The share of True in a boolean vector (NaN when it is empty)."""
    return hits.sum().item() / len(hits) if len(hits) else math.nan


def random_subset(split: Any, size: int, gen: torch.Generator) -> Any:
    """`size` items of the split drawn at random (all of it when it is no larger)."""
    if size >= len(split):
        return split
    return split.subset(torch.randperm(len(split), generator=gen)[:size])
