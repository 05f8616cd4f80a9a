"""Early stopping, overfitting onset and gap statistics on scripted curves; the run folder's
records; atomic files."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from lstm_overfit.config import UsageError
from lstm_overfit.curves import curve_summary, overfit_onset
from lstm_overfit.regularizers.early_stopping import EarlyStopping
from lstm_overfit.regularizers.schema import reg_config
from lstm_overfit.run_folder import (
    CONSOLE,
    CSV,
    HPARAMS,
    EpochRecord,
    RunSummary,
    compared_numbers,
    read_metrics,
    shown_in,
)
from lstm_overfit.stopping import BestEpoch
from lstm_overfit.storage import JsonlWriter, atomic_write_json


def record(epoch: int, train: float, val: float) -> EpochRecord:
    return EpochRecord(epoch, train, train, 0.0, val, val - train, 1e-3, 1.0, 1.0, 100.0, 0.1, 0.0)


def stops_after(patience: int, val: list[float]) -> tuple[BestEpoch, int | None]:
    """Feed validation losses to the best-epoch record; the epoch early stopping ends at."""
    best, stopping = BestEpoch(), EarlyStopping(reg_config(early_stopping=patience))
    for epoch, loss in enumerate(val, 1):
        best.update(epoch, loss)
        if patience > 0 and stopping.stop_reason(best) is not None:
            return best, epoch
    return best, None


def test_early_stopping_picks_the_best_epoch_and_stops_after_patience() -> None:
    best, stopped_at = stops_after(3, [1.0, 0.8, 0.7, 0.75, 0.72, 0.71, 0.9])
    assert best.best_epoch == 3 and best.best_loss == 0.7
    assert stopped_at == 6


def test_a_new_best_resets_patience() -> None:
    best, stopped_at = stops_after(2, [1.0, 1.1, 0.9, 1.0])
    assert stopped_at is None and best.best_epoch == 3


def test_patience_zero_is_off_and_the_best_epoch_is_still_tracked() -> None:
    assert not EarlyStopping.is_on(reg_config(early_stopping=0))
    best, stopped_at = stops_after(0, [float(epoch) for epoch in range(1, 20)])
    assert stopped_at is None and best.best_epoch == 1


def test_onset_is_the_minimum_followed_by_rising_val_and_falling_train() -> None:
    train = [1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2]
    val = [1.0, 0.9, 0.85, 0.9, 0.95, 1.0, 1.1]
    onset, rise = overfit_onset(train, val, patience=3, min_rise=0.02)
    assert onset == 3 and rise == pytest.approx(1.0 - 0.85)


def test_a_rise_within_the_noise_is_no_onset() -> None:
    """Validation loss that creeps up by less than the tolerance is not overfitting."""
    train = [1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2]
    val = [1.0, 0.9, 0.85, 0.851, 0.852, 0.86, 0.855]  # 1% above its best, 2% asked
    assert overfit_onset(train, val, patience=3, min_rise=0.02) == (None, None)
    assert overfit_onset(train, val, patience=3, min_rise=0.0)[0] == 3


def test_no_onset_when_val_recovers_within_patience() -> None:
    train = [1.0, 0.8, 0.6, 0.5, 0.4, 0.3]
    val = [1.0, 0.9, 0.95, 0.85, 0.8, 0.75]
    assert overfit_onset(train, val, patience=3, min_rise=0.0) == (None, None)


def test_no_onset_when_train_loss_rises_too() -> None:
    train = [1.0, 0.8, 0.9, 1.0, 1.1]
    val = [1.0, 0.9, 1.0, 1.1, 1.2]
    assert overfit_onset(train, val, patience=3, min_rise=0.0) == (None, None)


def test_curve_summary_gap_statistics() -> None:
    records = [record(1, 1.0, 1.1), record(2, 0.5, 0.8), record(3, 0.2, 0.9)]
    summary = RunSummary(**curve_summary(records, best_epoch=2, patience=1, min_rise=0.02))
    assert summary.best_epoch == 2 and summary.best_val_loss == 0.8
    assert summary.gap_at_best == pytest.approx(0.3)
    assert summary.max_gap == pytest.approx(0.7)
    assert summary.final_gap == pytest.approx(0.7)
    assert summary.overfit_onset_epoch == 2 and summary.overfit_onset_rise == pytest.approx(0.1)
    assert summary.epochs_run == 3 and summary.final_val_loss == 0.9
    assert curve_summary([], best_epoch=None, patience=1, min_rise=0.02) == {}


def test_each_view_shows_the_summary_numbers_declared_for_it() -> None:
    assert shown_in(HPARAMS) == [
        "best_val_loss",
        "final_val_loss",
        "gap_at_best",
        "max_gap",
        "epochs_run",
    ]
    assert shown_in(CONSOLE)[0] == "status" and "wall_seconds" in shown_in(CONSOLE)
    assert {"seed", "overfit_onset_rise", "error"} <= set(shown_in(CSV))
    assert list(compared_numbers()) == ["best_val_loss", "final_val_loss", "gap_at_best", "test"]
    assert list(RunSummary().to_dict())[0] == "status"  # the line a reader looks for


def test_the_readme_names_every_summary_field() -> None:
    from conftest import REPO

    readme = (REPO / "README.md").read_text()
    listed = readme[readme.index("`summary.json`: `status`") :].split("\n\n")[0]
    missing = [f.name for f in fields(RunSummary) if f"`{f.name}`" not in listed]
    assert not missing
    assert all(f.metadata["description"] for f in fields(RunSummary))


def test_a_runs_epoch_records_hold_exactly_the_documented_keys(tmp_path: Path, cfg) -> None:
    """What a real run writes to metrics.jsonl: the README's keys and no others, with values
    that agree with each other, read back into the same records."""
    import re

    from conftest import REPO

    from lstm_overfit.fit import fit

    fit(cfg, tmp_path)
    rows = read_metrics(tmp_path)
    readme = (REPO / "README.md").read_text()
    documented = readme[readme.index("`metrics.jsonl`, per epoch:") :].split("\n\n")[0]
    named = set(re.findall(r"`(\w+)`", documented))
    # The synthetic data set's task metrics: accuracy and macro-F1, and on the training
    # sample, accuracy apart on the examples whose label was flipped and the clean ones.
    task = {"train_acc", "val_acc", "train_macro_f1", "val_macro_f1"}
    task |= {"train_acc_clean", "train_acc_flipped"}
    expected = {f.name for f in fields(EpochRecord)} - {"task_metrics"} | task
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    for row in rows:
        assert set(row) == expected
        assert row["gap"] == row["val_loss"] - row["train_loss"]
        assert 0 < row["eval_seconds"] < row["epoch_seconds"] and row["tokens_per_second"] > 0
        assert EpochRecord.from_dict(row).to_dict() == row
    assert expected <= named, expected - named


def test_atomic_json_replaces_whole_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_failed_atomic_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    atomic_write_json(target, {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(target, {"a": object()})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_jsonl_appends_one_object_per_line(tmp_path: Path) -> None:
    writer = JsonlWriter(tmp_path / "metrics.jsonl")
    writer.append({"epoch": 1})
    writer.append({"epoch": 2})
    assert read_metrics(tmp_path) == [{"epoch": 1}, {"epoch": 2}]


def test_a_last_row_cut_short_is_left_out_and_a_damaged_one_named(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"epoch": 1}\n{"epoch": 2}\n{"epo')
    assert read_metrics(tmp_path) == [{"epoch": 1}, {"epoch": 2}]
    path.write_text('{"epoch": 1}\n{"epo\n{"epoch": 3}\n')
    with pytest.raises(UsageError, match=r"metrics.jsonl: line 2 is not JSON"):
        read_metrics(tmp_path)
