"""Language modelling: contiguous streams cut into BPTT windows (fixed, or of variable length
as in AWD-LSTM), the hidden state carried across windows and detached; cross-entropy per
token; perplexity."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from lstm_overfit.config import Config, CorpusData
from lstm_overfit.data import corpus
from lstm_overfit.data.splits import Stream, TaskData
from lstm_overfit.models import LSTMLanguageModel, State
from lstm_overfit.run_folder import EpochRecord
from lstm_overfit.tasks.contract import StepResult, entropy
from lstm_overfit.tasks.registry import DataSource, TaskKind


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


KIND = TaskKind(
    name="lm",
    task=LanguageModelTask,
    head=LSTMLanguageModel,
    split_unit="tokens",
    sources=(DataSource("corpus", CorpusData, corpus.load),),
    per_step_loss=True,
    ties_weights=True,
)
