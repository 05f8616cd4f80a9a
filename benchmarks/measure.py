"""The measurements behind `benchmarks/run.py`, one function per section.

Each returns rows: configuration, figure, ours, reference, ratio (ours / reference), the
target and whether it is met. Ours and the reference are measured in the same call, the
reference on both sides of ours where the figure is a ratio of speeds (the machine's speed
drifts over minutes), so a ratio never compares numbers from different runs.
"""

from __future__ import annotations

import json
import os
import pty
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
Row = dict[str, Any]

# glibc's malloc maps large blocks on their own and hands the free top of its heap back to
# the system, with thresholds that adapt upward only as large blocks happen to be freed. A
# process whose history left them low unmaps a step's activations at every step and faults
# them back in at the next, and which a process gets is luck: the bare loop ran the
# default setup at 0.47-0.58 s an epoch with them as they came and 0.28-0.40 s with them
# fixed at the highest values glibc's adaptation reaches. The comparisons of speed run both
# sides with those values, so that they compare code, not luck; the `allocator` section
# measures what the setting does to each side.
FIXED_ALLOCATOR = {
    "MALLOC_MMAP_THRESHOLD_": str(32 * 1024 * 1024),
    "MALLOC_TRIM_THRESHOLD_": str(64 * 1024 * 1024),
}


def _env(fixed_allocator: bool) -> dict[str, str]:
    return {**os.environ, **FIXED_ALLOCATOR} if fixed_allocator else dict(os.environ)


def row(config: str, figure: str, ours: float, reference: float | None, target: str) -> Row:
    ratio = ours / reference if reference else None
    return {
        "configuration": config,
        "figure": figure,
        "ours": ours,
        "reference": reference,
        "ratio": ratio,
        "target": target,
    }


def console_script() -> list[str]:
    found = shutil.which("lstm-overfit")
    return [found] if found else [sys.executable, "-m", "lstm_overfit"]


