"""The loop in-process: records, determinism, checkpoints, early stopping, test at best."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import tiny_config

import lstm_overfit.train as train_module
from lstm_overfit.config import ConfigError, Device, OptimizerName, Precision
from lstm_overfit.records import read_jsonl
from lstm_overfit.train import TrainingRun, default_train_sample_size, fit

EPOCH_KEYS = {
    "epoch",
    "train_loss",
    "train_loss_running",
    "penalty",
    "val_loss",
    "gap",
    "train_acc",
    "val_acc",
    "lr",
    "grad_norm",
    "epoch_seconds",
    "tokens_per_second",
    "eval_seconds",
    "ended_at",
}
SUMMARY_KEYS = {
    "status",
    "best_epoch",
    "best_val_loss",
    "gap_at_best",
    "final_val_loss",
    "final_gap",
    "max_gap",
    "overfit_onset_epoch",
    "epochs_run",
    "bayes_val_loss",
    "pretrained_coverage",
    "test",
    "reg",
    "seed",
    "error",
    "wall_seconds",
    "versions",
}


def test_run_folder_holds_every_record(tmp_path: Path) -> None:
    summary = fit(tiny_config(), tmp_path)
    rows = read_jsonl(tmp_path / "metrics.jsonl")
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert all(set(r) == EPOCH_KEYS for r in rows)
    assert all(abs(r["gap"] - (r["val_loss"] - r["train_loss"])) < 1e-12 for r in rows)
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert set(summary) == SUMMARY_KEYS and summary["status"] == "completed"
    assert summary["epochs_run"] == 3 and summary["reg"] == {}
    assert set(summary["test"]) == {"loss", "acc"}
    assert (tmp_path / "curves.png").stat().st_size > 10_000
    for name in ("best.pt", "last.pt"):
        state = torch.load(tmp_path / "checkpoints" / name, weights_only=True)
        assert {"model", "optimizer", "rng", "config", "epoch"} <= set(state)
    assert not list(tmp_path.glob("**/*.tmp"))


def test_same_config_and_seed_give_identical_losses(tmp_path: Path) -> None:
    cfg = tiny_config()
    cfg.reg.dropout = 0.3
    fit(cfg, tmp_path / "a")
    fit(cfg, tmp_path / "b")
    keys = ("train_loss", "train_loss_running", "val_loss", "grad_norm")
    a, b = (read_jsonl(tmp_path / run / "metrics.jsonl") for run in "ab")
    assert [[r[k] for k in keys] for r in a] == [[r[k] for k in keys] for r in b]
    cfg.seed = 1
    fit(cfg, tmp_path / "c")
    assert read_jsonl(tmp_path / "c" / "metrics.jsonl")[0]["val_loss"] != a[0]["val_loss"]


def test_train_loss_is_measured_in_eval_mode_on_the_fixed_sample(tmp_path: Path) -> None:
    cfg = tiny_config(epochs=1)
    cfg.reg.dropout = 0.5
    fit(cfg, tmp_path)
    run = TrainingRun(cfg, tmp_path / "again")
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    run.model.load_state_dict(state["model"])
    again = run.task.evaluate(run.model, run.train_sample)
    recorded = read_jsonl(tmp_path / "metrics.jsonl")[0]
    assert abs(again["loss"] - recorded["train_loss"]) < 1e-6
    assert len(run.train_sample) == len(run.data.val)  # train_eval_size 0: as many as val


def test_default_training_sample_is_capped_at_a_tenth_of_the_training_split() -> None:
    assert default_train_sample_size(train=2_000, val=500) == 256  # a tenth, but >= 256
    assert default_train_sample_size(train=20_000, val=5_000) == 2_000
    assert default_train_sample_size(train=929_589, val=73_760) == 73_760  # as large as val
    assert default_train_sample_size(train=64, val=64) == 64


def test_test_metrics_come_from_the_best_checkpoint(tmp_path: Path) -> None:
    cfg = tiny_config(epochs=6)
    cfg.optim.lr = 0.03  # overfits fast, so the best epoch is not the last
    summary = fit(cfg, tmp_path)
    best = torch.load(tmp_path / "checkpoints" / "best.pt", weights_only=True)
    assert best["epoch"] == summary["best_epoch"]
    run = TrainingRun(cfg, tmp_path / "again")
    run.model.load_state_dict(best["model"])
    test = run.task.evaluate(run.model, run.data.test)
    assert test == summary["test"]


def test_early_stopping_stops_and_keeps_the_best(tmp_path: Path) -> None:
    cfg = tiny_config(epochs=40)
    cfg.optim.lr = 0.03
    cfg.reg.early_stopping = 2
    summary = fit(cfg, tmp_path)
    assert summary["status"] == "stopped_early"
    assert summary["epochs_run"] == summary["best_epoch"] + 2 < 40
    assert summary["reg"] == {"early_stopping": 2}


def test_an_unregularized_model_memorises_a_small_training_set(tmp_path: Path) -> None:
    cfg = tiny_config(epochs=25, batch_size=8)
    cfg.dataset.num_train = 8
    cfg.train.train_eval_size = 8
    cfg.optim.lr = 0.02
    fit(cfg, tmp_path)
    rows = read_jsonl(tmp_path / "metrics.jsonl")
    assert rows[-1]["train_loss"] < 0.2 * rows[0]["train_loss"]
    assert rows[-1]["gap"] > 0


def test_penalty_and_clipping_are_recorded(tmp_path: Path) -> None:
    cfg = tiny_config(epochs=1)
    cfg.reg.l2 = 1e-2
    cfg.reg.grad_clip = 1e-3
    fit(cfg, tmp_path)
    row = read_jsonl(tmp_path / "metrics.jsonl")[0]
    assert row["penalty"] > 0
    # grad_norm is measured before clipping, so it exceeds the clip threshold.
    assert row["grad_norm"] > 1e-3


def test_clipping_bounds_the_update(tmp_path: Path) -> None:
    """With SGD and lr 1, a clipped step moves the weights by at most the clip norm."""
    cfg = tiny_config(epochs=1)
    cfg.dataset.num_train, cfg.train.batch_size = 16, 16
    cfg.optim.name, cfg.optim.lr = OptimizerName.sgd, 1.0
    cfg.reg.grad_clip = 0.01
    run = TrainingRun(cfg, tmp_path)
    before = torch.cat([p.detach().flatten().clone() for p in run.model.parameters()])
    run.train_epoch(1)
    after = torch.cat([p.detach().flatten() for p in run.model.parameters()])
    assert (after - before).norm().item() <= 0.01 + 1e-6


def test_bf16_is_refused_on_a_cpu_without_native_bf16(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(train_module, "cpu_has_bf16", lambda: False)
    cfg = tiny_config(epochs=1)
    cfg.device, cfg.train.precision = Device.cpu, Precision.bf16
    with pytest.raises(ConfigError, match="needs a CUDA device or a CPU with native bf16"):
        fit(cfg, tmp_path)


@pytest.mark.skipif(not train_module.cpu_has_bf16(), reason="this CPU has no native bf16")
def test_bf16_trains_on_a_cpu_with_native_bf16(tmp_path: Path) -> None:
    cfg = tiny_config(epochs=2)
    cfg.device, cfg.train.precision = Device.cpu, Precision.bf16
    cfg.model.bidirectional = True
    summary = fit(cfg, tmp_path)
    assert summary["status"] == "completed" and 0.0 < summary["best_val_loss"] < 1.0
    assert read_jsonl(tmp_path / "metrics.jsonl")[0]["train_loss"] < 1.0
