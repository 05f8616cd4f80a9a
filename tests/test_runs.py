"""Run folders as the report reads them, on folders written by hand (no training): data sets
told apart by their files, live, killed and unknown runs, --where and --vary, and the job
folders of a resumed sweep."""

from __future__ import annotations

import json
import shlex
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import run_main
from omegaconf import OmegaConf

from lstm_overfit.config import Config, SeriesData, SyntheticData
from lstm_overfit.dataset_identity import IDENTITY_FILE, dataset_identity
from lstm_overfit.liveness import PROCESS_FILE, this_process
from lstm_overfit.output_folders import job_dir
from lstm_overfit.report import build_report
from lstm_overfit.report_files import warnings
from lstm_overfit.resume import as_value, resume_command, unquoted
from lstm_overfit.runs import ReportError, find_runs


def run_folder(
    folder: Path,
    seed: int,
    settings: dict[str, Any],
    best: float | None = 0.5,
    epochs: int = 3,
    dataset: Any = None,
) -> Path:
    """A run folder as a run leaves it: config, overrides, records of `epochs` epochs and,
    where `best` is given, a summary."""
    cfg = OmegaConf.structured(Config(dataset=dataset or SyntheticData()))
    cfg.seed = seed
    for key, value in settings.items():
        OmegaConf.update(cfg, key, value)
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    overrides = [f"{k}={v}" for k, v in settings.items()] + [f"seed={seed}"]
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    rows = [{"epoch": e, "val_loss": 0.9 - 0.1 * e, "gap": 0.01 * e} for e in range(1, epochs + 1)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if best is not None:
        summary = {
            "status": "completed",
            "metric": "acc",
            "metric_higher_is_better": True,
            "loss_unit": "nats",
            "best_val_loss": best,
            "final_val_loss": best + 0.1,
            "gap_at_best": 0.1,
            "test": {"loss": best, "acc": 0.8},
            "seed": seed,
            "num_threads": 1,
        }
        (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def csv_dataset(path: Path) -> SeriesData:
    return SeriesData(name="csv", path=str(path), column="value")


def record(folder: Path, dataset: Any) -> None:
    (folder / IDENTITY_FILE).write_text(json.dumps(dataset_identity(dataset)))


def test_runs_on_different_files_of_one_data_set_name_are_reported_apart(tmp_path) -> None:
    files = {}
    for name, scale in (("a.csv", 1), ("b.csv", 2)):
        files[name] = tmp_path / name
        files[name].write_text("t,value\n" + "".join(f"{i},{i * scale}\n" for i in range(50)))
    same = tmp_path / "a-copy" / "a.csv"  # the same bytes elsewhere: the same data set
    same.parent.mkdir()
    same.write_bytes(files["a.csv"].read_bytes())
    for i, path in enumerate((files["a.csv"], files["b.csv"], same)):
        for seed in (0, 1):
            dataset = csv_dataset(path)
            folder = run_folder(tmp_path / "runs" / f"{i}-{seed}", seed, {}, dataset=dataset)
            record(folder, dataset)
    report = build_report(find_runs([tmp_path / "runs"]))
    labels = sorted(s.dataset for s in report.sections)
    assert len(labels) == 2 and all(label.startswith("csv (") for label in labels), labels
    sizes = sorted(len(g.runs) for s in report.sections for g in s.groups)
    assert sizes == [2, 4]  # a.csv and its copy pooled, b.csv apart


def test_the_identity_covers_the_files_content_and_the_data_set_config(tmp_path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.txt").write_text("a b c\n")
    first = dataset_identity({"name": "corpus", "path": str(data), "num_train": 10})
    again = dataset_identity({"name": "corpus", "path": str(data), "num_train": 10})
    sliced = dataset_identity({"name": "corpus", "path": str(data), "num_train": 5})
    (data / "train.txt").write_text("a b d\n")
    edited = dataset_identity({"name": "corpus", "path": str(data), "num_train": 10})
    hub = dataset_identity({"name": "corpus", "path": None, "hub": "x/y", "hub_config": "raw"})
    assert first == again
    assert sliced["files_sha256"] == first["files_sha256"]
    assert sliced["fingerprint"] != first["fingerprint"]
    assert edited["files_sha256"] != first["files_sha256"]
    assert hub["files_sha256"] is None and hub["config"]["hub"] == "x/y"


def test_folders_without_a_recorded_identity_are_told_apart_by_their_files(tmp_path) -> None:
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text("t,value\n" + f"0,{name}\n")
        run_folder(tmp_path / "runs" / name, 0, {}, dataset=csv_dataset(tmp_path / name))
    assert len(build_report(find_runs([tmp_path / "runs"])).sections) == 2


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def mark(folder: Path, **changes: Any) -> None:
    (folder / PROCESS_FILE).write_text(json.dumps({**this_process(), **changes}))


def test_running_killed_and_unknown_runs_show_their_epochs_and_how_to_continue(
    tmp_path,
) -> None:
    for seed in (0, 1, 2):
        run_folder(tmp_path / f"done-{seed}", seed, {})
    live = run_folder(tmp_path / "live", 3, {}, best=None, epochs=5)
    mark(live)
    killed = run_folder(tmp_path / "killed", 4, {}, best=None, epochs=2)
    mark(killed, pid=dead_pid())
    elsewhere = run_folder(tmp_path / "elsewhere", 5, {}, best=None, epochs=1)
    mark(elsewhere, host=socket.gethostname() + "-other")
    runs = {r.folder.name: r for r in find_runs([tmp_path])}
    assert runs["live"].status == "running" and runs["killed"].status == "killed"
    assert runs["elsewhere"].status == "unknown"
    lines = warnings(build_report(list(runs.values())))
    (live_line,) = [x for x in lines if x.startswith("running:")]
    assert (
        "5 of 40 epochs" in live_line and "best validation loss so far 0.4 at epoch 5" in live_line
    )
    (killed_line,) = [x for x in lines if x.startswith("killed:")]
    assert f"`lstm-overfit train resume={tmp_path / 'killed'}`" in killed_line
    assert "2 of 40 epochs" in killed_line
    (unknown_line,) = [x for x in lines if x.startswith("unknown:")]
    assert "another host" in unknown_line


def test_a_pid_reused_by_another_process_is_not_the_run(tmp_path) -> None:
    mine = this_process()
    if mine["start_ticks"] is None:
        pytest.skip("no process start times here")
    folder = run_folder(tmp_path / "run", 0, {}, best=None)
    mark(folder, start_ticks=mine["start_ticks"] + 1)  # this pid, started at another time
    assert find_runs([tmp_path])[0].status == "killed"


def test_a_killed_job_of_a_sweep_is_continued_with_the_sweep(tmp_path) -> None:
    sweep = tmp_path / "sweep"
    job = run_folder(sweep / "0-seed=0", 0, {}, best=None)
    mark(job, pid=dead_pid())
    overrides = {"hydra": {"overrides": {"task": ["seed=0,1"], "hydra": ["hydra.mode=MULTIRUN"]}}}
    (sweep / "multirun.yaml").write_text(yaml.safe_dump(overrides))
    lines = warnings(build_report(find_runs([sweep])))
    assert [x for x in lines if x.startswith("killed: ")] != []
    (line,) = [x for x in lines if x.startswith("continue the sweep")]
    assert line.endswith(f"with `lstm-overfit train -m seed=0,1 resume={sweep}`")


def mixed_folder(root: Path) -> None:
    """Runs that differ in the regularizer and, by accident, in dataset.num_test and
    train.epochs."""
    for seed in (0, 1, 2):
        for l2 in (0.0, 0.1):
            for num_test in (64, 128, 256):
                settings = {"reg.l2": l2, "dataset.num_test": num_test}
                name = f"l2={l2}-n={num_test}-{seed}"
                run_folder(root / name, seed, settings, best=0.5 - l2 + seed / 100)
        run_folder(root / f"long-{seed}", seed, {"train.epochs": 80, "dataset.num_test": 64})
        run_folder(root / f"longer-{seed}", seed, {"train.epochs": 90, "dataset.num_test": 64})


def test_where_keeps_the_runs_with_a_value(tmp_path) -> None:
    mixed_folder(tmp_path)
    runs = find_runs([tmp_path])
    report = build_report(runs, where=["dataset.num_test=128"])
    (section,) = report.sections
    assert len(section.strata) == 1 and len(section.groups) == 2
    with pytest.raises(ReportError, match=r"dataset.num_test=7 leaves no runs; its values"):
        build_report(runs, where=["dataset.num_test=7"])
    with pytest.raises(ReportError, match=r"did you mean 'dataset.num_test'"):
        build_report(runs, where=["dataset.num_tset=64"])


def test_vary_asks_for_every_other_key_to_be_pinned(tmp_path) -> None:
    mixed_folder(tmp_path)
    runs = find_runs([tmp_path])
    with pytest.raises(ReportError) as refused:
        build_report(runs, vary=["reg.l2"])
    assert "also differ in dataset.num_test (128: 6 runs, 256: 6 runs, 64: 12 runs)" in str(
        refused.value
    )
    assert "--where dataset.num_test=64" in str(refused.value)
    chosen = build_report(runs, where=["dataset.num_test=64", "train.epochs=40"], vary=["reg.l2"])
    (section,) = chosen.sections
    assert [len(g.runs) for g in section.groups] == [3, 3]
    # Another key named with --vary: its values are strata side by side (a learning curve).
    epochs = build_report(runs, where=["reg.l2=0", "dataset.num_test=64"], vary=["train.epochs"])
    (section,) = epochs.sections
    assert [s.label for s in section.strata] == [f"train.epochs={n}" for n in (40, 80, 90)]


def test_a_folder_split_into_many_strata_says_which_keys_split_it(tmp_path) -> None:
    mixed_folder(tmp_path)
    lines = warnings(build_report(find_runs([tmp_path])))
    (note,) = [x for x in lines if x.startswith("note:")]
    assert "into 5 strata by dataset.num_test (3 values), train.epochs (3 values)" in note
    assert "`--where dataset.num_test=64`" in note and "`--vary KEY`" in note


def test_the_report_command_takes_where_and_vary(tmp_path) -> None:
    mixed_folder(tmp_path / "runs")
    args = ("report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"))
    chosen = run_main(*args, "--where", "dataset.num_test=256", "--vary", "reg.l2", cwd=tmp_path)
    assert chosen.returncode == 0, chosen.stderr
    assert "note:" not in chosen.stdout
    refused = run_main(*args, "--vary", "reg.l2", cwd=tmp_path)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "--vary reg.l2: the runs on synthetic also differ in" in refused.stderr


def test_a_resumed_sweep_keeps_its_jobs_folders_and_numbers_new_ones_apart(tmp_path) -> None:
    sweep = tmp_path / "sweep"
    for held in ("0-seed=0", "1-seed=1", "2-seed=3"):
        (sweep / held).mkdir(parents=True)
    root = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}})

    def folder(num: int, name: str) -> str:
        return job_dir(num, name, 5, _root_=root)

    assert folder(3, "seed=1") == "1-seed=1"  # held: its own folder, whatever its number now
    assert folder(0, "seed=0") == "0-seed=0"
    assert folder(3, "seed=2") == "3-seed=2"  # a free number: its own
    assert folder(1, "seed=4") == "6-seed=4"  # number 1 is a held job's: past them all


