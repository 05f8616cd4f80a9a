"""Checkpoints: what a run saves to continue exactly where it stopped, and safe loading.

A checkpoint holds only tensors and plain data (state dicts, RNG states, numbers, the
config), so it loads with `torch.load(..., weights_only=True)`; a file that needs more
(pickled code) is refused instead of executed.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from lstm_overfit.config import ConfigError


class CheckpointError(ConfigError):
    """A checkpoint that cannot or must not be loaded: one line, exit status 2."""


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"{path}: holds pickled objects beyond tensors and plain data; refusing to load "
            "it, since unpickling could run code"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        raise CheckpointError(f"{path}: is not a readable checkpoint ({err})") from None
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{path}: is not an lstm-overfit checkpoint")
    return state
