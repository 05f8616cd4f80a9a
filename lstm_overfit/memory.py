"""Whether a run's model fits the machine, estimated before anything is built.

The model is built on PyTorch's meta device (shapes without storage), so its parameter
count is exact for every model option; training holds at least the weights, their
gradients and the optimizer's state, 4 bytes a number. Activations come on top, so this
refuses only models that cannot fit at all, instead of failing deep in an allocation.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import torch

from lstm_overfit.config import Config, OptimizerName, UsageError
from lstm_overfit.data.splits import TaskData

BYTES_PER_NUMBER = 4  # float32 weights, gradients and optimizer state
# cgroup v2's limit on this process's memory ("max" when unlimited).
CGROUP_LIMIT = Path("/sys/fs/cgroup/memory.max")


def parameter_count(cfg: Config, data: TaskData) -> int:
    """The configured model's trainable parameters for this data, counted without storage."""
    from lstm_overfit.models import build_model, build_spec
    from lstm_overfit.tasks import make_task, task_kind

    meta, kind = torch.device("meta"), task_kind(data.task)
    with meta:
        outputs = make_task(data, cfg, meta).output_size
        spec = build_spec(cfg, data, outputs, kind.token_input, kind.ties_weights)
        model = build_model(spec, kind.head)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# Numbers the optimizer keeps per parameter: Adam's two moments, NT-ASGD's average (or its
# SGD phase's momentum); SGD's momentum, where it has one, is counted in copies_held.
OPTIMIZER_STATE = {
    OptimizerName.adam: 2,
    OptimizerName.adamw: 2,
    OptimizerName.sgd: 0,
    OptimizerName.nt_asgd: 1,
}


def copies_held(cfg: Config) -> int:
    """Numbers held per parameter while training: the weight, its gradient and the
    optimizer's state."""
    name, momentum = cfg.optim.name, cfg.optim.momentum
    return 2 + OPTIMIZER_STATE[name] + int(name == OptimizerName.sgd and momentum > 0)


def device_memory(device: torch.device) -> int | None:
    """Bytes of memory the device offers this process (None where unknown)."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
    try:
        limit = CGROUP_LIMIT.read_text().strip()
    except OSError:
        return physical
    return min(physical, int(limit)) if limit.isdigit() else physical


def readable_bytes(count: float) -> str:
    """5.2e12 -> '4.7 TiB'."""
    value, unit = float(count), "bytes"
    for larger in ("KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, larger
    return f"{value:,.1f} {unit}"


def check_memory(jobs: list[Config], data: TaskData) -> None:
    """Refuse a job whose model's weights, gradients and optimizer state alone exceed the
    memory of the device it would train on (each distinct model and optimizer once)."""
    from lstm_overfit.runtime import resolve_device

    seen = set()
    for cfg in jobs:
        key = json.dumps([asdict(cfg.model), asdict(cfg.optim), cfg.device], default=str)
        if key in seen:
            continue
        seen.add(key)
        device = resolve_device(cfg.device)
        available = device_memory(device)
        if available is None:
            continue
        parameters = parameter_count(cfg, data)
        needed = parameters * copies_held(cfg) * BYTES_PER_NUMBER
        if needed > available:
            where = "this GPU has" if device.type == "cuda" else "this machine has"
            raise UsageError(
                f"the model has {parameters:,} parameters: training it needs at least "
                f"{readable_bytes(needed)} (weights, gradients and {cfg.optim.name.value}'s "
                f"state) and {where} {readable_bytes(available)}; use a smaller "
                "model.hidden_size, model.num_layers or model.embedding_size"
            )
