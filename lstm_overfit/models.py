"""The model: a frozen spec built from the config, one LSTM backbone and three heads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from lstm_overfit.config import Config, Init, Task
from lstm_overfit.data.splits import TaskData
from lstm_overfit.layers import LayerState, LSTMLayer
from lstm_overfit.regularizers import Dropout, LockedDropout, embedding_dropout

State = list[LayerState]  # (h, c) per layer


@dataclass(frozen=True)
class ModelSpec:
    """Everything the model's shape and its model-side regularizers depend on."""

    task: Task
    vocab_size: int  # 0: real-valued input, one value per step
    embedding_size: int
    layer_sizes: tuple[int, ...]  # units per layer and direction
    bidirectional: bool
    num_outputs: int  # one logit (binary) or classes; the vocabulary; the horizon
    tie_weights: bool = False
    dropout: float = 0.0  # standard dropout on the input, between layers, on the output
    locked_dropout: tuple[float, float, float] = (0.0, 0.0, 0.0)  # input, hidden, output
    embedding_dropout: float = 0.0
    weight_drop: float = 0.0
    zoneout: tuple[float, float] = (0.0, 0.0)  # cell, hidden
    init: Init = Init.default
    init_range: float = 0.1


def _rate(specific: float | None, shared: float) -> float:
    return shared if specific is None else specific


def build_spec(cfg: Config, data: TaskData, outputs: int) -> ModelSpec:
    """The spec of the configured model for this data, with `outputs` per prediction (the
    task's). With tied weights the last layer's size is the embedding size, so the decoder
    can share the embedding matrix (AWD-LSTM)."""
    m, r, task = cfg.model, cfg.reg, data.task
    tied = task == Task.lm and m.tie_weights
    sizes = [m.hidden_size] * m.num_layers
    if tied:
        sizes[-1] = m.embedding_size
    return ModelSpec(
        task=task,
        vocab_size=0 if task == Task.forecast else data.vocab_size,
        embedding_size=m.embedding_size,
        layer_sizes=tuple(sizes),
        bidirectional=m.bidirectional,
        num_outputs=outputs,
        tie_weights=tied,
        dropout=r.dropout,
        locked_dropout=(
            _rate(r.locked_dropout_input, r.locked_dropout),
            _rate(r.locked_dropout_hidden, r.locked_dropout),
            _rate(r.locked_dropout_output, r.locked_dropout),
        ),
        embedding_dropout=r.embedding_dropout,
        weight_drop=r.weight_drop,
        zoneout=(_rate(r.zoneout_cell, r.zoneout), _rate(r.zoneout_hidden, r.zoneout)),
        init=m.init,
        init_range=m.init_range,
    )


class BackboneOutput(NamedTuple):
    raw: torch.Tensor  # (batch, time, features): last layer's outputs
    dropped: torch.Tensor  # the same after output dropout
    state: State  # final (h, c) of each layer, for carrying across BPTT windows
    mask: torch.Tensor | None  # (batch, time) True at real (not padding) steps


class ModelOutput(NamedTuple):
    prediction: torch.Tensor  # logits (classify: (B, C); lm: (B, T, V)) or values (B, horizon)
    hidden: BackboneOutput


def _dropout(standard: float, locked: float) -> nn.Module:
    """Standard (fresh mask per element) then locked (one mask per sequence) dropout, the
    active ones only."""
    active = [m for m in (Dropout(standard), LockedDropout(locked)) if m.p > 0]
    return nn.Sequential(*active) if active else nn.Identity()


class LSTMBackbone(nn.Module):
    """Embedding (or a linear input layer for real values), a stack of LSTM layers, and
    dropout on the input, between layers and on the output (the tutorial's three places)."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        if spec.vocab_size > 0:
            self.embedding: nn.Module = nn.Embedding(spec.vocab_size, spec.embedding_size)
        else:
            self.embedding = nn.Linear(1, spec.embedding_size)
        self.embedding_dropout = spec.embedding_dropout
        directions = 2 if spec.bidirectional else 1
        inputs = [spec.embedding_size, *(size * directions for size in spec.layer_sizes[:-1])]
        self.layers = nn.ModuleList(
            LSTMLayer(n_in, size, spec.bidirectional, spec.weight_drop, spec.zoneout)
            for n_in, size in zip(inputs, spec.layer_sizes, strict=True)
        )
        self.output_size = spec.layer_sizes[-1] * directions
        input_rate, hidden_rate, output_rate = spec.locked_dropout
        self.input_dropout = _dropout(spec.dropout, input_rate)
        self.hidden_dropout = _dropout(spec.dropout, hidden_rate)
        self.output_dropout = _dropout(spec.dropout, output_rate)

    def embed(self, inputs: torch.Tensor) -> torch.Tensor:
        if isinstance(self.embedding, nn.Embedding):
            return embedding_dropout(self.embedding, inputs, self.embedding_dropout, self.training)
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
        return BackboneOutput(x, self.output_dropout(x), final_state, mask)


class LSTMClassifier(nn.Module):
    """Reads the final step of each direction (the tutorial's final hidden states)."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.backbone = LSTMBackbone(spec)
        self.bidirectional = spec.bidirectional
        self.head = nn.Linear(self.backbone.output_size, spec.num_outputs)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor | None = None) -> ModelOutput:
        hidden = self.backbone(tokens, lengths)
        out = hidden.dropped
        if lengths is None:
            last = out[:, -1]
        else:
            rows = torch.arange(out.shape[0], device=out.device)
            last = out[rows, lengths.to(out.device) - 1]
        if self.bidirectional:
            half = out.shape[-1] // 2
            # The forward direction ends at the last real step; the backward one at the first.
            last = torch.cat((last[:, :half], out[:, 0, half:]), dim=-1)
        return ModelOutput(self.head(last), hidden)


class LSTMLanguageModel(nn.Module):
    """Predicts the next token at every step; the decoder may share the embedding matrix."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.backbone = LSTMBackbone(spec)
        self.decoder = nn.Linear(self.backbone.output_size, spec.num_outputs)
        if spec.tie_weights:
            self.decoder.weight = self.backbone.embedding.weight

    def forward(self, tokens: torch.Tensor, state: State | None = None) -> ModelOutput:
        hidden = self.backbone(tokens, state=state)
        return ModelOutput(self.decoder(hidden.dropped), hidden)


class LSTMForecaster(nn.Module):
    """Reads the final step and predicts the next `horizon` values."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.backbone = LSTMBackbone(spec)
        self.head = nn.Linear(self.backbone.output_size, spec.num_outputs)

    def forward(self, values: torch.Tensor) -> ModelOutput:
        hidden = self.backbone(values)
        return ModelOutput(self.head(hidden.dropped[:, -1]), hidden)


HEADS: dict[Task, type[nn.Module]] = {
    Task.classify: LSTMClassifier,
    Task.lm: LSTMLanguageModel,
    Task.forecast: LSTMForecaster,
}


def build_model(spec: ModelSpec) -> nn.Module:
    """The backbone and the task's head, initialized as the spec says."""
    model = HEADS[spec.task](spec)
    bound = spec.init_range
    with torch.no_grad():
        if spec.init == Init.uniform:
            for param in model.parameters():
                param.uniform_(-bound, bound)
        elif spec.init == Init.awd:
            model.backbone.embedding.weight.uniform_(-bound, bound)
            if isinstance(model, LSTMLanguageModel):
                model.decoder.weight.uniform_(-bound, bound)
                model.decoder.bias.zero_()
    return model
