"""Resume after a kill or a signal, divergence, atomic files, safe checkpoints, bad input."""

from __future__ import annotations

import gzip
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import run_cli, tiny_config

from lstm_overfit.checkpoints import CheckpointError, load_checkpoint
from lstm_overfit.records import read_jsonl
from lstm_overfit.train import fit, upgrade_sums

# Wall-clock fields: the only ones allowed to differ between a resumed run and a straight one.
TIMING = {"epoch_seconds", "tokens_per_second", "eval_seconds", "ended_at", "wall_seconds"}
# Long enough epochs (about a second each on one thread) to be caught in the middle.
RUN = [
    "train",
    "train.epochs=4",
    "dataset.num_train=6000",
    "train.num_threads=1",
    "train.progress=false",
    "+reg=[dropout,weight_drop]",
]
EXE = str(Path(sys.executable).with_name("lstm-overfit"))


def the_run_folder(root: Path) -> Path:
    [folder] = [p for p in root.glob("outputs/runs/*/*") if p.is_dir()]
    return folder


def without_timing(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in TIMING}


def outcome(folder: Path) -> tuple[list[dict], dict]:
    rows = [without_timing(r) for r in read_jsonl(folder / "metrics.jsonl")]
    return rows, without_timing(json.loads((folder / "summary.json").read_text()))


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], dict]:
    root = tmp_path_factory.mktemp("straight")
    result = run_cli(*RUN, cwd=root)
    assert result.returncode == 0, result.stderr
    return outcome(the_run_folder(root))


