"""The model: a frozen spec built from the config, one LSTM backbone and three heads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from lstm_overfit.config import Config, Init
from lstm_overfit.data.splits import TaskData
from lstm_overfit.layers import LayerState, LSTMLayer
from lstm_overfit.regularizers.active import NetworkHooks

State = list[LayerState]  # (h, c) per layer


@dataclass(frozen=True)
class ModelSpec:
    """Everything the model's shape depends on (what regularizers change in it comes apart,
    as NetworkHooks)."""

    task: str  # the task kind's name
    vocab_size: int  # 0: real-valued input, one value per step
    embedding_size: int
    layer_sizes: tuple[int, ...]  # units per layer and direction
    bidirectional: bool
    num_outputs: int  # one logit (binary) or classes; the vocabulary; the horizon
    tie_weights: bool = False
    init: Init = Init.default
    init_range: float = 0.1


def build_spec(
    cfg: Config, data: TaskData, outputs: int, token_input: bool = True, ties: bool = False
) -> ModelSpec:
    """The spec of the configured model for this data, with `outputs` per prediction (the
    task's); `token_input` and `ties`, the task kind's (real-valued input has no vocabulary;
    a decoder that may share the embedding). With tied weights the last layer's size is the
    embedding size, so the decoder can share the embedding matrix (AWD-LSTM)."""
    m, task = cfg.model, data.task
    tied = ties and m.tie_weights
    sizes = [m.hidden_size] * m.num_layers
    if tied:
        sizes[-1] = m.embedding_size
    return ModelSpec(
        task=task,
        vocab_size=data.vocab_size if token_input else 0,
        embedding_size=m.embedding_size,
        layer_sizes=tuple(sizes),
        bidirectional=m.bidirectional,
        num_outputs=outputs,
        tie_weights=tied,
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


def _in_order(modules: list[nn.Module]) -> nn.Module:
    """The regularizers' transforms at one place, in the registry's order."""
    return nn.Sequential(*modules) if modules else nn.Identity()


class LSTMBackbone(nn.Module):
    """Embedding (or a linear input layer for real values) and a stack of LSTM layers, with
    the regularizers' transforms on the embedding matrix, the LSTM's input, between its
    layers, on its output, on each layer's recurrent weights and state."""

    def __init__(self, spec: ModelSpec, hooks: NetworkHooks | None = None) -> None:
        super().__init__()
        hooks = hooks or NetworkHooks()
        if spec.vocab_size > 0:
            self.embedding: nn.Module = nn.Embedding(spec.vocab_size, spec.embedding_size)
        else:
            self.embedding = nn.Linear(1, spec.embedding_size)
        self.embedding_transforms = hooks.embedding
        directions = 2 if spec.bidirectional else 1
        inputs = [spec.embedding_size, *(size * directions for size in spec.layer_sizes[:-1])]
        self.layers = nn.ModuleList(
            LSTMLayer(n_in, size, spec.bidirectional, hooks.recurrent_weight, hooks.state_keep)
            for n_in, size in zip(inputs, spec.layer_sizes, strict=True)
        )
        self.output_size = spec.layer_sizes[-1] * directions
        self.at_input = _in_order(hooks.places.get("input", []))
        self.between_layers = _in_order(hooks.places.get("between", []))
        self.at_output = _in_order(hooks.places.get("output", []))

    def embed(self, inputs: torch.Tensor) -> torch.Tensor:
        if isinstance(self.embedding, nn.Embedding):
            weight = self.embedding.weight
            for transform in self.embedding_transforms:
                weight = transform(weight, self.training)
            return F.embedding(inputs, weight, self.embedding.padding_idx)
        return self.embedding(inputs.unsqueeze(-1))

    def forward(
        self,
        inputs: torch.Tensor,
        lengths: torch.Tensor | None = None,
        state: State | None = None,
    ) -> BackboneOutput:
        """inputs: token ids or values (batch, time); lengths: real steps of padded rows."""
        x = self.at_input(self.embed(inputs))
        final_state = []
        for i, layer in enumerate(self.layers):
            if i > 0:
                x = self.between_layers(x)
            x, layer_state = layer(x, None if state is None else state[i], lengths)
            final_state.append(layer_state)
        mask = None
        if lengths is not None:
            steps = torch.arange(x.shape[1], device=x.device)
            mask = steps.unsqueeze(0) < lengths.to(x.device).unsqueeze(1)
        return BackboneOutput(x, self.at_output(x), final_state, mask)


class LSTMClassifier(nn.Module):
    """Reads the final step of each direction (the tutorial's final hidden states)."""

    def __init__(self, spec: ModelSpec, hooks: NetworkHooks | None = None) -> None:
        super().__init__()
        self.backbone = LSTMBackbone(spec, hooks)
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

    def __init__(self, spec: ModelSpec, hooks: NetworkHooks | None = None) -> None:
        super().__init__()
        self.backbone = LSTMBackbone(spec, hooks)
        self.decoder = nn.Linear(self.backbone.output_size, spec.num_outputs)
        if spec.tie_weights:
            self.decoder.weight = self.backbone.embedding.weight

    def forward(self, tokens: torch.Tensor, state: State | None = None) -> ModelOutput:
        hidden = self.backbone(tokens, state=state)
        return ModelOutput(self.decoder(hidden.dropped), hidden)


class LSTMForecaster(nn.Module):
    """Reads the final step and predicts the next `horizon` values."""

    def __init__(self, spec: ModelSpec, hooks: NetworkHooks | None = None) -> None:
        super().__init__()
        self.backbone = LSTMBackbone(spec, hooks)
        self.head = nn.Linear(self.backbone.output_size, spec.num_outputs)

    def forward(self, values: torch.Tensor) -> ModelOutput:
        hidden = self.backbone(values)
        return ModelOutput(self.head(hidden.dropped[:, -1]), hidden)


def build_model(
    spec: ModelSpec, head: type[nn.Module], hooks: NetworkHooks | None = None
) -> nn.Module:
    """The backbone and the task kind's `head`, initialized as the spec says, with what the
    regularizers change in the network (`hooks`; none: the plain network)."""
    model = head(spec, hooks)
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
