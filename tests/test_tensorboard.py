"""`logger=tensorboard`: the event files hold every per-epoch metric and the hparams."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import tiny_config

from lstm_overfit.config import Logger
from lstm_overfit.fit import fit
from lstm_overfit.run_folder import read_metrics

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def test_event_files_hold_the_metrics_and_the_hparams(tmp_path: Path) -> None:
    cfg = tiny_config(epochs=3)
    cfg.logger = Logger.tensorboard
    cfg.reg.dropout = 0.2
    summary = fit(cfg, tmp_path)
    events = event_accumulator.EventAccumulator(str(tmp_path))
    events.Reload()
    rows = read_metrics(tmp_path)
    for key in ("train_loss", "val_loss", "gap", "val_acc", "train_acc_flipped", "lr"):
        scalars = events.Scalars(key)
        assert [s.step for s in scalars] == [1, 2, 3]
        assert [s.value for s in scalars] == pytest.approx([r[key] for r in rows], rel=1e-6)
    assert events.PluginTagToContent("hparams")  # the run's settings against its summary
    [best] = events.Scalars("summary/best_val_loss")
    assert best.value == pytest.approx(summary.best_val_loss, rel=1e-6)
