"""One LSTM backbone (input layer, a stack of LSTM layers, dropout between) and three heads.

The backbone returns every step's last-layer output, and the same after output dropout where
something reads every dropped step (the next-token decoder, AR); heads that read only the
final step (classify, next value) drop that step alone, which costs a mask of one step rather
than of the whole sequence.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from lstm_overfit.config import (
    ModelConfig,
    RegConfig,
    Task,
    locked_dropout_rates,
    zoneout_rates,
)
from lstm_overfit.regularizers import Dropout, LockedDropout, LSTMLayer, embedding_dropout

State = list[tuple[torch.Tensor, torch.Tensor]]  # (h, c) per layer


class BackboneOutput(NamedTuple):
    raw: torch.Tensor  # (batch, time, features): last layer's outputs
    dropped: torch.Tensor | None  # the same after output dropout; None where not kept
    state: State  # final (h, c) of each layer, for carrying across BPTT windows
    mask: torch.Tensor | None  # (batch, time) True at real (not padding) steps


class ModelOutput(NamedTuple):
    prediction: torch.Tensor  # logits (classify: (B, C); lm: (B, T, V)) or values (B, horizon)
    hidden: BackboneOutput


def _dropout(standard: float, locked: float) -> nn.Module:
    """Standard (fresh mask per element) then locked (one mask per sequence) dropout, the
    active ones only: an inactive one would still cost a module call at every step."""
    active = [m for m in (Dropout(standard), LockedDropout(locked)) if m.p > 0]
    return nn.Sequential(*active) if active else nn.Identity()


class LSTMBackbone(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        embedding_size: int,
        hidden_size: int,
        num_layers: int,
        bidirectional: bool = False,
        last_hidden_size: int | None = None,
        dropout: float = 0.0,
        locked_input: float = 0.0,
        locked_hidden: float = 0.0,
        locked_output: float = 0.0,
        embedding_drop: float = 0.0,
        weight_drop: float = 0.0,
        zoneout_cell: float = 0.0,
        zoneout_hidden: float = 0.0,
        compiled_zoneout: bool = True,
        keep_dropped_steps: bool = True,
    ) -> None:
        """vocab_size 0 means real-valued input (one value per step) through a linear layer;
        keep_dropped_steps: apply output dropout to every step and return the result."""
        super().__init__()
        self.keep_dropped_steps = keep_dropped_steps
        if vocab_size > 0:
            self.embedding: nn.Module = nn.Embedding(vocab_size, embedding_size)
        else:
            self.embedding = nn.Linear(1, embedding_size)
        self.embedding_drop = embedding_drop
        directions = 2 if bidirectional else 1
        sizes = [hidden_size] * num_layers
        if last_hidden_size is not None:
            sizes[-1] = last_hidden_size
        self.layers = nn.ModuleList(
            LSTMLayer(
                embedding_size if i == 0 else sizes[i - 1] * directions,
                size,
                bidirectional,
                weight_drop=weight_drop,
                zoneout_cell=zoneout_cell,
                zoneout_hidden=zoneout_hidden,
                use_compiled_zoneout=compiled_zoneout,
            )
            for i, size in enumerate(sizes)
        )
        self.output_size = sizes[-1] * directions
        # The tutorial's dropout acts on the embeddings, between layers and on the output;
        # locked dropout acts at the same three places with a rate for each.
        self.input_dropout = _dropout(dropout, locked_input)
        self.hidden_dropout = _dropout(dropout, locked_hidden)
        self.output_dropout = _dropout(dropout, locked_output)

    @property
    def bidirectional(self) -> bool:
        return self.layers[0].lstm.bidirectional

    def embed(self, inputs: torch.Tensor) -> torch.Tensor:
        if isinstance(self.embedding, nn.Embedding):
            return embedding_dropout(self.embedding, inputs, self.embedding_drop, self.training)
        return self.embedding(inputs.unsqueeze(-1))

    def forward(
        self,
        inputs: torch.Tensor,
        lengths: torch.Tensor | None = None,
        state: State | None = None,
    ) -> BackboneOutput:
        """inputs: token ids or values (batch, time); lengths: real steps of padded rows."""
        x = self.input_dropout(self.embed(inputs))
        final_state = []
        for i, layer in enumerate(self.layers):
            if i > 0:
                x = self.hidden_dropout(x)
            x, layer_state = layer(x, None if state is None else state[i], lengths)
            final_state.append(layer_state)
        mask = None
        if lengths is not None:
            steps = torch.arange(x.shape[1], device=x.device)
            mask = steps.unsqueeze(0) < lengths.to(x.device).unsqueeze(1)
        dropped = self.output_dropout(x) if self.keep_dropped_steps else None
        return BackboneOutput(x, dropped, final_state, mask)


def final_step(hidden: BackboneOutput, dropout: nn.Module) -> tuple[torch.Tensor, nn.Module]:
    """The outputs to read a final step from, and the dropout still to apply to that step."""
    if hidden.dropped is None:
        return hidden.raw, dropout
    return hidden.dropped, nn.Identity()


class LSTMClassifier(nn.Module):
    """Reads the final step of each direction (the tutorial's final hidden states)."""

    def __init__(self, backbone: LSTMBackbone, num_outputs: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.output_size, num_outputs)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor | None = None) -> ModelOutput:
        hidden = self.backbone(tokens, lengths)
        out, step_dropout = final_step(hidden, self.backbone.output_dropout)
        if lengths is None:
            last = out[:, -1]
        else:
            rows = torch.arange(out.shape[0], device=out.device)
            last = out[rows, lengths.to(out.device) - 1]
        if self.backbone.bidirectional:
            half = out.shape[-1] // 2
            # The forward direction ends at the last real step; the backward one at the first.
            last = torch.cat((last[:, :half], out[:, 0, half:]), dim=-1)
        return ModelOutput(self.head(step_dropout(last)), hidden)


