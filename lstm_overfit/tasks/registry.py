"""Task kinds, each registered once with everything the rest of the runner asks of it.

A `TaskKind` carries the loop's side (`task`, a TrainingTask class: batching, loss,
evaluation, metric and its direction, summary extras), the model's head, what one item of a
split is called, the data sources that feed it (their schema and loader) and the rules it
imposes on the config. The loop, fit, the model builder and the report look kinds up here by
the name a data source's `task` gives; adding a kind touches its own module and its data
source, and calls `register_task_kind`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lstm_overfit.config import UsageError

if TYPE_CHECKING:
    from torch import nn

    from lstm_overfit.config import Config, DataConfig
    from lstm_overfit.data.splits import TaskData

Loader = Callable[["DataConfig", int], "TaskData"]


@dataclass(frozen=True)
class DataSource:
    """A kind of data source: its schema (a DataConfig subclass, chosen in a preset's
    defaults as `<name>_schema`) and the loader that turns it into the three splits."""

    name: str
    schema: type[DataConfig]
    load: Loader


@dataclass(frozen=True)
class TaskKind:
    name: str  # what the data source's `task` returns
    task: type  # implements tasks.contract.TrainingTask
    head: type[nn.Module]  # (ModelSpec, NetworkHooks) -> the backbone and this kind's head
    split_unit: str  # what one item of a split is: examples, tokens, windows
    rate_unit: str = "tokens"  # what a training speed counts (a series' steps)
    sources: tuple[DataSource, ...] = ()
    token_input: bool = True  # False: real values, one per step, and no embedding matrix
    reads_whole_sequence: bool = False  # may read both ways (model.bidirectional)
    per_step_loss: bool = False  # a loss over every step (train.lm_sum_over_steps)
    ties_weights: bool = False  # its decoder may share the embedding (model.tie_weights)
    rules: Callable[[Config], None] | None = field(default=None, compare=False)


TASK_KINDS: dict[str, TaskKind] = {}


def register_task_kind(kind: TaskKind) -> None:
    """Make a kind and its data sources known (again, for a kind of that name: replaced)."""
    TASK_KINDS[kind.name] = kind


def task_kind(name: Any) -> TaskKind:
    key = str(getattr(name, "value", name))
    if key not in TASK_KINDS:
        raise UsageError(
            f"no task kind '{key}' is registered; known kinds: {', '.join(sorted(TASK_KINDS))}"
        )
    return TASK_KINDS[key]


def data_sources() -> dict[str, DataSource]:
    """Every registered data source by its schema's name (`<name>_schema`)."""
    return {f"{s.name}_schema": s for kind in TASK_KINDS.values() for s in kind.sources}


def loader_for(cfg: DataConfig) -> Loader:
    return next(s.load for s in data_sources().values() if type(cfg) is s.schema)


def check_task_rules(cfg: Config) -> None:
    """The rules the data set's task kind imposes on the model and the loop."""
    d = cfg.dataset
    kind = task_kind(d.task)
    if cfg.model.bidirectional and not kind.reads_whole_sequence:
        raise UsageError(
            f"model.bidirectional=true needs a classification data set; dataset {d.name} is "
            f"{kind.name}: a {kind.name} model may only read the past"
        )
    if not kind.token_input and cfg.model.embedding.pretrained:
        raise UsageError(
            f"dataset {d.name} has real-valued input with no embedding matrix: drop "
            "model.embedding.pretrained"
        )
    if not kind.per_step_loss and cfg.train.lm_sum_over_steps:
        raise UsageError(
            f"train.lm_sum_over_steps=true needs a language-modelling data set; dataset "
            f"{d.name} is {kind.name}: drop train.lm_sum_over_steps"
        )
    if kind.rules is not None:
        kind.rules(cfg)
