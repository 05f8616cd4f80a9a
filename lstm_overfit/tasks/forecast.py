"""Forecasting: shuffled sliding windows; mean squared error on normalized values; mean
absolute error in the series' units and its scaled form (MASE), beside persistence's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from lstm_overfit.config import Config, SeriesData
from lstm_overfit.data import series
from lstm_overfit.data.splits import TaskData, Windows
from lstm_overfit.models import LSTMForecaster
from lstm_overfit.run_folder import EpochRecord
from lstm_overfit.tasks.contract import StepResult, random_subset
from lstm_overfit.tasks.registry import DataSource, TaskKind


class ForecastTask:
    metric, higher_is_better, loss_unit = "mae", False, "normalized MSE"
    objective_scale = 1.0

    def __init__(self, data: TaskData, cfg: Config, device: torch.device) -> None:
        self.data, self.loop, self.device = data, cfg.train, device
        self.output_size = cfg.dataset.horizon

    def train_sample(self, size: int, gen: torch.Generator) -> Windows:
        return random_subset(self.data.train, size, gen)

    def constant_loss(self) -> float:
        """The squared error of predicting the mean of the training targets."""
        targets = self.data.train.targets
        return float((targets - targets.mean()).pow(2).mean())

    def epoch_batches(self, gen: torch.Generator) -> list[torch.Tensor]:
        return list(torch.randperm(len(self.data.train), generator=gen).split(self.loop.batch_size))

    def step(self, model: nn.Module, index: torch.Tensor) -> StepResult:
        train = self.data.train
        inputs, targets = train.inputs[index].to(self.device), train.targets[index].to(self.device)
        out = model(inputs)
        return StepResult(
            F.mse_loss(out.prediction, targets), out.hidden, len(index), inputs.numel()
        )

    def errors(self, predicted_levels: torch.Tensor, split: Windows) -> dict[str, float]:
        """MAE in the series' units, and MASE: the MAE over the in-sample MAE of persistence."""
        mae = (predicted_levels - split.target_levels).abs().mean().item()
        return {"mae": mae, "mase": mae / self.data.naive_step_mae}

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: Windows) -> dict[str, float]:
        model.eval()
        squared = torch.zeros((), device=self.device)
        predicted = []
        for index in torch.arange(len(split)).split(self.loop.eval_batch_size):
            targets = split.targets[index].to(self.device)
            prediction = model(split.inputs[index].to(self.device)).prediction
            squared += (prediction - targets).pow(2).sum()
            predicted.append(prediction.cpu().double())
        levels = self.data.scale.levels(torch.cat(predicted), split.last)
        return {"loss": squared.item() / split.targets.numel(), **self.errors(levels, split)}

    def persistence(self, split: Windows) -> dict[str, float]:
        """The errors of repeating each window's last value: the naive forecast."""
        repeated = split.last.unsqueeze(1).expand_as(split.target_levels)
        return self.errors(repeated, split)

    def summary_extras(self, records: Sequence[EpochRecord]) -> dict[str, Any]:
        """Persistence's errors on val and test, beside the model's."""
        naive = {
            f"{name}_{k}": v
            for name in ("val", "test")
            for k, v in self.persistence(getattr(self.data, name)).items()
        }
        return {"naive_forecast": naive}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


KIND = TaskKind(
    name="forecast",
    task=ForecastTask,
    head=LSTMForecaster,
    split_unit="windows",
    rate_unit="steps",
    sources=(DataSource("series", SeriesData, series.load),),
    token_input=False,
)
