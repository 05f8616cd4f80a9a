"""IMDB preparation time: 50,000 reviews read, tokenized, counted and numericalized.

Cold: an empty cache folder, so everything is processed. Warm: the same call again, which
only hashes the source files and loads the cached tensors.

    python benchmarks/data_prep.py PATH/TO/imdb
"""

from __future__ import annotations

import sys
import tempfile
import time

from lstm_overfit.config import DataConfig
from lstm_overfit.data.imdb import load


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/imdb"
    with tempfile.TemporaryDirectory() as cache:
        cfg = DataConfig(
            name="imdb", path=path, num_train=None, num_val=5000, num_test=None, cache_dir=cache
        )
        timings = []
        for label in ("cold", "warm"):
            start = time.perf_counter()
            data = load(cfg, seed=0)
            timings.append((label, time.perf_counter() - start))
    reviews = len(data.train) + len(data.val) + len(data.test)
    tokens = int(data.train.ids.numel() + data.val.ids.numel() + data.test.ids.numel())
    print(f"IMDB: {reviews:,} reviews, {tokens:,} tokens kept, vocabulary {data.vocab_size:,}")
    for label, seconds in timings:
        print(f"{label}: {seconds:.2f} s")


if __name__ == "__main__":
    main()
