"""Processed data cached on disk, keyed by the source content and the processing config.

A sweep of many jobs prepares a data set once. Jobs that start together take a file lock, so
one prepares while the others wait and then read its result; the file appears by an atomic
rename, so nobody reads a half-written cache. The lock is `filelock`'s, which works on POSIX
and on Windows alike.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock

from lstm_overfit.storage import atomic_torch_save

log = logging.getLogger(__name__)

# Bump when the processing code changes what it produces, so old caches are not reused.
FORMAT_VERSION = 1


def cache_dir(configured: str | None) -> Path:
    """dataset.cache_dir, else $XDG_CACHE_HOME/lstm-overfit (~/.cache/lstm-overfit)."""
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lstm-overfit"


def cache_key(source_hash: str, settings: dict[str, Any]) -> str:
    """The cache entry's name: the source's identity, the processing settings, the format."""
    text = json.dumps(
        {"source": source_hash, "settings": settings, "v": FORMAT_VERSION}, sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def cached(
    name: str, key: str, folder: Path, build: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """Load `name-key.pt` from `folder`, or build it once under a lock and store it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{key}.pt"
    if path.exists():
        return torch.load(path, weights_only=True)
    # One lock file per entry: jobs preparing different data sets do not wait for each other.
    with FileLock(folder / f"{name}-{key}.lock"):
        if path.exists():  # another job built it while this one waited
            return torch.load(path, weights_only=True)
        log.info("preparing %s (cached in %s)", name, path)
        payload = build()
        atomic_torch_save(path, payload)
    return payload
