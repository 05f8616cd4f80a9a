"""Range checks that types cannot express, run on every job before anything is made: each
knob's own range (declared with it, see knobs.py), then the rules between knobs: the task
kind's (tasks/registry.py) and each regularizer's own (its `check` hook)."""

from __future__ import annotations

from typing import Any

from lstm_overfit.config import Config, SyntheticData, UsageError
from lstm_overfit.knobs import out_of_range
from lstm_overfit.regularizers.active import ActiveRegularizers
from lstm_overfit.tasks.registry import check_task_rules


def _out_of_range(key: str, value: Any, rule: str, example: Any) -> UsageError:
    return UsageError(f"{key}={value} is out of range: {rule}; try {key}={example}")


def validate(cfg: Config) -> None:
    """Raises UsageError naming the key and the fix."""
    first = next(out_of_range(cfg), None)
    if first is not None:
        raise _out_of_range(*first)
    d = cfg.dataset
    if isinstance(d, SyntheticData) and d.motif_length > d.seq_len:
        raise _out_of_range(
            "dataset.motif_length",
            d.motif_length,
            f"it must not exceed dataset.seq_len ({d.seq_len})",
            min(3, d.seq_len),
        )
    check_task_rules(cfg)
    ActiveRegularizers(cfg.reg).check(cfg)
