"""Labelled reviews such as IMDB's (binary sentiment), from a local copy or the hub.

Local form: a folder with train.jsonl.gz and test.jsonl.gz, one {"text", "label"} object per
line. A validation split is carved out of train with a fixed seed; the vocabulary is built
from what is left of train only; the test split stays held out.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from lstm_overfit.config import ReviewsData, Task
from lstm_overfit.data.cache import cache_dir, cache_key, cached
from lstm_overfit.data.files import (
    DataError,
    content_hash,
    find_file,
    hub_rows,
    hub_source_key,
    open_hub,
    read_jsonl,
)
from lstm_overfit.data.splits import Sequences, TaskData
from lstm_overfit.data.text import PAD, UNK, Vocabulary, tokenize

log = logging.getLogger(__name__)

# The carve of validation reviews out of train does not move with the run's seed, so every
# run of a sweep sees the same validation set.
SPLIT_SEED = 1234
FIX = "set dataset.path to a folder with train.jsonl.gz and test.jsonl.gz"


def _read_folder(paths: dict[str, Path]) -> dict[str, list[dict[str, Any]]]:
    rows = {split: read_jsonl(path) for split, path in paths.items()}
    for split, path in paths.items():
        _check_rows(rows[split], str(path))
    return rows


def _check_rows(rows: list[dict[str, Any]], source: str) -> None:
    if not rows:
        raise DataError(f"{source}: has no reviews")
    for number, row in enumerate(rows, 1):
        if not isinstance(row.get("text"), str):
            raise DataError(f"{source}: record {number} has no text string")
        if row.get("label") is None:
            raise DataError(f'{source}: record {number} has no label; give it "label": 0 or 1')
        if row["label"] not in (0, 1):
            raise DataError(
                f"{source}: record {number} has label {row['label']!r}, outside the classes 0 and 1"
            )


def _split_sizes(cfg: ReviewsData, available: int, source: str) -> tuple[int, int]:
    num_val = cfg.num_val
    if num_val >= available:
        raise DataError(
            f"{source}: dataset.num_val={num_val} leaves no training reviews out of "
            f"{available}; use a smaller dataset.num_val"
        )
    rest = available - num_val
    return num_val, rest if cfg.num_train is None else min(cfg.num_train, rest)


def _process(cfg: ReviewsData, rows: dict[str, list[dict[str, Any]]], source: str) -> dict:
    train_rows = rows["train"]
    num_val, num_train = _split_sizes(cfg, len(train_rows), source)
    order = torch.randperm(len(train_rows), generator=torch.Generator().manual_seed(SPLIT_SEED))
    val_rows = [train_rows[i] for i in order[:num_val].tolist()]
    fit_rows = [train_rows[i] for i in order[num_val : num_val + num_train].tolist()]
    test_rows = rows["test"][: cfg.num_test] if cfg.num_test else rows["test"]
    tokens = {
        name: [tokenize(row["text"]) for row in split]
        for name, split in (("train", fit_rows), ("val", val_rows), ("test", test_rows))
    }
    vocab = Vocabulary.build(tokens["train"], cfg.max_vocab, specials=(PAD, UNK))
    payload: dict[str, Any] = {"vocab": vocab.itos}
    for name, split in (("train", fit_rows), ("val", val_rows), ("test", test_rows)):
        seqs = Sequences.from_lists(
            [vocab.ids(t) for t in tokens[name]], [row["label"] for row in split], cfg.max_len
        )
        payload[name] = {"ids": seqs.ids, "offsets": seqs.offsets, "labels": seqs.labels}
    return payload


def load(cfg: ReviewsData, seed: int) -> TaskData:
    settings = {
        k: getattr(cfg, k) for k in ("num_train", "num_val", "num_test", "max_vocab", "max_len")
    }
    if cfg.path:
        folder = Path(cfg.path).expanduser()
        paths = {split: find_file(folder, f"{split}.jsonl", FIX) for split in ("train", "test")}
        key = cache_key(content_hash(list(paths.values())), settings)
        source = str(folder)

        def build() -> dict:
            return _process(cfg, _read_folder(paths), source)

    elif cfg.hub:
        hub = cfg.hub
        loaded = open_hub(hub, cfg.hub_config)
        for split in ("train", "test"):
            if split not in loaded:
                raise DataError(f"{hub}: the hub data set has no {split} split")
        hub_splits = {split: loaded[split] for split in ("train", "test")}
        source = hub

        # Keyed by the splits' fingerprints: a cached run reads no row.
        key = cache_key(hub_source_key(hub, cfg.hub_config, hub_splits), settings)

        def build() -> dict:
            rows = hub_rows(hub_splits)
            for split in hub_splits:
                _check_rows(rows[split], f"{hub} ({split})")
            return _process(cfg, rows, source)

    else:
        raise DataError(f"dataset {cfg.name} has no hub source; {FIX}")
    payload = cached(cfg.name, key, cache_dir(cfg.cache_dir), build)
    splits = {name: Sequences(**payload[name]) for name in ("train", "val", "test")}
    return TaskData(
        task=Task.classify,
        **splits,
        vocab_size=len(payload["vocab"]),
        num_classes=2,
        vocab=payload["vocab"],
    )
