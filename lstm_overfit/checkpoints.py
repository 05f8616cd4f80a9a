"""The checkpoint format: everything a run needs to continue exactly where it stopped.

A checkpoint holds only tensors and plain data (state dicts, RNG states, numbers, the
config), so it loads with `torch.load(..., weights_only=True)`; a file that needs more
(pickled code) is refused instead of executed.
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from lstm_overfit.config import ConfigError
from lstm_overfit.records import atomic_torch_save

FORMAT = 1


class CheckpointError(ConfigError):
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
        {"format": FORMAT, **{f.name: getattr(state, f.name) for f in fields(state)}}, path
    )


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """A checkpoint's contents, loaded safely; raises CheckpointError naming the problem."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"{path}: holds pickled objects beyond tensors and plain data; refusing to load "
            "it, since unpickling could run code"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        raise CheckpointError(f"{path}: is not a readable checkpoint ({err})") from None
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
