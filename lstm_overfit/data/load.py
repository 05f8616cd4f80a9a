"""From a data-source config to the run's data: the loader follows the source's kind."""

from __future__ import annotations

from collections.abc import Callable

from lstm_overfit.config import (
    CorpusData,
    DataConfig,
    ReviewsData,
    SeriesData,
    SyntheticData,
    UsageError,
)
from lstm_overfit.data import corpus, reviews, series, synthetic
from lstm_overfit.data.splits import TaskData

LOADERS: dict[type, Callable[[DataConfig, int], TaskData]] = {
    SyntheticData: synthetic.load,
    ReviewsData: reviews.load,
    CorpusData: corpus.load,
    SeriesData: series.load,
}


def load_data(cfg: DataConfig, seed: int) -> TaskData:
    """The three splits of the configured source; raises UsageError on bad data."""
    data = LOADERS[type(cfg)](cfg, seed)
    for name in ("train", "val", "test"):
        if len(getattr(data, name)) == 0:
            source = cfg.path or cfg.name
            raise UsageError(f"{source}: the {name} split is empty; check the data or sizes")
    return data
