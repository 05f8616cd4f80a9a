"""What differs between the three task kinds: batching, the loss, and evaluation.

- classify: length-bucketed batches of whole sequences (padding never reaches a real step's
  result); binary or multi-class cross-entropy; accuracy.
- lm: contiguous streams cut into BPTT windows, the hidden state carried across windows and
  detached; cross-entropy per token; perplexity.
- forecast: shuffled sliding windows; mean squared error on normalized values; mean absolute
  error in the data's original units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from lstm_overfit.config import Task, TrainConfig
from lstm_overfit.data import Sequences, Stream, TaskData, Windows
from lstm_overfit.models import BackboneOutput, State

# Classification batches are formed from pools of this many batches sorted by length, so
# rows of a batch have similar lengths while the epoch stays shuffled.
BUCKET_POOL = 50
# An evaluation batch of sequences ends where padding would pass this share of its real
# steps: the padded steps cost LSTM time on CPU, where batches run padded.
EVAL_MAX_PADDING = 0.10


@dataclass
class StepResult:
    loss: torch.Tensor  # mean data loss of the batch (without penalties)
    hidden: BackboneOutput
    examples: int  # rows in the batch, the weight of its loss in an epoch mean
    tokens: int  # real steps processed
    # The optimized objective is loss * objective_scale (language models may sum over steps).
    objective_scale: float = 1.0


def classification_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on one logit, or cross-entropy on several (mean over the batch)."""
    if logits.shape[-1] == 1:
        return F.binary_cross_entropy_with_logits(logits.squeeze(-1), targets.float())
    return F.cross_entropy(logits, targets)


def correct_predictions(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    if logits.shape[-1] == 1:
        return ((logits.squeeze(-1) > 0).long() == targets).sum()
    return (logits.argmax(-1) == targets).sum()


def length_batches(
    lengths: torch.Tensor, max_rows: int, max_padding: float = EVAL_MAX_PADDING
) -> list[torch.Tensor]:
    """Indices of every sequence, in batches of similar lengths: sorted by length and cut
    where a batch would pass `max_rows` rows, or where padding to its longest sequence
    would pass `max_padding` of its real steps (a single sequence always forms a batch)."""
    order = torch.sort(lengths, stable=True).indices
    cuts, start, real = [], 0, 0
    for i, length in enumerate(lengths[order].tolist()):
        rows = i - start + 1
        if i > start and (rows > max_rows or rows * length > (1 + max_padding) * (real + length)):
            cuts.append(i)
            start, real = i, 0
        real += length
    return list(torch.tensor_split(order, cuts))


def _sample(split: Any, size: int, gen: torch.Generator) -> Any:
    if size >= len(split):
        return split
    return split.subset(torch.randperm(len(split), generator=gen)[:size])


class ClassificationTask:
    metric = "acc"

    def __init__(self, data: TaskData, cfg: TrainConfig, device: torch.device) -> None:
        self.data, self.cfg, self.device = data, cfg, device

    def train_sample(self, size: int, gen: torch.Generator) -> Sequences:
        return _sample(self.data.train, size, gen)

    def start_epoch(self) -> None:
        pass

    def epoch_batches(self, gen: torch.Generator) -> list[torch.Tensor]:
        train, size = self.data.train, self.cfg.batch_size
        order = torch.randperm(len(train), generator=gen)
        lengths = train.lengths
        batches = []
        for pool in order.split(size * BUCKET_POOL):
            by_length = pool[torch.sort(lengths[pool], stable=True).indices]
            batches.extend(by_length.split(size))
        shuffle = torch.randperm(len(batches), generator=gen).tolist()
        return [batches[i] for i in shuffle]

    def _forward(self, model: nn.Module, split: Sequences, index: torch.Tensor) -> tuple:
        tokens, lengths, labels = split.batch(index)
        # Equal lengths need no packing; that saves the pack and unpack copies.
        if split.width is not None:
            packed, real = None, tokens.numel()
        else:
            packed = None if bool((lengths == tokens.shape[1]).all()) else lengths
            real = int(lengths.sum())
        out = model(tokens.to(self.device), packed)
        return out, labels.to(self.device), real

    def step(self, model: nn.Module, index: torch.Tensor) -> StepResult:
        out, labels, tokens = self._forward(model, self.data.train, index)
        loss = classification_loss(out.prediction, labels)
        return StepResult(loss, out.hidden, len(index), tokens)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: Sequences) -> dict[str, float]:
        model.eval()
        loss = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.long, device=self.device)
        for index in length_batches(split.lengths, self.cfg.eval_batch_size):
            out, labels, _ = self._forward(model, split, index)
            loss += classification_loss(out.prediction, labels) * len(index)
            correct += correct_predictions(out.prediction, labels)
        return {"loss": loss.item() / len(split), "acc": correct.item() / len(split)}


