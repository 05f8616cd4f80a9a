"""What differs between the three task kinds: batching, the loss, and evaluation (one module
each: classify, lm, forecast).

Each task also knows the loss of the best constant predictor on its training split, the
yardstick of the default divergence bound. `TrainingTask` is the contract the loop, the
model builder and the summary rely on; a new task kind implements it and registers a
`TaskKind` (tasks/registry.py) with its head, data sources and rules.
"""

from __future__ import annotations

import torch

from lstm_overfit.config import Config
from lstm_overfit.data.splits import TaskData
from lstm_overfit.tasks import classify, forecast, lm
from lstm_overfit.tasks.contract import StepResult, TrainingTask
from lstm_overfit.tasks.registry import (
    DataSource,
    TaskKind,
    data_sources,
    register_task_kind,
    task_kind,
)

__all__ = [
    "DataSource",
    "StepResult",
    "TaskKind",
    "TrainingTask",
    "data_sources",
    "make_task",
    "register_task_kind",
    "task_kind",
]

# The built-in kinds; others register themselves the same way.
for _kind in (classify.KIND, lm.KIND, forecast.KIND):
    register_task_kind(_kind)


def make_task(data: TaskData, cfg: Config, device: torch.device) -> TrainingTask:
    return task_kind(data.task).task(data, cfg, device)
