"""Labelled texts for classification, from any source `text_sources` opens (`imdb` is a preset).

The labels are mapped to class ids from the training part (sorted); a validation split is the
source's where it has one, else carved out of train with a fixed seed, and so is a test split
without labels; the vocabulary is built from what is left of train only. The result is cached,
keyed by the source's identity and these settings, so a cached data set reads no row.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from lstm_overfit.config import Task, TextsData
from lstm_overfit.data.cache import cache_dir, cache_key, cached
from lstm_overfit.data.files import DataError
from lstm_overfit.data.labels import (
    carve,
    check_texts,
    class_ids,
    classes_of,
    normalized,
    unlabelled,
)
from lstm_overfit.data.splits import Sequences, TaskData
from lstm_overfit.data.text import PAD, UNK, Vocabulary, tokenize
from lstm_overfit.data.text_sources import Columns, TextSource, open_source

log = logging.getLogger(__name__)

# The carve out of train does not move with the run's seed, so every run of a sweep sees the
# same validation set.
SPLIT_SEED = 1234
# The names a source's own validation split goes by, when dataset.val_split is not set.
VALIDATION_NAMES = ("validation", "valid", "val", "dev")
PARTS = ("train", "val", "test")
# The settings that change what is prepared (the cache key), besides the source.
SETTINGS = (
    "text_column",
    "label_column",
    "val_fraction",
    "test_fraction",
    "stratify",
    "num_train",
    "num_val",
    "num_test",
    "max_vocab",
    "max_len",
)


def _chosen_splits(cfg: TextsData, source: TextSource) -> dict[str, str | None]:
    """The source's split for each part: train, val and test (None: carved)."""
    have = source.splits

    def named(knob: str, split: str) -> str:
        if split not in have:
            raise DataError(
                f"{source.label}: has no split {split!r}; its splits are {', '.join(have)}: "
                f"set dataset.{knob} to one of them"
            )
        return split

    val = cfg.val_split or next((s for s in VALIDATION_NAMES if s in have), None)
    test = cfg.test_split or ("test" if "test" in have else None)
    return {
        "train": named("train_split", cfg.train_split),
        "val": val and named("val_split", val),
        "test": test and named("test_split", test),
    }


def _carved_sizes(cfg: TextsData, available: int, carved: list[str], where: str) -> list[int]:
    sizes = []
    for part in carved:
        count = getattr(cfg, f"num_{part}")
        fraction = getattr(cfg, f"{part}_fraction")
        sizes.append(round(fraction * available) if count is None else count)
    if sum(sizes) >= available:
        knobs = " and ".join(f"dataset.num_{p}={s}" for p, s in zip(carved, sizes, strict=True))
        raise DataError(
            f"{where}: {knobs} leaves no training texts out of {available}; use a smaller "
            f"{' or '.join(f'dataset.num_{p}' for p in carved)}"
        )
    return sizes


def _prepare(cfg: TextsData, source: TextSource, chosen: dict[str, str | None]) -> dict:
    columns: dict[str, Columns] = {
        part: source.columns(split, cfg.text_column, cfg.label_column)
        for part, split in chosen.items()
        if split is not None
    }
    train = columns["train"]
    train_labels = normalized(train)
    classes = classes_of(train, train_labels)
    for part in ("val", "test"):
        if part in columns and unlabelled(columns[part], classes):
            where = columns[part].where
            log.info("%s has no labels: the %s split is carved out of train", where, part)
            del columns[part]
    for part in columns.values():
        check_texts(part)
    labels = {"train": torch.tensor(class_ids(train, train_labels, classes))}
    texts = {"train": train.texts}
    for part in ("val", "test"):
        if part in columns:
            given = columns[part]
            count = getattr(cfg, f"num_{part}")
            labels[part] = torch.tensor(class_ids(given, normalized(given), classes))[:count]
            texts[part] = given.texts[:count]
    carved = [part for part in ("val", "test") if part not in columns]
    sizes = _carved_sizes(cfg, len(train.texts), carved, train.where)
    *pieces, rest = carve(labels["train"], sizes, cfg.stratify, SPLIT_SEED)
    for part, index in zip([*carved, "train"], [*pieces, rest[: cfg.num_train]], strict=True):
        labels[part] = labels["train"][index]
        texts[part] = [train.texts[i] for i in index.tolist()]
    tokens = {part: [tokenize(text) for text in texts[part]] for part in PARTS}
    vocab = Vocabulary.build(tokens["train"], cfg.max_vocab, specials=(PAD, UNK))
    names = train.label_names
    payload: dict[str, Any] = {
        "vocab": vocab.itos,
        "classes": [names[c] if names else str(c) for c in classes],
    }
    for part in PARTS:
        seqs = Sequences.from_lists(
            [vocab.ids(t) for t in tokens[part]], labels[part].tolist(), cfg.max_len
        )
        payload[part] = {"ids": seqs.ids, "offsets": seqs.offsets, "labels": seqs.labels}
    return payload


def load(cfg: TextsData, seed: int) -> TaskData:
    source = open_source(cfg)
    chosen = _chosen_splits(cfg, source)
    used = [split for split in chosen.values() if split is not None]
    settings = {k: getattr(cfg, k) for k in SETTINGS} | {"splits": chosen}
    key = cache_key(source.key(used, cfg.hub_config), settings)
    payload = cached(cfg.name, key, cache_dir(cfg.cache_dir), lambda: _prepare(cfg, source, chosen))
    splits = {part: Sequences(**payload[part]) for part in PARTS}
    log.info("%s: classes %s", cfg.name, ", ".join(payload["classes"]))
    return TaskData(
        task=Task.classify,
        **splits,
        vocab_size=len(payload["vocab"]),
        num_classes=len(payload["classes"]),
        vocab=payload["vocab"],
        info={"classes": payload["classes"]},
    )
