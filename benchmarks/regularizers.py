"""Training throughput of each regularizer preset against none, side by side in one process.

Penn Treebank with `model=small` (2x200, Zaremba et al.'s small model), batch 20, 35 steps, a
slice of the training stream, the runner's training pass; rounds alternate the presets, and
each figure is the median over rounds.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from bare_loop import compose_config

from lstm_overfit.cli import config_dir
from lstm_overfit.regularizers.schema import presets
from lstm_overfit.train import TrainingRun

PRESETS = sorted({*presets(), *(p.stem for p in (config_dir() / "reg").glob("*.yaml"))})
SETUP = "ptb, model=small, batch 20, 35 steps"


def tokens_per_second(data: Path, preset: str | None, tokens: int) -> float:
    overrides = [
        "dataset=ptb",
        f"dataset.path={data / 'ptb'}",
        f"dataset.num_train={tokens}",
        "model=small",
        "train.batch_size=20",
        "train.progress=false",
    ]
    if preset:
        overrides.append(f"+reg={preset}")
    cfg = compose_config(overrides)
    with tempfile.TemporaryDirectory() as out:
        run = TrainingRun(cfg, Path(out))
        run.train_epoch(1, 1e-3)  # warm-up: allocations
        return run.train_epoch(2, 1e-3)["tokens_per_second"]


def rows(data: Path, tokens: int, rounds: int) -> list[dict]:
    names = [None, *PRESETS]
    measured: dict[str | None, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        for name in names:
            measured[name].append(tokens_per_second(data, name, tokens))
    base = statistics.median(measured[None])
    return [
        {
            "configuration": SETUP,
            "figure": f"+reg={name}" if name else "no regularizer",
            "value": statistics.median(values),
            "target": "",
            "detail": {"ratio": statistics.median(values) / base},
        }
        for name, values in measured.items()
    ]
