"""Range checks that types cannot express, run on every job before anything is made."""

from __future__ import annotations

import math
from dataclasses import MISSING, fields
from typing import Any

from lstm_overfit.config import (
    Config,
    ConfigError,
    SeriesData,
    SyntheticData,
    Task,
)


def _get(obj: Any, key: str) -> Any:
    """`_get(cfg, "train.epochs")` is cfg.train.epochs."""
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


class _Checker:
    """Raises ConfigError naming the key, the rule, and a valid example (the default)."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.defaults = Config(dataset=type(cfg.dataset)())

    def check(self, ok: bool, key: str, rule: str, example: Any = MISSING) -> None:
        if ok:
            return
        value = _get(self.cfg, key)
        example = _get(self.defaults, key) if example is MISSING else example
        raise ConfigError(f"{key}={value} is out of range: {rule}; try {key}={example}")

    def at_least(self, key: str, low: float, example: Any = MISSING) -> None:
        value = _get(self.cfg, key)
        if value is not None:
            self.check(value >= low, key, f"it must be >= {low}", example)

    def rate(self, key: str, example: Any = 0.5, high: float = 1.0) -> None:
        value = _get(self.cfg, key)
        if value is not None:
            self.check(0.0 <= value < high, key, f"it must be in [0, {high})", example)


# Counts and lengths: each must be >= 1 where set (None: all there is).
DATA_SIZES = (
    "vocab_size",
    "seq_len",
    "motif_length",
    "num_train",
    "num_val",
    "num_test",
    "max_vocab",
    "max_len",
    "bptt",
    "window",
    "horizon",
)
SIZES = (
    "model.embedding_size",
    "model.hidden_size",
    "model.num_layers",
    "train.epochs",
    "train.batch_size",
    "train.eval_batch_size",
    "train.onset_patience",
)


def validate(cfg: Config) -> None:
    """Range checks a type cannot express. Raises ConfigError naming the key and the fix."""
    c = _Checker(cfg)
    data_sizes = [f"dataset.{f.name}" for f in fields(cfg.dataset) if f.name in DATA_SIZES]
    for key in (*data_sizes, *SIZES):
        c.at_least(key, 1)
    d, r, o, t = cfg.dataset, cfg.reg, cfg.optim, cfg.train
    if isinstance(d, SyntheticData):
        c.at_least("dataset.vocab_size", 4)
        c.check(
            d.motif_length <= d.seq_len,
            "dataset.motif_length",
            f"it must not exceed dataset.seq_len ({d.seq_len})",
            min(3, d.seq_len),
        )
        c.rate("dataset.label_noise", 0.2, high=0.5)
    if isinstance(d, SeriesData):
        for key in ("dataset.val_fraction", "dataset.test_fraction"):
            c.check(0 < _get(cfg, key) < 0.5, key, "it must be in (0, 0.5)")
    for key in ("l1", "l2", "weight_decay", "ar", "tar", "grad_clip", "early_stopping"):
        c.at_least(f"reg.{key}", 0, {"l1": 1e-5, "l2": 1e-4, "weight_decay": 1e-2}.get(key, 1))
    for key in ("dropout", "locked_dropout", "embedding_dropout", "weight_drop"):
        c.rate(f"reg.{key}")
    for place in ("input", "hidden", "output"):
        c.rate(f"reg.locked_dropout_{place}")
    for key in ("zoneout", "zoneout_cell", "zoneout_hidden"):
        value = getattr(r, key)
        c.check(value is None or 0 <= value <= 1, f"reg.{key}", "it must be in [0, 1]", 0.1)
    c.check(o.lr > 0 and math.isfinite(o.lr), "optim.lr", "it must be a positive number")
    c.rate("optim.momentum", 0.9)
    c.check(0 < o.lr_decay <= 1, "optim.lr_decay", "it must be in (0, 1]", 0.5)
    c.check(
        o.lr_decay_start >= 1,
        "optim.lr_decay_start",
        "it must be >= 1 (the first N epochs run at optim.lr)",
        4,
    )
    c.at_least("optim.nonmono", 1)
    c.check(cfg.model.init_range > 0, "model.init_range", "it must be > 0")
    c.at_least("train.train_eval_size", 0)
    c.at_least("train.num_threads", 0, 1)
    c.check(t.onset_min_rise >= 0, "train.onset_min_rise", "it must be >= 0")
    c.check(t.max_loss is None or t.max_loss > 0, "train.max_loss", "it must be > 0", 100.0)
    _check_combinations(cfg)


def _check_combinations(cfg: Config) -> None:
    task, r = cfg.dataset.task, cfg.reg
    if task != Task.classify and cfg.model.bidirectional:
        raise ConfigError(
            f"model.bidirectional=true needs a classification data set; dataset "
            f"{cfg.dataset.name} is {task.value}: a {task.value} model may only read the past"
        )
    if task == Task.forecast and (r.embedding_dropout > 0 or cfg.model.embedding.pretrained):
        raise ConfigError(
            f"dataset {cfg.dataset.name} has real-valued input with no embedding matrix: drop "
            "reg.embedding_dropout and model.embedding.pretrained"
        )
    if cfg.train.lm_sum_over_steps and task != Task.lm:
        raise ConfigError(
            f"train.lm_sum_over_steps=true needs a language-modelling data set; dataset "
            f"{cfg.dataset.name} is {task.value}: drop train.lm_sum_over_steps"
        )
    zoneout = [r.zoneout if rate is None else rate for rate in (r.zoneout_cell, r.zoneout_hidden)]
    if cfg.model.bidirectional and any(zoneout):
        raise ConfigError(
            "zoneout and model.bidirectional=true cannot be combined: zoneout runs "
            "unidirectional layers; drop one of them"
        )
