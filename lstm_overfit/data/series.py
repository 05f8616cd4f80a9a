"""Univariate time series from a CSV file (sunspots, co2, or any `csv`), as windows.

Chronological split (never shuffled across time): the first part trains, the next
validates, the last tests; a window belongs to the part its targets lie in, and its inputs
may reach back into the part before (history, never its own targets). The model reads and
predicts either the values or their step-to-step changes (`dataset.transform`), normalized
with the training part's mean and standard deviation; errors are measured on the values,
in the series' units. Missing values are interpolated linearly, or every window that touches
one is dropped (`dataset.gaps`).
"""

from __future__ import annotations

import csv
import io
import logging
import math
from pathlib import Path

import numpy as np
import torch

from lstm_overfit.config import GapPolicy, SeriesData, SeriesTransform, Task
from lstm_overfit.data.files import DataError, read_text
from lstm_overfit.data.splits import SeriesScale, TaskData, Windows

log = logging.getLogger(__name__)

# Values further from zero than this are refused: the normalization squares their spread,
# which passes float64's largest number (1.8e308) and turns every error into inf.
MAX_MAGNITUDE = 1e150
# Separators other CSV writers use (spreadsheets in locales with a decimal comma use ";").
OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


def read_column(path: Path, column: str | None) -> torch.Tensor:
    """The column's values in file order; empty and `nan` cells become NaN (missing)."""
    reader = csv.DictReader(io.StringIO(read_text(path)))
    columns = reader.fieldnames or []
    if not columns:
        raise DataError(
            f"{path}: is empty; give a CSV file with a header row and one row per time step"
        )
    rows = list(reader)
    if not rows:
        raise DataError(
            f"{path}: has a header but no rows; give a CSV file with one row per time step"
        )
    if len(columns) == 1 and column not in columns:
        for delimiter, name in OTHER_DELIMITERS.items():
            if delimiter in columns[0]:
                raise DataError(
                    f"{path}: its header {columns[0]!r} reads as one column: the file looks "
                    f"{name}-separated; save it with commas between the columns"
                )
    if column is None or column not in columns:
        problem = "no dataset.column given" if column is None else f"no column {column!r}"
        raise DataError(
            f"{path}: {problem}; its columns are {', '.join(columns) or 'none'}: "
            "set dataset.column to one of them"
        )
    values = []
    for number, row in enumerate(rows, 2):
        cell = (row.get(column) or "").strip()
        try:
            value = float(cell) if cell else math.nan
        except ValueError:
            raise DataError(
                f"{path}: line {number}: {cell!r} in column {column} is not a number; "
                "fix or remove that row"
            ) from None
        if math.isinf(value):
            raise DataError(
                f"{path}: line {number}: {cell!r} in column {column} is not a finite number; "
                "fix or remove that row"
            )
        if abs(value) > MAX_MAGNITUDE:
            raise DataError(
                f"{path}: line {number}: {cell!r} in column {column} is too large to compute "
                f"with (values must stay within ±{MAX_MAGNITUDE:g}); rescale the column"
            )
        values.append(value)
    return torch.tensor(values, dtype=torch.float64)


def count_missing(values: torch.Tensor, path: Path, cfg: SeriesData) -> None:
    """Say how many values are missing and what becomes of them; refuse a series with more
    than dataset.max_missing of them (past that, made-up values weigh on what is learnt)."""
    missing, total = int(values.isnan().sum()), len(values)
    if not missing:
        return
    share = missing / total
    counted = f"{missing} of {total} values of column {cfg.column} are missing ({share:.1%})"
    if share > cfg.max_missing:
        raise DataError(
            f"{path}: {counted}, more than dataset.max_missing={cfg.max_missing:g} allows; "
            f"fill them in the file, or set dataset.max_missing={math.ceil(share * 100) / 100:g} "
            f"to accept them (dataset.gaps={cfg.gaps.value})"
        )
    if cfg.gaps == GapPolicy.interpolate:
        fate = "filled by linear interpolation"
    else:
        fate = "the windows that touch them are dropped"
    log.warning("%s: %s: %s (dataset.gaps=%s)", path, counted, fate, cfg.gaps.value)


