"""Pretrained embeddings: a GloVe text file and the GloVe package."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
import torch
from torch import nn

from lstm_overfit.config import EmbeddingConfig, UsageError
from lstm_overfit.embeddings import GLOVE_PACKAGE, load_pretrained

VOCAB = ["<pad>", "<unk>", "the", "king", "zzzunknownword"]


def test_glove_text_file_fills_known_rows_and_reports_coverage(tmp_path: Path) -> None:
    glove = tmp_path / "glove.txt"
    glove.write_text("the 0.1 0.2 0.3\nqueen 1 1 1\nking 0.5 -0.5 0.25\n")
    emb = nn.Embedding(len(VOCAB), 3)
    before = emb.weight.detach().clone()
    coverage = load_pretrained(emb, VOCAB, EmbeddingConfig(pretrained=str(glove), freeze=True))
    assert coverage == {"found": 2, "vocabulary": 5}
    torch.testing.assert_close(emb.weight[2], torch.tensor([0.1, 0.2, 0.3]))
    torch.testing.assert_close(emb.weight[3], torch.tensor([0.5, -0.5, 0.25]))
    torch.testing.assert_close(emb.weight[4], before[4])  # no vector: initialization kept
    assert not emb.weight[:2].any()  # <pad> and <unk> start at zero, as in the tutorial
    assert not emb.weight.requires_grad


def test_dimension_mismatch_says_which_size_to_use(tmp_path: Path) -> None:
    glove = tmp_path / "glove.txt"
    glove.write_text("the 0.1 0.2 0.3\n")
    with pytest.raises(UsageError, match="set model.embedding_size=3"):
        load_pretrained(nn.Embedding(5, 4), VOCAB, EmbeddingConfig(pretrained=str(glove)))


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        load_pretrained(nn.Embedding(5, 3), VOCAB, EmbeddingConfig(pretrained=str(tmp_path / "x")))


def test_glove_package_vectors() -> None:
    try:
        importlib.metadata.distribution(GLOVE_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{GLOVE_PACKAGE} is not installed")
    emb = nn.Embedding(len(VOCAB), 50)
    coverage = load_pretrained(emb, VOCAB, EmbeddingConfig(pretrained=GLOVE_PACKAGE))
    assert coverage == {"found": 2, "vocabulary": 5}  # the, king
    # The published first values of the `the` and `king` rows.
    torch.testing.assert_close(emb.weight[2, :4], torch.tensor([0.418, 0.24968, -0.41242, 0.1217]))
    torch.testing.assert_close(
        emb.weight[3, :4], torch.tensor([0.50451, 0.68607, -0.59517, -0.022801])
    )
