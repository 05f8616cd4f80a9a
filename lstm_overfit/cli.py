"""The console script: `lstm-overfit train [OVERRIDES]`.

The only module that touches Hydra's runtime and sys.argv. Torch is imported lazily, inside
the task, so `--help` and configuration mistakes answer at once.
"""

from __future__ import annotations

import errno
import logging
import sys
from pathlib import Path
from typing import Any, NoReturn

from lstm_overfit.config import Config, ConfigError, register_configs, validate
from lstm_overfit.records import FAILED, FINISHED

log = logging.getLogger(__name__)

USAGE = """\
usage: lstm-overfit COMMAND [ARGS...]

Train LSTMs and measure how they overfit, with and without regularization.

commands:
  train [OVERRIDES...]     one training run; add -m for a sweep over comma-separated values
                           (`lstm-overfit train --help` lists every config group and key)
  report PATH... [--out DIR]
                           tables and plots over run and sweep folders

examples:
  lstm-overfit train                            the default run: synthetic data, ~35 s on CPU
  lstm-overfit train +reg=l2                    the same with an L2 penalty
  lstm-overfit train +reg=[l2,dropout] reg.dropout=0.3
  lstm-overfit train -m +reg=l1,l2 seed=0,1     a sweep of four runs
  lstm-overfit report outputs/sweeps/DATE/TIME  which regularizer, how strong, how sure

exit status: 0 success, 1 a run failed (diverged, data error), 2 a usage or config error.
"""

EXIT_RUN_FAILED = 1
EXIT_USAGE = 2


def config_dir() -> Path:
    """conf/ shipped inside the package (wheel install), else the source checkout's conf/."""
    packaged = Path(__file__).resolve().parent / "conf"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "conf"


def usage_error(message: str) -> NoReturn:
    print(f"lstm-overfit: error: {message}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


def register_resolvers() -> None:
    """`${run_id:}`: a short random id that keeps run folders unique within one second.

    Cached, and Hydra copies the cache into each sweep job, so all jobs share one sweep folder.
    """
    import secrets

    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("run_id"):
        OmegaConf.register_new_resolver("run_id", lambda: secrets.token_hex(3), use_cache=True)


# A full disk, a read-only or forbidden folder: the run cannot save its work.
WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)
# What Hydra writes into a run folder before the task starts.
HYDRA_FILES = {".hydra", "run.log"}


def _discard_if_fresh(out_dir: Path) -> None:
    """A run stopped by bad input before it wrote anything leaves no folder behind."""
    import shutil

    if not out_dir.is_dir() or not {p.name for p in out_dir.iterdir()} <= HYDRA_FILES:
        return
    shutil.rmtree(out_dir)
    # Also the date and outputs folders Hydra made for it, if nothing else is in them.
    cwd = Path.cwd().resolve()
    for parent in out_dir.resolve().parents:
        if parent == cwd or cwd not in parent.parents or any(parent.iterdir()):
            break
        parent.rmdir()


def quick_shutdown() -> None:
    """At exit, spare the interpreter a search of everything torch loaded for reference
    cycles: 0.4-0.9 s of every command (and of every sweep worker, which the command waits
    for), for objects the operating system frees with the process anyway. The other exit
    handlers (logging's final flush, joblib's) still run; the run's own files are written,
    synced and closed before any of them."""
    import atexit
    import gc

    atexit.unregister(gc.freeze)  # once per process, however many jobs it runs
    atexit.register(gc.freeze)