class LSTMLanguageModel(nn.Module):
    """Predicts the next token at every step; the decoder may share the embedding matrix."""

    def __init__(self, backbone: LSTMBackbone, vocab_size: int, tie_weights: bool) -> None:
        super().__init__()
        self.backbone = backbone
        self.decoder = nn.Linear(backbone.output_size, vocab_size)
        if tie_weights:
            self.decoder.weight = backbone.embedding.weight

    def forward(self, tokens: torch.Tensor, state: State | None = None) -> ModelOutput:
        hidden = self.backbone(tokens, state=state)
        return ModelOutput(self.decoder(hidden.dropped), hidden)


class LSTMForecaster(nn.Module):
    """Reads the final step and predicts the next `horizon` values."""

    def __init__(self, backbone: LSTMBackbone, horizon: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.output_size, horizon)

    def forward(self, values: torch.Tensor) -> ModelOutput:
        hidden = self.backbone(values)
        out, step_dropout = final_step(hidden, self.backbone.output_dropout)
        return ModelOutput(self.head(step_dropout(out[:, -1])), hidden)


def build_model(
    cfg: ModelConfig,
    reg: RegConfig,
    task: Task,
    vocab_size: int,
    num_classes: int = 2,
    horizon: int = 1,
) -> nn.Module:
    """The backbone and the task's head, initialized as configured.

    A binary classifier gets one logit (binary cross-entropy, as the tutorial). With tied
    weights the last layer's size is the embedding size, so the decoder can share the
    embedding matrix (AWD-LSTM's arrangement).
    """
    locked_input, locked_hidden, locked_output = locked_dropout_rates(reg)
    zoneout_cell, zoneout_hidden = zoneout_rates(reg)
    tied = task == Task.lm and cfg.tie_weights
    backbone = LSTMBackbone(
        vocab_size=vocab_size if task != Task.forecast else 0,
        embedding_size=cfg.embedding_size,
        hidden_size=cfg.hidden_size,
        num_layers=cfg.num_layers,
        bidirectional=cfg.bidirectional,
        last_hidden_size=cfg.embedding_size if tied else None,
        dropout=reg.dropout,
        locked_input=locked_input,
        locked_hidden=locked_hidden,
        locked_output=locked_output,
        embedding_drop=reg.embedding_dropout,
        weight_drop=reg.weight_drop,
        zoneout_cell=zoneout_cell,
        zoneout_hidden=zoneout_hidden,
        compiled_zoneout=reg.zoneout_compiled,
        keep_dropped_steps=task == Task.lm or reg.ar > 0,
    )
    model: nn.Module
    if task == Task.lm:
        model = LSTMLanguageModel(backbone, vocab_size, tied)
    elif task == Task.forecast:
        model = LSTMForecaster(backbone, horizon)
    else:
        model = LSTMClassifier(backbone, 1 if num_classes == 2 else num_classes)
    if cfg.init_range is not None:
        for param in model.parameters():
            nn.init.uniform_(param, -cfg.init_range, cfg.init_range)
    return model