def batchify(stream: Stream, rows: int) -> torch.Tensor:
    """The stream cut into `rows` contiguous rows (rows, columns); the remainder is dropped."""
    columns = len(stream) // rows
    return stream.ids[: rows * columns].view(rows, columns)


def detach_state(state: State) -> State:
    return [(h.detach(), c.detach()) for h, c in state]


class LanguageModelTask:
    metric = "ppl"

    def __init__(self, data: TaskData, cfg: TrainConfig, device: torch.device, bptt: int):
        self.data, self.cfg, self.device, self.bptt = data, cfg, device, bptt
        self.sum_over_steps = cfg.lm_sum_over_steps
        self.train_rows = batchify(data.train, cfg.batch_size).to(device)
        self.state: State | None = None

    def train_sample(self, size: int, gen: torch.Generator) -> Stream:
        """A fixed contiguous stretch of the training stream (`size` tokens)."""
        return Stream(self.data.train.ids[:size])

    def start_epoch(self) -> None:
        self.state = None

    def epoch_batches(self, gen: torch.Generator) -> list[int]:
        """Start columns of the BPTT windows, in order: the state flows from one to the next."""
        return list(range(0, self.train_rows.shape[1] - 1, self.bptt))

    def window(self, rows: torch.Tensor, start: int) -> tuple[torch.Tensor, torch.Tensor]:
        length = min(self.bptt, rows.shape[1] - 1 - start)
        return rows[:, start : start + length], rows[:, start + 1 : start + 1 + length]

    def step(self, model: nn.Module, start: int) -> StepResult:
        inputs, targets = self.window(self.train_rows, start)
        out = model(inputs, self.state)
        self.state = detach_state(out.hidden.state)
        logits = out.prediction.reshape(-1, out.prediction.shape[-1])
        loss = F.cross_entropy(logits, targets.reshape(-1))
        scale = float(targets.shape[1]) if self.sum_over_steps else 1.0
        return StepResult(loss, out.hidden, targets.numel(), targets.numel(), scale)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: Stream) -> dict[str, float]:
        model.eval()
        rows = batchify(split, min(self.cfg.eval_batch_size, max(1, len(split) // 2))).to(
            self.device
        )
        state, total, count = None, torch.zeros((), device=self.device), 0
        for start in range(0, rows.shape[1] - 1, self.bptt):
            inputs, targets = self.window(rows, start)
            out = model(inputs, state)
            state = out.hidden.state
            logits = out.prediction.reshape(-1, out.prediction.shape[-1])
            total += F.cross_entropy(logits, targets.reshape(-1), reduction="sum")
            count += targets.numel()
        loss = total.item() / count
        return {"loss": loss, "ppl": math.exp(min(loss, 700.0))}


class ForecastTask:
    metric = "mae"

    def __init__(self, data: TaskData, cfg: TrainConfig, device: torch.device) -> None:
        self.data, self.cfg, self.device = data, cfg, device

    def train_sample(self, size: int, gen: torch.Generator) -> Windows:
        return _sample(self.data.train, size, gen)

    def start_epoch(self) -> None:
        pass

    def epoch_batches(self, gen: torch.Generator) -> list[torch.Tensor]:
        return list(torch.randperm(len(self.data.train), generator=gen).split(self.cfg.batch_size))

    def step(self, model: nn.Module, index: torch.Tensor) -> StepResult:
        train = self.data.train
        inputs, targets = train.inputs[index].to(self.device), train.targets[index].to(self.device)
        out = model(inputs)
        return StepResult(
            F.mse_loss(out.prediction, targets), out.hidden, len(index), inputs.numel()
        )

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: Windows) -> dict[str, float]:
        model.eval()
        squared = torch.zeros((), device=self.device)
        absolute = torch.zeros((), device=self.device)
        for index in torch.arange(len(split)).split(self.cfg.eval_batch_size):
            targets = split.targets[index].to(self.device)
            prediction = model(split.inputs[index].to(self.device)).prediction
            squared += (prediction - targets).pow(2).sum()
            absolute += (prediction - targets).abs().sum()
        values = split.targets.numel()
        return {"loss": squared.item() / values, "mae": absolute.item() / values * self.data.scale}


def make_task(data: TaskData, cfg: TrainConfig, device: torch.device, bptt: int) -> Any:
    if data.task == Task.lm:
        return LanguageModelTask(data, cfg, device, bptt)
    if data.task == Task.forecast:
        return ForecastTask(data, cfg, device)
    return ClassificationTask(data, cfg, device)
