"""The console script: `lstm-overfit train [OVERRIDES]` and `lstm-overfit report PATH...`.

The only module that touches Hydra's runtime and sys.argv. Torch is imported lazily, inside
the commands, so `--help` answers at once.
"""

from __future__ import annotations

import errno
import logging
import sys
from pathlib import Path
from typing import Any, NoReturn

from lstm_overfit.config import Config, UsageError, execution_settings, register_configs
from lstm_overfit.run_folder import FAILED, as_settings

log = logging.getLogger(__name__)

USAGE = """\
usage: lstm-overfit COMMAND [ARGS...]
       lstm-overfit --version

Train LSTMs and measure how they overfit, with and without regularization.

commands:
  train [OVERRIDES...]     one training run; add -m for a sweep over comma-separated values
                           (`lstm-overfit train --help` lists every config group and key)
  report PATH... [--baseline KEY=VALUE...] [--out DIR]
         [--where KEY=VALUE...] [--vary KEY...]
                           tables and plots over run and sweep folders (--where: only
                           the runs with these values; --vary: the keys to compare)

options:
  -h, --help               this help
  --version                the installed version

examples:
  lstm-overfit train                            the default run: synthetic data, CPU
  lstm-overfit train +reg=l2                    the same with an L2 penalty
  lstm-overfit train '+reg=[l2,dropout]' reg.dropout=0.3
  lstm-overfit train -m +reg=l1,l2 seed=0,1     a sweep of four runs
  lstm-overfit report outputs/sweeps/DATE/TIME  which regularizer, how strong, how sure

exit status: 0 success, 1 a run failed (diverged, an error while training), 2 a usage,
config or data mistake (nothing is run), 130/143 interrupted (SIGINT/SIGTERM).
"""

EXIT_RUN_FAILED = 1
EXIT_USAGE = 2
# Torch threads of a sweep job unless train.num_threads says otherwise: the same for every
# launcher, so a sweep run one job after another and one run in parallel give equal numbers.
SWEEP_JOB_THREADS = 1
# A full disk, a read-only or forbidden folder: the run cannot save its work.
WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


def config_dir() -> Path:
    """conf/ shipped inside the package (wheel install), else the source checkout's conf/."""
    packaged = Path(__file__).resolve().parent / "conf"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "conf"


