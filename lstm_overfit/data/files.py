"""Reading local data files and the Hugging Face hub, with one-line errors for bad input."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lstm_overfit.config import UsageError


class DataError(UsageError):
    """A data file that is missing, unreadable or malformed: one line, exit status 2."""


def find_file(folder: Path, stem: str, fix: str) -> Path:
    """`folder/stem.gz` or `folder/stem`, whichever exists."""
    if not folder.exists():
        raise DataError(f"{folder}: no such folder; {fix}")
    if not folder.is_dir():
        raise DataError(f"{folder}: is a file, expected a folder; {fix}")
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.exists():
            return candidate
    raise DataError(f"{folder}: has no {stem}.gz or {stem}; {fix}")


def read_text(path: Path) -> str:
    """A UTF-8 text file, gzip-compressed when its name ends in .gz."""
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, expected a file")
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
        return raw.decode("utf-8")
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path}: cannot be read as gzip ({err}); replace the file") from None
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path}: is not UTF-8 text (byte {err.start}); convert it to UTF-8"
        ) from None


def content_hash(paths: list[Path]) -> str:
    """sha256 over the files' bytes: the cache key changes whenever a source file does."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def text_hash(text: str) -> str:
    """sha256 of text already in memory (rows from the hub)."""
    return hashlib.sha256(text.encode()).hexdigest()


# Offline, the hub's client logs each failed request and each retry before the error that
# this module turns into one line.
HUB_LOGGERS = ("huggingface_hub", "datasets")


@contextmanager
def quiet_hub_loggers() -> Iterator[None]:
    """The hub libraries' warnings (request errors, retries) held back while loading."""
    loggers = [logging.getLogger(name) for name in HUB_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def open_hub(name: str, config: str | None = None) -> Mapping[str, Any]:
    """Every split of a hub data set as `datasets` returns it (downloaded once, then cached by
    `datasets`); its rows are read only when iterated."""
    try:
        import datasets
    except ImportError:
        raise DataError(
            f"loading {name} from the Hugging Face hub needs the `datasets` package; "
            "install it (pip install datasets) or set dataset.path to a local copy"
        ) from None
    try:
        with quiet_hub_loggers():
            return datasets.load_dataset(name, config)
    except Exception as err:  # offline, unknown name, ...: the library raises many types
        raise DataError(
            f"could not load {name} from the Hugging Face hub ({type(err).__name__}); "
            "set dataset.path to a local copy"
        ) from None


def hub_source_key(name: str, config: str | None, splits: Mapping[str, Any]) -> str:
    """What identifies hub splits without reading their rows: the id, the configuration, and
    each split's `datasets` fingerprint (it follows the hub revision) and row count."""
    parts = {split: [rows._fingerprint, len(rows)] for split, rows in splits.items()}
    text = json.dumps({"hub": name, "config": config, "splits": parts}, sort_keys=True)
    return text_hash(text)


def hub_rows(splits: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The splits' rows as plain dicts: this reads every row."""
    return {split: [dict(row) for row in rows] for split, rows in splits.items()}
