"""Univariate time series from a CSV file (sunspots, co2, or any `csv`), as windows.

Chronological split (never shuffled across time): the first part trains, the next
validates, the last tests. Values are normalized with the training part's mean and standard
deviation. Missing values are interpolated linearly, or every window that touches one is
dropped (`dataset.gaps`).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import torch

from lstm_overfit.config import DataConfig, GapPolicy, Task
from lstm_overfit.data.core import TaskData, Windows
from lstm_overfit.data.files import DataError, read_text


def read_column(path: Path, column: str | None) -> torch.Tensor:
    """The column's values in file order; empty cells become NaN."""
    reader = csv.DictReader(io.StringIO(read_text(path)))
    columns = reader.fieldnames or []
    if column is None or column not in columns:
        problem = "no dataset.column given" if column is None else f"no column {column!r}"
        raise DataError(
            f"{path}: {problem}; its columns are {', '.join(columns) or 'none'}: "
            "set dataset.column to one of them"
        )
    values = []
    for number, row in enumerate(reader, 2):
        cell = (row.get(column) or "").strip()
        try:
            values.append(float(cell) if cell else math.nan)
        except ValueError:
            raise DataError(
                f"{path}: line {number}: {cell!r} in column {column} is not a number; "
                "fix or remove that row"
            ) from None
    if not values:
        raise DataError(f"{path}: has no rows")
    return torch.tensor(values, dtype=torch.float64)


def interpolate_gaps(values: torch.Tensor) -> torch.Tensor:
    """Linear interpolation across missing values; gaps at either end take the nearest value."""
    present = ~values.isnan()
    if not present.any():
        raise DataError("the series has no values")
    steps = np.arange(len(values))
    filled = np.interp(steps, steps[present.numpy()], values[present].numpy())
    return torch.from_numpy(filled)


def make_windows(values: torch.Tensor, window: int, horizon: int) -> Windows:
    """All windows of `window` inputs and the `horizon` values after them, without NaN."""
    span = window + horizon
    if len(values) < span:
        return Windows(torch.zeros(0, window), torch.zeros(0, horizon))
    frames = values.unfold(0, span, 1)
    keep = ~frames.isnan().any(dim=1)
    frames = frames[keep].float()
    return Windows(frames[:, :window].contiguous(), frames[:, window:].contiguous())


def load(cfg: DataConfig, seed: int) -> TaskData:
    if not cfg.path:
        raise DataError(
            f"dataset {cfg.name} reads a CSV file: set dataset.path to it "
            "(and dataset.column to the value column)"
        )
    path = Path(cfg.path).expanduser()
    values = read_column(path, cfg.column)
    if cfg.gaps == GapPolicy.interpolate:
        values = interpolate_gaps(values)
    n = len(values)
    n_test, n_val = round(n * cfg.test_fraction), round(n * cfg.val_fraction)
    n_train = n - n_val - n_test
    train_part = values[:n_train]
    mean = float(train_part.nanmean())
    std = float((train_part - mean).pow(2).nanmean().sqrt()) or 1.0
    scaled = (values - mean) / std
    # Validation and test windows may look back into the previous part: their inputs are
    # history, never their own targets, so nothing of the future leaks into the past.
    span_back = cfg.window
    parts = {
        "train": scaled[:n_train],
        "val": scaled[max(0, n_train - span_back) : n_train + n_val],
        "test": scaled[max(0, n_train + n_val - span_back) :],
    }
    windows = {name: make_windows(part, cfg.window, cfg.horizon) for name, part in parts.items()}
    for name, split in windows.items():
        if len(split) == 0:
            raise DataError(
                f"{path}: the {name} split has no complete window of {cfg.window}+{cfg.horizon} "
                "steps; use a smaller dataset.window or larger split fractions"
            )
    return TaskData(
        task=Task.forecast,
        train=windows["train"],
        val=windows["val"],
        test=windows["test"],
        scale=std,
        info={"mean": mean, "std": std, "steps": {"train": n_train, "val": n_val, "test": n_test}},
    )
