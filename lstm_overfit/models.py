"""One LSTM backbone (embedding, `nn.LSTM`) with a head on top.

The backbone returns per-step outputs and the final state, so a head can read either: the
classification head reads the final hidden state of the last layer (both directions when
bidirectional, as in the tutorial); next-token and next-value heads read every step.
"""

from __future__ import annotations

import torch
from torch import nn

from lstm_overfit.config import ModelConfig


class LSTMClassifier(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        num_outputs: int,
        embedding_size: int,
        hidden_size: int,
        num_layers: int,
        bidirectional: bool,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        # The tutorial's placement: on the embeddings, between LSTM layers, before the head.
        self.embedding_dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(
            embedding_size,
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional,
        )
        self.head_dropout = nn.Dropout(dropout)
        directions = 2 if bidirectional else 1
        self.head = nn.Linear(hidden_size * directions, num_outputs)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token ids (B, L) -> logits (B, num_outputs)."""
        embedded = self.embedding_dropout(self.embedding(tokens))
        _, (h_n, _) = self.lstm(embedded)
        if self.lstm.bidirectional:
            final = torch.cat((h_n[-2], h_n[-1]), dim=-1)
        else:
            final = h_n[-1]
        return self.head(self.head_dropout(final))


def build_model(cfg: ModelConfig, vocab_size: int, num_classes: int, dropout: float) -> nn.Module:
    """A binary task gets one logit (binary cross-entropy, as the tutorial); more get one each."""
    return LSTMClassifier(
        vocab_size=vocab_size,
        num_outputs=1 if num_classes == 2 else num_classes,
        embedding_size=cfg.embedding_size,
        hidden_size=cfg.hidden_size,
        num_layers=cfg.num_layers,
        bidirectional=cfg.bidirectional,
        dropout=dropout,
    )