def installed_version() -> str:
    """The installed distribution's version (the package's own in a bare source checkout)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lstm-overfit")
    except PackageNotFoundError:
        import lstm_overfit

        return lstm_overfit.__version__


def usage_error(message: str) -> NoReturn:
    print(f"lstm-overfit: error: {message}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


def register_resolvers() -> None:
    """`${run_id:}`: a short random id that keeps run folders unique within one second.
    Cached, and Hydra copies the cache into each sweep job, so all jobs share one sweep folder.

    `${execution_keys:}`: the keys that say where or how a run executes, which do not name a
    sweep's job folders.
    `${job_dir:...}`: the job folders of a resumed sweep (output_folders.py).
    """
    import secrets

    from omegaconf import OmegaConf

    from lstm_overfit.output_folders import register_job_dir

    if not OmegaConf.has_resolver("run_id"):
        OmegaConf.register_new_resolver("run_id", lambda: secrets.token_hex(3), use_cache=True)
    if not OmegaConf.has_resolver("execution_keys"):
        OmegaConf.register_new_resolver("execution_keys", execution_settings)
    register_job_dir()


def _tag_console_lines(job: str) -> None:
    """Sweep jobs side by side print to one terminal: each console line names its job."""
    for handler in logging.getLogger().handlers:
        if not isinstance(handler, logging.FileHandler):
            handler.setFormatter(logging.Formatter(f"[{job}] %(message)s"))


def _job_failed(err: Exception) -> float:
    """A sweep job's error: logged (with its traceback unless it is a usage mistake; its
    summary says failed), and the sweep goes on (its end lists the job and exits with 1)."""
    log.error("the job failed: %s", err, exc_info=None if isinstance(err, UsageError) else err)
    return float("nan")


def _run(cfg: Config, out_dir: Path, multirun: bool) -> Any:
    from lstm_overfit.console import RichProgress
    from lstm_overfit.fit import fit
    from lstm_overfit.tasks import task_kind
    from lstm_overfit.throughput import SlowEpochWarning

    resume, unit = cfg.resume is not None, task_kind(cfg.dataset.task).rate_unit
    observers = [SlowEpochWarning(unit)]
    if cfg.train.progress and not multirun:
        with RichProgress(cfg.train.epochs, unit) as progress:
            return fit(cfg, out_dir, [progress, *observers], resume)
    return fit(cfg, out_dir, observers, resume)


def _train_task(dict_cfg: Any) -> float:
    """The Hydra task: one run into Hydra's output folder. Returns best validation loss."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    from lstm_overfit.console import print_summary
    from lstm_overfit.resume import ended_job, resume_command, sweep_resume_command
    from lstm_overfit.stopping import Interrupted

    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    out_dir = Path(hydra_cfg.runtime.output_dir)
    cfg: Config = OmegaConf.to_object(dict_cfg)
    if multirun:
        _tag_console_lines(f"job {hydra_cfg.job.num}")
        if cfg.train.num_threads == 0:
            cfg.train.num_threads = SWEEP_JOB_THREADS
        done = ended_job(out_dir) if cfg.resume is not None else None
        if done is not None:
            return float("nan") if done["best_val_loss"] is None else done["best_val_loss"]
    try:
        summary = _run(cfg, out_dir, multirun)
    except UsageError as err:  # found once the run started (a checkpoint; --config-dir)
        if not multirun:
            usage_error(str(err))
        return _job_failed(err)
    except Interrupted as stop:
        if multirun:  # the sweep is what continues: its finished jobs are skipped
            again = sweep_resume_command(Path(hydra_cfg.sweep.dir))
            print(
                f"lstm-overfit: interrupted by {stop}: the job saved its place; continue the "
                f"sweep with `{again}`",
                file=sys.stderr,
            )
        else:
            print(
                f"lstm-overfit: interrupted by {stop}: the run saved its place; continue it "
                f"with `{resume_command(out_dir)}`",
                file=sys.stderr,
            )
        sys.exit(128 + stop.signum)
    except OSError as err:
        if err.errno not in WRITE_ERRORS:
            if multirun:
                return _job_failed(err)
            raise
        print(
            f"lstm-overfit: error: cannot write {err.filename or out_dir}: "
            f"{err.strerror or err}; free space or make the folder writable, then continue "
            f"with `{resume_command(out_dir)}`",
            file=sys.stderr,
        )
        sys.exit(EXIT_RUN_FAILED)
    except Exception as err:
        if not multirun:
            raise
        return _job_failed(err)
    if not multirun:
        print_summary(summary, out_dir)
        if summary.status in FAILED:
            print(f"lstm-overfit: the run {summary.status}: {summary.error}", file=sys.stderr)
            sys.exit(EXIT_RUN_FAILED)
    return float("nan") if summary.best_val_loss is None else summary.best_val_loss


def _run_hydra(argv: list[str]) -> None:
    import hydra

    from lstm_overfit.callbacks import failed_jobs

    task = hydra.main(config_path=str(config_dir()), config_name="config", version_base="1.3")(
        _train_task
    )
    saved, sys.argv = sys.argv, ["lstm-overfit train", *argv]  # hydra.main reads sys.argv
    failed_jobs.clear()  # what the sweep's end reports, not an earlier command's
    try:
        task()
    finally:
        sys.argv = saved
    if failed_jobs:
        listed = "; ".join(f"{folder} ({status})" for folder, status in failed_jobs)
        print(f"lstm-overfit: {len(failed_jobs)} job(s) did not succeed: {listed}", file=sys.stderr)
        sys.exit(EXIT_RUN_FAILED)


