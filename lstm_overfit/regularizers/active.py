"""The regularizers a run switched on, and the one place that calls their hooks.

The model builder, the loop, the optimizer and the stopping rule ask this object, never a
regularizer by name. A hook of a plug-in that raises stops the command with one line naming
the plug-in (PluginError); a built-in's error keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from lstm_overfit.config import UsageError
from lstm_overfit.regularizers.contract import (
    PLACES,
    EmbeddingTransform,
    PenaltyInputs,
    Regularizer,
    WeightTransform,
)
from lstm_overfit.regularizers.registry import PluginError, origin, regularizers

if TYPE_CHECKING:
    from lstm_overfit.config import Config, RegConfig
    from lstm_overfit.stopping import BestEpoch


@dataclass
class NetworkHooks:
    """What the regularizers change in the network, for the model builder."""

    embedding: list[EmbeddingTransform] = field(default_factory=list)
    places: dict[str, list[nn.Module]] = field(default_factory=dict)  # by place, in order
    recurrent_weight: list[WeightTransform] = field(default_factory=list)
    state_keep: tuple[float, float] | None = None  # (cell, hidden)


class ActiveRegularizers:
    """The regularizers switched on in `reg`, in the registry's order."""

    def __init__(self, reg: RegConfig) -> None:
        self.items: list[Regularizer] = [r(reg) for r in regularizers() if r.is_on(reg)]

    @contextmanager
    def _calling(self, regularizer: Regularizer, hook: str) -> Iterator[None]:
        try:
            yield
        except PluginError:
            raise
        except Exception as err:
            source = origin(regularizer.name)
            if source is None:
                raise
            raise PluginError(
                f"plug-in {source}: regularizer '{regularizer.name}' failed in its {hook} "
                f"hook: {type(err).__name__}: {err}; fix the plug-in"
            ) from err

    def _one(self, hook: str, values: list[tuple[Regularizer, Any]]) -> Any:
        given = [(r, v) for r, v in values if v is not None]
        if len(given) > 1:
            names = " and ".join(r.name for r, _ in given)
            raise UsageError(
                f"{names} both act through {hook}, which only one regularizer may do; drop one"
            )
        return given[0][1] if given else None

    def check(self, cfg: Config) -> None:
        for r in self.items:
            with self._calling(r, "check"):
                r.check(cfg)

    def attach(self, model: nn.Module) -> None:
        for r in self.items:
            with self._calling(r, "attach"):
                r.attach(model)

    def network(self) -> NetworkHooks:
        hooks = NetworkHooks(places={place: [] for place in PLACES})
        keeps = []
        for r in self.items:
            with self._calling(r, "network"):
                if (transform := r.embedding_transform()) is not None:
                    hooks.embedding.append(transform)
                for place in PLACES:
                    if (module := r.place_transform(place)) is not None:
                        hooks.places[place].append(module)
                if (weights := r.recurrent_weight_transform()) is not None:
                    hooks.recurrent_weight.append(weights)
                keeps.append((r, r.state_keep()))
        hooks.state_keep = self._one("state_keep", keeps)
        return hooks

    def penalty(self, inputs: PenaltyInputs) -> torch.Tensor | None:
        """The batch's penalty terms summed, or None when no regularizer adds one."""
        terms: list[torch.Tensor] = []
        for r in self.items:
            with self._calling(r, "penalties"):
                terms += r.penalties(inputs)
        return sum(terms) if terms else None

    def optimizer_groups(self, params: list[torch.Tensor]) -> list[dict[str, Any]] | None:
        groups = []
        for r in self.items:
            with self._calling(r, "optimizer_groups"):
                groups.append((r, r.optimizer_groups(params)))
        return self._one("optimizer_groups", groups)

    def clip_gradients(self, params: list[torch.Tensor], norm: torch.Tensor) -> None:
        for r in self.items:
            with self._calling(r, "clip_gradients"):
                r.clip_gradients(params, norm)

    def stop_reason(self, best: BestEpoch) -> tuple[str, str] | None:
        """(the regularizer's name, why) for the first that stops the run, or None."""
        for r in self.items:
            with self._calling(r, "stop_reason"):
                if (reason := r.stop_reason(best)) is not None:
                    return r.name, reason
        return None

    def state_dict(self) -> dict[str, Any]:
        """The state of those that keep one, by name (empty for every built-in)."""
        return {r.name: state for r in self.items if (state := r.state_dict())}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for r in self.items:
            if r.name in state:
                r.load_state_dict(state[r.name])
