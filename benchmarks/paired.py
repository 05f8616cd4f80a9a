"""The runner against the bare loop doing the same work, paired epoch by epoch in one
process, and the operators each side runs per step.

Alternates one whole epoch of the runner (`TrainingRun.run_epoch`: the training pass, the
loss of the training sample and of the validation split in eval mode, the record, the log,
both checkpoints, the progress bar) with one epoch of the bare loop on its own model (the
training pass, then the same two evaluations: the runner's training sample and the
validation split), then the other way round. Both sides of a pair sample the same stretch
of a machine whose speed changes from one second to the next, which separate processes
minutes apart cannot. The training pass alone is the record's own measure of it (tokens
over tokens per second) against the bare loop's training pass.

Operator counts: every `aten::` event torch.profiler records (nested ones included) over
forward, backward and the optimizer step, averaged over steps after warm-up: on a GPU,
where small models are bound by launching kernels, each one costs a launch.
"""

from __future__ import annotations

import itertools
import logging.config
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from bare_loop import (
    compose_config,
    epoch_batches,
    evaluate,
    evaluation_batches,
    model_and_optimizer,
    train_epoch,
    train_step,
)
from omegaconf import OmegaConf

from lstm_overfit.cli import config_dir
from lstm_overfit.config import Task
from lstm_overfit.console import RichProgress
from lstm_overfit.tasks import make_task, task_kind
from lstm_overfit.train import SUM_KEYS, TrainingRun


def log_as_the_console_script(folder: Path) -> None:
    """The logging a run gets from conf/hydra/job_logging/rich.yaml, into `folder`."""
    spec = OmegaConf.to_container(OmegaConf.load(config_dir() / "hydra/job_logging/rich.yaml"))
    spec["handlers"]["file"]["filename"] = str(folder / "run.log")
    logging.config.dictConfig(spec)


def _aten_events(step: Any, steps: int, warmup: int = 3) -> float:
    """Mean `aten::` events per call of `step` (forward, backward, optimizer step)."""
    from torch.profiler import ProfilerActivity, profile

    for _ in range(warmup):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    return sum(1 for e in prof.events() if e.name.startswith("aten::")) / steps


def measure(overrides: list[str], pairs: int, op_steps: int = 20) -> dict[str, Any]:
    """Per-pair seconds of both sides (the first pair, the warm-up, left out), and each
    side's operators per step."""
    cfg = compose_config([*overrides, f"train.epochs={pairs + 1}"])
    with (
        tempfile.TemporaryDirectory() as tmp,
        RichProgress(pairs + 1, task_kind(cfg.dataset.task).rate_unit) as progress,
    ):
        log_as_the_console_script(Path(tmp))
        run = TrainingRun(cfg, Path(tmp), [progress])
        run.checkpoints.mkdir()
        data, device, sample = run.parts.data, run.parts.device, run.parts.train_sample
        lm = data.task == Task.lm
        model, optimizer = model_and_optimizer(cfg, data, device)
        task = make_task(data, cfg, torch.device("cpu"))
        gen = torch.Generator().manual_seed(cfg.seed)
        measured = []
        for epoch in range(1, pairs + 2):
            seconds = {}
            for side in ("runner", "bare") if epoch % 2 else ("bare", "runner"):
                start = time.perf_counter()
                if side == "runner":
                    record = run.run_epoch(epoch)
                else:  # its batches gathered inside its epoch, as the runner's are
                    batches = epoch_batches(cfg, data, task, gen, device)
                    tokens = train_epoch(model, optimizer, batches, cfg, lm)
                    seconds["bare_train"] = time.perf_counter() - start
                    for split in (sample, data.val):
                        evaluate(model, evaluation_batches(cfg, split, task, lm, device), lm)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                seconds[side] = time.perf_counter() - start
            measured.append(
                {
                    **seconds,
                    "runner_train": tokens / record.tokens_per_second,
                    "tokens": tokens,
                    "eval_share": record.eval_seconds / record.epoch_seconds,
                }
            )
        # Operators per step, each side on the first batches of a fresh epoch.
        run.parts.model.train()
        runner_batches = run.parts.task.epoch_batches(torch.Generator().manual_seed(0))
        sums = {key: torch.zeros((), device=device) for key in SUM_KEYS}
        sums.update(examples=0, tokens=0)
        runner_iter = itertools.cycle(runner_batches)
        runner_ops = _aten_events(lambda: run._step(next(runner_iter), 1e-3, sums), op_steps)
        model.train()
        bare_iter = itertools.cycle(batches)
        state = [None]

        def bare() -> None:
            _, state[0] = train_step(model, optimizer, next(bare_iter), cfg, lm, state[0])

        bare_ops = _aten_events(bare, op_steps)
    return {"pairs": measured[1:], "runner_ops": runner_ops, "bare_ops": bare_ops}


def rows(name: str, overrides: list[str], pairs: int, targets: dict[str, str]) -> list[dict]:
    """Table rows: the paired ratios (bare seconds over runner seconds: the runner's share of
    the bare loop's speed) as medians over the pairs, the share of the runner's epoch its
    evaluation takes, and the operator counts."""
    result = measure(overrides, pairs)
    measured = result["pairs"]
    out = []
    for figure, bare, ours in (
        ("training pass alone", "bare_train", "runner_train"),
        ("whole epochs", "bare", "runner"),
    ):
        ratios = [p[bare] / p[ours] for p in measured]
        quartiles = statistics.quantiles(ratios, n=4)
        out.append(
            {
                "configuration": name,
                "figure": f"{figure}: share of the bare loop's speed, median of {len(ratios)} "
                f"pairs (middle half {quartiles[0]:.2f}-{quartiles[2]:.2f})",
                "value": statistics.median(ratios),
                "target": targets[figure],
            }
        )
    out += [
        {
            "configuration": name,
            "figure": "the evaluation passes (training sample and validation) as a share of "
            "the runner's epoch, median",
            "value": statistics.median(p["eval_share"] for p in measured),
            "target": "",
        },
        {
            "configuration": name,
            "figure": f"aten operators per step: ours {result['runner_ops']:.0f}, "
            f"bare loop {result['bare_ops']:.0f}",
            "value": result["runner_ops"] / result["bare_ops"],
            "target": "",
        },
    ]
    return out
