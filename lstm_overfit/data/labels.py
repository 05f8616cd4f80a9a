"""Labels of a text classification data set: checked, mapped to class ids from the training
part, and splits carved out of train with a fixed seed (stratified by class, or not)."""

from __future__ import annotations

import math
from typing import Any

import torch

from lstm_overfit.data.files import DataError
from lstm_overfit.data.text_sources import Columns

# The hub's mark of an unlabelled example (SST-2's and GLUE's test splits).
UNLABELLED = -1


def _missing(label: Any) -> bool:
    return label is None or (isinstance(label, float) and math.isnan(label))


def check_texts(part: Columns) -> None:
    """Every text a string with a word in it."""
    for number, text in enumerate(part.texts, 1):
        if not isinstance(text, str):
            shown = "none" if text is None else f"{type(text).__name__} {text!r}"
            raise DataError(
                f"{part.where}: record {number} has no text string ({shown}); give every "
                "record a text, or set dataset.text_column to the column holding them"
            )
        if not text.strip():
            raise DataError(
                f"{part.where}: record {number} has an empty text; drop it or give it a text"
            )


def normalized(part: Columns) -> list[Any]:
    """The labels as integers or strings (a whole float, as pandas reads an integer column
    with a gap, becomes an integer); a missing or other label is named."""
    labels = []
    for number, label in enumerate(part.labels, 1):
        if _missing(label):
            raise DataError(
                f"{part.where}: record {number} has no label (missing or NaN); give every "
                "record a label, or drop the records without one"
            )
        if isinstance(label, float) and label.is_integer():
            label = int(label)
        if not isinstance(label, (int, str)):
            raise DataError(
                f"{part.where}: record {number} has label {label!r}, neither an integer nor "
                "a string; give labels as integers or strings"
            )
        labels.append(label)
    return labels


def unlabelled(part: Columns, classes: list[Any]) -> bool:
    """Whether a validation or test split carries no labels at all: every label missing, or
    the hub's -1 where -1 is not a class."""
    return all(
        _missing(label) or (label == UNLABELLED and UNLABELLED not in classes)
        for label in part.labels
    )


def classes_of(train: Columns, labels: list[Any]) -> list[Any]:
    """The training part's labels, sorted: class i is the i-th."""
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise DataError(
            f"{train.where}: every training label is {classes[0]!r}, a single class; a "
            "classifier needs two or more (check dataset.label_column)"
        )
    return classes


def class_ids(part: Columns, labels: list[Any], classes: list[Any]) -> list[int]:
    """Each label's class id; a label the training part does not have is named."""
    ids = {label: i for i, label in enumerate(classes)}
    try:
        return [ids[label] for label in labels]
    except KeyError as err:
        number = labels.index(err.args[0]) + 1
        shown = ", ".join(map(str, classes))
        raise DataError(
            f"{part.where}: record {number} has label {err.args[0]!r}, which the training "
            f"part never has (its classes: {shown}); add training examples of it or drop "
            "those records"
        ) from None


def _quotas(size: int, counts: list[int]) -> list[int]:
    """`size` rows shared among classes in proportion to their `counts` (largest
    remainders); a class with rows to spare gets one at least, so none is left out."""
    total = sum(counts)
    exact = [size * count / total for count in counts]
    quotas = [int(e) for e in exact]
    for i, count in enumerate(counts):
        if quotas[i] == 0 and count >= 2 and size >= len(counts):
            quotas[i] = 1
    while sum(quotas) > size:
        quotas[max(range(len(counts)), key=lambda i: quotas[i])] -= 1
    while sum(quotas) < size:
        spare = [i for i in range(len(counts)) if quotas[i] < counts[i]]
        quotas[max(spare, key=lambda i: exact[i] - quotas[i])] += 1
    return quotas


def carve(labels: torch.Tensor, sizes: list[int], stratify: bool, seed: int) -> list[torch.Tensor]:
    """Indices of parts of `sizes` rows drawn at random (from `seed`), and of the rest last.
    Stratified, each part keeps every class's share; otherwise the parts are consecutive
    stretches of one permutation."""
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    if not stratify:
        ends = torch.tensor(sizes).cumsum(0).tolist()
        return list(torch.tensor_split(order, ends))
    by_class = [order[labels[order] == c] for c in range(int(labels.max()) + 1)]
    taken = [0] * len(by_class)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order))  # each row's place in the permutation
    parts = []
    for size in sizes:
        left = [len(members) - start for members, start in zip(by_class, taken, strict=True)]
        chosen = []
        for c, quota in enumerate(_quotas(size, left)):
            chosen.append(by_class[c][taken[c] : taken[c] + quota])
            taken[c] += quota
        parts.append(torch.cat(chosen))
    rest = [members[start:] for members, start in zip(by_class, taken, strict=True)]
    parts.append(torch.cat(rest))
    # Each part in the permutation's order, not grouped by class.
    return [part[torch.argsort(rank[part])] for part in parts]
