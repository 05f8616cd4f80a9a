"""What differs between the three task kinds: batching, the loss, and evaluation.

- classify: length-bucketed batches of whole sequences (padding never reaches a real step's
  result); binary or multi-class cross-entropy; accuracy (and, where the data set knows which
  labels were flipped, accuracy on the clean and on the flipped examples).
- lm: contiguous streams cut into BPTT windows (fixed, or of variable length as in AWD-LSTM),
  the hidden state carried across windows and detached; cross-entropy per token; perplexity.
- forecast: shuffled sliding windows; mean squared error on normalized values; mean absolute
  error in the series' units and its scaled form (MASE).

Each task also knows the loss of the best constant predictor on its training split, the
yardstick of the default divergence bound. `TrainingTask` is the contract the loop, the
model builder and the summary rely on; a new task kind implements it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn
from torch.nn import functional as F

from lstm_overfit.config import Config, CorpusData, Task
from lstm_overfit.data.splits import Sequences, Stream, TaskData, Windows
from lstm_overfit.models import BackboneOutput, State
from lstm_overfit.run_folder import EpochRecord

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
    # The optimized objective is (loss + penalties) * objective_scale (language models may
    # sum over steps), taken at the learning rate times lr_scale (variable-length windows).
    objective_scale: float = 1.0
    lr_scale: float = 1.0


class TrainingTask(Protocol):
    """What the loop asks of a task kind."""

    metric: str  # its metric's name in records and summaries: val_<metric>, test[<metric>]
    higher_is_better: bool  # of the metric
    loss_unit: str  # the unit of its loss
    output_size: int  # the model's outputs per prediction
    # The factor on a full batch's objective (a loss summed over steps), which SGD's coupled
    # weight decay is scaled by so it keeps its strength against the data term.
    objective_scale: float

    def train_sample(self, size: int, gen: torch.Generator) -> Any:
        """The fixed part of the training split train_loss is measured on."""
        ...

    def constant_loss(self) -> float:
        """The loss of the best constant predictor on the training split."""
        ...

    def epoch_batches(self, gen: torch.Generator) -> list[Any]: ...

    def step(self, model: nn.Module, batch: Any) -> StepResult: ...

    def evaluate(self, model: nn.Module, split: Any) -> dict[str, float]:
        """{"loss": ..., metric: ..., and any other figures} over a split, in eval mode."""
        ...

    def summary_extras(self, records: Sequence[EpochRecord]) -> dict[str, Any]:
        """The RunSummary fields only this task kind fills."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """What an epoch stopped midway needs to continue (a carried hidden state)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def classification_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on one logit, or cross-entropy on several (mean over the batch)."""
    if logits.shape[-1] == 1:
        return F.binary_cross_entropy_with_logits(logits.squeeze(-1), targets.float())
    return F.cross_entropy(logits, targets)


def predictions(logits: torch.Tensor) -> torch.Tensor:
    if logits.shape[-1] == 1:
        return (logits.squeeze(-1) > 0).long()
    return logits.argmax(-1)


def entropy(counts: torch.Tensor) -> float:
    """Entropy (nats) of the distribution the counts describe."""
    p = counts[counts > 0].double() / counts.sum()
    return float(-(p * p.log()).sum())


def _share(hits: torch.Tensor) -> float:
    """The share of True in a boolean vector (NaN when it is empty)."""
    return hits.sum().item() / len(hits) if len(hits) else math.nan


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
    metric, higher_is_better, loss_unit = "acc", True, "nats"
    objective_scale = 1.0

    def __init__(self, data: TaskData, cfg: Config, device: torch.device) -> None:
        self.data, self.loop, self.device = data, cfg.train, device
        # Two classes: one logit.
        self.output_size = 1 if data.num_classes == 2 else data.num_classes

    def train_sample(self, size: int, gen: torch.Generator) -> Sequences:
        """A fixed sample of the training split; all of it where the flipped labels are
        known, so every flipped label counts in the memorization measure."""
        if self.data.train.flipped is not None:
            return self.data.train
        return _sample(self.data.train, size, gen)

    def constant_loss(self) -> float:
        return entropy(torch.bincount(self.data.train.labels))

    def epoch_batches(self, gen: torch.Generator) -> list[torch.Tensor]:
        train, size = self.data.train, self.loop.batch_size
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
        # Equal lengths need no per-row handling.
        if split.width is not None:
            varying, real = None, tokens.numel()
        else:
            varying = None if bool((lengths == tokens.shape[1]).all()) else lengths
            real = int(lengths.sum())
        out = model(tokens.to(self.device), varying)
        return out, labels.to(self.device), real

    def step(self, model: nn.Module, index: torch.Tensor) -> StepResult:
        out, labels, tokens = self._forward(model, self.data.train, index)
        loss = classification_loss(out.prediction, labels)
        return StepResult(loss, out.hidden, len(index), tokens)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: Sequences) -> dict[str, float]:
        model.eval()
        loss = torch.zeros((), device=self.device)
        correct = torch.zeros(len(split), dtype=torch.bool, device=self.device)
        for index in length_batches(split.lengths, self.loop.eval_batch_size):
            out, labels, _ = self._forward(model, split, index)
            loss += classification_loss(out.prediction, labels) * len(index)
            correct[index.to(self.device)] = predictions(out.prediction) == labels
        result = {"loss": loss.item() / len(split), "acc": _share(correct)}
        if split.flipped is not None:
            flipped = split.flipped.to(self.device)
            result["acc_clean"] = _share(correct[~flipped])
            # The share of flipped labels the model reproduces: what it has memorized.
            result["acc_flipped"] = _share(correct[flipped])
        return result

    def summary_extras(self, records: Sequence[EpochRecord]) -> dict[str, Any]:
        """Memorization, where the flipped labels are known: the last epoch's accuracy on
        the training split's clean and flipped labels."""
        last = records[-1].task_metrics if records else {}
        return {
            "final_train_acc_clean": last.get("train_acc_clean"),
            "final_train_acc_flipped": last.get("train_acc_flipped"),
        }

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def batchify(stream: Stream, rows: int) -> torch.Tensor:
    """The stream cut into `rows` contiguous rows (rows, columns); the remainder is dropped."""
    columns = len(stream) // rows
    return stream.ids[: rows * columns].view(rows, columns)


