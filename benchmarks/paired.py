"""The runner's whole epochs and the bare loop's epochs, paired in one process.

Runs under a terminal (the progress bar is drawn) and alternates: one whole epoch of the
runner (`TrainingRun.run_epoch`: the training pass, both evaluation passes, the record, the
log, both checkpoint writes, the progress bar), then one epoch of the bare loop on its own
model, then the other way round, for `--pairs` pairs. Each pair is a few seconds at most,
so both sides sample the same stretch of a machine whose speed changes from one second to
the next, which separate processes minutes apart cannot. Writes each pair's seconds as
JSON to OUT, with the runner's evaluation and its training pass timed apart; the first pair
(warm-up) is there too, for the caller to leave out.

    python benchmarks/paired.py OUT --pairs 30 [overrides...]
"""

from __future__ import annotations

import argparse
import json
import logging.config
import tempfile
import time
from pathlib import Path

import torch
from bare_loop import compose_config, epoch_batches, model_and_optimizer, train_epoch
from omegaconf import OmegaConf

from lstm_overfit.cli import config_dir
from lstm_overfit.config import Task
from lstm_overfit.console import RichProgress
from lstm_overfit.tasks import make_task
from lstm_overfit.train import TrainingRun


def log_as_the_console_script(folder: Path) -> None:
    """The logging conf/hydra/job_logging/rich.yaml gives a run (rich above the bar and a
    plain run.log), with the log in `folder`."""
    spec = OmegaConf.to_container(OmegaConf.load(config_dir() / "hydra/job_logging/rich.yaml"))
    spec["handlers"]["file"]["filename"] = str(folder / "run.log")
    logging.config.dictConfig(spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_intermixed_args()
    cfg = compose_config([*args.overrides, f"train.epochs={args.pairs}"])
    with tempfile.TemporaryDirectory() as tmp, RichProgress(args.pairs) as progress:
        log_as_the_console_script(Path(tmp))
        run = TrainingRun(cfg, Path(tmp), progress)
        run.checkpoints.mkdir()
        data, device = run.data, run.device
        lm = data.task == Task.lm
        model, optimizer = model_and_optimizer(cfg, data, device)
        task = make_task(data, cfg.train, torch.device("cpu"), cfg.dataset.bptt)
        gen = torch.Generator().manual_seed(cfg.seed)
        pairs = []
        for epoch in range(1, args.pairs + 1):
            batches = epoch_batches(cfg, data, task, gen, device)
            seconds = {}
            for side in ("runner", "bare") if epoch % 2 else ("bare", "runner"):
                start = time.perf_counter()
                if side == "runner":
                    record = run.run_epoch(epoch)
                else:
                    tokens = train_epoch(model, optimizer, batches, cfg, lm)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                seconds[side] = time.perf_counter() - start
            # The record's training speed, over the same tokens as the bare loop's epoch,
            # gives the runner's training pass alone.
            train = tokens / record.tokens_per_second
            pairs.append(
                {
                    **seconds,
                    "runner_eval": record.eval_seconds,
                    "runner_train": train,
                    "tokens": tokens,
                }
            )
    args.out.write_text(json.dumps(pairs))


if __name__ == "__main__":
    main()
