"""Extending without forking: a regularizer of the user's own, in a file outside the package
(examples/input_noise.py), swept, reported and resumed like a built-in from another working
folder; broken plug-ins refused in one line; and a task kind registered from this file and
trained, as docs/extending.md's recipe says."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import REPO, run_cli, run_main, tiny_config
from hydra.core.config_store import ConfigStore
from test_reliability import STOPPER, outcome
from torch import nn

from lstm_overfit.config import DataConfig
from lstm_overfit.data.splits import Sequences, TaskData
from lstm_overfit.fit import fit
from lstm_overfit.knobs import COUNT, knob
from lstm_overfit.models import LSTMBackbone, ModelOutput, ModelSpec
from lstm_overfit.regularizers import registry, schema
from lstm_overfit.regularizers.active import NetworkHooks
from lstm_overfit.run_folder import EpochRecord, read_metrics
from lstm_overfit.tasks import DataSource, StepResult, TaskKind, register_task_kind
from lstm_overfit.tasks.registry import TASK_KINDS

EXAMPLE = REPO / "examples" / "input_noise.py"
PLUGINS = registry.PLUGINS_VARIABLE
SMOKE = ["+experiment=smoke", "+reg=input_noise"]


def forget_plugins() -> None:
    """Drop what discovery cached, and the presets it registered, so the next lookup reads
    the environment again."""
    for cached in (registry.plugins, registry._registry, schema.reg_schema):
        cached.cache_clear()
    built_in = {r.name for r in registry.BUILT_IN}
    presets = ConfigStore.instance().repo.get("reg", {})
    for name in [n for n in presets if n.removesuffix(".yaml") not in built_in]:
        del presets[name]


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """use(path, ...): the plug-ins this process finds, as LSTM_OVERFIT_PLUGINS names them."""

    def use(*paths: Path | str) -> None:
        monkeypatch.setenv(PLUGINS, ",".join(str(p) for p in paths))
        forget_plugins()

    yield use
    monkeypatch.delenv(PLUGINS, raising=False)
    forget_plugins()


def plugin_file(root: Path, body: str, name: str = "mine.py") -> Path:
    path = root / name
    path.write_text(
        "from lstm_overfit.regularizers import Knob, Range, Regularizer\n"
        "from torch import nn\n\n" + body
    )
    return path


# -- the example, as a user runs it -------------------------------------------------------


def test_the_example_is_swept_and_reported_like_a_built_in(tmp_path: Path) -> None:
    """From a folder of the user's own: none and two strengths over 3 seeds, then report."""
    env = {PLUGINS: str(EXAMPLE)}
    sweep = tmp_path / "sweep"
    result = run_cli(
        "train", "-m", *SMOKE, "reg.input_noise=0,0.1,0.5", "seed=0,1,2",
        f"hydra.sweep.dir={sweep}", cwd=tmp_path, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summaries = [p.read_text() for p in sweep.glob("*/summary.json")]
    assert len(summaries) == 9 and sum('"input_noise": 0.5' in s for s in summaries) == 3
    report = run_main("report", str(sweep), "--out", str(tmp_path / "report"), cwd=tmp_path)
    assert report.returncode == 0, report.stderr  # without the plug-in loaded, too
    text = (tmp_path / "report" / "report.md").read_text()
    assert "| reg.input_noise=0.1" in text and "| reg.input_noise=0.5" in text
    assert "varies: regularizer" in text and "Baseline: none" in text
    assert (tmp_path / "report" / "val_loss_vs_strength.png").is_file()


def test_train_help_shows_the_plugins_knobs(tmp_path: Path, plugins) -> None:
    plugins(EXAMPLE)
    helped = run_main("train", "--help", cwd=tmp_path)
    assert "reg.input_noise=0 " in helped.stdout
    assert "std of the Gaussian noise added to the LSTM's input" in helped.stdout
    assert f"(plug-in {EXAMPLE})" in helped.stdout


def test_a_killed_run_with_the_plugin_resumes_bit_for_bit(tmp_path: Path, plugins) -> None:
    env = {PLUGINS: str(EXAMPLE), "OMP_NUM_THREADS": "1"}
    args = ["train", *SMOKE, "train.epochs=3", "train.num_threads=1", "train.progress=false"]
    straight = run_cli(*args, "hydra.run.dir=straight", cwd=tmp_path, env=env)
    assert straight.returncode == 0, straight.stderr  # the console script, as users run it
    killed = subprocess.run(
        [sys.executable, "-c", STOPPER, *args, "hydra.run.dir=killed"],
        cwd=tmp_path,
        env={**env, **_stop_env(after=6, signum=signal.SIGKILL)},
        capture_output=True,
        text=True,
    )  # 4 batches an epoch: killed in the second
    assert killed.returncode == -signal.SIGKILL
    assert len(read_metrics(tmp_path / "killed")) == 1
    plugins(EXAMPLE)
    resumed = run_main("train", f"resume={tmp_path / 'killed'}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert outcome(tmp_path / "killed") == outcome(tmp_path / "straight")


def _stop_env(after: int, signum: int) -> dict[str, str]:
    return {**os.environ, "STOP_AFTER": str(after), "STOP_SIGNAL": str(int(signum))}


# -- broken plug-ins: one line naming the plug-in, exit 2, no folder ------------------------

BROKEN = {
    "import": ("import no_such_module_here\n", "failed to import: ModuleNotFoundError"),
    "not a regularizer": ("REGULARIZERS = (nn.Linear,)\n", "which is not a Regularizer"),
    "name taken": (
        "class Mine(Regularizer):\n    name = 'dropout'\n    summary = 'x'\n"
        "    knobs = (Knob('mine', 0.0, 'x', Range(0), 0.1),)\n\nREGULARIZERS = (Mine,)\n",
        "the regularizer name 'dropout' is taken by the built-in 'dropout'",
    ),
    "knob clash": (
        "class Mine(Regularizer):\n    name = 'mine'\n    summary = 'x'\n"
        "    knobs = (Knob('l2', 0.0, 'x', Range(0), 0.1),)\n\nREGULARIZERS = (Mine,)\n",
        "knob reg.l2 clashes with the built-in 'l2'",
    ),
    "hook raises": (
        "class Mine(Regularizer):\n    name = 'mine'\n    summary = 'x'\n"
        "    knobs = (Knob('mine', 0.0, 'x', Range(0), 0.1),)\n\n"
        "    def penalties(self, inputs):\n        raise ValueError('not yet written')\n\n"
        "REGULARIZERS = (Mine,)\n",
        "regularizer 'mine' failed in its penalties hook: ValueError: not yet written",
    ),
    "transform raises": (
        "class Boom(nn.Module):\n    def forward(self, x):\n        return x @ x\n\n"
        "class Mine(Regularizer):\n    name = 'mine'\n    summary = 'x'\n"
        "    knobs = (Knob('mine', 0.0, 'x', Range(0), 0.1),)\n\n"
        "    def place_transform(self, place):\n        return Boom()\n\n"
        "REGULARIZERS = (Mine,)\n",
        "a network transform failed in a training forward pass: RuntimeError",
    ),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_plugin_is_one_line_naming_it(tmp_path: Path, plugins, case: str) -> None:
    body, message = BROKEN[case]
    path = plugin_file(tmp_path, body)
    plugins(path)
    on = ["+reg=mine"] if "raises" in case else []
    result = run_main("train", "+experiment=smoke", *on, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert str(path) in line and message in line, line
    assert not (tmp_path / "outputs").exists()


def test_a_regularizer_that_is_not_there_is_named_in_a_list_too(tmp_path: Path) -> None:
    result = run_main("train", "+reg=[l2,input_noise]", cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown reg option 'input_noise'; valid options: ar_tar, awd," in result.stderr
    assert f"found through {PLUGINS}" in result.stderr


def test_a_plugin_stacks_with_built_ins_and_checks_its_range(tmp_path: Path, plugins) -> None:
    plugins(EXAMPLE)
    bad = run_main("train", "+reg=[input_noise,l2]", "reg.input_noise=-0.1", cwd=tmp_path)
    assert bad.returncode == 2
    assert "reg.input_noise=-0.1 is out of range: it must be >= 0" in bad.stderr
    cfg = tiny_config(epochs=1)
    cfg.reg = schema.reg_config(input_noise=0.2, l2=1e-3)
    summary = fit(cfg, tmp_path / "run")
    assert summary.status == "completed" and summary.reg == {"input_noise": 0.2, "l2": 1e-3}


# -- a task kind of this file's own, per docs/extending.md --------------------------------


@dataclass
class CountData(DataConfig):
    """Sequences of tokens; the target is how many times token 1 occurs (a regression)."""

    name: str = knob("count", "the data set's name")
    num_train: int = knob(96, "training sequences", COUNT)

    @property
    def task(self) -> str:
        return "count"


def load_counts(cfg: CountData, seed: int) -> TaskData:
    gen = torch.Generator().manual_seed(seed)

    def split(n: int) -> Sequences:
        tokens = torch.randint(0, 6, (n, 8), generator=gen)
        return Sequences.from_matrix(tokens, (tokens == 1).sum(1).float())

    return TaskData("count", split(cfg.num_train), split(32), split(32), vocab_size=6)


class CountHead(nn.Module):
    def __init__(self, spec: ModelSpec, hooks: NetworkHooks | None = None) -> None:
        super().__init__()
        self.backbone = LSTMBackbone(spec, hooks)
        self.head = nn.Linear(self.backbone.output_size, 1)

    def forward(self, tokens: torch.Tensor) -> ModelOutput:
        hidden = self.backbone(tokens)
        return ModelOutput(self.head(hidden.dropped[:, -1]).squeeze(-1), hidden)


class CountTask:
    metric, higher_is_better, loss_unit = "mae", False, "squared counts"
    objective_scale, output_size = 1.0, 1

    def __init__(self, data: TaskData, cfg: Any, device: torch.device) -> None:
        self.data, self.batch_size = data, cfg.train.batch_size

    def train_sample(self, size: int, gen: torch.Generator) -> Sequences:
        return self.data.train

    def constant_loss(self) -> float:
        return float(self.data.train.labels.var())

    def epoch_batches(self, gen: torch.Generator) -> list[torch.Tensor]:
        return list(torch.randperm(len(self.data.train), generator=gen).split(self.batch_size))

    def step(self, model: nn.Module, index: torch.Tensor) -> StepResult:
        tokens, _, targets = self.data.train.batch(index)
        out = model(tokens)
        loss = nn.functional.mse_loss(out.prediction, targets)
        return StepResult(loss, out.hidden, len(index), tokens.numel())

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: Sequences) -> dict[str, float]:
        model.eval()
        tokens, _, targets = split.batch(torch.arange(len(split)))
        predicted = model(tokens).prediction
        return {
            "loss": nn.functional.mse_loss(predicted, targets).item(),
            "mae": (predicted - targets).abs().mean().item(),
        }

    def summary_extras(self, records: Sequence[EpochRecord]) -> dict[str, Any]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


@pytest.fixture
def count_kind() -> Iterator[TaskKind]:
    kind = TaskKind(
        name="count",
        task=CountTask,
        head=CountHead,
        split_unit="sequences",
        sources=(DataSource("count", CountData, load_counts),),
    )
    register_task_kind(kind)
    yield kind
    del TASK_KINDS["count"]


def test_a_task_kind_registered_here_trains_with_regularizers(tmp_path: Path, count_kind) -> None:
    cfg = tiny_config(epochs=1)
    cfg.dataset = CountData()
    cfg.reg = schema.reg_config(dropout=0.2, l2=1e-3, early_stopping=2)
    summary = fit(cfg, tmp_path / "run")
    assert summary.status == "completed" and summary.metric == "mae"
    assert summary.metric_higher_is_better is False and summary.loss_unit == "squared counts"
    [record] = read_metrics(tmp_path / "run")
    assert record["val_mae"] > 0 and record["penalty"] > 0