def run_in_terminal(args: list[str], cwd: Path, fixed_allocator: bool = True) -> int:
    """Run a command with a pseudo-terminal as its output, as a user at a terminal would
    (so the progress bar is drawn); what it prints is read and dropped."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        cwd=cwd,
        env=_env(fixed_allocator),
    )
    os.close(follower)
    while True:
        try:
            if not os.read(leader, 65536):
                break
        except OSError:  # the terminal closes when the command exits
            break
    os.close(leader)
    return proc.wait()


def _after_first(values: list[float]) -> list[float]:
    """The first epoch pays for warm-up (allocations, caches); leave it out when there are more."""
    return values[1:] if len(values) > 1 else values


# -- training throughput against a bare loop, and the cost of evaluation -----------------


def runner_epochs(
    overrides: list[str], epochs: int, workdir: Path, fixed_allocator: bool = True
) -> list[dict]:
    """`lstm-overfit train` for `epochs` epochs at a terminal; its metrics.jsonl rows."""
    run_dir = workdir / "run"
    code = run_in_terminal(
        [
            *console_script(),
            "train",
            *overrides,
            f"train.epochs={epochs}",
            f"hydra.run.dir={run_dir}",
        ],
        workdir,
        fixed_allocator,
    )
    if code != 0:
        raise RuntimeError(f"lstm-overfit train {' '.join(overrides)} exited with {code}")
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def run_bare_loop(overrides: list[str], epochs: int, fixed_allocator: bool = True) -> dict:
    out = subprocess.run(
        [sys.executable, str(HERE / "bare_loop.py"), f"--epochs={epochs}", *overrides],
        check=True,
        capture_output=True,
        text=True,
        env=_env(fixed_allocator),
    )
    return json.loads(out.stdout.splitlines()[-1])


def allocator(overrides: list[str], epochs: int = 6, rounds: int = 4) -> list[Row]:
    """Each side of the default setup's comparison with glibc's thresholds as they come
    against fixed (alternating, `rounds` runs of each): tokens/s of training epochs (the
    runner's less evaluation)."""
    seconds: dict[tuple[str, bool], list[float]] = {}
    for _ in range(rounds):
        for fixed in (False, True):
            bare = run_bare_loop(overrides, epochs, fixed)
            seconds.setdefault(("bare loop", fixed), []).extend(_after_first(bare["epoch_seconds"]))
            with tempfile.TemporaryDirectory() as tmp:
                records = runner_epochs(overrides, epochs, Path(tmp), fixed)
            trained = [r["epoch_seconds"] - r["eval_seconds"] for r in _after_first(records)]
            seconds.setdefault(("runner", fixed), []).extend(trained)
    tokens = bare["tokens_per_epoch"]
    return [
        row(
            f"default (synthetic, tiny), {side}",
            "tokens/s, glibc's allocator thresholds as they come vs fixed",
            tokens / statistics.median(seconds[side, False]),
            tokens / statistics.median(seconds[side, True]),
            "",
        )
        for side in ("bare loop", "runner")
    ]


def throughput(
    name: str, overrides: list[str], epochs: int, bare_epochs: int, rounds: int = 1
) -> list[Row]:
    """Runner epochs against the bare loop on the same tensors, in tokens/s.

    Whole epochs: from one epoch's record to the next, so training, both evaluation passes,
    the records, the checkpoint writes, the progress bar and the log are all inside. The
    bare loop only trains, so the same figure is also given without the evaluation passes
    (whose share of the epoch is its own row). GFLOP/s count forward + backward.

    The bare loop runs first and after each of `rounds` runner runs, and the epochs of
    each side are pooled: a machine whose speed drifts over minutes then biases neither
    side, and the last bare-loop run against the first is reported as the drift the
    comparison sat in. With several rounds, each runner run is also compared with the
    bare-loop runs on either side of it, and the lowest and highest of those ratios are
    named in the whole-epoch rows: how far one round alone could have been trusted.
    """
    bare_runs = [run_bare_loop(overrides, bare_epochs)]
    runner_runs = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            runner_runs.append(runner_epochs(overrides, epochs, Path(tmp)))
        bare_runs.append(run_bare_loop(overrides, bare_epochs))
    tokens = bare_runs[0]["tokens_per_epoch"]
    cycles = [[b["ended_at"] - a["ended_at"] for a, b in pairwise(run)] for run in runner_runs]
    evals = [[r["eval_seconds"] for r in run[1:]] for run in runner_runs]
    trained = [
        [c - e for c, e in zip(run, run_evals, strict=True)]
        for run, run_evals in zip(cycles, evals, strict=True)
    ]
    bare_seconds = [_after_first(run["epoch_seconds"]) for run in bare_runs]
    bare_tps = tokens / statistics.median(_flat(bare_seconds))
    whole = tokens / statistics.median(_flat(cycles))
    without_eval = tokens / statistics.median(_flat(trained))
    eval_share = statistics.median(e / c for c, e in zip(_flat(cycles), _flat(evals), strict=True))
    gflop = 3 * bare_runs[0]["forward_flops_per_token"] / 1e9
    bare_medians = [statistics.median(run) for run in bare_seconds]
    return [
        row(
            name,
            _per_round("tokens/s, whole epochs", cycles, bare_medians),
            whole,
            bare_tps,
            ">= 0.90",
        ),
        row(
            name,
            _per_round("tokens/s, whole epochs less evaluation", trained, bare_medians),
            without_eval,
            bare_tps,
            ">= 0.90",
        ),
        row(
            name,
            "GFLOP/s, whole epochs less evaluation",
            without_eval * gflop,
            bare_tps * gflop,
            "",
        ),
        row(name, "evaluation share of a whole epoch", eval_share, None, "<= 0.25"),
        row(
            name,
            "bare loop tokens/s, last run vs first",
            tokens / bare_medians[-1],
            tokens / bare_medians[0],
            "",
        ),
    ]


def _flat(runs: list[list[float]]) -> list[float]:
    return [value for run in runs for value in run]


def _per_round(figure: str, runner: list[list[float]], bare_medians: list[float]) -> str:
    """`figure`, naming the range of each round's ratio when there are several: a runner
    run's median epoch against the mean of the bare-loop runs just before and after it."""
    if len(runner) < 2:
        return figure
    ratios = [
        (before + after) / 2 / statistics.median(seconds)
        for seconds, (before, after) in zip(runner, pairwise(bare_medians), strict=True)
    ]
    return f"{figure} ({len(ratios)} rounds: {min(ratios):.2f}-{max(ratios):.2f})"


def paired(name: str, overrides: list[str], pairs: int) -> list[Row]:
    """The runner's whole epochs, those less evaluation, and its training passes alone
    against the bare loop's epochs, alternating in one process at a terminal (`paired.py`);
    the first pair is left out. The figure names the middle half of the pairs' ratios."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pairs.json"
        script = [sys.executable, str(HERE / "paired.py"), str(out), f"--pairs={pairs}"]
        code = run_in_terminal([*script, *overrides], HERE)
        if code != 0:
            raise RuntimeError(f"paired.py {' '.join(overrides)} exited with {code}")
        measured = _after_first(json.loads(out.read_text()))
    tokens = measured[0]["tokens"]
    bare = [p["bare"] for p in measured]
    rows = []
    # The training pass alone has no target of its own: it shows what the rest costs.
    for figure, runner, target in (
        ("whole epochs", [p["runner"] for p in measured], ">= 0.90"),
        (
            "whole epochs less evaluation",
            [p["runner"] - p["runner_eval"] for p in measured],
            ">= 0.90",
        ),
        ("training pass alone", [p["runner_train"] for p in measured], ""),
    ):
        ratios = [b / r for b, r in zip(bare, runner, strict=True)]
        quarters = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
        rows.append(
            row(
                name,
                f"tokens/s, {figure}, paired in one process "
                f"({len(ratios)} pairs, middle half {quarters[0]:.2f}-{quarters[2]:.2f})",
                tokens / statistics.median(runner),
                tokens / statistics.median(bare),
                target,
            )
        )
    return rows


def fused_kernel(repeats: int = 20) -> list[Row]:
    """The ceiling: a fused 2x200 nn.LSTM forward + backward at batch 64, 35 steps; and, for
    the tutorial's bidirectional 2x256 model, a packed sequence against the padded tensor."""
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence

    def seconds(lstm: torch.nn.LSTM, inputs: Any, runs: int) -> float:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            out, _ = lstm(inputs)
            (out.data if hasattr(out, "batch_sizes") else out).sum().backward()
            times.append(time.perf_counter() - start)
        return statistics.median(times[1:])

    torch.manual_seed(0)
    small = torch.nn.LSTM(200, 200, 2, batch_first=True)
    x = torch.randn(64, 35, 200, requires_grad=True)
    flops = 3 * 2 * (2 * 4 * 200 * 400) * x.numel() / 200
    gflops = flops / seconds(small, x, repeats) / 1e9
    tutorial = torch.nn.LSTM(100, 256, 2, batch_first=True, bidirectional=True)
    x = torch.randn(64, 200, 100)
    lengths = 200 - torch.randint(0, 8, (64,))  # a length bucket: up to 4% padding
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    runs = max(3, repeats // 5)
    padded_tps = int(lengths.sum()) / seconds(tutorial, x, runs)
    packed_tps = int(lengths.sum()) / seconds(tutorial, packed, runs)
    return [
        row("nn.LSTM 2x200, batch 64, 35 steps", "GFLOP/s, forward + backward", gflops, None, ""),
        row(
            "nn.LSTM bidirectional 2x256, batch 64, ~200 steps",
            "real tokens/s, packed vs padded tensor",
            packed_tps,
            padded_tps,
            "",
        ),
    ]


# -- IMDB padding -------------------------------------------------------------------------


def imdb_padding(imdb: Path) -> list[Row]:
    """Over one epoch of the 20,000 training reviews, batched by the runner as in the
    tutorial's setup: the steps every nn.LSTM call runs, per direction and layer (counted
    by a global forward hook while the real model runs the batches; shrunk to 8 units,
    since size does not change the count) and the size of the padded tensor, each against
    the real tokens."""
    import torch
    from bare_loop import compose_config
    from torch.nn.utils.rnn import PackedSequence

    from lstm_overfit.data import load_data
    from lstm_overfit.models import build_model
    from lstm_overfit.tasks import make_task

    overrides = ["+experiment=tutorial_imdb", f"dataset.path={imdb}", "reg.dropout=0"]
    cfg = compose_config([*overrides, "model.embedding_size=8", "model.hidden_size=8"])
    data = load_data(cfg.dataset, cfg.seed)
    task = make_task(data, cfg.train, torch.device("cpu"), cfg.dataset.bptt)
    model = build_model(cfg.model, cfg.reg, data.task, data.vocab_size)
    counted = {"steps": 0}

    def count(module: torch.nn.Module, inputs: tuple) -> None:
        if not isinstance(module, torch.nn.LSTM):
            return
        x = inputs[0]
        steps = (
            int(x.batch_sizes.sum()) if isinstance(x, PackedSequence) else x.shape[0] * x.shape[1]
        )
        counted["steps"] += steps * (2 if module.bidirectional else 1)

    hook = torch.nn.modules.module.register_module_forward_pre_hook(count)
    real = padded = 0
    try:
        with torch.no_grad():
            for index in task.epoch_batches(torch.Generator().manual_seed(cfg.seed)):
                result = task.step(model, index)
                real += result.tokens
                padded += int(data.train.lengths[index].max()) * len(index)
    finally:
        hook.remove()
    per_real_token = cfg.model.num_layers * (2 if cfg.model.bidirectional else 1)
    name = f"imdb, {len(data.train):,} reviews, batch {cfg.train.batch_size}, cpu"
    return [
        row(
            name,
            "LSTM steps / real tokens",
            counted["steps"] / per_real_token / real,
            None,
            "<= 1.10",
        ),
        row(name, "padded tensor / real tokens", padded / real, None, ""),
    ]


# -- sweeps and start-up ------------------------------------------------------------------


def _job_seconds(sweep_dir: Path) -> list[float]:
    return [json.loads(p.read_text())["wall_seconds"] for p in sweep_dir.glob("*/summary.json")]


def sweep(epochs: int | None = None) -> list[Row]:
    """A 4-job sweep of the default run (seeds 0-3; `epochs` cuts each job short) with the
    joblib launcher against the same 4 jobs one after another.

    Run in the order serial, joblib, joblib, serial and averaged per launcher, so a speed
    drift that is linear over the four runs cancels out. The second row is the floor of the
    first, set by the jobs themselves: one job alone on all cores against jobs side by side
    (their `wall_seconds`), divided by how many run at once. A job that already uses both
    cores well leaves a sweep little to gain. The third row is what neither launcher can
    share out: each command's seconds outside its jobs' `wall_seconds` (start-up, imports,
    each job's set-up, plots, the report, the exit), jobs that ran at once counted once.
    """
    seeds = (0, 1, 2, 3)
    at_once = {"serial": 1, "joblib": min(os.cpu_count() or 1, len(seeds))}
    seconds: dict[str, list[float]] = {"serial": [], "joblib": []}
    jobs: dict[str, list[float]] = {"serial": [], "joblib": []}
    outside: dict[str, list[float]] = {"serial": [], "joblib": []}
    launchers = {"serial": [], "joblib": ["hydra/launcher=local_parallel"]}
    with tempfile.TemporaryDirectory() as tmp:
        for i, name in enumerate(("serial", "joblib", "joblib", "serial")):
            sweep_dir = Path(tmp) / f"{i}-{name}"
            args = [
                *console_script(),
                "train",
                "-m",
                f"seed={','.join(map(str, seeds))}",
                *([f"train.epochs={epochs}"] if epochs else []),
                *launchers[name],
                f"hydra.sweep.dir={sweep_dir}",
            ]
            start = time.perf_counter()
            subprocess.run(args, check=True, capture_output=True, cwd=tmp)
            seconds[name].append(time.perf_counter() - start)
            job_seconds = _job_seconds(sweep_dir)
            jobs[name] += job_seconds
            outside[name].append(seconds[name][-1] - sum(job_seconds) / at_once[name])
    length = f"cut to {epochs} epochs" if epochs else "whole"
    config = f"{len(seeds)} default runs ({length}), {os.cpu_count()} cores"
    return [
        row(
            config,
            "wall seconds, joblib vs one after another (mean of 2 each)",
            statistics.mean(seconds["joblib"]),
            statistics.mean(seconds["serial"]),
            "<= 0.65",
        ),
        row(
            config,
            f"seconds per job: one of {at_once['joblib']} side by side, divided by "
            f"{at_once['joblib']}, vs one alone",
            statistics.mean(jobs["joblib"]) / at_once["joblib"],
            statistics.mean(jobs["serial"]),
            "",
        ),
        row(
            config,
            "seconds of the command outside its jobs, joblib vs one after another",
            statistics.mean(outside["joblib"]),
            statistics.mean(outside["serial"]),
            "",
        ),
    ]


FIRST_BATCH_PROBE = """
import os, sys, time
from lstm_overfit import console
stamp, run_dir = sys.argv[1:3]
def first_batch(self, running_loss):
    with open(stamp, "w") as f:
        f.write(repr(time.time()))
    os._exit(0)
console.RichProgress.batch_done = first_batch
sys.argv = ["lstm-overfit", "train", "hydra.run.dir=" + run_dir]
from lstm_overfit.cli import main
main()
"""


def startup(repeats: int = 5) -> list[Row]:
    """`lstm-overfit --help`, and the time from the command's start to the end of the
    default run's first training batch (the console script's code with a probe that
    records the moment the first batch is done and exits)."""
    helps, firsts = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            start = time.perf_counter()
            subprocess.run([*console_script(), "--help"], check=True, capture_output=True)
            helps.append(time.perf_counter() - start)
            stamp = Path(tmp) / f"first-{i}"
            start = time.time()
            subprocess.run(
                [sys.executable, "-c", FIRST_BATCH_PROBE, str(stamp), f"{tmp}/run-{i}"],
                check=True,
                capture_output=True,
                cwd=tmp,
            )
            firsts.append(float(stamp.read_text()) - start)
    return [
        row(
            "lstm-overfit --help", "seconds (median of 5)", statistics.median(helps), None, "< 1.5"
        ),
        row(
            "lstm-overfit train",
            "seconds to the first batch (median of 5)",
            statistics.median(firsts),
            None,
            "< 5",
        ),
    ]
