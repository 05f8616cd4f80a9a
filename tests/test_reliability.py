"""Kills and signals through the console script, divergence in a sweep, atomic files, safe
checkpoints, and the README's bad-input table."""

from __future__ import annotations

import gzip
import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_refused, catalogue_rows, run_cli, run_folders, run_main

from lstm_overfit.checkpoints import CheckpointError, load_checkpoint
from lstm_overfit.liveness import mark_running
from lstm_overfit.run_folder import read_metrics
from lstm_overfit.runs import find_runs, unfinished_lines

# Wall-clock fields: the only ones allowed to differ between a resumed run and a straight one.
TIMING = {"epoch_seconds", "tokens_per_second", "eval_seconds", "ended_at", "wall_seconds"}
RUN = [
    "train",
    "+experiment=smoke",
    "train.epochs=3",
    "dataset.num_train=256",
    "train.progress=false",
    "train.num_threads=1",  # float sums depend on it: every side of a comparison pins it
    "+reg=[dropout,weight_drop]",
]
# Runs the console script with a hook that sends this process a signal after N batches:
# the interruption lands mid-epoch whatever the machine's speed.
STOPPER = """
import os, signal, sys
import lstm_overfit.train as train
from lstm_overfit import cli

after, signum = int(os.environ["STOP_AFTER"]), int(os.environ["STOP_SIGNAL"])
step = train.TrainingRun._step
done = [0]

def counting_step(self, *args):
    step(self, *args)
    done[0] += 1
    if done[0] == after:
        os.kill(os.getpid(), signum)

train.TrainingRun._step = counting_step
sys.argv = ["lstm-overfit", *sys.argv[1:]]
cli.main()
"""


def without_timing(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in TIMING}


def outcome(folder: Path) -> tuple[list[dict], dict]:
    rows = [without_timing(r) for r in read_metrics(folder)]
    return rows, without_timing(json.loads((folder / "summary.json").read_text()))


def stopped_run(root: Path, after: int, signum: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "STOP_AFTER": str(after)}
    env["STOP_SIGNAL"] = str(int(signum))
    return subprocess.run(
        [sys.executable, "-c", STOPPER, *RUN], cwd=root, env=env, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], dict]:
    root = tmp_path_factory.mktemp("straight")
    result = run_cli(*RUN, cwd=root)
    assert result.returncode == 0, result.stderr
    [folder] = run_folders(root)
    return outcome(folder)


def the_run_folder(root: Path) -> Path:
    [folder] = [p for p in root.glob("outputs/runs/*/*") if p.is_dir()]
    return folder


