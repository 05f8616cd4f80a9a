"""The checkpoint format: everything a run needs to continue exactly where it stopped.

A checkpoint holds only tensors and plain data (state dicts, RNG states, numbers, the
config), so it loads with `torch.load(..., weights_only=True)`; a file that needs more
(pickled code) is refused instead of executed.
"""

from __future__ import annotations

import json
import logging
import pickle
import time
import zipfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from lstm_overfit.config import Config, UsageError
from lstm_overfit.records import (
    EarlyStopper,
    EpochRecord,
    JsonlWriter,
    atomic_torch_save,
    read_jsonl,
    write_jsonl,
)

log = logging.getLogger(__name__)

FORMAT = 1


class CheckpointError(UsageError):
    """A checkpoint that cannot or must not be loaded: one line, exit status 2."""


@dataclass
class RunState:
    epoch: int  # epochs completed
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    averaging: bool  # NT-ASGD has switched to averaged SGD
    rng: dict[str, torch.Tensor]  # torch's global generator and the batch-order generator
    early_stopping: dict[str, Any]
    # Mid-epoch, when a signal stopped the run: batches done, running sums, the task's state.
    partial: dict[str, Any] | None
    wall_seconds: float  # of the invocations so far
    config: dict[str, Any]


def save_checkpoint(state: RunState, path: Path) -> None:
    atomic_torch_save(
        path, {"format": FORMAT, **{f.name: getattr(state, f.name) for f in fields(state)}}
    )


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """A checkpoint's contents, loaded safely; raises CheckpointError naming the problem."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    damaged = CheckpointError(
        f"{path}: is damaged or cut short, not a readable checkpoint; delete the run folder "
        "and run it again"
    )
    # torch.save writes a zip archive; anything else (garbage, a truncated file that lost its
    # central directory) would reach torch's legacy unpickler and read as pickled code.
    if not zipfile.is_zipfile(path):
        raise damaged
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as err:
        if "GLOBAL" not in str(err):  # not a refused class: damaged bytes inside the archive
            raise damaged from None
        raise CheckpointError(
            f"{path}: holds pickled objects beyond tensors and plain data; refusing to load "
            "it, since unpickling could run code"
        ) from None
    except Exception:  # damaged bytes fail in many ways (zip, pickle, decoding, storage)
        raise damaged from None
    if not isinstance(saved, dict) or "model" not in saved:
        raise CheckpointError(f"{path}: is not an lstm-overfit checkpoint")
    return saved


def load_run_state(path: Path, device: torch.device | str = "cpu") -> RunState:
    saved = load_checkpoint(path, device)
    if saved.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: was written in checkpoint format {saved.get('format')}, this version "
            f"reads format {FORMAT}; start the run afresh"
        )
    return RunState(**{f.name: saved[f.name] for f in fields(RunState)})


class Resumable(Protocol):
    """What a checkpoint saves of a training run and sets back (train.TrainingRun)."""

    cfg: Config
    out_dir: Path
    model: nn.Module
    optimizer: torch.optim.Optimizer
    averaging: bool
    order_gen: torch.Generator
    stopper: EarlyStopper
    checkpoints: Path
    metrics: JsonlWriter
    records: list[EpochRecord]
    device: torch.device
    first_epoch: int
    partial: dict[str, Any] | None
    earlier_seconds: float
    started: float

    def switch_to_averaging(self) -> None: ...


def capture(run: Resumable, epoch: int, partial: dict[str, Any] | None = None) -> RunState:
    """Everything needed to continue `run` after `epoch` (and `partial`, mid-epoch)."""
    return RunState(
        epoch=epoch,
        model=run.model.state_dict(),
        optimizer=run.optimizer.state_dict(),
        averaging=run.averaging,
        rng={"torch": torch.get_rng_state(), "order": run.order_gen.get_state()},
        early_stopping=run.stopper.state_dict(),
        partial=partial,
        wall_seconds=run.earlier_seconds + time.perf_counter() - run.started,
        config=json.loads(json.dumps(asdict(run.cfg))),  # plain data: enums as strings
    )


def restore(run: Resumable) -> None:
    """Continue `run` from its checkpoints/last.pt; drop records of epochs it does not hold
    (a kill between an epoch's record and its checkpoint leaves one)."""
    last = run.checkpoints / "last.pt"
    rows = read_jsonl(run.metrics.path) if run.metrics.path.exists() else []
    if not last.exists():
        log.info("no checkpoint yet in %s: starting from the beginning", run.out_dir)
        rows = []
    else:
        state = load_run_state(last, run.device)
        run.model.load_state_dict(state.model)
        if state.averaging:
            run.switch_to_averaging()
        run.optimizer.load_state_dict(state.optimizer)
        torch.set_rng_state(state.rng["torch"])
        run.order_gen.set_state(state.rng["order"])
        run.stopper.load_state_dict(state.early_stopping)
        run.first_epoch = state.epoch + 1
        run.partial = state.partial
        run.earlier_seconds = state.wall_seconds
        rows = [row for row in rows if row["epoch"] <= state.epoch]
        log.info("resuming after epoch %d from %s", state.epoch, last)
    write_jsonl(run.metrics.path, rows)
    run.records = [EpochRecord.from_dict(row) for row in rows]