@pytest.mark.parametrize(
    "path", ["/runs/12-00-00-abc", "/sweeps/x/0-+reg=l2,seed=0", "/a b/it's [1]"]
)
def test_a_folder_given_as_an_override_reads_back_as_itself(path: str) -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    (override,) = OverridesParser.create().parse_overrides([f"resume={as_value(path)}"])
    assert override.value() == path and unquoted(as_value(path)) == path
    argument = resume_command(Path(path)).removeprefix("lstm-overfit train ")
    (typed,) = shlex.split(argument)  # what the shell hands over
    assert typed == f"resume={as_value(path)}"


def test_a_run_names_its_process_while_it_runs_and_its_data_from_the_start(tmp_path) -> None:
    from conftest import tiny_config

    from lstm_overfit.fit import fit

    seen = []

    class Watch:
        def start_epoch(self, epoch: int, num_batches: int) -> None:
            (run,) = find_runs([tmp_path])
            seen.append((run.status, run.progress()[0]))

        def batch_done(self, running_loss: float | None) -> None: ...

        def end_epoch(self, record: Any) -> None: ...

        def end_run(self, summary: Any) -> None: ...

    cfg = tiny_config(epochs=2)
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / ".hydra").mkdir()
    (folder / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.structured(cfg)))
    fit(cfg, folder, [Watch()])
    assert seen == [("running", 0), ("running", 1)]
    assert not (folder / PROCESS_FILE).exists()
    (run,) = find_runs([tmp_path])
    assert run.status == "completed"
    recorded = json.loads((folder / IDENTITY_FILE).read_text())
    assert recorded == dataset_identity(cfg.dataset)