def train(argv: list[str]) -> None:
    from hydra._internal.utils import get_args_parser

    from lstm_overfit.preflight import compose_config, option_groups, plan
    from lstm_overfit.resume import sweep_resume_command

    args = get_args_parser().parse_intermixed_args(argv)  # overrides before and after -m
    try:
        register_configs()  # finds the plug-ins: one that cannot be used stops here
    except UsageError as err:
        usage_error(str(err))
    register_resolvers()
    if args.help:
        from lstm_overfit.console import print_train_help

        try:
            cfg = compose_config(config_dir(), [o for o in args.overrides if "," not in o])
        except UsageError as err:
            usage_error(str(err))
        print_train_help(cfg, option_groups(config_dir()))
        return
    if args.multirun and args.cfg:  # Hydra raises a bare ValueError for these
        usage_error(
            "--cfg shows one job's config, not a sweep's; drop -m (and give each key one "
            "value) to see one job's config"
        )
    if args.multirun and args.info:
        usage_error("--info cannot be combined with -m; drop -m")
    # Hydra's own inspections, and a user's own config folder, go to Hydra as they are.
    inspecting = args.hydra_help or args.cfg or args.info or args.shell_completion
    if inspecting or args.config_dir or args.config_path or args.config_name:
        _run_hydra(argv)
        return
    try:
        checked = plan(config_dir(), args.overrides, args.multirun)
    except UsageError as err:
        usage_error(str(err))
    if checked is None:
        return
    flags = [a for a in argv if a not in args.overrides]
    try:
        _run_hydra([*flags, *checked])
    except KeyboardInterrupt:  # before a job's loop took over the signal
        sweep = as_settings(checked).get("hydra.sweep.dir") if args.multirun else None
        if sweep and (Path(sweep) / "multirun.yaml").is_file():
            print(
                f"lstm-overfit: interrupted; continue the sweep with "
                f"`{sweep_resume_command(Path(sweep))}`",
                file=sys.stderr,
            )
        else:
            print("lstm-overfit: interrupted", file=sys.stderr)
        sys.exit(130)


def report(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(
        prog="lstm-overfit report",
        description="Compare run and sweep folders: each configuration against a baseline, "
        "seed by seed, with intervals over the seeds.",
        epilog="example: lstm-overfit report outputs/sweeps/2026-01-01/12-00-00-abc123",
    )
    parser.add_argument("paths", nargs="+", type=Path, help="run or sweep folders (any mix)")
    parser.add_argument(
        "--baseline",
        nargs="+",
        metavar="KEY=VALUE",
        help="the configuration to compare with (default: the unregularized one)",
    )
    parser.add_argument(
        "--where",
        nargs="+",
        metavar="KEY=VALUE",
        help="only the runs with these values, such as dataset.num_train=1000",
    )
    parser.add_argument(
        "--vary",
        nargs="+",
        metavar="KEY",
        help="the keys to compare, such as reg.l2; every other key must have one value",
    )
    parser.add_argument("--out", type=Path, help="where to write (default: the first path)")
    args = parser.parse_args(argv)
    from lstm_overfit.report_files import report_folder, write_report

    paths = [report_folder(path) for path in args.paths]
    for path in paths:
        if not path.is_dir():
            usage_error(f"{path}: no such folder; give run or sweep folders")
    from lstm_overfit.console import print_report
    from lstm_overfit.report import build_report
    from lstm_overfit.runs import find_runs

    out = args.out or paths[0]
    try:  # a damaged run folder, a baseline that matches nothing, an --out that takes no file
        runs = find_runs(paths)
        if not runs:
            usage_error(f"no runs under {', '.join(map(str, paths))} (no .hydra/config.yaml)")
        built = build_report(runs, args.baseline, args.where, args.vary)
        written = write_report(built, out)
    except UsageError as err:
        usage_error(str(err))
    print_report(built, written, out)


COMMANDS = {"train": train, "report": report}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, end="")
        return
    if args[0] == "--version":
        print(f"lstm-overfit {installed_version()}")
        return
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        usage_error(f"unknown command '{command}'; valid commands: {', '.join(COMMANDS)}")
    try:
        COMMANDS[command](rest)
    except BrokenPipeError:  # output piped into a reader that stopped early (`| head`)
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
