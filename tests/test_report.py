"""The report over runs and sweeps: grouping over seeds, baseline, files, odd statuses."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest
import yaml
from conftest import run_cli, tiny_config

from lstm_overfit.report import baseline_of, find_runs, group_runs, table_rows, write_report
from lstm_overfit.train import fit


def make_run(root: Path, name: str, overrides: list[str], l2: float = 0.0, seed: int = 0):
    folder = root / name
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    cfg = tiny_config(epochs=2)
    cfg.reg.l2, cfg.seed = l2, seed
    return fit(cfg, folder)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sweep")
    for seed in (0, 1):
        make_run(root, f"none-{seed}", [f"seed={seed}"], seed=seed)
        make_run(root, f"l2-{seed}", ["+reg=l2", "reg.l2=0.01", f"seed={seed}"], 0.01, seed)
    make_run(root, "strong-0", ["+reg=l2", "reg.l2=1.0", "seed=0"], 1.0)
    failed = root / "failed"
    (failed / ".hydra").mkdir(parents=True)
    (failed / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["reg.l2=-5"]))
    (failed / "summary.json").write_text(json.dumps({"status": "failed", "error": "bad"}))
    running = root / "nested" / "running"
    (running / ".hydra").mkdir(parents=True)
    (running / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["reg.l2=0.5"]))
    return root


def test_runs_group_over_seeds_with_the_baseline_marked(sweep: Path) -> None:
    runs = find_runs([sweep])
    assert len(runs) == 7
    assert {r.status for r in runs} == {"completed", "failed", "running"}
    groups = group_runs(runs)
    by_config = {g.configuration: g for g in groups}
    assert len(by_config["+reg=l2 reg.l2=0.01"].usable) == 2  # seeds 0 and 1 together
    base = baseline_of(groups)
    assert base.configuration == "(defaults)" and len(base.usable) == 2
    rows = {row["configuration"]: row for row in table_rows(groups)}
    assert rows["(defaults)"]["vs baseline"] == "baseline"
    mean_l2 = by_config["+reg=l2 reg.l2=0.01"].stats("best_val_loss")[0]
    mean_base = base.stats("best_val_loss")[0]
    assert rows["+reg=l2 reg.l2=0.01"]["vs baseline"] == f"{mean_l2 - mean_base:+.4f}"
    assert rows["reg.l2=-5"]["runs"] == "1 failed" and rows["reg.l2=0.5"]["runs"] == "1 running"


def test_report_files(sweep: Path, tmp_path: Path) -> None:
    write_report(find_runs([sweep]), tmp_path)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "summary.csv").read_text())))
    assert len(rows) == 7
    assert {r["status"] for r in rows} == {"completed", "failed", "running"}
    assert {"+reg", "reg.l2", "seed", "best_val_loss", "max_gap", "folder"} <= set(rows[0])
    report = (tmp_path / "report.md").read_text()
    assert "| (defaults) | 2 completed | 2 |" in report and "baseline" in report
    for plot in ("val_loss_vs_strength.png", "gap_vs_strength.png", "curves_overlay.png"):
        assert (tmp_path / plot).stat().st_size > 5_000


def test_a_seeds_only_report_has_no_plots_against_strength(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for seed in (0, 1):
        make_run(runs, f"none-{seed}", [f"seed={seed}"], seed=seed)
    out = tmp_path / "report"
    out.mkdir()
    (out / "gap_vs_strength.png").write_bytes(b"from an earlier report")
    write_report(find_runs([runs]), out)
    assert (out / "curves_overlay.png").stat().st_size > 5_000
    assert not list(out.glob("*_vs_strength.png"))


@pytest.mark.slow
def test_sweep_writes_its_report_and_fails_if_a_job_failed(tmp_path: Path) -> None:
    result = run_cli("train", "-m", "+experiment=smoke", "train.max_loss=0.01,null", cwd=tmp_path)
    assert result.returncode == 1
    assert "1 job(s) did not succeed" in result.stderr and "(diverged)" in result.stderr
    [sweep] = tmp_path.glob("outputs/sweeps/*/*")
    rows = list(csv.DictReader(io.StringIO((sweep / "summary.csv").read_text())))
    assert sorted(r["status"] for r in rows) == ["completed", "diverged"]
    again = run_cli("report", str(sweep), "--out", str(tmp_path / "again"), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again" / "report.md").read_text() == (sweep / "report.md").read_text()


def test_report_on_nothing_says_so(tmp_path: Path) -> None:
    result = run_cli("report", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2 and "no runs under" in result.stderr
    assert not list(tmp_path.iterdir())  # nothing written
    missing = run_cli("report", str(tmp_path / "nope"), cwd=tmp_path)
    assert missing.returncode == 2 and "no such folder" in missing.stderr


@pytest.mark.slow
def test_parallel_sweep_shares_the_cores(tmp_path: Path) -> None:
    result = run_cli(
        "train",
        "-m",
        "hydra/launcher=local_parallel",
        "hydra.launcher.n_jobs=2",
        "+experiment=smoke",
        "seed=0,1",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    logs = sorted(tmp_path.glob("outputs/sweeps/*/*/*/run.log"))
    assert len(logs) == 2
    cores = os.cpu_count()
    for log in logs:
        assert f"torch threads: {max(1, cores // min(2, cores))}" in log.read_text()
