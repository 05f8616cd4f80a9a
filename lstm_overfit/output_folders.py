"""One run per run folder, one sweep per sweep folder, each job of a sweep once.

A run folder that holds a run is refused unless the command is its resume, and a sweep folder
that holds a sweep unless the command resumes it: a second run into the same folder would
append its epochs to the first's records. A resumed sweep may add jobs (more seeds, more
values of its keys): the jobs it holds keep their folders, and are skipped where they ended;
a new one takes its number in the command's order where no held job has it, else a number
past all of them. Every job of the sweep folder stays a job of the sweep.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lstm_overfit.config import Config, UsageError

# Keys left out of a job folder's name (conf/config.yaml's hydra.job.config.override_dirname):
# two spellings of them name one job.
NOT_IN_JOB_NAME = ("resume=", "dataset.path=")


def holds_run(folder: Path) -> bool:
    return any(
        (folder / name).exists()
        for name in (".hydra/overrides.yaml", "metrics.jsonl", "summary.json")
    )


def sweep_jobs(folder: Path) -> list[Path]:
    """The job folders of the sweep in `folder`."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and holds_run(p))


def check_new_output(folder: Path, multirun: bool) -> None:
    """A command that is not a resume writes into a folder of its own."""
    from lstm_overfit.resume import resume_command, sweep_resume_command

    if not folder.is_dir():
        return
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    if holds_run(folder):
        again = resume_command(folder)
        raise UsageError(
            f"{key}={folder} already holds a run; continue it with `{again}`, or give another {key}"
        )
    if (folder / "multirun.yaml").is_file() or sweep_jobs(folder):
        raise UsageError(
            f"{key}={folder} already holds a sweep; continue it, or add seeds or values to "
            f"it, with `{sweep_resume_command(folder)}` (its keys may take more values), or "
            f"give another {key}"
        )


def check_distinct_jobs(
    jobs: list[list[str]], configs: list[Config], sweeps: dict[str, list[str]]
) -> None:
    """Two jobs of a sweep that compose to one config would make the same run twice, and a
    report would count it as two seeds. `sweeps`: each swept key's values, as KEY=VALUE."""
    for values in sweeps.values():
        if twice := sorted({v for v in values if values.count(v) > 1}):
            raise UsageError(
                f"the sweep lists {', '.join(twice)} twice: the same run would be made "
                "twice; list each value once"
            )
    seen: dict[str, int] = {}
    for i, cfg in enumerate(configs):
        key = json.dumps(asdict(cfg), default=str, sort_keys=True)
        if key in seen:
            first = [o for o in jobs[seen[key]] if o not in jobs[i]]
            again = [o for o in jobs[i] if o not in jobs[seen[key]]]
            raise UsageError(
                f"the sweep's {' '.join(first)} and {' '.join(again)} are one run (they "
                "compose to the same config); list each value once"
            )
        seen[key] = i


def _plain(cfg: Config) -> dict[str, Any]:
    from omegaconf import OmegaConf

    plain = OmegaConf.to_container(OmegaConf.structured(cfg), enum_to_str=True)
    plain.pop("resume", None)
    return plain


def _saved(job: Path) -> dict[str, Any] | None:
    from omegaconf import OmegaConf

    try:
        saved = OmegaConf.to_container(OmegaConf.load(job / ".hydra" / "config.yaml"))
    except Exception:  # an unreadable config: the job is not one of this sweep's
        return None
    if isinstance(saved, dict):
        saved.pop("resume", None)
        return saved
    return None


def _but_epochs(config: dict[str, Any] | None) -> dict[str, Any] | None:
    if config is None:
        return None
    return {**config, "train": {**config.get("train", {}), "epochs": None}}


def _named(overrides: list[str]) -> list[str]:
    """The overrides a job folder's name is made of (Hydra's own are not the job's)."""
    ignored = (*NOT_IN_JOB_NAME, "hydra.", "hydra/", "+hydra")
    return sorted(o for o in overrides if not o.startswith(ignored))


def check_sweep_jobs(folder: Path, jobs: list[list[str]], configs: list[Config]) -> None:
    """`-m ... resume=SWEEP_DIR`: every job the folder holds is one of the command's jobs,
    written the same way (so it keeps its folder); the command may add jobs."""
    from lstm_overfit.dataset_identity import check_same_data
    from lstm_overfit.resume import resume_command, sweep_resume_command
    from lstm_overfit.run_folder import finished_summary, read_overrides

    held = sweep_jobs(folder)
    if not held:
        return
    planned = [(_named(job), _plain(cfg)) for job, cfg in zip(jobs, configs, strict=True)]
    for job in held:
        saved = _saved(job)
        match = [i for i, (_, plain) in enumerate(planned) if plain == saved]
        if not match:
            if any(_but_epochs(plain) == _but_epochs(saved) for _, plain in planned):
                raise UsageError(
                    f"resume={folder}: a sweep's jobs keep their train.epochs; give a job "
                    f"more epochs on its own: `{resume_command(folder / job.name)} "
                    "train.epochs=N`"
                )
            raise UsageError(
                f"resume={folder}: its job {job.name} is not one of this command's jobs; a "
                "sweep continues with its own overrides, where a key may take more values "
                f"(such as more seeds): `{sweep_resume_command(folder)}`"
            )
        written = _named(read_overrides(job) or [])
        if written not in [planned[i][0] for i in match]:
            raise UsageError(
                f"resume={folder}: its job {job.name} was made with {' '.join(written)}, "
                f"and this command writes it {' '.join(planned[match[0]][0])}; write the "
                "values as the sweep did"
            )
        if finished_summary(job) is None:  # it continues, on the data it started with
            check_same_data(job, configs[match[0]].dataset)


def job_numbering(folder: Path, jobs: int) -> list[str]:
    """The override that names a resumed sweep's job folders: a job the folder holds keeps
    its folder; another job takes its number in this command's order where no held job has
    that number, else a number past all of them (`jobs`: how many this command has). None
    for a folder without jobs."""
    held = sweep_jobs(folder)
    if not held:
        return []
    numbers = [int(n) for job in held if (n := job.name.partition("-")[0]).isdigit()]
    past = max([*numbers, jobs - 1]) + 1
    # Quoted: the commas between the resolver's arguments would read as a sweep.
    name = f"${{job_dir:${{hydra.job.num}},${{hydra.job.override_dirname}},{past}}}"
    return [f"hydra.sweep.subdir='{name}'"]


def job_dir(num: Any, name: str, past: Any, *, _root_: Any) -> str:
    """A resumed sweep's job folder (see job_numbering). Numbers below `past` are the held
    jobs' and this command's own, so a folder numbered `num` under another name is a held
    job's."""
    sweep = Path(str(_root_.hydra.sweep.dir))
    taken = False
    for job in sweep.iterdir() if sweep.is_dir() else ():
        number, _, rest = job.name.partition("-")
        if not number.isdigit() or int(number) >= int(past):
            continue
        if rest == name:
            return job.name
        taken = taken or int(number) == int(num)
    return f"{int(num) + int(past) if taken else int(num)}-{name}"


def register_job_dir() -> None:
    """`${job_dir:...}`, which a resumed sweep's hydra.sweep.subdir names: registered in
    every process that runs jobs (callbacks.py, which Hydra loads there, calls this)."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("job_dir"):
        OmegaConf.register_new_resolver("job_dir", job_dir)
