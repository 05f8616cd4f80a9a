"""The loop in-process: records, determinism, checkpoints, early stopping, test at best,
memorization, the language-model objective, NT-ASGD, divergence, resume."""

from __future__ import annotations

import json
import math
import signal
import stat
from dataclasses import fields
from pathlib import Path

import pytest
import torch
from conftest import tiny_config

import lstm_overfit.runtime as runtime
from lstm_overfit.build import default_train_sample_size
from lstm_overfit.checkpoints import load_checkpoint
from lstm_overfit.config import (
    Config,
    CorpusData,
    Device,
    OptimizerName,
    Precision,
    SeriesData,
    UsageError,
)
from lstm_overfit.fit import fit
from lstm_overfit.run_folder import RunSummary, read_metrics
from lstm_overfit.stopping import Interrupted
from lstm_overfit.train import TrainingRun

EPOCH_KEYS = {
    "epoch",
    "train_loss",
    "train_loss_running",
    "penalty",
    "val_loss",
    "gap",
    "train_acc",
    "train_acc_clean",
    "train_acc_flipped",
    "val_acc",
    "train_macro_f1",
    "val_macro_f1",
    "lr",
    "grad_norm",
    "epoch_seconds",
    "tokens_per_second",
    "eval_seconds",
    "ended_at",
}
TIMING = {"epoch_seconds", "tokens_per_second", "eval_seconds", "ended_at", "wall_seconds"}


