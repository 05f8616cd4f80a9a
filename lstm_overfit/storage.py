"""Files written so that a kill never leaves half of one: atomic writes, and JSON lines
appended and synced one row at a time."""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from lstm_overfit.config import UsageError


@functools.cache
def _plain_mode() -> int:
    """The mode a plain open() gives a new file: 0666 less the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _atomic_write(path: Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Write through a temp file in the same folder, fsync, then rename over `path`.

    A reader sees the old file or the new one, never a partial one. The file gets the mode a
    plain write would give it (mkstemp's own is private to the user).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fchmod(f.fileno(), _plain_mode())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    _atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, allow_nan=True) + "\n")


def atomic_torch_save(path: Path, obj: Any) -> None:
    import torch  # here, so that reading records does not load torch

    _atomic_write(path, lambda f: torch.save(obj, f))


class JsonlWriter:
    """Appends one JSON object per line, flushed and synced, so a killed run keeps its history."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, row: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())


def parse_jsonl(
    text: str,
    source: Path,
    last_may_be_cut: bool = False,
    error: type[UsageError] = UsageError,
) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines text, one per non-blank line; raises `error` naming
    `source` and the line. With `last_may_be_cut`, a last line cut short (a kill while it was
    appended) is left out."""
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    rows = []
    for i, (number, line) in enumerate(lines, 1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            if last_may_be_cut and i == len(lines):
                break
            raise error(f"{source}: line {number} is not JSON ({err.msg})") from None
        if not isinstance(row, dict):
            raise error(f"{source}: line {number} is not a JSON object")
        rows.append(row)
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Replace a JSON-lines file whole, atomically."""
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in rows))
