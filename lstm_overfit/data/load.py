"""From a data-source config to the run's data: the loader follows the source's kind."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict

from lstm_overfit.config import (
    CorpusData,
    DataConfig,
    SeriesData,
    SyntheticData,
    TextsData,
    UsageError,
)
from lstm_overfit.data import corpus, series, synthetic, texts
from lstm_overfit.data.splits import TaskData

LOADERS: dict[type, Callable[[DataConfig, int], TaskData]] = {
    SyntheticData: synthetic.load,
    TextsData: texts.load,
    CorpusData: corpus.load,
    SeriesData: series.load,
}


# A data set the command's checks loaded (by its config and seed), kept for the run that
# follows in the same process: the next load of it takes it rather than reading it again.
_kept: tuple[str, TaskData] | None = None


def load_data(cfg: DataConfig, seed: int, keep: bool = False) -> TaskData:
    """The three splits of the configured source; raises UsageError on bad data. With
    `keep`, the next load of the same source and seed returns these splits."""
    global _kept
    key = json.dumps([type(cfg).__name__, asdict(cfg), seed], default=str, sort_keys=True)
    if _kept is not None and _kept[0] == key:
        data, _kept = _kept[1], None
        return data
    data = LOADERS[type(cfg)](cfg, seed)
    for name in ("train", "val", "test"):
        if len(getattr(data, name)) == 0:
            source = cfg.path or cfg.name
            raise UsageError(f"{source}: the {name} split is empty; check the data or sizes")
    if keep:
        _kept = key, data
    return data
