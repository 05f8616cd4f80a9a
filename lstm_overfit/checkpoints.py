"""A run's state, and the checkpoint files it is saved in whole.

RunState is everything that changes as a run trains: the weights, the optimizer (and
NT-ASGD's switch), the random generators, early stopping's record, how far the run got
(mid-epoch too) and its wall time. `last.pt` and `best.pt` hold its state_dict, with the
config. A checkpoint holds only tensors and plain data, so it loads with
`torch.load(..., weights_only=True)`; a file that needs more (pickled code) is refused
instead of executed.
"""

from __future__ import annotations

import json
import pickle
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lstm_overfit.config import Config, UsageError
from lstm_overfit.optim import RunOptimizer
from lstm_overfit.regularizers.active import ActiveRegularizers
from lstm_overfit.stopping import BestEpoch
from lstm_overfit.storage import atomic_torch_save

FORMAT = 1


class CheckpointError(UsageError):
    """A checkpoint that cannot or must not be loaded: one line, exit status 2."""


@dataclass
class RunState:
    """What changes as a run trains; a checkpoint is its state_dict."""

    model: nn.Module
    optimizer: RunOptimizer
    order: torch.Generator  # the batch order; dropout masks draw from torch's global one
    best: BestEpoch
    regularizers: ActiveRegularizers  # their own state, for those that keep one
    epoch: int = 0  # epochs completed
    # Mid-epoch, when a signal stopped the run: batches done, running sums, the task's state.
    partial: dict[str, Any] | None = None
    num_threads: int = 0  # torch threads the run chose when it started, kept on resume
    earlier_seconds: float = 0.0  # wall time of the invocations before this one
    started: float = field(default_factory=time.perf_counter)

    def wall_seconds(self) -> float:
        return self.earlier_seconds + time.perf_counter() - self.started

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            **self.optimizer.state_dict(),  # optimizer, averaging
            "rng": {"torch": torch.get_rng_state(), "order": self.order.get_state()},
            "early_stopping": self.best.state_dict(),  # the best epoch (the key is format 1's)
            "regularizers": self.regularizers.state_dict(),
            "partial": self.partial,
            "wall_seconds": self.wall_seconds(),
            "num_threads": self.num_threads,
        }

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved)
        torch.set_rng_state(saved["rng"]["torch"])
        self.order.set_state(saved["rng"]["order"])
        self.best.load_state_dict(saved["early_stopping"])
        self.regularizers.load_state_dict(saved.get("regularizers", {}))
        self.epoch, self.partial = saved["epoch"], saved["partial"]
        self.earlier_seconds = saved["wall_seconds"]
        self.num_threads = saved.get("num_threads", self.num_threads)


def save_checkpoint(path: Path, state: RunState, cfg: Config) -> None:
    config = json.loads(json.dumps(asdict(cfg)))  # plain data: enums as strings
    atomic_torch_save(path, {"format": FORMAT, **state.state_dict(), "config": config})


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


def load_run_state(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """A checkpoint a run continues from (RunState.load_state_dict takes it), in this
    version's format."""
    saved = load_checkpoint(path, device)
    if saved.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: was written in checkpoint format {saved.get('format')}, this version "
            f"reads format {FORMAT}; start the run afresh"
        )
    return saved
