"""Run folders as a report reads them: the composed config (flattened to dotted keys), the
overrides as typed, the summary and the epoch records, what data the run read, and whether a
run without a summary still runs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lstm_overfit.config import UsageError, execution_settings
from lstm_overfit.dataset_identity import files_digest, read_identity
from lstm_overfit.liveness import KILLED, RUNNING, UNKNOWN, process_state, read_mark
from lstm_overfit.run_folder import read_metrics, read_overrides, read_summary

# Config keys that do not tell configurations apart: the seed (runs over seeds make a
# configuration) and those that say where or how a run executes, not what it computes.
NOT_CONFIGURATION = ("seed", *execution_settings())


class ReportError(UsageError):
    """A report that cannot be made as asked: one line, exit status 2."""


def parse_settings(items: list[str], flag: str = "--baseline") -> list[tuple[str, Any]]:
    """KEY=VALUE items as (key without +, parsed value): numbers as numbers, lists as tuples."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    parsed = []
    for item in items:
        try:
            (override,) = parser.parse_overrides([item])
        except OverrideParseException:
            raise ReportError(
                f"{flag} {item}: write it as KEY=VALUE, such as reg.l2=0.001"
            ) from None
        value = override.value()
        parsed.append((override.key_or_group, tuple(value) if isinstance(value, list) else value))
    return parsed


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config as {dotted.key: value}; lists become tuples, so values compare."""
    if isinstance(node, dict):
        flat: dict[str, Any] = {}
        for key, value in node.items():
            flat.update(flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: tuple(node) if isinstance(node, list) else node}


def fmt_value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# How a run without a summary of its latest start stands: its process runs, is gone, or ran
# on another host (or left no record of itself), so that cannot be told from here.
UNFINISHED = (RUNNING, KILLED, UNKNOWN)


@dataclass
class Run:
    folder: Path
    config: dict[str, Any]  # the composed config, flattened
    overrides: list[str]  # as typed, for summary.csv and --baseline's config groups
    summary: dict[str, Any] | None  # None while the run is in progress
    process: str | None = None  # RUNNING, KILLED or UNKNOWN while it has no summary of its own
    data_source: str | None = None  # the digest of the files it read (None: hub or generated)

    @property
    def status(self) -> str:
        """How the run ended (its summary's status), or how its unfinished process stands."""
        if self.process is not None:
            return self.process
        return UNKNOWN if self.summary is None else self.summary["status"]

    @property
    def epochs_planned(self) -> int | None:
        return self.config.get("train.epochs")

    def progress(self) -> tuple[int, float | None, int | None]:
        """(epochs recorded, the best validation loss so far, its epoch)."""
        rows = [r for r in self.metrics() if isinstance(r.get("val_loss"), (int, float))]
        if not rows:
            return 0, None, None
        best = min(rows, key=lambda r: r["val_loss"])
        return rows[-1]["epoch"], best["val_loss"], best["epoch"]

    @property
    def resume_command(self) -> str:
        """The command that continues it: the whole sweep's for a sweep's job."""
        from lstm_overfit.resume import resume_command, sweep_resume_command

        if (self.folder.parent / "multirun.yaml").is_file():
            return sweep_resume_command(self.folder.parent)
        return resume_command(self.folder)

    @property
    def settings(self) -> dict[str, Any]:
        """The config keys that change what the run computes."""
        return {k: v for k, v in self.config.items() if k not in NOT_CONFIGURATION}

    @property
    def seed(self) -> int | None:
        return self.config.get("seed")

    def number(self, name: str) -> float | None:
        if self.summary is None:
            return None
        if name.startswith("test"):  # test: the task's metric at test; test_loss: the loss
            test = self.summary.get("test") or {}
            return test.get("loss" if name == "test_loss" else self.summary.get("metric"))
        return self.summary.get(name)

    def metrics(self) -> list[dict[str, Any]]:
        return read_metrics(self.folder)


def find_runs(paths: Iterable[Path]) -> list[Run]:
    import yaml

    runs, seen = [], set()
    for path in paths:
        for saved in sorted(path.rglob(".hydra/config.yaml")):
            folder = saved.parent.parent
            if (where := folder.resolve()) in seen:  # paths that overlap name a run twice
                continue
            seen.add(where)
            try:
                config = flatten(yaml.safe_load(saved.read_text()) or {})
            except yaml.YAMLError:
                raise ReportError(
                    f"{saved} is damaged (not YAML); delete the run folder {folder} or "
                    "leave it out of the report"
                ) from None
            mark = read_mark(folder)
            runs.append(
                Run(
                    folder,
                    config,
                    read_overrides(folder) or [],
                    read_summary(folder),
                    process_state(mark) if mark is not None else None,
                    _data_source(folder, config),
                )
            )
    return runs


def _data_source(folder: Path, config: dict[str, Any]) -> str | None:
    """The digest of the files the run read, as recorded when it started; for a folder
    written before runs recorded it, the digest of the files its dataset.path names now,
    else that path."""
    identity = read_identity(folder)
    if identity is not None:
        return identity.get("files_sha256")
    given = config.get("dataset.path")
    if not given:
        return None
    path = Path(str(given)).expanduser()
    if not path.is_absolute():  # relative to where the run was started
        path = _started_in(folder) / path
    return files_digest(path) or str(path)


def _started_in(folder: Path) -> Path:
    import yaml

    try:
        saved = yaml.safe_load((folder / ".hydra" / "hydra.yaml").read_text())
        return Path(saved["hydra"]["runtime"]["cwd"])
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return Path.cwd()


def unfinished_lines(runs: list[Run]) -> list[str]:
    """One line per run that has not ended, with how far it got and how to continue it; the
    jobs of a sweep are continued with the sweep, in one line for each sweep."""
    lines, sweeps = [], {}
    for run in runs:
        if run.status not in (*UNFINISHED, "interrupted"):
            continue
        done, best, at = run.progress()
        planned = run.epochs_planned
        so_far = f"{done} of {planned} epochs" if planned else f"{done} epochs"
        if best is not None:
            so_far += f", the best validation loss so far {best:.4g} at epoch {at}"
        in_sweep = (run.folder.parent / "multirun.yaml").is_file()
        if run.status != RUNNING and in_sweep:
            sweeps.setdefault(run.folder.parent, run.resume_command)
        again = "" if in_sweep else f"; continue it with `{run.resume_command}`"
        if run.status == RUNNING:
            lines.append(f"running: {run.folder}: {so_far}")
        elif run.status == KILLED:
            lines.append(
                f"killed: {run.folder}: its process is gone without a summary, after "
                f"{so_far}{again}"
            )
        elif run.status == UNKNOWN:
            lines.append(
                f"unknown: {run.folder}: no summary, and its process ran on another host "
                f"(or left no record), so whether it still runs cannot be told here; "
                f"{so_far}" + (f"; if it is gone,{again[1:]}" if again else "")
            )
        else:
            lines.append(f"interrupted: {run.folder}: after {so_far}{again}")
    lines += [f"continue the sweep in {sweep} with `{cmd}`" for sweep, cmd in sweeps.items()]
    return lines
