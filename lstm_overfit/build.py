"""What a run is made of, built from its config: where it computes, its data, model, task,
regularizers, optimizer, training sample and divergence bound."""

from __future__ import annotations

import math
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lstm_overfit.config import Config
from lstm_overfit.data.load import load_data
from lstm_overfit.data.splits import TaskData
from lstm_overfit.embeddings import load_pretrained
from lstm_overfit.models import build_model, build_spec
from lstm_overfit.optim import RunOptimizer, build_optimizer
from lstm_overfit.regularizers.active import ActiveRegularizers
from lstm_overfit.regularizers.schema import active
from lstm_overfit.runtime import autocast_for, choose_threads, resolve_device
from lstm_overfit.tasks import TrainingTask, make_task, task_kind

# A tenth of the training split is not cut below this many examples (tokens for language
# models): a smaller sample's loss is too noisy to read a gap from, and costs little anyway.
MIN_TRAIN_SAMPLE = 256
# Without train.max_loss, a batch loss above this many times the loss of the best constant
# predictor on the training split is divergence.
DIVERGENCE_FACTOR = 100


@dataclass
class RunParts:
    num_threads: int
    threads_reason: str  # why that many
    device: torch.device
    autocast: AbstractContextManager
    data: TaskData
    model: nn.Module
    pretrained_coverage: dict[str, int] | None
    task: TrainingTask  # the task kind's batching, loss and evaluation
    params: list[torch.Tensor]  # trained parameters
    regularizers: ActiveRegularizers  # those switched on, through which they act
    optimizer: RunOptimizer
    train_sample: Any  # the fixed part of the training split train_loss is measured on
    max_loss: float  # a batch loss above this is divergence


def default_train_sample_size(train: int, val: int) -> int:
    """Size of the training sample that train_loss is measured on when none is configured
    (examples; tokens for language models): as large as the validation split, so both losses
    of the gap are equally precise, but at most a tenth of the training split (or
    MIN_TRAIN_SAMPLE, where that is more), so that measuring it stays a small part of an
    epoch."""
    return min(val, max(train // 10, MIN_TRAIN_SAMPLE))


def build_run(cfg: Config) -> RunParts:
    """Every part, in an order that keeps the random draws of a seed the same."""
    num_threads, threads_reason = choose_threads(cfg.train.num_threads)
    device = resolve_device(cfg.device)
    autocast = autocast_for(cfg.train.precision, device)
    torch.manual_seed(cfg.seed)
    data = load_data(cfg.dataset, cfg.seed)
    task = make_task(data, cfg, device)  # draws nothing: the model's draws come first
    kind = task_kind(data.task)
    regularizers = ActiveRegularizers(cfg.reg)
    spec = build_spec(cfg, data, task.output_size, kind.token_input, kind.ties_weights)
    model = build_model(spec, kind.head, regularizers.network()).to(device)
    coverage = None
    if cfg.model.embedding.pretrained:
        coverage = load_pretrained(model.backbone.embedding, data.vocab or [], cfg.model.embedding)
    params = [p for p in model.parameters() if p.requires_grad]
    regularizers.attach(model)
    groups = regularizers.optimizer_groups(params)
    optimizer = build_optimizer(cfg.optim, params, groups, task.objective_scale)
    sample_size = cfg.train.train_eval_size or default_train_sample_size(
        len(data.train), len(data.val)
    )
    train_sample = task.train_sample(sample_size, torch.Generator().manual_seed(cfg.seed + 1))
    # A constant predictor with zero loss (one class only) leaves the bound to non-finite.
    max_loss = cfg.train.max_loss or DIVERGENCE_FACTOR * task.constant_loss() or math.inf
    return RunParts(
        num_threads=num_threads,
        threads_reason=threads_reason,
        device=device,
        autocast=autocast,
        data=data,
        model=model,
        pretrained_coverage=coverage,
        task=task,
        params=params,
        regularizers=regularizers,
        optimizer=RunOptimizer(cfg.optim, optimizer),
        train_sample=train_sample,
        max_loss=max_loss,
    )


def describe(cfg: Config, parts: RunParts) -> str:
    """The run's first log line: its data, model, device, threads and regularizers."""
    data, kind = parts.data, task_kind(parts.data.task)
    threads = f"{parts.num_threads} torch thread{'s' if parts.num_threads != 1 else ''}"
    threads += f" ({parts.threads_reason})"
    regs = ", ".join(f"{name}={value}" for name, value in active(cfg.reg).items()) or "none"
    return (
        f"data {cfg.dataset.name} ({kind.name}): {len(data.train)} train / "
        f"{len(data.val)} val / {len(data.test)} test {kind.split_unit}; model: "
        f"{sum(p.numel() for p in parts.model.parameters())} parameters on {parts.device}, "
        f"{threads}; regularizers: {regs}"
    )
