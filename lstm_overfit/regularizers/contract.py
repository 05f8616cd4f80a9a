"""The contract between a regularizer and the run: the knobs it declares, and the optional
hooks through which it acts.

A regularizer is a `Regularizer` subclass in a module of its own. It declares its knobs
(`Knob`: name, default, help, range, preset value); the schema's `reg` node, `--help`, range
checks, the `+reg=NAME` preset and the report's labels all come from those declarations. It
acts only through the hooks it overrides, each optional (as a Lightning callback's):

- the objective: `penalties` (terms added to the loss: on weights, or on the activations);
- the network in training: `embedding_transform` (the embedding matrix), `place_transform`
  (the LSTM's input, between its layers, its output), `recurrent_weight_transform` (W_hh of
  each layer) and `state_keep` (how much each unit keeps of its previous state);
- the optimizer: `optimizer_groups` (parameter groups with their weight decay);
- the gradients: `clip_gradients`;
- the loop: `stop_reason` (stop before the last epoch);
- the rules: `check` (combinations it refuses, before anything runs);
- its own state, if it keeps any: `state_dict` and `load_state_dict` (saved in checkpoints,
  so a resumed run continues bit for bit).

The model, the loop and the optimizer call these hooks and name no regularizer. A network
transform is off in eval mode (it sees `self.training` as any module does), or uses its
expectation there, so evaluation is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import torch
from torch import nn

from lstm_overfit.knobs import Range

if TYPE_CHECKING:
    from lstm_overfit.config import Config, RegConfig
    from lstm_overfit.stopping import BestEpoch

# Where a place transform acts on the LSTM stack's activations.
PLACES = ("input", "between", "output")
# An embedding transform: (the embedding matrix, training) -> the matrix this batch uses.
EmbeddingTransform = Callable[[torch.Tensor, bool], torch.Tensor]
# A recurrent-weight transform: W_hh -> the matrix one training forward pass uses.
WeightTransform = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Knob:
    """One `reg.NAME` key of the schema.

    A strength knob switches its regularizer on when it differs from its default (zero, or
    null for a rate that falls back to a shared one); a `setting` knob only says how a
    regularizer acts (what a penalty covers) and switches nothing on.
    """

    name: str
    default: Any
    help: str
    range: Range | None = None
    preset: Any = None  # the value `+reg=NAME` sets (None: the preset leaves it)
    type: Any = float  # the schema's type: float, int, "float | None", an Enum
    setting: bool = False


class PenaltyInputs(NamedTuple):
    """What a penalty may read for one batch."""

    model: nn.Module
    hidden: Any  # the backbone's output (models.BackboneOutput): raw, dropped, state, mask


class Regularizer:
    """Base of every regularizer: its name, its knobs and the hooks it may override."""

    name: ClassVar[str]  # the preset: +reg=NAME
    knobs: ClassVar[tuple[Knob, ...]]
    summary: ClassVar[str]  # one line: what it does

    def __init__(self, reg: RegConfig) -> None:
        self.reg = reg  # the run's knob values, read by name: reg.<knob>

    @classmethod
    def is_on(cls, reg: RegConfig) -> bool:
        """On when any of its strength knobs differs from its default."""
        return any(getattr(reg, k.name) != k.default for k in cls.knobs if not k.setting)

    # -- rules ----------------------------------------------------------------------

    def check(self, cfg: Config) -> None:
        """Raise UsageError for a combination this regularizer cannot run with."""

    # -- once the model exists --------------------------------------------------------

    def attach(self, model: nn.Module) -> None:
        """Called with the built model (pretrained vectors loaded), before the optimizer."""

    # -- the network in training ------------------------------------------------------

    def embedding_transform(self) -> EmbeddingTransform | None:
        return None

    def place_transform(self, place: str) -> nn.Module | None:
        """A module applied at `place` (one of PLACES), or None."""
        return None

    def recurrent_weight_transform(self) -> WeightTransform | None:
        return None

    def state_keep(self) -> tuple[float, float] | None:
        """(cell, hidden): the probability that a unit keeps its previous value at a step
        in training (its expectation in eval mode), or None."""
        return None

    # -- the objective, the optimizer, the gradients, the loop ------------------------

    def penalties(self, inputs: PenaltyInputs) -> list[torch.Tensor]:
        """Terms added to the batch's objective (each already times its strength)."""
        return []

    def optimizer_groups(self, params: list[torch.Tensor]) -> list[dict[str, Any]] | None:
        """Parameter groups, each with its "weight_decay" (decoupled: Adam becomes AdamW),
        or None to leave the optimizer as it is."""
        return None

    def clip_gradients(self, params: list[torch.Tensor], norm: torch.Tensor) -> None:
        """Act on the gradients after backward; `norm` is their global norm."""

    def stop_reason(self, best: BestEpoch) -> str | None:
        """Why the run stops after this epoch, or None to go on."""
        return None

    # -- its own state ----------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def overrides(regularizer: type[Regularizer], hook: str) -> bool:
    """Whether a regularizer implements `hook` (rather than inheriting the base's no-op)."""
    return getattr(regularizer, hook) is not getattr(Regularizer, hook)


NETWORK_HOOKS = (
    "embedding_transform",
    "place_transform",
    "recurrent_weight_transform",
    "state_keep",
)
