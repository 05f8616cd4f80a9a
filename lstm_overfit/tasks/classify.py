"""Sequence classification: length-bucketed batches of whole sequences (padding never reaches
a real step's result); binary or multi-class cross-entropy; accuracy and macro-F1 (the
headline metric from three classes on), the majority class's as a baseline, and where the
data set knows which labels were flipped, accuracy on the clean and on the flipped examples."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from lstm_overfit.config import Config, SyntheticData, TextsData
from lstm_overfit.data import synthetic, texts
from lstm_overfit.data.splits import Sequences, TaskData
from lstm_overfit.models import LSTMClassifier
from lstm_overfit.run_folder import EpochRecord
from lstm_overfit.tasks.contract import StepResult, entropy, random_subset, share
from lstm_overfit.tasks.registry import DataSource, TaskKind

# Classification batches are formed from pools of this many batches sorted by length, so
# rows of a batch have similar lengths while the epoch stays shuffled.
BUCKET_POOL = 50
# An evaluation batch of sequences ends where padding would pass this share of its real
# steps: the padded steps cost LSTM time on CPU, where batches run padded.
EVAL_MAX_PADDING = 0.10


def classification_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on one logit, or cross-entropy on several (mean over the batch)."""
    if logits.shape[-1] == 1:
        return F.binary_cross_entropy_with_logits(logits.squeeze(-1), targets.float())
    return F.cross_entropy(logits, targets)


def predictions(logits: torch.Tensor) -> torch.Tensor:
    if logits.shape[-1] == 1:
        return (logits.squeeze(-1) > 0).long()
    return logits.argmax(-1)


def macro_f1(predicted: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    """The mean over classes of F1 = 2 TP / (2 TP + FP + FN), over the classes that occur
    among the labels or the predictions (scikit-learn's choice); NaN on an empty split."""
    if len(labels) == 0:
        return math.nan
    hits = torch.bincount(labels[predicted == labels], minlength=num_classes).double()
    true = torch.bincount(labels, minlength=num_classes).double()
    guessed = torch.bincount(predicted, minlength=num_classes).double()
    present = (true + guessed) > 0
    return float((2 * hits[present] / (true[present] + guessed[present])).mean())


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


class ClassificationTask:
    higher_is_better, loss_unit = True, "nats"
    objective_scale = 1.0

    def __init__(self, data: TaskData, cfg: Config, device: torch.device) -> None:
        self.data, self.loop, self.device = data, cfg.train, device
        # Two classes: one logit.
        self.output_size = 1 if data.num_classes == 2 else data.num_classes
        # From three classes on, accuracy hides a neglected rare class; macro-F1 does not.
        self.metric = "acc" if data.num_classes == 2 else "macro_f1"

    def train_sample(self, size: int, gen: torch.Generator) -> Sequences:
        """A fixed sample of the training split; all of it where the flipped labels are
        known, so every flipped label counts in the memorization measure."""
        if self.data.train.flipped is not None:
            return self.data.train
        return random_subset(self.data.train, size, gen)

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
        predicted = torch.zeros(len(split), dtype=torch.long, device=self.device)
        for index in length_batches(split.lengths, self.loop.eval_batch_size):
            out, labels, _ = self._forward(model, split, index)
            loss += classification_loss(out.prediction, labels) * len(index)
            predicted[index.to(self.device)] = predictions(out.prediction)
        labels = split.labels.to(self.device)
        correct = predicted == labels
        result = {
            "loss": loss.item() / len(split),
            "acc": share(correct),
            "macro_f1": macro_f1(predicted, labels, self.data.num_classes),
        }
        if split.flipped is not None:
            flipped = split.flipped.to(self.device)
            result["acc_clean"] = share(correct[~flipped])
            # The share of flipped labels the model reproduces: what it has memorized.
            result["acc_flipped"] = share(correct[flipped])
        return result

    def majority_baseline(self) -> dict[str, float]:
        """Accuracy and macro-F1 of always predicting the training split's most frequent
        class, on each split: what a model has to beat."""
        counts = torch.bincount(self.data.train.labels, minlength=self.data.num_classes)
        majority = int(counts.argmax())
        baseline = {}
        for name in ("train", "val", "test"):
            labels = getattr(self.data, name).labels
            constant = torch.full_like(labels, majority)
            baseline[f"{name}_acc"] = share(labels == majority)
            baseline[f"{name}_macro_f1"] = macro_f1(constant, labels, self.data.num_classes)
        return baseline

    def summary_extras(self, records: Sequence[EpochRecord]) -> dict[str, Any]:
        """The classes' names, the majority-class baseline, and memorization where the
        flipped labels are known: the last epoch's accuracy on the training split's clean
        and flipped labels."""
        last = records[-1].task_metrics if records else {}
        return {
            "classes": self.data.info.get("classes"),
            "majority_baseline": self.majority_baseline(),
            "final_train_acc_clean": last.get("train_acc_clean"),
            "final_train_acc_flipped": last.get("train_acc_flipped"),
        }

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


KIND = TaskKind(
    name="classify",
    task=ClassificationTask,
    head=LSTMClassifier,
    split_unit="examples",
    sources=(
        DataSource("synthetic", SyntheticData, synthetic.load),
        DataSource("texts", TextsData, texts.load),
    ),
    reads_whole_sequence=True,
)
