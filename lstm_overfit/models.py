"""One LSTM backbone (embedding, a stack of LSTM layers, dropout between) and its heads.

The backbone returns every step's last-layer output, before and after output dropout, so a
head can read the final step (classification) or every step (next token, next value), and
AR/TAR can read the activations they penalize.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from lstm_overfit.config import ModelConfig, RegConfig, locked_dropout_rates, zoneout_rates
from lstm_overfit.regularizers import LockedDropout, LSTMLayer, embedding_dropout


class BackboneOutput(NamedTuple):
    raw: torch.Tensor  # (batch, time, features): last layer's outputs
    dropped: torch.Tensor  # the same after output dropout: what the head reads


def _dropout(standard: float, locked: float) -> nn.Sequential:
    """Standard (fresh mask per element) then locked (one mask per sequence) dropout."""
    return nn.Sequential(nn.Dropout(standard), LockedDropout(locked))


class LSTMBackbone(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        embedding_size: int,
        hidden_size: int,
        num_layers: int,
        bidirectional: bool,
        dropout: float = 0.0,
        locked_input: float = 0.0,
        locked_hidden: float = 0.0,
        locked_output: float = 0.0,
        embedding_drop: float = 0.0,
        weight_drop: float = 0.0,
        zoneout_cell: float = 0.0,
        zoneout_hidden: float = 0.0,
        compiled_zoneout: bool = True,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.embedding_drop = embedding_drop
        directions = 2 if bidirectional else 1
        self.output_size = hidden_size * directions
        self.layers = nn.ModuleList(
            LSTMLayer(
                embedding_size if i == 0 else self.output_size,
                hidden_size,
                bidirectional,
                weight_drop=weight_drop,
                zoneout_cell=zoneout_cell,
                zoneout_hidden=zoneout_hidden,
                use_compiled_zoneout=compiled_zoneout,
            )
            for i in range(num_layers)
        )
        # The tutorial's dropout acts on the embeddings, between layers and on the output;
        # locked dropout acts at the same three places with a rate for each.
        self.input_dropout = _dropout(dropout, locked_input)
        self.hidden_dropout = _dropout(dropout, locked_hidden)
        self.output_dropout = _dropout(dropout, locked_output)

    def forward(self, tokens: torch.Tensor) -> BackboneOutput:
        """Token ids (batch, time) -> last-layer outputs, raw and dropped."""
        x = embedding_dropout(self.embedding, tokens, self.embedding_drop, self.training)
        x = self.input_dropout(x)
        for i, layer in enumerate(self.layers):
            if i > 0:
                x = self.hidden_dropout(x)
            x, _ = layer(x)
        return BackboneOutput(raw=x, dropped=self.output_dropout(x))


class ClassifierOutput(NamedTuple):
    logits: torch.Tensor
    hidden: BackboneOutput


class LSTMClassifier(nn.Module):
    """Reads the final step of each direction (the tutorial's final hidden states)."""

    def __init__(self, backbone: LSTMBackbone, num_outputs: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.output_size, num_outputs)

    def forward(self, tokens: torch.Tensor) -> ClassifierOutput:
        hidden = self.backbone(tokens)
        out = hidden.dropped
        if self.backbone.layers[0].lstm.bidirectional:
            half = out.shape[-1] // 2
            # Forward direction ends at the last step; the backward one at the first.
            final = torch.cat((out[:, -1, :half], out[:, 0, half:]), dim=-1)
        else:
            final = out[:, -1]
        return ClassifierOutput(self.head(final), hidden)


def build_model(
    cfg: ModelConfig, reg: RegConfig, vocab_size: int, num_classes: int
) -> LSTMClassifier:
    """A binary task gets one logit (binary cross-entropy, as the tutorial); more get one each."""
    locked_input, locked_hidden, locked_output = locked_dropout_rates(reg)
    zoneout_cell, zoneout_hidden = zoneout_rates(reg)
    backbone = LSTMBackbone(
        vocab_size=vocab_size,
        embedding_size=cfg.embedding_size,
        hidden_size=cfg.hidden_size,
        num_layers=cfg.num_layers,
        bidirectional=cfg.bidirectional,
        dropout=reg.dropout,
        locked_input=locked_input,
        locked_hidden=locked_hidden,
        locked_output=locked_output,
        embedding_drop=reg.embedding_dropout,
        weight_drop=reg.weight_drop,
        zoneout_cell=zoneout_cell,
        zoneout_hidden=zoneout_hidden,
        compiled_zoneout=reg.zoneout_compiled,
    )
    return LSTMClassifier(backbone, num_outputs=1 if num_classes == 2 else num_classes)