def start_run(root: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [EXE, *RUN], cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def wait_for_epochs(root: Path, epochs: int, proc: subprocess.Popen) -> Path:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it could be stopped"
        folders = list(root.glob("outputs/runs/*/*/metrics.jsonl"))
        if folders and len(read_jsonl(folders[0])) >= epochs:
            return folders[0].parent
        time.sleep(0.05)
    raise AssertionError("the run did not get far enough")


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_a_straight_run(tmp_path, straight_run) -> None:
    proc = start_run(tmp_path)
    folder = wait_for_epochs(tmp_path, 2, proc)
    time.sleep(0.4)  # into epoch 3's batches
    proc.kill()
    proc.wait()
    assert not (folder / "summary.json").exists()
    result = run_cli("train", f"resume={folder}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert outcome(folder) == straight_run


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_the_place_and_resume_matches(tmp_path, straight_run, signum) -> None:
    proc = start_run(tmp_path)
    folder = wait_for_epochs(tmp_path, 1, proc)
    time.sleep(0.3)  # into epoch 2's batches
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum
    assert f"resume={folder}" in stderr
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["test"] is None
    last = load_checkpoint(folder / "checkpoints" / "last.pt")
    assert last["epoch"] == 1 and last["partial"]["batches_done"] > 0  # stopped mid-epoch
    result = run_cli("train", f"resume={folder}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert outcome(folder) == straight_run
    again = run_cli("train", f"resume={folder}", cwd=tmp_path)
    assert again.returncode == 0 and "nothing to resume" in again.stdout


def test_divergence_stops_the_run_and_keeps_the_best_checkpoint(tmp_path, monkeypatch) -> None:
    """The loss turns NaN in epoch 3: two good epochs stay, with their best checkpoint."""
    from lstm_overfit.tasks import ClassificationTask

    real_step, calls = ClassificationTask.step, []

    def failing_step(self, model, batch):
        result = real_step(self, model, batch)
        calls.append(1)
        if len(calls) > 8:  # 4 batches an epoch
            result.loss = result.loss * float("nan")
        return result

    monkeypatch.setattr(ClassificationTask, "step", failing_step)
    summary = fit(tiny_config(epochs=5), tmp_path)
    assert summary["status"] == "diverged" and summary["epochs_run"] == 2
    assert "non-finite in epoch 3" in summary["error"]
    best = load_checkpoint(tmp_path / "checkpoints" / "best.pt")
    assert best["epoch"] == summary["best_epoch"] <= 2 and summary["test"] is not None
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["epoch"] == 2


def test_mid_epoch_sums_of_earlier_releases_keep_their_verdict() -> None:
    """Earlier releases saved a count of bad batches; the check now reads the largest loss."""
    fine = upgrade_sums({"bad": torch.tensor(0), "loss": torch.tensor(3.0)})
    assert "bad" not in fine and fine["worst"].item() == -math.inf
    assert math.isnan(upgrade_sums({"bad": torch.tensor(2)})["worst"].item())


def test_loss_above_the_threshold_is_divergence(tmp_path: Path) -> None:
    summary = fit(tiny_config(epochs=3, max_loss=0.01), tmp_path)
    assert summary["status"] == "diverged" and "above 0.01 in epoch 1" in summary["error"]


@pytest.mark.slow
def test_divergence_through_the_console_script(tmp_path: Path) -> None:
    result = run_cli("train", "+experiment=smoke", "train.max_loss=0.01", cwd=tmp_path)
    assert result.returncode == 1
    assert "the run diverged: the training loss became non-finite or above 0.01" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_diverged_job_does_not_stop_the_sweep(tmp_path: Path) -> None:
    run_cli("train", "-m", "+experiment=smoke", "train.max_loss=0.01,null", cwd=tmp_path)
    summaries = [json.loads(p.read_text()) for p in tmp_path.glob("outputs/sweeps/**/summary.json")]
    assert sorted(s["status"] for s in summaries) == ["completed", "diverged"]


WRITER = """
import sys
from pathlib import Path
from lstm_overfit.records import atomic_write_json
target = Path(sys.argv[1])
payloads = [{"n": i, "pad": "x" * 200_000 * (1 + i % 3)} for i in range(3)]
print("ready", flush=True)
i = 0
while True:
    atomic_write_json(target, payloads[i % 3])
    i += 1
"""


def test_a_reader_never_sees_a_partial_file_even_if_the_writer_is_killed(tmp_path) -> None:
    target = tmp_path / "summary.json"
    for attempt in range(8):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.05 + 0.03 * attempt)
        proc.kill()
        proc.wait()
        data = json.loads(target.read_text())
        assert data["pad"] == "x" * 200_000 * (1 + data["n"] % 3)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "summary.json"]
    # A killed writer may leave its temp file; it never replaces the real one.
    assert all(name.startswith(".summary.json.") for name in leftovers)


def test_a_checkpoint_with_pickled_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "last.pt"
    torch.save({"model": {}, "evil": Payload()}, path)
    with pytest.raises(CheckpointError, match="refusing to load it"):
        load_checkpoint(path)
    assert not marker.exists()


def test_disk_full_keeps_earlier_files(tmp_path: Path, monkeypatch) -> None:
    import lstm_overfit.records as records

    fit(tiny_config(epochs=2), tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    real_fsync = os.fsync

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(records.os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        records.atomic_write_json(tmp_path / "summary.json", {"status": "completed"})
    monkeypatch.setattr(records.os, "fsync", real_fsync)
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before


def write_gz(path: Path, raw: bytes) -> None:
    path.write_bytes(gzip.compress(raw))


def imdb_folder(root: Path, train: bytes | None = None) -> Path:
    folder = root / "imdb"
    folder.mkdir()
    good = b'{"text": "a fine film", "label": 1}\n{"text": "a bad film", "label": 0}\n' * 4
    write_gz(folder / "train.jsonl.gz", good if train is None else train)
    write_gz(folder / "test.jsonl.gz", good)
    return folder


def catalogue_case(name: str, root: Path) -> tuple[list[str], str]:
    """(arguments, expected text) for each row of the README's bad-input table."""
    imdb = ["dataset=imdb", "dataset.num_val=2", f"dataset.cache_dir={root / 'cache'}"]
    if name == "unknown preset":
        return ["model=huge"], "unknown model option 'huge'; valid options: large, medium"
    if name == "misspelled key":
        return ["train.epoch=3"], "unknown key 'train.epoch'; did you mean 'train.epochs'?"
    if name == "wrong type":
        return ["train.epochs=many"], "train.epochs: Value 'many' of type 'str' could not be"
    if name == "out-of-range strength":
        return ["+reg=l2", "reg.l2=-1"], "reg.l2=-1.0 is out of range: it must be >= 0.0"
    if name == "out-of-range rate":
        return ["+reg=dropout", "reg.dropout=1"], "reg.dropout=1.0 is out of range"
    if name == "zero size":
        return ["train.batch_size=0"], "train.batch_size=0 is out of range: it must be >= 1"
    if name == "negative size":
        return ["model.num_layers=-2"], "model.num_layers=-2 is out of range"
    if name == "more validation than data":
        folder = imdb_folder(root)
        return [*imdb, f"dataset.path={folder}", "dataset.num_val=8"], "leaves no training"
    if name == "missing data path":
        return [*imdb, f"dataset.path={root / 'gone'}"], "gone: no such folder"
    if name == "a directory where a file is expected":
        return ["dataset=sunspots", f"dataset.path={root}"], "is a folder, expected a file"
    if name == "corrupt gzip":
        folder = imdb_folder(root)
        (folder / "train.jsonl.gz").write_bytes(b"\x1f\x8b\x08garbage")
        return [*imdb, f"dataset.path={folder}"], "train.jsonl.gz: cannot be read as gzip"
    if name == "a JSON line that is not JSON":
        folder = imdb_folder(root, b'{"text": "x", "label": 1}\n{"text": oops}\n')
        return [*imdb, f"dataset.path={folder}"], "train.jsonl.gz: line 2 is not JSON"
    if name == "a label outside the classes":
        folder = imdb_folder(root, b'{"text": "x", "label": 7}\n' * 4)
        return [*imdb, f"dataset.path={folder}"], "has label 7, outside the classes 0 and 1"
    if name == "an empty split":
        folder = imdb_folder(root, b"")
        return [*imdb, f"dataset.path={folder}"], "train.jsonl.gz: has no reviews"
    if name == "text that is not UTF-8":
        folder = imdb_folder(root, b'{"text": "caf\xe9", "label": 1}\n' * 4)
        return [*imdb, f"dataset.path={folder}"], "train.jsonl.gz: is not UTF-8 text"
    if name == "a CSV column that does not exist":
        csv = root / "series.csv"
        csv.write_text("t,value\n" + "".join(f"{i},{i}\n" for i in range(100)))
        return ["dataset=csv", f"dataset.path={csv}", "dataset.column=price"], (
            "no column 'price'; its columns are t, value"
        )
    if name == "resume pointing at a folder that is not a run":
        return [f"resume={root}"], "is not a run folder (no .hydra/overrides.yaml in it)"
    if name == "an output folder that cannot be written":
        return ["hydra.run.dir=/proc/lstm-overfit-test"], "cannot create the run folder"
    raise KeyError(name)


CATALOGUE = [
    "unknown preset",
    "misspelled key",
    "wrong type",
    "out-of-range strength",
    "out-of-range rate",
    "zero size",
    "negative size",
    "more validation than data",
    "missing data path",
    "a directory where a file is expected",
    "corrupt gzip",
    "a JSON line that is not JSON",
    "a label outside the classes",
    "an empty split",
    "text that is not UTF-8",
    "a CSV column that does not exist",
    "resume pointing at a folder that is not a run",
    "an output folder that cannot be written",
]


@pytest.mark.slow
@pytest.mark.parametrize("case", CATALOGUE)
def test_bad_input_catalogue(tmp_path: Path, case: str) -> None:
    """Each: one line naming the problem, exit 2, no traceback, nothing written."""
    (tmp_path / "work").mkdir()
    args, expected = catalogue_case(case, tmp_path)
    before = sorted(p for p in tmp_path.rglob("*") if "cache" not in p.parts)
    result = run_cli("train", *args, cwd=tmp_path / "work")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstm-overfit: error: "), result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    after = sorted(p for p in tmp_path.rglob("*") if "cache" not in p.parts)
    assert after == before  # no run folder, no summary, nothing else touched


SWEEP = [
    "train",
    "-m",
    "seed=0,1,2",
    "train.epochs=3",
    "dataset.num_train=3000",
    "train.num_threads=1",
]


@pytest.mark.slow
def test_an_interrupted_sweep_resumes_where_it_stopped(tmp_path: Path) -> None:
    straight = tmp_path / "straight"
    straight.mkdir()
    assert run_cli(*SWEEP, cwd=straight).returncode == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [EXE, *SWEEP], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob("outputs/sweeps/*/*/1-*/metrics.jsonl")):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    proc.kill()  # job 0 done, job 1 in its second epoch, job 2 never started
    proc.wait()
    [sweep] = tmp_path.glob("outputs/sweeps/*/*")
    first = next(sweep.glob("0-*")) / "summary.json"
    stamp = first.stat().st_mtime_ns
    assert not list(sweep.glob("2-*"))
    result = run_cli(*SWEEP, f"resume={sweep}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert first.stat().st_mtime_ns == stamp  # the finished job was skipped
    [done] = straight.glob("outputs/sweeps/*/*")
    for job in ("0-", "1-", "2-"):
        assert outcome(next(sweep.glob(f"{job}*"))) == outcome(next(done.glob(f"{job}*")))


def test_resume_of_a_sweep_needs_a_sweep_folder(tmp_path: Path) -> None:
    result = run_cli("train", "-m", "seed=0,1", f"resume={tmp_path}", cwd=tmp_path)
    assert result.returncode == 2 and "is not a sweep folder" in result.stderr