def detach_state(state: State) -> State:
    return [(h.detach(), c.detach()) for h, c in state]


def window_lengths(columns: int, bptt: int, gen: torch.Generator | None) -> list[int]:
    """The lengths of the windows that cover `columns` steps: `bptt` each (the last one
    shorter), or, given a generator, AWD-LSTM's draws: N(bptt, 5), or N(bptt / 2, 5) with
    probability 0.05, truncated to an integer, at least 5."""
    lengths, done = [], 0
    while done < columns:
        length = bptt
        if gen is not None:
            base = bptt if torch.rand((), generator=gen) < 0.95 else bptt / 2
            length = max(5, int(torch.normal(base, 5.0, (1,), generator=gen)))
        lengths.append(min(length, columns - done))
        done += lengths[-1]
    return lengths


class LanguageModelTask:
    metric, higher_is_better, loss_unit = "ppl", False, "nats"

    def __init__(self, data: TaskData, cfg: Config, device: torch.device) -> None:
        corpus: CorpusData = cfg.dataset
        self.data, self.loop, self.device = data, cfg.train, device
        self.bptt, self.variable = corpus.bptt, corpus.variable_bptt
        self.output_size = data.vocab_size
        self.objective_scale = float(self.bptt) if cfg.train.lm_sum_over_steps else 1.0
        self.train_rows = batchify(data.train, cfg.train.batch_size).to(device)
        self.state: State | None = None

    def train_sample(self, size: int, gen: torch.Generator) -> Stream:
        """A fixed contiguous stretch of the training stream (`size` tokens)."""
        return Stream(self.data.train.ids[:size])

    def constant_loss(self) -> float:
        """The unigram entropy of the training stream."""
        return entropy(torch.bincount(self.data.train.ids))

    def epoch_batches(self, gen: torch.Generator) -> list[tuple[int, int]]:
        """(start column, length) of each window, in order: the state flows from one to the
        next, and starts from zero each epoch."""
        self.state = None
        lengths = window_lengths(
            self.train_rows.shape[1] - 1, self.bptt, gen if self.variable else None
        )
        starts = [0, *torch.tensor(lengths).cumsum(0).tolist()[:-1]]
        return list(zip(starts, lengths, strict=True))

    @staticmethod
    def window(rows: torch.Tensor, start: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        return rows[:, start : start + length], rows[:, start + 1 : start + 1 + length]

    def step(self, model: nn.Module, window: tuple[int, int]) -> StepResult:
        inputs, targets = self.window(self.train_rows, *window)
        out = model(inputs, self.state)
        self.state = detach_state(out.hidden.state)
        logits = out.prediction.reshape(-1, out.prediction.shape[-1])
        loss = F.cross_entropy(logits, targets.reshape(-1))
        steps = targets.shape[1]
        return StepResult(
            loss,
            out.hidden,
            targets.numel(),
            targets.numel(),
            objective_scale=float(steps) if self.loop.lm_sum_over_steps else 1.0,
            lr_scale=steps / self.bptt if self.variable else 1.0,
        )

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: Stream) -> dict[str, float]:
        model.eval()
        rows = batchify(split, min(self.loop.eval_batch_size, max(1, len(split) // 2)))
        rows = rows.to(self.device)
        state, total, count = None, torch.zeros((), device=self.device), 0
        for start in range(0, rows.shape[1] - 1, self.bptt):
            inputs, targets = self.window(rows, start, min(self.bptt, rows.shape[1] - 1 - start))
            out = model(inputs, state)
            state = out.hidden.state
            logits = out.prediction.reshape(-1, out.prediction.shape[-1])
            total += F.cross_entropy(logits, targets.reshape(-1), reduction="sum")
            count += targets.numel()
        loss = total.item() / count
        return {"loss": loss, "ppl": math.exp(min(loss, 700.0))}

    def summary_extras(self, records: Sequence[EpochRecord]) -> dict[str, Any]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        """The hidden state carried into the next window, for a run stopped mid-epoch."""
        return {"state": self.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.state = state["state"]


class ForecastTask:
    metric, higher_is_better, loss_unit = "mae", False, "normalized MSE"
    objective_scale = 1.0

    def __init__(self, data: TaskData, cfg: Config, device: torch.device) -> None:
        self.data, self.loop, self.device = data, cfg.train, device
        self.output_size = cfg.dataset.horizon

    def train_sample(self, size: int, gen: torch.Generator) -> Windows:
        return _sample(self.data.train, size, gen)

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


TASKS = {Task.classify: ClassificationTask, Task.lm: LanguageModelTask, Task.forecast: ForecastTask}


def make_task(data: TaskData, cfg: Config, device: torch.device) -> TrainingTask:
    return TASKS[data.task](data, cfg, device)
