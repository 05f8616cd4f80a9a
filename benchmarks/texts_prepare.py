"""What preparing labelled texts costs: cold (nothing cached) per row, and a warm start.

    python benchmarks/texts_prepare.py csv                         # a 100,000-row CSV it writes
    python benchmarks/texts_prepare.py imdb --path ../shared/data/imdb

`csv` writes a CSV of 100,000 texts (each as long as an IMDB review on average: 230 words,
Zipf-distributed over 20,000 words; five string classes) to a scratch folder and prepares it
with `dataset=texts`; `imdb` prepares the `imdb` preset from a local copy (25,000 training and
25,000 test reviews), as any version of this package does, so the same command measures an
older checkout installed in another environment. Each prepares once into an empty cache
(timed from the call to its return, importing `datasets` included: wall time, and the CPU
time of the process, which another busy process on the machine moves less), then once more from the
cache, with reading rows forbidden: a warm start must not read one. One JSON line out.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import random
import tempfile
import time
from pathlib import Path

from lstm_overfit.cli import config_dir, register_resolvers
from lstm_overfit.config import register_configs
from lstm_overfit.data.load import load_data
from lstm_overfit.preflight import compose_config

ROWS, WORDS, MEAN_LENGTH, CLASSES = 100_000, 20_000, 230, 5


def write_csv(path: Path, rows: int = ROWS, seed: int = 0) -> Path:
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(WORDS)]
    # Zipf's law, as in running text: the word of rank r with weight 1 / r.
    cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(WORDS)))
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for _ in range(rows):
            length = max(1, int(rng.expovariate(1 / MEAN_LENGTH)))
            words = rng.choices(vocabulary, cum_weights=cumulative, k=length)
            writer.writerow([" ".join(words), f"class{rng.randrange(CLASSES)}"])
    return path


def forbid_reading_rows() -> None:
    """Any call that reads a data file's or a split's rows now raises."""
    import datasets

    def forbidden(*args, **kwargs):
        raise AssertionError("a warm start read rows")

    datasets.load_dataset = forbidden
    for method in ("__iter__", "__getitem__", "iter"):
        setattr(datasets.Dataset, method, forbidden)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", choices=["csv", "imdb"])
    parser.add_argument("--path", help="imdb: the local copy (a folder)")
    args = parser.parse_args()
    register_configs()
    register_resolvers()
    with tempfile.TemporaryDirectory() as scratch:
        if args.source == "csv":
            overrides = ["dataset=texts", f"dataset.path={write_csv(Path(scratch) / 'texts.csv')}"]
        else:
            overrides = ["dataset=imdb", f"dataset.path={Path(args.path).resolve()}"]
        overrides.append(f"dataset.cache_dir={Path(scratch) / 'cache'}")
        cfg = compose_config(config_dir(), overrides).dataset
        start, start_cpu = time.perf_counter(), time.process_time()
        data = load_data(cfg, seed=0)
        cold, cold_cpu = time.perf_counter() - start, time.process_time() - start_cpu
        rows = len(data.train) + len(data.val) + len(data.test)
        forbid_reading_rows()
        start = time.perf_counter()
        load_data(cfg, seed=0)
        warm = time.perf_counter() - start
    print(
        json.dumps(
            {
                "source": args.source,
                "rows": rows,
                "cold_seconds": round(cold, 3),
                "cold_us_per_row": round(cold / rows * 1e6, 1),
                "cold_cpu_seconds": round(cold_cpu, 3),
                "cold_cpu_us_per_row": round(cold_cpu / rows * 1e6, 1),
                "warm_seconds": round(warm, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
