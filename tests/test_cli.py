"""End to end through the console script in a subprocess, as a user runs it."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_cli

from lstm_overfit.records import read_jsonl

pytestmark = pytest.mark.slow


def run_folders(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.glob("outputs/**/summary.json"))


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
    assert len(read_jsonl(folder / "metrics.jsonl")) == 2
    assert "epoch 2/2" in (folder / "run.log").read_text()


def test_sweep_runs_each_job_in_its_own_folder(tmp_path: Path) -> None:
    result = run_cli("train", "-m", "+experiment=smoke", "+reg=l1,l2", "seed=0,1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    folders = run_folders(tmp_path)
    assert len(folders) == 4 and len({f.parent for f in folders}) == 1
    seen = set()
    for folder in folders:
        overrides = yaml.safe_load((folder / ".hydra" / "overrides.yaml").read_text())
        summary = json.loads((folder / "summary.json").read_text())
        reg = next(o for o in overrides if o.startswith("+reg="))[len("+reg=") :]
        assert list(summary["reg"]) == [reg]
        seen.add((reg, summary["seed"]))
    assert seen == {("l1", 0), ("l1", 1), ("l2", 0), ("l2", 1)}


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


@pytest.mark.parametrize(
    "args, expected",
    [
        (["+reg=l3"], "valid options: ar_tar, awd, dropout, early_stopping"),
        (["reg.dropuot=0.3"], "reg.dropuot"),
        (["reg.l2=abc"], "reg.l2"),
        (["+reg=l2", "reg.l2=-1"], "reg.l2=-1.0 is out of range"),
        (["+reg=dropout", "reg.dropout=1.0"], "reg.dropout=1.0 is out of range"),
        (["-m", "+reg=l1,l2", "reg.dropout=1.2"], "reg.dropout=1.2"),
        (["model.hidden_size=0"], "model.hidden_size=0"),
    ],
)
def test_mistakes_give_one_line_and_exit_2(tmp_path: Path, args: list, expected: str) -> None:
    result = run_cli("train", *args, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstm-overfit: error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "outputs").exists()


def test_help_and_module_entry_point(tmp_path: Path) -> None:
    top = run_cli("--help", cwd=tmp_path)
    assert top.returncode == 0 and "lstm-overfit train" in top.stdout
    train_help = subprocess.run(
        [sys.executable, "-m", "lstm_overfit", "train", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert train_help.returncode == 0
    assert "reg: ar_tar, awd, dropout, early_stopping" in train_help.stdout
    unknown = run_cli("trian", cwd=tmp_path)
    assert unknown.returncode == 2 and "valid commands: train" in unknown.stderr


def test_wheel_install_finds_the_packaged_configs(tmp_path: Path) -> None:
    """A non-editable install has no source checkout: conf/ must ship inside the package."""
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            str(REPO),
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    [wheel] = (tmp_path / "dist").glob("*.whl")
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr
    assert (target / "lstm_overfit" / "conf" / "reg" / "l2.yaml").is_file()
    run = subprocess.run(
        [sys.executable, "-m", "lstm_overfit", "train", "+experiment=smoke", "+reg=l2"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    [folder] = run_folders(tmp_path)
    assert json.loads((folder / "summary.json").read_text())["reg"] == {"l2": 1e-3}


def run_in_parallel(runs: dict[str, list[str]], root: Path, workers: int = 2) -> dict:
    """Run the console script once per named argument list, `workers` at a time with one
    thread each; return each run's summary."""

    def run(name: str) -> dict:
        (root / name).mkdir()
        args = ["train", "train.num_threads=1", "train.progress=false", *runs[name]]
        result = run_cli(*args, cwd=root / name)
        assert result.returncode == 0, f"{name}: {result.stderr}"
        [folder] = run_folders(root / name)
        return json.loads((folder / "summary.json").read_text())

    with ThreadPoolExecutor(workers) as pool:
        return dict(zip(runs, pool.map(run, runs), strict=True))


GAP_SHRINKERS = [
    "l2",
    "dropout",
    "early_stopping",
    "locked_dropout",
    "embedding_dropout",
    "weight_drop",
    "zoneout",
    "ar_tar",
    "weight_decay",
    "awd",
]


