"""Continuing a run or a sweep where it stopped.

`resume=RUN_DIR` continues one run with its saved overrides; `-m ... resume=SWEEP_DIR`
runs the sweep again into its folder, skipping the jobs that ended. Inside the run, its
state comes back from checkpoints/last.pt whole (checkpoints.RunState), and epoch records
past that checkpoint are dropped, to be recomputed.
"""

from __future__ import annotations

import logging
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lstm_overfit.config import UsageError, execution_settings
from lstm_overfit.run_folder import (
    EpochRecord,
    as_settings,
    finished_summary,
    read_metrics,
    read_overrides,
)
from lstm_overfit.storage import write_jsonl

if TYPE_CHECKING:
    from lstm_overfit.train import TrainingRun

log = logging.getLogger(__name__)

# Settings that may change when a run continues: they say where or how it executes, not what
# it computes (a thread count can move the last bits of a float sum; the device, more).
RESUME_SETTINGS = tuple(f"{key}=" for key in execution_settings() if key != "resume")
# With a larger value, a run continues past its end (the epochs it ran are kept as they are).
MORE_EPOCHS = "train.epochs="


def as_value(path: Path | str) -> str:
    """A folder as an override's value: in quotes where Hydra would read its commas, equals
    signs or brackets (a sweep job's folder has them)."""
    text = str(path)
    if re.fullmatch(r"[\w./~@%+-]*", text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def unquoted(value: str) -> str:
    """An override's value as the path it names, without the quotes it may have been given in."""
    if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def resume_command(folder: Path) -> str:
    """The shell command that continues the run in `folder`."""
    argument = f"resume={as_value(folder)}"
    if argument == shlex.quote(argument):
        return f"lstm-overfit train {argument}"
    if re.search(r'["$`\\!]', argument):
        return f"lstm-overfit train {shlex.quote(argument)}"
    return f'lstm-overfit train "{argument}"'  # reads better than shlex's quoted quotes


def resume_overrides(overrides: list[str]) -> list[str] | None:
    """`resume=DIR` -> the run's saved overrides, pinned to DIR; None if it already ended.

    `train.epochs=N`, more than the run's, continues it to N epochs, a run that completed
    too: its records so far stay as they are."""
    switch = [o for o in overrides if o.startswith("resume=")]
    settings = [o for o in overrides if o.startswith(RESUME_SETTINGS)]
    longer = [o for o in overrides if o.startswith(MORE_EPOCHS)]
    others = [o for o in overrides if o not in switch + settings + longer]
    value = as_settings(switch)["resume"]
    folder = Path(unquoted(value)).expanduser()
    saved = read_overrides(folder)
    if saved is None:
        raise UsageError(
            f"resume={value} is not a run folder (no .hydra/overrides.yaml in it); point it "
            "at a run's folder, such as outputs/runs/<date>/<time>-<id>"
        )
    check_not_running(folder)
    if others:
        raise UsageError(
            f"resume continues a run with its saved config; drop the other overrides "
            f"({' '.join(others)}); only {', '.join(s + '...' for s in RESUME_SETTINGS)} may "
            f"change, and {MORE_EPOCHS}N may add epochs"
        )
    ended = finished_summary(folder)
    if longer:
        check_more_epochs(folder, as_settings(longer)["train.epochs"], ended)
    elif ended is not None:
        print(f"lstm-overfit: nothing to resume: the run in {folder} ended ({ended['status']})")
        return None
    check_checkpoints(folder)
    kept = [o for o in saved if not o.startswith("resume=")]
    if longer:
        kept = [o for o in kept if not o.startswith(MORE_EPOCHS)] + longer[-1:]
    where = folder.resolve()
    return [*kept, *settings, f"resume={as_value(where)}", f"hydra.run.dir={as_value(where)}"]


def check_more_epochs(folder: Path, given: str, ended: dict[str, Any] | None) -> None:
    """train.epochs=N with resume: N is more than the run's epochs, and the run can go on
    (it did not stop early or diverge)."""
    import yaml

    saved = folder / ".hydra" / "config.yaml"
    config = (yaml.safe_load(saved.read_text()) if saved.is_file() else None) or {}
    planned = (config.get("train") or {}).get("epochs")
    if not given.isdigit() or planned is None or int(given) <= planned:
        raise UsageError(
            f"{MORE_EPOCHS}{given} with resume must be more than the run's {planned} epochs; "
            f"give {MORE_EPOCHS}{(planned or 0) * 2}, say, or drop it to continue the run as it was"
        )
    if ended is not None and ended["status"] != "completed":
        why = {
            "stopped_early": "stopped early, so more epochs would stop at once",
            "diverged": "diverged, so more epochs would continue from a broken state",
        }[ended["status"]]
        raise UsageError(
            f"the run in {folder} {why}; start a new run with train.epochs={given} instead"
        )


def resume_sweep_overrides(overrides: list[str]) -> list[str]:
    """`-m ... resume=SWEEP_DIR`: the same sweep again, into SWEEP_DIR. Its jobs that ended
    are skipped; the others continue from their last checkpoint or start."""
    value = as_settings(overrides)["resume"]
    folder = Path(value).expanduser()
    if not (folder / "multirun.yaml").is_file():
        raise UsageError(
            f"resume={value} is not a sweep folder (no multirun.yaml in it); with -m, point it "
            "at a sweep's folder, such as outputs/sweeps/<date>/<time>-<id>"
        )
    for job in sorted(p for p in folder.iterdir() if read_overrides(p) is not None):
        if finished_summary(job) is None:  # the jobs to continue: their files must load
            check_not_running(job)
            check_checkpoints(job)
    return [*overrides, *_job_folder_names(folder), f"hydra.sweep.dir={folder.resolve()}"]


def _job_folder_names(sweep: Path) -> list[str]:
    """The keys left out of the sweep's job folder names, as it was started with them (a
    sweep started before those keys were derived from the knobs listed them by hand), so
    its jobs are found under their own names."""
    import yaml

    saved = yaml.safe_load((sweep / "multirun.yaml").read_text()) or {}
    naming = saved.get("hydra", {}).get("job", {}).get("config", {}).get("override_dirname", {})
    keys = naming.get("exclude_keys")
    if not isinstance(keys, list):  # the interpolation of today's config: nothing to pin
        return []
    return [f"hydra.job.config.override_dirname.exclude_keys=[{','.join(keys)}]"]


def check_not_running(folder: Path) -> None:
    """Two processes must not write one run: a run whose process still runs here is left to
    it. (One on another host cannot be told from here, and is not refused.)"""
    from lstm_overfit.liveness import RUNNING, process_state, read_mark

    mark = read_mark(folder)
    if mark is not None and process_state(mark) == RUNNING:
        raise UsageError(
            f"the run in {folder} is still running (process {mark['pid']} on this host); "
            "let it end, or stop it, before you continue it"
        )


def check_checkpoints(folder: Path) -> None:
    """The checkpoints a run continues from load: a damaged one stops the command with one
    line now, not once the run has started."""
    from lstm_overfit.checkpoints import load_checkpoint, load_run_state

    last, best = folder / "checkpoints" / "last.pt", folder / "checkpoints" / "best.pt"
    if last.exists():
        load_run_state(last)
    if best.exists():
        load_checkpoint(best)


# Overrides the CLI adds to every sweep it runs (and to a resumed one), or Hydra to every
# multirun.
PINNED = ("resume=", "hydra.sweep.dir=", "hydra.sweep.subdir=", "hydra.mode=")


def sweep_resume_command(sweep_dir: Path) -> str:
    """The command that continues the sweep in `sweep_dir`: its own overrides, read from the
    multirun.yaml Hydra saved there, with resume=SWEEP_DIR."""
    import yaml

    resume = f"resume={shlex.quote(str(sweep_dir))}"
    saved = sweep_dir / "multirun.yaml"
    try:
        overrides = yaml.safe_load(saved.read_text())["hydra"]["overrides"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return f"the same command with {resume}"
    given = [o for o in [*overrides["task"], *overrides["hydra"]] if not o.startswith(PINNED)]
    return shlex.join(["lstm-overfit", "train", "-m", *given]) + f" {resume}"


def restore(run: TrainingRun) -> None:
    """Continue `run` from its checkpoints/last.pt; drop records of epochs it does not hold
    (a kill between an epoch's record and its checkpoint leaves one)."""
    from lstm_overfit.checkpoints import load_run_state

    last = run.checkpoints / "last.pt"
    rows = read_metrics(run.out_dir)
    if not last.exists():
        log.info("no checkpoint yet in %s: starting from the beginning", run.out_dir)
        rows = []
    else:
        run.state.load_state_dict(load_run_state(last, run.parts.device))
        _keep_threads(run)
        rows = [row for row in rows if row["epoch"] <= run.state.epoch]
        log.info("resuming after epoch %d from %s", run.state.epoch, last)
    write_jsonl(run.metrics.path, rows)
    run.records = [EpochRecord.from_dict(row) for row in rows]


def _keep_threads(run: TrainingRun) -> None:
    """A run that chose its thread count continues with the count it chose (float sums
    depend on it); train.num_threads given with resume overrides it."""
    import torch

    chosen = run.state.num_threads
    if run.cfg.train.num_threads == 0 and chosen and chosen != run.parts.num_threads:
        torch.set_num_threads(chosen)
        run.parts.num_threads = chosen
        run.parts.threads_reason = "the count the run chose when it started"
    run.state.num_threads = run.parts.num_threads


def ended_job(out_dir: Path) -> dict[str, Any] | None:
    """In a resumed sweep, the summary of a job that already ended (it is skipped)."""
    done = finished_summary(out_dir)
    if done is not None:
        log.info("already %s: %s", done["status"], out_dir)
    return done
