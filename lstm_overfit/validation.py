"""Range checks that types cannot express, run on every job before anything is made: each
knob's own range (declared with it in config.py, see knobs.py), then the rules between knobs."""

from __future__ import annotations

from typing import Any

from lstm_overfit.config import Config, SyntheticData, Task, UsageError
from lstm_overfit.knobs import out_of_range


def _out_of_range(key: str, value: Any, rule: str, example: Any) -> UsageError:
    return UsageError(f"{key}={value} is out of range: {rule}; try {key}={example}")


def validate(cfg: Config) -> None:
    """Raises UsageError naming the key and the fix."""
    first = next(out_of_range(cfg), None)
    if first is not None:
        raise _out_of_range(*first)
    d, task = cfg.dataset, cfg.dataset.task
    if isinstance(d, SyntheticData) and d.motif_length > d.seq_len:
        raise _out_of_range(
            "dataset.motif_length",
            d.motif_length,
            f"it must not exceed dataset.seq_len ({d.seq_len})",
            min(3, d.seq_len),
        )
    if task != Task.classify and cfg.model.bidirectional:
        raise UsageError(
            f"model.bidirectional=true needs a classification data set; dataset {d.name} is "
            f"{task.value}: a {task.value} model may only read the past"
        )
    r = cfg.reg
    if task == Task.forecast and (r.embedding_dropout > 0 or cfg.model.embedding.pretrained):
        raise UsageError(
            f"dataset {d.name} has real-valued input with no embedding matrix: drop "
            "reg.embedding_dropout and model.embedding.pretrained"
        )
    if task != Task.lm and cfg.train.lm_sum_over_steps:
        raise UsageError(
            f"train.lm_sum_over_steps=true needs a language-modelling data set; dataset "
            f"{d.name} is {task.value}: drop train.lm_sum_over_steps"
        )
    zoneout = [r.zoneout if rate is None else rate for rate in (r.zoneout_cell, r.zoneout_hidden)]
    if cfg.model.bidirectional and any(zoneout):
        raise UsageError(
            "zoneout and model.bidirectional=true cannot be combined: zoneout runs "
            "unidirectional layers; drop one of them"
        )
