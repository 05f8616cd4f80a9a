"""Run folders as a report reads them: the composed config (flattened to dotted keys), the
overrides as typed, the summary and the epoch records."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lstm_overfit.config import UsageError, execution_settings
from lstm_overfit.run_folder import read_metrics, read_overrides, read_summary

# Config keys that do not tell configurations apart: the seed (runs over seeds make a
# configuration) and those that say where or how a run executes, not what it computes.
NOT_CONFIGURATION = ("seed", *execution_settings())


class ReportError(UsageError):
    """A report that cannot be made as asked: one line, exit status 2."""


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


@dataclass
class Run:
    folder: Path
    config: dict[str, Any]  # the composed config, flattened
    overrides: list[str]  # as typed, for summary.csv and --baseline's config groups
    summary: dict[str, Any] | None  # None while the run is in progress

    @property
    def status(self) -> str:
        return "running" if self.summary is None else self.summary["status"]

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
            runs.append(Run(folder, config, read_overrides(folder) or [], read_summary(folder)))
    return runs
