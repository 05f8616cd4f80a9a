"""End to end through the console script in a subprocess, as a user runs it, and the real
data sets' presets on slices (in-process)."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import run_cli, run_folders, run_main

from lstm_overfit.run_folder import read_metrics


def test_smoke_run_writes_a_complete_run_folder(tmp_path: Path) -> None:
    result = run_cli("train", "+experiment=smoke", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [folder] = run_folders(tmp_path)
    assert folder.parent.parent.name == "runs"
    assert f"run folder: {folder}" in result.stdout.replace("\n", "")
    names = {p.name for p in folder.iterdir()}
    assert {".hydra", "metrics.jsonl", "summary.json", "curves.png", "run.log"} <= names
    assert {p.name for p in (folder / "checkpoints").iterdir()} == {"best.pt", "last.pt"}
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_run"] == 2
    assert len(read_metrics(folder)) == 2
    assert "epoch 2/2" in (folder / "run.log").read_text()


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("lstm-overfit")
    procs = [
        subprocess.Popen(
            [str(exe), "train", "+experiment=smoke"], cwd=tmp_path, stdout=subprocess.DEVNULL
        )
        for _ in range(3)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0]
    assert len(run_folders(tmp_path)) == 3


def test_module_entry_point_and_a_mistake(tmp_path: Path) -> None:
    train_help = subprocess.run(
        [sys.executable, "-m", "lstm_overfit", "train", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert train_help.returncode == 0 and "reg.dropout=0" in train_help.stdout
    mistake = run_cli("train", "+reg=l2", "reg.l2=-1", cwd=tmp_path)
    assert mistake.returncode == 2 and "Traceback" not in mistake.stderr
    assert mistake.stderr.count("\n") == 1 and not (tmp_path / "outputs").exists()


def sweep_metrics(root: Path) -> dict[str, list]:
    rows = {}
    for folder in run_folders(root):
        seed = json.loads((folder / "summary.json").read_text())["seed"]
        rows[seed] = [(r["train_loss"], r["val_loss"]) for r in read_metrics(folder)]
    return rows


def test_a_parallel_sweep_gives_the_numbers_of_a_serial_one(tmp_path: Path) -> None:
    """Sweep jobs run one torch thread each whatever the launcher; each console line of a
    parallel job names its job."""
    args = ["train", "-m", "+experiment=smoke", "dataset.num_train=512", "seed=0,1"]
    (tmp_path / "serial").mkdir()
    (tmp_path / "parallel").mkdir()
    serial = run_cli(*args, cwd=tmp_path / "serial", threads=2)
    parallel = run_cli(
        *args, "hydra/launcher=local_parallel", "hydra.launcher.n_jobs=2", cwd=tmp_path / "parallel"
    )
    assert serial.returncode == 0 and parallel.returncode == 0, parallel.stderr
    assert sweep_metrics(tmp_path / "serial") == sweep_metrics(tmp_path / "parallel")
    for folder in run_folders(tmp_path):
        assert json.loads((folder / "summary.json").read_text())["num_threads"] == 1
    jobs = re.findall(r"\[(job \d+)\] epoch 2/2", parallel.stdout)
    assert sorted(jobs) == ["job 0", "job 1"]


def test_tutorial_imdb_on_a_slice(tmp_path: Path, shared_data: Path) -> None:
    result = run_main(
        "train",
        "+experiment=tutorial_imdb",
        f"dataset.path={shared_data / 'imdb'}",
        f"dataset.cache_dir={tmp_path / 'cache'}",
        "dataset.num_train=256",
        "dataset.num_val=128",
        "dataset.num_test=128",
        "dataset.max_len=100",
        "model.hidden_size=16",
        "train.epochs=2",
        "train.progress=false",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    [folder] = run_folders(tmp_path)
    config = yaml.safe_load((folder / ".hydra" / "config.yaml").read_text())
    assert config["model"]["bidirectional"] is True and config["reg"]["dropout"] == 0.5
    summary = json.loads((folder / "summary.json").read_text())
    assert set(summary["test"]) == {"loss", "acc", "macro_f1"} and summary["epochs_run"] == 2
    found = summary["pretrained_coverage"]
    assert found["vocabulary"] > 1000 and found["found"] / found["vocabulary"] > 0.8


def test_zaremba_small_schedule_on_a_ptb_slice(tmp_path: Path, shared_data: Path) -> None:
    result = run_main(
        "train",
        "+experiment=zaremba_small",
        f"dataset.path={shared_data / 'ptb'}",
        f"dataset.cache_dir={tmp_path / 'cache'}",
        "dataset.num_train=3000",
        "dataset.num_val=1000",
        "dataset.num_test=1000",
        "model.hidden_size=16",
        "model.embedding_size=16",
        "train.epochs=6",
        "train.progress=false",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    [folder] = run_folders(tmp_path)
    rows = read_metrics(folder)
    assert [r["lr"] for r in rows] == [1.0, 1.0, 1.0, 1.0, 0.5, 0.25]
    for row in rows:
        assert row["val_ppl"] == pytest.approx(math.exp(row["val_loss"]))
    assert set(json.loads((folder / "summary.json").read_text())["test"]) == {"loss", "ppl"}


def test_awd_ptb_runs_its_schedule_on_a_slice(tmp_path: Path, shared_data: Path) -> None:
    result = run_main(
        "train",
        "+experiment=awd_ptb",
        f"dataset.path={shared_data / 'ptb'}",
        f"dataset.cache_dir={tmp_path / 'cache'}",
        "dataset.num_train=6000",
        "dataset.num_val=1000",
        "dataset.num_test=1000",
        "model.hidden_size=16",
        "model.embedding_size=16",
        "train.epochs=2",
        "train.progress=false",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    [folder] = run_folders(tmp_path)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["reg"]["locked_dropout_input"] == 0.4


def test_forecasting_reports_errors_in_the_series_units(tmp_path: Path, shared_data: Path) -> None:
    result = run_main(
        "train",
        "dataset=sunspots",
        f"dataset.path={shared_data / 'sunspots' / 'monthly.csv'}",
        "train.epochs=2",
        "train.progress=false",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    [folder] = run_folders(tmp_path)
    row = read_metrics(folder)[-1]
    assert row["val_mae"] > 1.0  # sunspot numbers, not normalized units
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["test"]["mae"] > 1.0 and summary["naive_forecast"]["test_mae"] > 1.0


def test_overrides_may_come_before_and_after_the_multirun_flag(tmp_path: Path) -> None:
    result = run_main("train", "+experiment=smoke", "-m", "seed=0,1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(list(tmp_path.glob("outputs/sweeps/*/*/*/summary.json"))) == 2


@pytest.mark.parametrize(
    "name, local, unit",
    [
        ("ptb", "ptb", "tokens"),
        ("imdb", "imdb", "examples"),
        ("sunspots", "sunspots/monthly.csv", "windows"),
        ("co2", "co2/weekly.csv", "windows"),
    ],
)
def test_the_smoke_run_on_each_real_data_set(tmp_path, shared_data, name, local, unit) -> None:
    """Seconds each; the log gives a corpus's split sizes in tokens."""
    result = run_main(
        "train",
        "+experiment=smoke",
        f"dataset={name}",
        f"dataset.path={shared_data / local}",
        *([f"dataset.cache_dir={tmp_path / 'cache'}"] if unit != "windows" else []),
        "train.progress=false",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    [folder] = run_folders(tmp_path)
    assert json.loads((folder / "summary.json").read_text())["epochs_run"] == 2
    described = (folder / "run.log").read_text().splitlines()[0]
    assert re.search(rf"\d+ train / \d+ val / \d+ test {unit};", described), described
    if name == "ptb":
        assert "2000 train / 500 val / 500 test tokens" in described


def test_the_first_log_line_reads_as_prose(tmp_path: Path) -> None:
    result = run_main(
        "train",
        "+experiment=smoke",
        "+reg=[l2,dropout]",
        "reg.dropout=0.3",
        "train.num_threads=1",
        "train.epochs=1",
        "train.progress=false",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    [folder] = run_folders(tmp_path)
    described = (folder / "run.log").read_text().splitlines()[0]
    assert described.endswith(
        "1 torch thread (train.num_threads); regularizers: l2=0.001, dropout=0.3"
    ), described
