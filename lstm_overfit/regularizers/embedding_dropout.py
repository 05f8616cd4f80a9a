"""Embedding dropout (Gal & Ghahramani 2016): whole word types dropped for a batch."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from lstm_overfit.config import UsageError
from lstm_overfit.knobs import RATE
from lstm_overfit.regularizers.contract import EmbeddingTransform, Knob, Regularizer

if TYPE_CHECKING:
    from lstm_overfit.config import Config


def drop_word_types(weight: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """The embedding matrix with whole rows (word types) dropped and the rest scaled by
    1/(1-p): a dropped word is zero at every position it occurs in."""
    if not training or p == 0:
        return weight
    keep = 1 - p
    mask = weight.new_empty(weight.shape[0], 1).bernoulli_(keep) / keep
    return weight * mask


class EmbeddingDropout(Regularizer):
    name = "embedding_dropout"
    summary = "drops whole word types for a batch"
    knobs = (Knob("embedding_dropout", 0.0, "drops whole word types for a batch", RATE, 0.2),)

    def check(self, cfg: Config) -> None:
        from lstm_overfit.tasks import task_kind

        if not task_kind(cfg.dataset.task).token_input:
            raise UsageError(
                f"dataset {cfg.dataset.name} has real-valued input with no embedding matrix: "
                "drop reg.embedding_dropout"
            )

    def embedding_transform(self) -> EmbeddingTransform:
        p = self.reg.embedding_dropout
        return lambda weight, training: drop_word_types(weight, p, training)
