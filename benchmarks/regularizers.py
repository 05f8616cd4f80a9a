"""Training throughput of each regularizer against none, measured side by side in one run.

Trains `--batches` batches of the `small` model (2x200 LSTM) on synthetic sequences with the
real training loop, for every regularizer preset, over several rounds; prints the median
tokens per second and its ratio to no regularization.

    python benchmarks/regularizers.py [--batches 200] [--rounds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch

from lstm_overfit.config import Config, RegConfig
from lstm_overfit.train import TrainingRun

PRESETS: dict[str, RegConfig] = {
    "none": RegConfig(),
    "l1": RegConfig(l1=1e-5),
    "l2": RegConfig(l2=1e-3),
    "dropout": RegConfig(dropout=0.5),
    "locked_dropout": RegConfig(locked_dropout=0.5),
    "embedding_dropout": RegConfig(embedding_dropout=0.2),
    "weight_drop": RegConfig(weight_drop=0.5),
    "ar_tar": RegConfig(ar=2.0, tar=1.0),
    "weight_decay": RegConfig(weight_decay=0.1),
    "zoneout": RegConfig(zoneout=0.1),
    "zoneout (plain Python loop)": RegConfig(zoneout=0.1, zoneout_compiled=False),
    "awd": RegConfig(
        locked_dropout_input=0.65,
        locked_dropout_hidden=0.3,
        locked_dropout_output=0.4,
        embedding_dropout=0.1,
        weight_drop=0.5,
        ar=2.0,
        tar=1.0,
        weight_decay=1.2e-6,
    ),
}


def tokens_per_second(reg: RegConfig, batches: int, batch_size: int, seq_len: int) -> float:
    cfg = Config(reg=reg)
    cfg.model.embedding_size = cfg.model.hidden_size = 200
    cfg.dataset.seq_len = seq_len
    cfg.dataset.num_train = batches * batch_size
    cfg.dataset.num_val = cfg.dataset.num_test = 8
    cfg.train.batch_size = batch_size
    cfg.train.progress = False
    with tempfile.TemporaryDirectory() as out:
        run = TrainingRun(cfg, Path(out))
        run.train_epoch(1)  # warm-up: allocations, TorchScript compilation
        return run.train_epoch(2)["tokens_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=35)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    measured: dict[str, list[float]] = {name: [] for name in PRESETS}
    for _ in range(args.rounds):
        for name, reg in PRESETS.items():
            measured[name].append(
                tokens_per_second(reg, args.batches, args.batch_size, args.seq_len)
            )
    base = statistics.median(measured["none"])
    print(
        f"small model (2x200), batch {args.batch_size}, {args.seq_len} steps, "
        f"{args.batches} batches, {args.threads} threads, median of {args.rounds} rounds"
    )
    print("| regularizer | tokens/s | ratio to none |\n| --- | ---: | ---: |")
    for name, values in measured.items():
        tps = statistics.median(values)
        print(f"| {name} | {tps:,.0f} | {tps / base:.2f} |")


if __name__ == "__main__":
    main()