def interpolate_gaps(values: torch.Tensor) -> torch.Tensor:
    """Linear interpolation across missing values; gaps at either end take the nearest value."""
    present = ~values.isnan()
    if not present.any():
        raise DataError("the series has no values")
    steps = np.arange(len(values))
    filled = np.interp(steps, steps[present.numpy()], values[present].numpy())
    return torch.from_numpy(filled)


def make_windows(
    modelled: torch.Tensor,
    levels: torch.Tensor,
    scale: SeriesScale,
    window: int,
    horizon: int,
    part_ends: tuple[int, int, int],
) -> dict[str, Windows]:
    """Every window without a missing value, by the part its targets lie in.

    `modelled` holds the values the model reads (levels, or changes: modelled[j] is then
    levels[j + 1] - levels[j]); `part_ends` are the level indices where train, validation
    and test end.
    """
    offset = 1 if scale.differenced else 0
    span = window + horizon
    count = max(0, len(modelled) - span + 1)
    starts = torch.arange(count)
    frames = modelled.unfold(0, span, 1)[:count] if count else modelled.new_zeros(0, span)
    first = starts + window + offset  # level index of the first target
    bounds = torch.tensor(part_ends)
    part = torch.bucketize(first, bounds, right=True)
    same_part = part == torch.bucketize(first + horizon - 1, bounds, right=True)
    complete = ~frames.isnan().any(dim=1)
    steps = torch.arange(horizon)
    split = {}
    for index, name in enumerate(("train", "val", "test")):
        keep = (part == index) & same_part & complete
        normalized = ((frames[keep] - scale.mean) / scale.std).float()
        split[name] = Windows(
            inputs=normalized[:, :window].contiguous(),
            targets=normalized[:, window:].contiguous(),
            last=levels[first[keep] - 1],
            target_levels=levels[first[keep].unsqueeze(1) + steps],
        )
    return split


def load(cfg: SeriesData, seed: int) -> TaskData:
    if not cfg.path:
        raise DataError(
            f"dataset {cfg.name} reads a CSV file: set dataset.path to it "
            "(and dataset.column to the value column)"
        )
    path = Path(cfg.path).expanduser()
    levels = read_column(path, cfg.column)
    count_missing(levels, path, cfg)
    if cfg.gaps == GapPolicy.interpolate:
        levels = interpolate_gaps(levels)
    n = len(levels)
    n_test, n_val = round(n * cfg.test_fraction), round(n * cfg.val_fraction)
    n_train = n - n_val - n_test
    differenced = cfg.transform == SeriesTransform.difference
    modelled = levels[1:] - levels[:-1] if differenced else levels
    train_part = modelled[: n_train - 1] if differenced else modelled[:n_train]
    mean = float(train_part.nanmean())
    std = float((train_part - mean).pow(2).nanmean().sqrt()) or 1.0
    scale = SeriesScale(mean, std, differenced)
    ends = (n_train, n_train + n_val, n)
    windows = make_windows(modelled, levels, scale, cfg.window, cfg.horizon, ends)
    for name, split in windows.items():
        if len(split) == 0:
            raise DataError(
                f"{path}: the {name} split has no complete window of {cfg.window}+{cfg.horizon} "
                "steps; use a smaller dataset.window or larger split fractions"
            )
    step_changes = (levels[1:n_train] - levels[: n_train - 1]).abs()
    naive_step_mae = float(step_changes.nanmean())
    if not naive_step_mae > 0:  # MASE divides by it
        raise DataError(
            f"{path}: column {cfg.column} is constant over the training part; nothing to forecast"
        )
    return TaskData(
        task=Task.forecast,
        **windows,
        scale=scale,
        naive_step_mae=naive_step_mae,
        info={"steps": {"train": n_train, "val": n_val, "test": n_test}},
    )
