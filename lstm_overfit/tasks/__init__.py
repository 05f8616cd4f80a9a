"""What differs between the three task kinds: batching, the loss, and evaluation (one module
each: classify, lm, forecast).

Each task also knows the loss of the best constant predictor on its training split, the
yardstick of the default divergence bound. `TrainingTask` is the contract the loop, the
model builder and the summary rely on; a new task kind implements it.
"""

from __future__ import annotations

import torch

from lstm_overfit.config import Config, Task
from lstm_overfit.data.splits import TaskData
from lstm_overfit.tasks.classify import ClassificationTask
from lstm_overfit.tasks.contract import StepResult, TrainingTask
from lstm_overfit.tasks.forecast import ForecastTask
from lstm_overfit.tasks.lm import LanguageModelTask

__all__ = ["TASKS", "StepResult", "TrainingTask", "make_task"]

TASKS: dict[Task, type] = {
    Task.classify: ClassificationTask,
    Task.lm: LanguageModelTask,
    Task.forecast: ForecastTask,
}


def make_task(data: TaskData, cfg: Config, device: torch.device) -> TrainingTask:
    return TASKS[data.task](data, cfg, device)
