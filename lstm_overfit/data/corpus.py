"""Word-level language-modelling corpora (Penn Treebank, WikiText-2) as token streams.

Local form: a folder with train.txt, valid.txt and test.txt (each optionally gzipped), one
sentence or paragraph per line, tokens separated by spaces. Every line ends with `<eos>`.
Blank lines count too, as in the usual loaders. The vocabulary is the training types
(the `dataset.max_vocab` most frequent, where set); every other word becomes `<unk>`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from lstm_overfit.config import CorpusData, Task
from lstm_overfit.data.cache import cache_dir, cache_key, cached
from lstm_overfit.data.files import (
    DataError,
    content_hash,
    find_file,
    hub_rows,
    hub_source_key,
    open_hub,
    read_text,
)
from lstm_overfit.data.splits import Stream, TaskData
from lstm_overfit.data.text import EOS, UNK, Vocabulary

FILES = {"train": "train.txt", "val": "valid.txt", "test": "test.txt"}
HUB_SPLITS = {"train": "train", "val": "validation", "test": "test"}
FIX = "set dataset.path to a folder with train.txt, valid.txt and test.txt (or .txt.gz)"


def line_tokens(lines: list[str]) -> list[str]:
    return [token for line in lines for token in (*line.split(), EOS)]


def _hub_splits(cfg: CorpusData) -> dict[str, Any]:
    """The hub's train, validation and test splits under this module's names; no rows read."""
    loaded = open_hub(cfg.hub, cfg.hub_config)
    for split in HUB_SPLITS.values():
        if split not in loaded:
            raise DataError(f"{cfg.hub}: the hub data set has no {split} split")
    return {name: loaded[split] for name, split in HUB_SPLITS.items()}


def _hub_lines(splits: dict[str, Any]) -> dict[str, list[str]]:
    lines = {}
    for name, rows in hub_rows(splits).items():
        column = "text" if not rows or "text" in rows[0] else "sentence"
        lines[name] = [row[column] for row in rows]
    return lines


def _file_lines(paths: dict[str, Path]) -> dict[str, list[str]]:
    return {name: read_text(path).splitlines() for name, path in paths.items()}


def _process(cfg: CorpusData, lines: dict[str, list[str]]) -> dict:
    tokens = {name: line_tokens(split_lines) for name, split_lines in lines.items()}
    vocab = Vocabulary.build([tokens["train"]], cfg.max_vocab, specials=(EOS, UNK))
    payload: dict = {"vocab": vocab.itos}
    for name, split_tokens in tokens.items():
        payload[name] = torch.tensor(vocab.ids(split_tokens), dtype=torch.long)
    return payload


def load(cfg: CorpusData, seed: int) -> TaskData:
    settings = {"max_vocab": cfg.max_vocab, "name": cfg.name}
    if cfg.path:
        folder = Path(cfg.path).expanduser()
        paths = {name: find_file(folder, stem, FIX) for name, stem in FILES.items()}
        key = cache_key(content_hash(list(paths.values())), settings)

        def build() -> dict:
            return _process(cfg, _file_lines(paths))

    elif cfg.hub:
        splits = _hub_splits(cfg)
        # Keyed by the splits' fingerprints: a cached run reads no row.
        key = cache_key(hub_source_key(cfg.hub, cfg.hub_config, splits), settings)

        def build() -> dict:
            return _process(cfg, _hub_lines(splits))

    else:
        raise DataError(f"dataset {cfg.name} has no hub source; {FIX}")
    payload = cached(cfg.name, key, cache_dir(cfg.cache_dir), build)
    caps = {"train": cfg.num_train, "val": cfg.num_val, "test": cfg.num_test}
    streams = {name: Stream(payload[name][: caps[name]]) for name in FILES}
    return TaskData(
        task=Task.lm,
        train=streams["train"],
        val=streams["val"],
        test=streams["test"],
        vocab_size=len(payload["vocab"]),
        vocab=payload["vocab"],
    )