def test_run_folder_holds_every_record(tmp_path: Path) -> None:
    summary = fit(tiny_config(), tmp_path)
    rows = read_metrics(tmp_path)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert all(set(r) == EPOCH_KEYS for r in rows)
    assert all(abs(r["gap"] - (r["val_loss"] - r["train_loss"])) < 1e-12 for r in rows)
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved == json.loads(json.dumps(summary.to_dict()))
    assert set(saved) == {f.name for f in fields(RunSummary)}
    assert saved["status"] == "completed" and saved["epochs_run"] == 3 and saved["reg"] == {}
    assert saved["num_threads"] == torch.get_num_threads()
    assert saved["versions"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert set(saved["test"]) == {"loss", "acc", "macro_f1"}
    assert (tmp_path / "curves.png").stat().st_size > 10_000
    for name in ("best.pt", "last.pt"):
        state = load_checkpoint(tmp_path / "checkpoints" / name)
        assert {"format", "model", "optimizer", "rng", "config", "epoch"} <= set(state)
    assert not list(tmp_path.glob("**/*.tmp"))


def test_files_get_the_mode_a_plain_write_gives(tmp_path: Path) -> None:
    import os

    old = os.umask(0o022)
    try:
        fit(tiny_config(epochs=1), tmp_path)
    finally:
        os.umask(old)
    for path in (tmp_path / "summary.json", tmp_path / "checkpoints" / "last.pt"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_same_config_and_seed_give_identical_losses(tmp_path: Path) -> None:
    cfg = tiny_config()
    cfg.reg.dropout = 0.3
    fit(cfg, tmp_path / "a")
    fit(cfg, tmp_path / "b")
    keys = ("train_loss", "train_loss_running", "val_loss", "grad_norm")
    a, b = (read_metrics(tmp_path / run) for run in "ab")
    assert [[r[k] for k in keys] for r in a] == [[r[k] for k in keys] for r in b]
    cfg.seed = 1
    fit(cfg, tmp_path / "c")
    assert read_metrics(tmp_path / "c")[0]["val_loss"] != a[0]["val_loss"]


def test_train_loss_is_measured_in_eval_mode_on_the_fixed_sample(tmp_path: Path) -> None:
    cfg = tiny_config(epochs=1)
    cfg.reg.dropout = 0.5
    fit(cfg, tmp_path)
    run = TrainingRun(cfg, tmp_path / "again")
    run.parts.model.load_state_dict(load_checkpoint(tmp_path / "checkpoints" / "last.pt")["model"])
    again = run.parts.task.evaluate(run.parts.model, run.parts.train_sample)
    recorded = read_metrics(tmp_path)[0]
    assert abs(again["loss"] - recorded["train_loss"]) < 1e-6
    # Where the flipped labels are known, the sample is the whole training split.
    assert run.parts.train_sample is run.parts.data.train


def test_memorization_splits_training_accuracy_into_clean_and_flipped(tmp_path: Path) -> None:
    cfg = tiny_config(epochs=4)
    cfg.optim.lr = 0.03
    summary = fit(cfg, tmp_path)
    flipped = TrainingRun(cfg, tmp_path / "again").parts.data.train.flipped
    share = flipped.float().mean().item()
    for row in read_metrics(tmp_path):
        mixed = (1 - share) * row["train_acc_clean"] + share * row["train_acc_flipped"]
        assert math.isclose(row["train_acc"], mixed, rel_tol=1e-9)
    assert summary.final_train_acc_flipped == row["train_acc_flipped"]
    assert summary.bayes_val_loss is not None and summary.bayes_test_loss is not None


def test_default_training_sample_is_capped_at_a_tenth_of_the_training_split() -> None:
    assert default_train_sample_size(train=2_000, val=500) == 256  # a tenth, but >= 256
    assert default_train_sample_size(train=20_000, val=5_000) == 2_000
    assert default_train_sample_size(train=929_589, val=73_760) == 73_760  # as large as val
    assert default_train_sample_size(train=64, val=64) == 64


def test_test_metrics_come_from_the_best_checkpoint(tmp_path: Path) -> None:
    cfg = tiny_config(epochs=6)
    cfg.optim.lr = 0.03  # overfits fast, so the best epoch is not the last
    summary = fit(cfg, tmp_path)
    best = load_checkpoint(tmp_path / "checkpoints" / "best.pt")
    assert best["epoch"] == summary.best_epoch
    run = TrainingRun(cfg, tmp_path / "again")
    run.parts.model.load_state_dict(best["model"])
    assert run.parts.task.evaluate(run.parts.model, run.parts.data.test) == summary.test


def test_early_stopping_stops_and_keeps_the_best(tmp_path: Path) -> None:
    cfg = tiny_config(epochs=40)
    cfg.optim.lr = 0.03
    cfg.reg.early_stopping = 2
    summary = fit(cfg, tmp_path)
    assert summary.status == "stopped_early"
    assert summary.epochs_run == summary.best_epoch + 2 < 40
    assert summary.reg == {"early_stopping": 2}


def test_an_unregularized_model_memorises_a_small_training_set(tmp_path: Path) -> None:
    cfg = tiny_config(epochs=25, batch_size=8)
    cfg.dataset.num_train = 8
    cfg.optim.lr = 0.02
    fit(cfg, tmp_path)
    rows = read_metrics(tmp_path)
    assert rows[-1]["train_loss"] < 0.2 * rows[0]["train_loss"]
    assert rows[-1]["gap"] > 0 and rows[-1]["train_acc_flipped"] == 1.0


def test_penalty_and_clipping_are_recorded(tmp_path: Path) -> None:
    cfg = tiny_config(epochs=1)
    cfg.reg.l2 = 1e-2
    cfg.reg.grad_clip = 1e-3
    fit(cfg, tmp_path)
    row = read_metrics(tmp_path)[0]
    assert row["penalty"] > 0
    assert row["grad_norm"] > 1e-3  # measured before clipping


def test_clipping_bounds_the_update(tmp_path: Path) -> None:
    """With SGD and lr 1, a clipped step moves the weights by at most the clip norm."""
    cfg = tiny_config(epochs=1)
    cfg.dataset.num_train, cfg.train.batch_size = 16, 16
    cfg.optim.name, cfg.optim.lr = OptimizerName.sgd, 1.0
    cfg.reg.grad_clip = 0.01
    run = TrainingRun(cfg, tmp_path)
    before = torch.cat([p.detach().flatten().clone() for p in run.parts.model.parameters()])
    run.train_epoch(1, 1.0)
    after = torch.cat([p.detach().flatten() for p in run.parts.model.parameters()])
    assert (after - before).norm().item() <= 0.01 + 1e-6


def test_bf16_is_refused_on_a_cpu_without_native_bf16(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: False)
    cfg = tiny_config(epochs=1)
    cfg.device, cfg.train.precision = Device.cpu, Precision.bf16
    with pytest.raises(UsageError, match="needs a CUDA device or a CPU with native bf16"):
        fit(cfg, tmp_path)


@pytest.mark.skipif(not runtime.cpu_has_bf16(), reason="this CPU has no native bf16")
def test_bf16_trains_on_a_cpu_with_native_bf16(tmp_path: Path) -> None:
    cfg = tiny_config(epochs=2)
    cfg.device, cfg.train.precision = Device.cpu, Precision.bf16
    cfg.model.bidirectional = True
    summary = fit(cfg, tmp_path)
    assert summary.status == "completed" and 0.0 < summary.best_val_loss < 1.0


def test_an_exploding_loss_is_divergence_by_default(tmp_path: Path) -> None:
    cfg = tiny_config(epochs=3)
    cfg.optim.lr = 1e6
    summary = fit(cfg, tmp_path)
    assert summary.status == "diverged" and summary.epochs_run <= 1
    # 100 times the loss of a constant predictor: the entropy of the training labels.
    labels = TrainingRun(cfg, tmp_path / "again").parts.data.train.labels
    p = labels.float().mean().item()
    bound = -100 * (p * math.log(p) + (1 - p) * math.log(1 - p))
    assert f"non-finite or above {bound:.4g} in epoch 1" in summary.error
    capped = fit(tiny_config(epochs=3, max_loss=0.01), tmp_path / "capped")
    assert capped.status == "diverged" and "above 0.01 in epoch 1" in capped.error


def corpus(tmp_path: Path) -> CorpusData:
    folder = tmp_path / "corpus"
    folder.mkdir(exist_ok=True)
    torch.manual_seed(0)
    words = [f"w{i}" for i in range(30)]
    for name, lines in (("train.txt", 120), ("valid.txt", 30), ("test.txt", 30)):
        rows = (
            " ".join(words[j] for j in torch.randint(0, 30, (12,)).tolist()) for _ in range(lines)
        )
        (folder / name).write_text("\n".join(rows) + "\n")
    return CorpusData(name="tiny", path=str(folder), cache_dir=str(tmp_path / "cache"), bptt=6)


def lm_config(tmp_path: Path, **train: object) -> Config:
    cfg = tiny_config(**train)
    cfg.dataset = corpus(tmp_path)
    cfg.train.batch_size = 4
    return cfg


def test_a_summed_objective_scales_the_penalties_with_the_loss(tmp_path: Path) -> None:
    """With lm_sum_over_steps every term of the objective, penalties included, is bptt
    times the per-token mean's: the regularizers keep their strength against the data."""
    grads = []
    for summed in (False, True):
        cfg = lm_config(tmp_path, lm_sum_over_steps=summed)
        cfg.reg.l2, cfg.reg.l1, cfg.reg.ar, cfg.reg.tar = 0.1, 0.01, 2.0, 1.0
        run = TrainingRun(cfg, tmp_path / str(summed))
        batches = run.parts.task.epoch_batches(run.state.order)
        sums = {key: torch.zeros(()) for key in ("loss", "penalty", "grad_norm", "worst")}
        sums.update(examples=0, tokens=0)
        run.state.optimizer.step = lambda: None  # the gradient of the first step only
        run._step(batches[0], 0.0, sums)
        grads.append(torch.cat([p.grad.flatten() for p in run.parts.params]))
    torch.testing.assert_close(grads[1], 6 * grads[0])


class SignalAfter:
    """Raises a signal in this process after `batches` batches: a deterministic stop."""

    def __init__(self, batches: int, signum: int = signal.SIGTERM) -> None:
        self.left, self.signum = batches, signum

    def start_epoch(self, epoch: int, num_batches: int) -> None:
        pass

    def batch_done(self, running_loss: float | None) -> None:
        self.left -= 1
        if self.left == 0:
            signal.raise_signal(self.signum)

    def end_epoch(self, record) -> None:
        pass

    def end_run(self, summary) -> None:
        pass


def outcome(folder: Path) -> tuple[list[dict], dict]:
    rows = [{k: v for k, v in r.items() if k not in TIMING} for r in read_metrics(folder)]
    summary = json.loads((folder / "summary.json").read_text())
    return rows, {k: v for k, v in summary.items() if k not in TIMING}


@pytest.mark.parametrize("kind", ["classify", "lm", "nt_asgd"])
def test_a_run_stopped_mid_epoch_resumes_to_the_straight_runs_numbers(tmp_path, kind) -> None:
    if kind == "classify":
        cfg = tiny_config(epochs=4)
        cfg.reg.dropout, cfg.reg.weight_drop = 0.3, 0.3
        stop_after = 6  # epoch 2, batch 2
    else:
        cfg = lm_config(tmp_path, epochs=4)
        cfg.reg.locked_dropout = 0.2
        cfg.dataset.variable_bptt = True
        if kind == "nt_asgd":
            cfg.optim.name, cfg.optim.lr, cfg.optim.nonmono = OptimizerName.nt_asgd, 5.0, 1
        stop_after = 20
    fit(cfg, tmp_path / "straight")
    with pytest.raises(Interrupted):
        fit(cfg, tmp_path / "stopped", [SignalAfter(stop_after)])
    stopped = json.loads((tmp_path / "stopped" / "summary.json").read_text())
    assert stopped["status"] == "interrupted" and stopped["test"] is None
    last = load_checkpoint(tmp_path / "stopped" / "checkpoints" / "last.pt")
    assert last["partial"]["batches_done"] > 0  # stopped mid-epoch
    fit(cfg, tmp_path / "stopped", resume=True)
    assert outcome(tmp_path / "stopped") == outcome(tmp_path / "straight")


def test_nt_asgd_switches_and_keeps_the_averaged_weights_as_best(tmp_path: Path) -> None:
    cfg = lm_config(tmp_path, epochs=6)
    cfg.optim.name, cfg.optim.lr, cfg.optim.nonmono = OptimizerName.nt_asgd, 20.0, 1
    summary = fit(cfg, tmp_path / "run")
    # lr 20 on this tiny corpus overshoots: validation stalls, averaging starts, and the
    # averaged weights then beat every epoch before it.
    best = load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")
    assert best["averaging"] and best["epoch"] == summary.best_epoch
    names = [n for n, p in TrainingRun(cfg, tmp_path / "again").parts.model.named_parameters()]
    averages = [best["optimizer"]["state"][i]["ax"] for i in range(len(names))]
    for name, average in zip(names, averages, strict=True):
        assert torch.equal(best["model"][name], average)  # kept as best: the averages


def test_forecasting_records_the_naive_forecast_beside_the_errors(tmp_path: Path) -> None:
    path = tmp_path / "series.csv"
    path.write_text("t,v\n" + "".join(f"{t},{math.sin(t / 5) + t / 50}\n" for t in range(400)))
    cfg = tiny_config(epochs=2)
    cfg.dataset = SeriesData(name="csv", path=str(path), column="v", window=10)
    summary = fit(cfg, tmp_path / "run")
    assert set(summary.test) == {"loss", "mae", "mase"}
    assert (summary.metric, summary.metric_higher_is_better) == ("mae", False)
    assert summary.loss_unit == "normalized MSE"
    assert set(summary.naive_forecast) == {"val_mae", "val_mase", "test_mae", "test_mase"}
    row = read_metrics(tmp_path / "run")[-1]
    assert {"val_mae", "val_mase", "train_mae"} <= set(row)
