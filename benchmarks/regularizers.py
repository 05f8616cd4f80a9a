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
from omegaconf import OmegaConf

from lstm_overfit.cli import config_dir
from lstm_overfit.config import Config, RegConfig
from lstm_overfit.train import TrainingRun

PRESET_NAMES = (
    "l1",
    "l2",
    "dropout",
    "locked_dropout",
    "embedding_dropout",
    "weight_drop",
    "ar_tar",
    "weight_decay",
    "zoneout",
    "awd",
)


def preset(name: str) -> RegConfig:
    """The strengths of conf/reg/NAME.yaml, as `+reg=NAME` sets them."""
    return RegConfig(
        **OmegaConf.to_container(OmegaConf.load(config_dir() / "reg" / f"{name}.yaml"))
    )


PRESETS = {
    "none": RegConfig(),
    **{name: preset(name) for name in PRESET_NAMES},
    "zoneout (plain Python loop)": RegConfig(
        **{**vars(preset("zoneout")), "zoneout_compiled": False}
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