@pytest.fixture(scope="module")
def default_runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The default run without a regularizer and with each preset, all with seed 0."""
    # zoneout runs a step loop, the slowest: start it first so the pool stays busy.
    names = sorted(GAP_SHRINKERS, key=lambda name: name != "zoneout")
    runs = {"none": [], **{name: [f"+reg={name}"] for name in names}}
    return run_in_parallel(runs, tmp_path_factory.mktemp("default_runs"))


def test_the_default_run_overfits(default_runs: dict) -> None:
    none = default_runs["none"]
    assert none["overfit_onset_epoch"] is not None
    assert none["max_gap"] > 0.5 and none["best_epoch"] < none["epochs_run"]
    # It learns the rule first: the best validation loss is near the Bayes optimum.
    assert none["best_val_loss"] < none["bayes_val_loss"] + 0.05


@pytest.mark.parametrize("name", GAP_SHRINKERS)
def test_each_preset_shrinks_the_gap_on_the_default_data_set(default_runs: dict, name: str):
    summary = default_runs[name]
    assert summary["status"] in ("completed", "stopped_early")
    assert summary["max_gap"] < default_runs["none"]["max_gap"]


def test_early_stopping_stops_the_default_run(default_runs: dict) -> None:
    assert default_runs["early_stopping"]["status"] == "stopped_early"


def test_regularizers_compose(tmp_path: Path) -> None:
    result = run_cli(
        "train", "+experiment=smoke", "+reg=[locked_dropout,weight_drop,ar_tar]", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    [folder] = run_folders(tmp_path)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["reg"] == {"locked_dropout": 0.5, "weight_drop": 0.8, "ar": 2.0, "tar": 1000.0}
    assert all(row["penalty"] > 0 for row in read_jsonl(folder / "metrics.jsonl"))


def test_incompatible_combination_fails_at_start(tmp_path: Path) -> None:
    result = run_cli("train", "+reg=zoneout", "model.bidirectional=true", cwd=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "zoneout and model.bidirectional=true cannot be combined" in line
    assert not (tmp_path / "outputs").exists()


def test_data_errors_give_one_line_exit_2_and_leave_no_folder(tmp_path: Path) -> None:
    result = run_cli("train", "dataset=imdb", f"dataset.path={tmp_path / 'nowhere'}", cwd=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "nowhere: no such folder; set dataset.path to a folder with train.jsonl.gz" in line
    assert "Traceback" not in result.stdout + result.stderr
    assert not list((tmp_path / "outputs").glob("runs/*/*"))


def test_tutorial_imdb_on_a_slice(tmp_path: Path, shared_data: Path) -> None:
    result = run_cli(
        "train",
        "+experiment=tutorial_imdb",
        f"dataset.path={shared_data / 'imdb'}",
        f"dataset.cache_dir={tmp_path / 'cache'}",
        "dataset.num_train=256",
        "dataset.num_val=128",
        "dataset.num_test=128",
        "model.hidden_size=16",
        "model.embedding_size=16",
        "train.epochs=2",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    [folder] = run_folders(tmp_path)
    config = yaml.safe_load((folder / ".hydra" / "config.yaml").read_text())
    assert config["model"]["bidirectional"] is True and config["reg"]["dropout"] == 0.5
    summary = json.loads((folder / "summary.json").read_text())
    assert set(summary["test"]) == {"loss", "acc"} and summary["epochs_run"] == 2
    assert {"train_acc", "val_acc"} <= set(read_jsonl(folder / "metrics.jsonl")[0])


def test_zaremba_small_schedule_on_a_ptb_slice(tmp_path: Path, shared_data: Path) -> None:
    result = run_cli(
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
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    [folder] = run_folders(tmp_path)
    rows = read_jsonl(folder / "metrics.jsonl")
    assert [r["lr"] for r in rows] == [1.0, 1.0, 1.0, 1.0, 0.5, 0.25]
    for row in rows:
        assert row["val_ppl"] == pytest.approx(math.exp(row["val_loss"]))
    summary = json.loads((folder / "summary.json").read_text())
    assert set(summary["test"]) == {"loss", "ppl"}


def test_forecasting_reports_mae_in_original_units(tmp_path: Path, shared_data: Path) -> None:
    result = run_cli(
        "train",
        "dataset=sunspots",
        f"dataset.path={shared_data / 'sunspots' / 'monthly.csv'}",
        "train.epochs=2",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    [folder] = run_folders(tmp_path)
    row = read_jsonl(folder / "metrics.jsonl")[-1]
    assert row["val_mae"] > 1.0  # sunspot numbers, not normalized units
    assert json.loads((folder / "summary.json").read_text())["test"]["mae"] > 1.0