def test_sigkill_mid_epoch_then_resume_matches_a_straight_run(tmp_path, straight_run) -> None:
    result = stopped_run(tmp_path, after=20, signum=signal.SIGKILL)  # 16 batches an epoch
    assert result.returncode == -signal.SIGKILL
    folder = the_run_folder(tmp_path)
    assert not (folder / "summary.json").exists()
    assert len(read_metrics(folder)) == 1
    (killed,) = find_runs([folder])
    assert killed.status == "killed" and killed.resume_command in unfinished_lines([killed])[0]
    resumed = run_cli("train", f"resume={folder}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert outcome(folder) == straight_run


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_the_place_and_resume_matches(tmp_path, straight_run, signum) -> None:
    result = stopped_run(tmp_path, after=20, signum=signum)
    assert result.returncode == 128 + signum
    folder = the_run_folder(tmp_path)
    assert f"resume={folder}" in result.stderr
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["test"] is None
    last = load_checkpoint(folder / "checkpoints" / "last.pt")
    assert last["epoch"] == 1 and last["partial"]["batches_done"] == 4  # mid-epoch 2
    resumed = run_cli("train", f"resume={folder}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert outcome(folder) == straight_run
    again = run_main("train", f"resume={folder}", cwd=tmp_path)
    assert again.returncode == 0 and "nothing to resume" in again.stdout


def test_an_interruption_before_training_is_recorded_as_such(tmp_path: Path, monkeypatch) -> None:
    """Ctrl-C while the data loads: the folder says `interrupted`, not `running`."""
    import lstm_overfit.build as build

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(build, "load_data", interrupted)
    result = run_main("train", "+experiment=smoke", "train.progress=false", cwd=tmp_path)
    assert result.returncode == 130 and "interrupted" in result.stderr
    [folder] = run_folders(tmp_path)
    assert json.loads((folder / "summary.json").read_text())["status"] == "interrupted"


def test_a_run_that_fails_while_being_built_says_so(tmp_path: Path, monkeypatch) -> None:
    """An error before the first epoch (here while the model is built) leaves a summary that
    says failed and why, not a folder that reads as still running."""
    import lstm_overfit.build as build

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(build, "build_model", broken)
    result = run_main("train", "+experiment=smoke", "train.progress=false", cwd=tmp_path)
    assert result.returncode == 1 and "RuntimeError: out of memory" in result.stderr
    [folder] = run_folders(tmp_path)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["error"] == "RuntimeError: out of memory"


def test_a_users_own_config_folder_is_validated_too(tmp_path: Path) -> None:
    """--config-dir runs go to Hydra as they are; the run still checks every rule."""
    (tmp_path / "mine").mkdir()
    result = run_main(
        "train",
        "--config-dir",
        str(tmp_path / "mine"),
        "+experiment=smoke",
        "model.bidirectional=true",
        "+reg=zoneout",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("lstm-overfit: error: zoneout and model.bidirectional")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run" / "checkpoints").exists()  # nothing trained


def test_a_diverged_job_does_not_stop_the_sweep(tmp_path: Path) -> None:
    result = run_main("train", "-m", "+experiment=smoke", "optim.lr=1e6,3e-3", cwd=tmp_path)
    assert result.returncode == 1
    assert "1 job(s) did not succeed" in result.stderr and "(diverged)" in result.stderr
    summaries = [json.loads(p.read_text()) for p in tmp_path.glob("outputs/sweeps/**/summary.json")]
    assert sorted(s["status"] for s in summaries) == ["completed", "diverged"]


def test_a_job_that_crashes_does_not_stop_the_sweep(tmp_path: Path, monkeypatch) -> None:
    """An error inside one job (here a bug in its first epoch) fails that job only."""
    import lstm_overfit.train as train

    epoch = train.TrainingRun.run_epoch

    def crash_on_seed_1(self, number):
        if self.cfg.seed == 1:
            raise RuntimeError("a bug")
        return epoch(self, number)

    monkeypatch.setattr(train.TrainingRun, "run_epoch", crash_on_seed_1)
    result = run_main("train", "-m", "+experiment=smoke", "seed=0,1", cwd=tmp_path)
    assert result.returncode == 1 and "1 job(s) did not succeed" in result.stderr
    [sweep] = tmp_path.glob("outputs/sweeps/*/*")
    summaries = {p.parent.name: json.loads(p.read_text()) for p in sweep.glob("*/summary.json")}
    assert sorted(s["status"] for s in summaries.values()) == ["completed", "failed"]
    [failed] = [s for s in summaries.values() if s["status"] == "failed"]
    assert failed["seed"] == 1 and failed["error"] == "RuntimeError: a bug"
    assert "failed" in (sweep / "report.md").read_text()


def test_divergence_through_the_console_script(tmp_path: Path) -> None:
    result = run_cli("train", "+experiment=smoke", "train.max_loss=0.01", cwd=tmp_path)
    assert result.returncode == 1
    assert "the run diverged: the training loss became non-finite or above 0.01" in result.stderr
    assert "Traceback" not in result.stderr


WRITER = """
import sys
from pathlib import Path
from lstm_overfit.storage import atomic_write_json
target = Path(sys.argv[1])
payloads = [{"n": i, "pad": "x" * 200_000 * (1 + i % 3)} for i in range(3)]
atomic_write_json(target, payloads[0])
print("ready", flush=True)
i = 1
while True:
    atomic_write_json(target, payloads[i % 3])
    i += 1
"""


def test_a_reader_never_sees_a_partial_file_even_if_the_writer_is_killed(tmp_path) -> None:
    target = tmp_path / "summary.json"
    for _ in range(8):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout.readline().strip() == "ready"
        for _ in range(20):  # read while it writes, then kill it wherever it is
            data = json.loads(target.read_text())
            assert data["pad"] == "x" * 200_000 * (1 + data["n"] % 3)
        proc.kill()
        proc.wait()
        data = json.loads(target.read_text())
        assert data["pad"] == "x" * 200_000 * (1 + data["n"] % 3)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "summary.json"]
    # A killed writer may leave its temp file; it never replaces the real one.
    assert all(name.startswith(".summary.json.") for name in leftovers)


def test_a_checkpoint_with_pickled_code_is_refused(tmp_path: Path) -> None:
    import torch

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "last.pt"
    torch.save({"model": {}, "evil": Payload()}, path)
    with pytest.raises(CheckpointError, match="refusing to load it"):
        load_checkpoint(path)
    assert not marker.exists()


def damaged_copies(good: bytes) -> dict[str, bytes]:
    """A checkpoint's bytes damaged the ways a disk or a kill mid-copy damages them."""
    import io
    import zipfile

    inner = io.BytesIO()  # the archive intact, its pickle overwritten
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(inner, "w") as out:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("data.pkl"):
                data = data[:40] + b"\xff\xfe" * 8 + data[56:]
            out.writestr(info, data)
    return {
        "empty": b"",
        "garbage": b"garbage",
        "cut short": good[: len(good) // 2],
        "last bytes lost": good[:-10],
        "damaged pickle": inner.getvalue(),
    }


def test_a_damaged_checkpoint_is_named_in_one_line(tmp_path: Path) -> None:
    import torch

    path = tmp_path / "last.pt"
    torch.save({"format": 1, "model": {"w": torch.ones(3)}, "epoch": 1}, path)
    good = path.read_bytes()
    for how, data in damaged_copies(good).items():
        path.write_bytes(data)
        with pytest.raises(CheckpointError) as caught:
            load_checkpoint(path)
        message = str(caught.value)
        assert message == (
            f"{path}: is damaged or cut short, not a readable checkpoint; delete the run "
            "folder and run it again"
        ), how


def test_resume_of_a_run_with_a_damaged_checkpoint_writes_nothing(tmp_path: Path) -> None:
    """Found before the run starts: no log lines, no summary, the folder as it was."""
    assert run_main("train", "+experiment=smoke", "train.epochs=1", cwd=tmp_path).returncode == 0
    [folder] = run_folders(tmp_path)
    (folder / "summary.json").unlink()  # as if killed
    last = folder / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:3000])
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    result = run_main("train", f"resume={folder}", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (
        f"lstm-overfit: error: {last}: is damaged or cut short, not a readable checkpoint; "
        "delete the run folder and run it again\n"
    )
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


def test_report_names_a_damaged_summary(tmp_path: Path) -> None:
    folder = run_folder(tmp_path / "run")
    (folder / "summary.json").write_text('{"status": "completed", "best_')
    result = run_main("report", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        f"lstm-overfit: error: {folder / 'summary.json'}: is damaged, not a run summary in "
        "JSON; delete the run folder or its summary.json\n"
    )


def test_disk_full_keeps_earlier_files(tmp_path: Path, monkeypatch) -> None:
    from conftest import tiny_config

    import lstm_overfit.storage as storage
    from lstm_overfit.fit import fit

    fit(tiny_config(epochs=2), tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage.os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        storage.atomic_write_json(tmp_path / "summary.json", {"status": "completed"})
    monkeypatch.undo()
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before


def write_gz(path: Path, raw: bytes) -> None:
    path.write_bytes(gzip.compress(raw))


def imdb_folder(root: Path, train: bytes | None = None, test: bytes | None = None) -> Path:
    folder = root / "imdb"
    folder.mkdir()
    good = b'{"text": "a fine film", "label": 1}\n{"text": "a bad film", "label": 0}\n' * 4
    write_gz(folder / "train.jsonl.gz", good if train is None else train)
    write_gz(folder / "test.jsonl.gz", good if test is None else test)
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
        return ["+reg=l2", "reg.l2=-1"], "reg.l2=-1.0 is out of range: it must be >= 0"
    if name == "out-of-range rate":
        return ["+reg=dropout", "reg.dropout=1"], "reg.dropout=1.0 is out of range"
    if name == "zero or negative size":
        return ["train.batch_size=0"], "train.batch_size=0 is out of range: it must be >= 1"
    if name == "more validation than data":
        folder = imdb_folder(root)
        return [*imdb, f"dataset.path={folder}", "dataset.num_val=8"], "leaves no training"
    if name == "missing data path":
        return [*imdb, f"dataset.path={root / 'gone'}"], "gone: no such file or folder"
    if name == "a directory where a file is expected":
        return ["dataset=sunspots", f"dataset.path={root}"], "is a folder, expected a file"
    if name == "a corrupt gzip":
        folder = imdb_folder(root)
        (folder / "train.jsonl.gz").write_bytes(b"\x1f\x8b\x08garbage")
        return [*imdb, f"dataset.path={folder}"], "train.jsonl.gz: cannot be read as gzip"
    if name == "a JSON line that is not JSON":
        folder = imdb_folder(root, b'{"text": "x", "label": 1}\n{"text": oops}\n')
        return [*imdb, f"dataset.path={folder}"], "train.jsonl.gz: line 2 is not JSON"
    if name == "a label outside the classes":
        folder = imdb_folder(root, test=b'{"text": "x", "label": 7}\n')
        return [*imdb, f"dataset.path={folder}"], "has label 7, which the training part never"
    if name == "an empty split":
        folder = imdb_folder(root, b"")
        return [*imdb, f"dataset.path={folder}"], "train.jsonl.gz: is empty"
    if name == "text that is not UTF-8":
        folder = imdb_folder(root, b'{"text": "caf\xe9", "label": 1}\n' * 4)
        return [*imdb, f"dataset.path={folder}"], "train.jsonl.gz: is not UTF-8 text"
    if name == "a CSV column that does not exist":
        csv = root / "series.csv"
        csv.write_text("t,value\n" + "".join(f"{i},{i}\n" for i in range(100)))
        return ["dataset=csv", f"dataset.path={csv}", "dataset.column=price"], (
            "no column 'price'; its columns are t, value"
        )
    if name == "a pretrained vectors file that does not exist":
        return [f"model.embedding.pretrained={root / 'glove.txt'}"], "glove.txt: no such file"
    if name == "pretrained vectors of another size":
        (root / "glove.txt").write_text("the 0.1 0.2 0.3\n")
        return [f"model.embedding.pretrained={root / 'glove.txt'}"], (
            "has 3-d vectors but model.embedding_size=32; set model.embedding_size=3"
        )
    if name == "resume= pointing at a folder that is not a run":
        return [f"resume={root}"], "is not a run folder (no .hydra/overrides.yaml in it)"
    if name == "an output folder that cannot be written":
        return ["hydra.run.dir=/proc/lstm-overfit-test"], "cannot create the run folder"
    if name == "train.precision=bf16 on a CPU without native bf16":
        return ["train.precision=bf16", "device=cpu"], "train.precision=bf16 needs"
    if name == "a bad data file read by one job of a sweep":
        folder = imdb_folder(root, test=b'{"text": "x", "label": 7}\n')
        return ["-m", *imdb, f"dataset.path={folder}", "seed=0,1"], "has label 7"
    if name == "a damaged summary.json in the run to resume":
        folder = run_folder(root / "run")
        (folder / "summary.json").write_text('{"status": "compl')
        return [f"resume={folder}"], "summary.json: is damaged, not a run summary in JSON"
    if name == "a damaged or cut-short checkpoint in the run to resume":
        folder = run_folder(root / "run")
        (folder / "checkpoints").mkdir()
        (folder / "checkpoints" / "last.pt").write_bytes(b"garbage")
        return [f"resume={folder}"], "last.pt: is damaged or cut short, not a readable checkpoint"
    if name == "a damaged file in a job of the sweep to resume":
        sweep = root / "sweep"
        run_folder(sweep / "0-seed=0")
        (sweep / "0-seed=0" / "summary.json").write_text("")
        (sweep / "multirun.yaml").write_text("hydra: {}\n")
        return ["-m", "seed=0,1", f"resume={sweep}"], "0-seed=0/summary.json: is damaged"
    if name == "a regularizer listed twice":
        return [
            "+reg=[l2,l2]"
        ], "'+reg=[l2,l2]' lists l2 more than once; list each regularizer once"
    if name == "+reg given twice":
        return ["+reg=l2", "+reg=dropout"], (
            "+reg is given twice (+reg=l2 +reg=dropout); stack regularizers in one list: "
            "'+reg=[l2,dropout]'"
        )
    if name == "a preset that does not fit the data set":
        return ["+experiment=zaremba_small", "dataset=imdb"], (
            "experiment/zaremba_small sets 'dataset.bptt', a key the chosen dataset does not have"
        )
    if name == "an empty CSV file":
        (root / "empty.csv").write_text("")
        return ["dataset=csv", f"dataset.path={root / 'empty.csv'}"], "empty.csv: is empty"
    if name == "a CSV file with a header and no rows":
        (root / "header.csv").write_text("t,value\n")
        return ["dataset=csv", f"dataset.path={root / 'header.csv'}", "dataset.column=value"], (
            "header.csv: has a header but no rows"
        )
    if name == "a job listed twice in a sweep":
        return ["-m", "seed=0,0"], "the sweep lists seed=0 twice: the same run would be made twice"
    if name == "two values of a sweep that make one run":
        return ["-m", "+reg=l2,[l2]"], "the sweep's +reg=l2 and +reg=[l2] are one run"
    if name == "a run folder that holds a run":
        folder = run_folder(root / "run")
        return [f"hydra.run.dir={folder}"], "already holds a run; continue it with"
    if name == "a sweep folder that holds a sweep":
        sweep = root / "sweep"
        run_folder(sweep / "0-seed=0")
        (sweep / "multirun.yaml").write_text("hydra: {}\n")
        return ["-m", "seed=0,1", f"hydra.sweep.dir={sweep}"], "already holds a sweep; continue it"
    if name == "a resumed sweep without one of its jobs":
        sweep = root / "sweep"
        run_folder(sweep / "0-seed=0")
        (sweep / "multirun.yaml").write_text("hydra: {}\n")
        return ["-m", "seed=1,2", f"resume={sweep}"], "its job 0-seed=0 is not one of this command"
    if name == "train.epochs with resume, no more than the run's":
        folder = ended_run(root / "run", "completed")
        return [f"resume={folder}", "train.epochs=2"], (
            "train.epochs=2 with resume must be more than the run's 2 epochs"
        )
    if name == "more epochs for a run that stopped early":
        folder = ended_run(root / "run", "stopped_early")
        return [f"resume={folder}", "train.epochs=4"], (
            "stopped early, so more epochs would stop at once; start a new run"
        )
    if name == "data that changed since the run to resume started":
        csv = root / "series.csv"
        csv.write_text("t,value\n" + "".join(f"{i},{i}\n" for i in range(100)))
        data = ["dataset=csv", f"dataset.path={csv}", "dataset.column=value"]
        folder = run_folder(root / "run")
        (folder / ".hydra" / "overrides.yaml").write_text(json.dumps(data))
        (folder / "dataset.json").write_text(json.dumps({"files_sha256": "0" * 64}))
        return [f"resume={folder}"], "not the data the run in"
    if name == "resume of a run that is still running":
        folder = run_folder(root / "run")
        mark_running(folder)  # this test's own process: alive
        return [f"resume={folder}"], "is still running (process"
    if name == "more epochs for a sweep's jobs":
        from conftest import CONF
        from omegaconf import OmegaConf

        from lstm_overfit.config import register_configs
        from lstm_overfit.preflight import compose_config

        register_configs()  # the schema, as the command registers it
        sweep = root / "sweep"
        job = run_folder(sweep / "0-seed=0")
        (job / ".hydra" / "overrides.yaml").write_text("- seed=0\n")
        composed = OmegaConf.structured(compose_config(CONF, ["seed=0"]))
        (job / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(composed))
        (sweep / "multirun.yaml").write_text("hydra: {}\n")
        return ["-m", "seed=0,1", "train.epochs=80", f"resume={sweep}"], (
            "a sweep's jobs keep their train.epochs; give a job more epochs on its own"
        )
    if name == "--cfg job with -m":
        return [
            "-m",
            "--cfg",
            "job",
            "seed=0,1",
        ], "--cfg shows one job's config, not a sweep's; drop -m"
    raise KeyError(name)


def run_folder(folder: Path) -> Path:
    """A run folder as Hydra leaves it, before the run writes anything of its own."""
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text("- +experiment=smoke\n")
    (folder / ".hydra" / "config.yaml").write_text("seed: 0\n")
    return folder


def ended_run(folder: Path, status: str) -> Path:
    """A run of two epochs that ended with `status`."""
    run_folder(folder)
    (folder / ".hydra" / "config.yaml").write_text("seed: 0\ntrain:\n  epochs: 2\n")
    (folder / "summary.json").write_text(json.dumps({"status": status}))
    return folder


CATALOGUE = [
    "unknown preset",
    "misspelled key",
    "wrong type",
    "out-of-range strength",
    "out-of-range rate",
    "zero or negative size",
    "more validation than data",
    "missing data path",
    "a directory where a file is expected",
    "a corrupt gzip",
    "a JSON line that is not JSON",
    "a label outside the classes",
    "an empty split",
    "text that is not UTF-8",
    "a CSV column that does not exist",
    "a pretrained vectors file that does not exist",
    "pretrained vectors of another size",
    "resume= pointing at a folder that is not a run",
    "an output folder that cannot be written",
    "train.precision=bf16 on a CPU without native bf16",
    "a bad data file read by one job of a sweep",
    "a damaged summary.json in the run to resume",
    "a damaged or cut-short checkpoint in the run to resume",
    "a damaged file in a job of the sweep to resume",
    "a regularizer listed twice",
    "+reg given twice",
    "a preset that does not fit the data set",
    "an empty CSV file",
    "a CSV file with a header and no rows",
    "--cfg job with -m",
    "a job listed twice in a sweep",
    "two values of a sweep that make one run",
    "a run folder that holds a run",
    "a sweep folder that holds a sweep",
    "a resumed sweep without one of its jobs",
    "train.epochs with resume, no more than the run's",
    "more epochs for a run that stopped early",
    "data that changed since the run to resume started",
    "resume of a run that is still running",
    "more epochs for a sweep's jobs",
]


@pytest.mark.parametrize("case", CATALOGUE)
def test_bad_input_catalogue(tmp_path: Path, case: str, monkeypatch) -> None:
    """Each: one line naming the problem, exit 2, no traceback, nothing written."""
    import lstm_overfit.runtime as runtime

    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: False)
    assert_refused(*catalogue_case(case, tmp_path), tmp_path)  # no folder, nothing touched


def test_the_docs_list_every_catalogue_row(tmp_path: Path) -> None:
    """Each case has its row in docs/reliability.md, and the row shows the case's message
    (paths written as PATH; rows of a sweep's jobs refer to the lines above them)."""
    rows = catalogue_rows()
    for case in CATALOGUE:
        (shown,) = [message for what, message in rows.items() if what.startswith(case)]
        if "as above" in shown:
            continue
        root = tmp_path / str(CATALOGUE.index(case))
        root.mkdir()
        _, expected = catalogue_case(case, root)
        after_path = expected.split(": ", 1)[-1]  # "gone: no such folder" is "PATH: no such..."
        assert expected in shown or after_path in shown, (case, shown)


SWEEP = ["train", "-m", "seed=0,1,2", "+experiment=smoke", "dataset.num_train=256"]


def test_an_interrupted_sweep_resumes_where_it_stopped(tmp_path: Path) -> None:
    straight = tmp_path / "straight"
    straight.mkdir()
    assert run_main(*SWEEP, cwd=straight).returncode == 0
    # Killed in job 1's second epoch (16 batches an epoch, two epochs a job).
    result = stopped_run_sweep(tmp_path, after=32 + 20)
    assert result.returncode == -signal.SIGKILL
    [sweep] = tmp_path.glob("outputs/sweeps/*/*")
    first = next(sweep.glob("0-*")) / "summary.json"
    stamp = first.stat().st_mtime_ns
    assert not list(sweep.glob("2-*"))
    resumed = run_main(*SWEEP, f"resume={sweep}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert first.stat().st_mtime_ns == stamp  # the finished job was skipped
    [done] = straight.glob("outputs/sweeps/*/*")
    for job in ("0-", "1-", "2-"):
        assert outcome(next(sweep.glob(f"{job}*"))) == outcome(next(done.glob(f"{job}*")))


def stopped_run_sweep(root: Path, after: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "STOP_AFTER": str(after)}
    env["STOP_SIGNAL"] = str(int(signal.SIGKILL))
    return subprocess.run(
        [sys.executable, "-c", STOPPER, *SWEEP], cwd=root, env=env, capture_output=True, text=True
    )


def stop_after(monkeypatch: pytest.MonkeyPatch, batches: int) -> None:
    """SIGINT to this process after `batches` training steps in all, counted across a sweep's
    jobs: the interruption lands at the same batch whatever the machine's speed."""
    import lstm_overfit.train as train

    step = train.TrainingRun._step
    done = [0]

    def counting_step(self, *args):
        step(self, *args)
        done[0] += 1
        if done[0] == batches:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(train.TrainingRun, "_step", counting_step)


def test_an_interrupted_sweep_prints_the_command_that_continues_it(tmp_path, monkeypatch) -> None:
    args = ["-m", "+experiment=smoke", "seed=0,1", "'+reg=[l2,dropout]'"]
    stop_after(monkeypatch, 8 + 2)  # job 1's first epoch (4 batches an epoch, 2 epochs a job)
    result = run_main("train", *[a.strip("'") for a in args], cwd=tmp_path)
    assert result.returncode == 130
    [sweep] = tmp_path.glob("outputs/sweeps/*/*")
    command = f"lstm-overfit train {' '.join(args)} resume={sweep}"
    assert result.stderr.strip().splitlines()[-1] == (
        f"lstm-overfit: interrupted by SIGINT: the job saved its place; continue the sweep "
        f"with `{command}`"
    )
    monkeypatch.undo()
    resumed = run_main(*shlex.split(command)[1:], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    summaries = [json.loads(p.read_text()) for p in sweep.glob("*/summary.json")]
    assert [s["status"] for s in summaries] == ["completed", "completed"]


def test_a_sweep_interrupted_before_a_loop_began_prints_the_command_too(
    tmp_path: Path, monkeypatch
) -> None:
    import lstm_overfit.build as build

    load = build.load_data

    def interrupted_on_seed_1(cfg, seed):
        if seed == 1:
            raise KeyboardInterrupt
        return load(cfg, seed)

    monkeypatch.setattr(build, "load_data", interrupted_on_seed_1)
    result = run_main("train", "-m", "+experiment=smoke", "seed=0,1", cwd=tmp_path)
    assert result.returncode == 130
    [sweep] = tmp_path.glob("outputs/sweeps/*/*")
    assert result.stderr.strip().splitlines()[-1] == (
        "lstm-overfit: interrupted; continue the sweep with "
        f"`lstm-overfit train -m +experiment=smoke seed=0,1 resume={sweep}`"
    )


def test_resume_of_a_sweep_needs_a_sweep_folder(tmp_path: Path) -> None:
    result = run_main("train", "-m", "seed=0,1", f"resume={tmp_path}", cwd=tmp_path)
    assert result.returncode == 2 and "is not a sweep folder" in result.stderr


def test_more_epochs_continue_a_completed_run_as_if_it_had_run_them_straight(
    tmp_path: Path, straight_run
) -> None:
    folder = tmp_path / "run"
    shorter = [o for o in RUN if o != "train.epochs=3"] + ["train.epochs=2"]
    assert run_main(*shorter, f"hydra.run.dir={folder}", cwd=tmp_path).returncode == 0
    before = read_metrics(folder)
    longer = run_main("train", f"resume={folder}", "train.epochs=3", cwd=tmp_path)
    assert longer.returncode == 0, longer.stderr
    assert read_metrics(folder)[:2] == before  # the epochs it ran, bit for bit, timing too
    assert outcome(folder) == straight_run
    assert json.loads((folder / "summary.json").read_text())["epochs_run"] == 3
    again = run_main("train", f"resume={folder}", cwd=tmp_path)
    assert again.returncode == 0 and "nothing to resume" in again.stdout


def test_a_sweep_extended_by_seeds_runs_only_the_new_jobs(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    smoke = ["+experiment=smoke", "dataset.num_train=64"]
    first = ["train", "-m", "seed=0", *smoke, f"hydra.sweep.dir={sweep}"]
    assert run_main(*first, cwd=tmp_path).returncode == 0
    [held] = sweep.glob("0-*")
    stamp = (held / "summary.json").stat().st_mtime_ns
    extended = run_main("train", "-m", "seed=0,1", *smoke, f"resume={sweep}", cwd=tmp_path)
    assert extended.returncode == 0, extended.stderr
    assert (held / "summary.json").stat().st_mtime_ns == stamp  # not run again
    assert sorted(p.name.split("-")[0] for p in sweep.glob("*-*")) == ["0", "1"]
    runs = find_runs([sweep])
    assert sorted(r.seed for r in runs) == [0, 1] and {r.status for r in runs} == {"completed"}
    rows = (sweep / "summary.csv").read_text().splitlines()
    assert len(rows) == 3  # one sweep's report, both jobs
    assert "seed=0,1" in (sweep / "multirun.yaml").read_text()