def _fair_threads(launcher: Any) -> int:
    """Torch threads per job when a launcher runs jobs side by side: the cores shared out,
    so a 4-job sweep on 2 cores does not oversubscribe. 0 (torch's default) otherwise."""
    import os

    n_jobs = launcher.get("n_jobs") if "joblib" in str(launcher.get("_target_", "")) else None
    if n_jobs is None:
        return 0
    cores = os.cpu_count() or 1
    parallel = cores if n_jobs <= 0 else min(n_jobs, cores)
    return max(1, cores // parallel)


def _finished_summary(out_dir: Path) -> dict | None:
    import json

    path = out_dir / "summary.json"
    summary = json.loads(path.read_text()) if path.is_file() else None
    return summary if summary and summary.get("status") in FINISHED else None


def _train_task(dict_cfg: Any) -> float:
    """The Hydra task: one run into Hydra's output folder. Returns best validation loss."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    from lstm_overfit.console import RichProgress, print_summary
    from lstm_overfit.records import atomic_write_json
    from lstm_overfit.stopping import Interrupted
    from lstm_overfit.train import fit

    quick_shutdown()  # a launcher's worker process is a process of its own
    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    out_dir = Path(hydra_cfg.runtime.output_dir)
    cfg: Config = OmegaConf.to_object(dict_cfg)
    if multirun and cfg.train.num_threads == 0:
        cfg.train.num_threads = _fair_threads(hydra_cfg.launcher)
    resume = cfg.resume is not None
    if multirun and resume:
        done = _finished_summary(out_dir)
        if done is not None:  # a resumed sweep skips the jobs that already ended
            log.info("already %s: %s", done["status"], out_dir)
            best = done.get("best_val_loss")
            return float("nan") if best is None else best
    try:
        validate(cfg)
        if cfg.train.progress and not multirun:
            with RichProgress(cfg.train.epochs) as progress:
                summary = fit(cfg, out_dir, progress, resume)
        else:
            summary = fit(cfg, out_dir, resume=resume)
    except ConfigError as err:
        if multirun:  # the job is recorded as failed and the sweep goes on
            log.error("%s", err)
            atomic_write_json(out_dir / "summary.json", {"status": "failed", "error": str(err)})
            return float("nan")
        if not resume:
            _discard_if_fresh(out_dir)
        usage_error(str(err))
    except Interrupted as stop:
        print(
            f"lstm-overfit: interrupted by {stop}: the run saved its place; continue it with "
            f"`lstm-overfit train resume={out_dir}`",
            file=sys.stderr,
        )
        sys.exit(128 + stop.signum)
    except OSError as err:
        if err.errno not in WRITE_ERRORS:
            raise
        where = err.filename or out_dir
        print(
            f"lstm-overfit: error: cannot write {where}: {err.strerror or err}; free space or "
            f"make the folder writable, then continue with `lstm-overfit train resume={out_dir}`",
            file=sys.stderr,
        )
        sys.exit(EXIT_RUN_FAILED)
    if not multirun:
        print_summary(summary, out_dir)
        if summary["status"] in FAILED:
            print(f"lstm-overfit: the run {summary['status']}: {summary['error']}", file=sys.stderr)
            sys.exit(EXIT_RUN_FAILED)
    best = summary["best_val_loss"]
    return float("nan") if best is None else best


def _run_hydra_train(argv: list[str]) -> None:
    import hydra

    register_configs()
    register_resolvers()
    task = hydra.main(config_path=str(config_dir()), config_name="config", version_base="1.3")(
        _train_task
    )
    sys.argv = ["lstm-overfit train", *argv]
    task()
    from lstm_overfit.callbacks import failed_jobs

    if failed_jobs:
        listed = "; ".join(f"{folder} ({status})" for folder, status in failed_jobs)
        print(f"lstm-overfit: {len(failed_jobs)} job(s) did not succeed: {listed}", file=sys.stderr)
        sys.exit(EXIT_RUN_FAILED)


def _check_before_running(argv: list[str]) -> list[str] | None:
    """Compose every job up front so a mistake costs one line and no folder.

    Returns the arguments to run (a resume switch becomes the run's saved overrides), or
    None when there is nothing to run.
    """
    from hydra._internal.utils import get_args_parser

    from lstm_overfit.preflight import check_overrides, resume_overrides, resume_sweep_overrides

    args = get_args_parser().parse_args(argv)
    inspecting = args.help or args.hydra_help or args.cfg or args.info or args.shell_completion
    # A user's own config folder or name is composed by Hydra alone.
    custom = args.config_dir or args.config_path or args.config_name
    if inspecting or custom:
        return argv
    register_configs()
    register_resolvers()
    try:
        overrides = args.overrides
        if any(o.startswith("resume=") for o in overrides):
            if args.multirun:
                extra = resume_sweep_overrides(overrides)
                overrides, argv = [*overrides, *extra], [*argv, *extra]
            else:
                overrides = resume_overrides(overrides)
                if overrides is None:
                    return None
                argv = overrides
        check_overrides(config_dir(), overrides, args.multirun)
    except ConfigError as err:
        usage_error(str(err))
    return argv


def train(argv: list[str]) -> None:
    checked = _check_before_running(argv)
    if checked is None:
        return
    argv = checked
    try:
        _run_hydra_train(argv)
    except KeyboardInterrupt:
        print("lstm-overfit: interrupted", file=sys.stderr)
        sys.exit(130)


def report(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(
        prog="lstm-overfit report",
        description="Aggregate run and sweep folders: mean +- std over seeds per "
        "configuration, against the unregularized baseline.",
        epilog="example: lstm-overfit report outputs/sweeps/2026-01-01/12-00-00-abc123",
    )
    parser.add_argument("paths", nargs="+", type=Path, help="run or sweep folders (any mix)")
    parser.add_argument("--out", type=Path, help="where to write (default: the first path)")
    args = parser.parse_args(argv)
    for path in args.paths:
        if not path.is_dir():
            usage_error(f"{path}: no such folder; give run or sweep folders")
    from lstm_overfit.console import print_report
    from lstm_overfit.report import find_runs, table_rows, write_report

    runs = find_runs(args.paths)
    if not runs:
        usage_error(f"no runs under {', '.join(map(str, args.paths))} (no .hydra/overrides.yaml)")
    out = args.out or args.paths[0]
    print_report(table_rows(write_report(runs, out)), out)


COMMANDS = {"train": train, "report": report}


def main() -> None:
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, end="")
        return
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        usage_error(f"unknown command '{command}'; valid commands: {', '.join(COMMANDS)}")
    quick_shutdown()
    try:
        COMMANDS[command](rest)
    except BrokenPipeError:  # output piped into a reader that stopped early (`| head`)
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
