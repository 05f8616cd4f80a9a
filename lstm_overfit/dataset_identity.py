"""What data a run used, by content rather than by name.

Two runs of the `csv` data set on different files are different data sets; so are two runs
that name the same folder after its files were replaced. A run records, as it starts,
`dataset.json`: the sha256 of the files `dataset.path` names (a file, or every file under a
folder), and the composed data-set config beside it (the hub id and configuration, slice
sizes, processing settings). It is generic over data-set configs: any source's files are
hashed the same way, and its settings are whatever its config holds.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from lstm_overfit.config import UsageError
from lstm_overfit.storage import atomic_write_json

IDENTITY_FILE = "dataset.json"
# Where the data lies and where its processing is cached say nothing about what it is.
NOT_IDENTITY = ("path", "cache_dir")


def files_digest(path: Path) -> str | None:
    """sha256 over the file at `path`, or over every file under the folder (each with its
    relative path, in sorted order); None where nothing is there."""
    if path.is_file():
        files = [(path.name, path)]
    elif path.is_dir():
        files = sorted((p.relative_to(path).as_posix(), p) for p in path.rglob("*") if p.is_file())
    else:
        return None
    digest = hashlib.sha256()
    for name, file in files:
        digest.update(name.encode() + b"\0")
        with file.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def dataset_identity(dataset: Any) -> dict[str, Any]:
    """The identity of a data-set config (a dataclass or its plain dict): its name, the
    files it reads and their digest, its settings, and one fingerprint over all but where
    the files lie."""
    settings = asdict(dataset) if is_dataclass(dataset) else dict(dataset)
    settings = json.loads(json.dumps(settings, default=str))  # enums as their values
    where = settings.get("path")
    path = Path(where).expanduser().resolve() if where else None
    files = files_digest(path) if path is not None else None
    config = {k: v for k, v in sorted(settings.items()) if k not in NOT_IDENTITY}
    whole = json.dumps({"files": files, "config": config}, sort_keys=True)
    return {
        "name": settings.get("name"),
        "path": str(path) if path is not None else None,
        "files_sha256": files,
        "config": config,
        "fingerprint": hashlib.sha256(whole.encode()).hexdigest()[:16],
    }


def record_identity(dataset: Any, folder: Path) -> None:
    """Write the run's dataset.json once: a resumed run keeps the identity it started with."""
    if not (folder / IDENTITY_FILE).exists():
        atomic_write_json(folder / IDENTITY_FILE, dataset_identity(dataset))


def read_identity(folder: Path) -> dict[str, Any] | None:
    try:
        identity = json.loads((folder / IDENTITY_FILE).read_text())
    except (OSError, ValueError):
        return None
    return identity if isinstance(identity, dict) else None


def check_same_data(folder: Path, dataset: Any) -> None:
    """A run continues on the data it started with: its records would otherwise mix two
    data sets. Compares the files the continued run reads with those recorded at its start."""
    recorded = read_identity(folder)
    if recorded is None:
        return
    now = dataset_identity(dataset)
    if now["files_sha256"] != recorded.get("files_sha256"):
        where = now["path"] or "the hub"
        raise UsageError(
            f"{where}: not the data the run in {folder} started with (its files' sha256 "
            f"differs from the one recorded in {IDENTITY_FILE}); give the files it read "
            "(dataset.path) as they were, or start a new run"
        )
