"""The report over runs and sweeps: grouping over seeds, the baseline, paired intervals,
the headline, files, odd statuses, and the table at 80 columns."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml
from conftest import run_main, tiny_config
from rich.console import Console

from lstm_overfit.console import print_report
from lstm_overfit.fit import fit
from lstm_overfit.report import build_report, find_runs
from lstm_overfit.report_files import report_markdown, write_report
from lstm_overfit.stats import paired


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
    for seed in (0, 1, 2):
        make_run(root, f"none-{seed}", [f"seed={seed}", "train.epochs=2"], seed=seed)
        overrides = ["+reg=l2", "reg.l2=0.1", f"seed={seed}", "train.epochs=2"]
        make_run(root, f"l2-{seed}", overrides, 0.1, seed)
    make_run(root, "strong-0", ["+reg=l2", "reg.l2=1.0", "seed=0", "train.epochs=2"], 1.0)
    failed = root / "failed"
    (failed / ".hydra").mkdir(parents=True)
    (failed / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["reg.l2=-5"]))
    (failed / "summary.json").write_text(json.dumps({"status": "failed", "error": "bad"}))
    running = root / "nested" / "running"
    (running / ".hydra").mkdir(parents=True)
    (running / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["reg.l2=0.5"]))
    return root


def summaries(root: Path, prefix: str) -> list[dict]:
    return [json.loads((root / f"{prefix}-{s}" / "summary.json").read_text()) for s in (0, 1, 2)]


def test_runs_group_over_seeds_against_the_unregularized_baseline(sweep: Path) -> None:
    report = build_report(find_runs([sweep]))
    by_label = {g.label: g for g in report.groups}
    assert report.baseline is by_label["none"]
    assert report.baseline_reason == "the unregularized configuration"
    # Labels leave out what every configuration shares (train.epochs=2 here... and +reg in some).
    assert "+reg=l2 reg.l2=0.1 train.epochs=2" not in by_label
    l2 = next(g for g in report.groups if "reg.l2=0.1" in g.label)
    assert len(l2.usable) == 3
    assert {g.statuses() for g in report.groups} >= {"1 failed", "1 running", "3 completed"}
    ours = [s["best_val_loss"] for s in summaries(sweep, "l2")]
    theirs = [s["best_val_loss"] for s in summaries(sweep, "none")]
    assert report.comparisons[l2.key, "best_val_loss"] == paired(ours, theirs, False)
    accuracy = report.comparisons[l2.key, "test_metric"]
    assert accuracy == paired(
        [s["test"]["acc"] for s in summaries(sweep, "l2")],
        [s["test"]["acc"] for s in summaries(sweep, "none")],
        True,
    )


def test_the_report_opens_with_one_sentence_per_number(sweep: Path, tmp_path: Path) -> None:
    report = build_report(find_runs([sweep]))
    written = write_report(report, tmp_path)
    text = (tmp_path / "report.md").read_text()
    lines = text.splitlines()
    assert lines[2] == "Baseline: none (the unregularized configuration)."
    sentences = lines[3:7]
    assert all(" against none" in s or s.startswith("No configuration") for s in sentences)
    assert any("better on" in s and "of 3 seeds" in s for s in sentences)
    assert written == [
        "summary.csv",
        "report.md",
        "val_loss_vs_strength.png",
        "gap_vs_strength.png",
        "curves_overlay.png",
    ]
    for plot in written[2:]:
        assert (tmp_path / plot).stat().st_size > 5_000


def test_summary_csv_has_each_column_once(sweep: Path, tmp_path: Path) -> None:
    write_report(build_report(find_runs([sweep])), tmp_path)
    reader = csv.reader(io.StringIO((tmp_path / "summary.csv").read_text()))
    header = next(reader)
    assert len(header) == len(set(header)) and header.count("seed") == 1
    rows = list(csv.DictReader(io.StringIO((tmp_path / "summary.csv").read_text())))
    assert len(rows) == 9 and {"num_threads", "best_val_loss", "folder"} <= set(rows[0])
    assert {r["status"] for r in rows} == {"completed", "failed", "running"}


def test_a_named_baseline_and_the_best_when_none_is_unregularized(sweep: Path) -> None:
    runs = find_runs([sweep])
    named = build_report(runs, ["reg.l2=0.1"])
    assert "reg.l2=0.1" in named.baseline.label and named.baseline_reason.startswith("named")
    regularized = [r for r in runs if r.overrides.get("+reg") == "l2"]
    best = build_report(regularized)
    assert best.baseline_reason.startswith("no unregularized configuration")
    assert "(no unregularized configuration" in report_markdown(best)


def test_a_baseline_that_matches_nothing_is_one_line(sweep: Path, tmp_path: Path) -> None:
    result = run_main("report", str(sweep), "--baseline", "reg.l2=7", cwd=tmp_path)
    assert result.returncode == 2 and "matches no configuration" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_two_seeds_give_no_interval_and_say_so(tmp_path: Path) -> None:
    for seed in (0, 1):
        make_run(tmp_path, f"none-{seed}", [f"seed={seed}"], seed=seed)
        make_run(tmp_path, f"l2-{seed}", ["+reg=l2", "reg.l2=0.1", f"seed={seed}"], 0.1, seed)
    text = report_markdown(build_report(find_runs([tmp_path])))
    assert "too few seeds for an interval" in text and "(n=2)" in text


def test_runs_made_with_other_thread_counts_are_flagged(sweep: Path, tmp_path: Path) -> None:
    runs = find_runs([sweep])
    first = next(r for r in runs if r.status == "completed")
    first.summary = {**first.summary, "num_threads": 7}
    report = build_report(runs)
    assert "different torch thread counts" in report_markdown(report)


def test_overlapping_paths_count_a_run_once_and_repeated_seeds_are_flagged(
    sweep: Path, tmp_path: Path
) -> None:
    once = build_report(find_runs([sweep]))
    twice = build_report(find_runs([sweep, sweep / "none-0"]))
    assert report_markdown(twice) == report_markdown(once)
    runs = find_runs([sweep])
    rerun = next(r for r in runs if r.folder.name == "none-0")
    runs.append(type(rerun)(tmp_path / "rerun", rerun.overrides, rerun.summary))
    text = report_markdown(build_report(runs))
    assert "none has more than one finished run with seed 0" in text


def test_the_headline_states_the_size_of_the_change_and_its_interval() -> None:
    from lstm_overfit.report import Group, Report
    from lstm_overfit.report_files import headline

    base, dropout = Group({}), Group({"reg.dropout": "0.5"})
    base.label, dropout.label = "none", "reg.dropout=0.5"
    # Paired differences -0.55, -0.51, -0.47: mean -0.51, t interval [-0.61, -0.41].
    c = paired([0.45, 0.49, 0.53], [1.0, 1.0, 1.0], False)
    report = Report(
        [dropout, base], base, "the unregularized configuration", "acc",
        {(dropout.key, "final_val_loss"): c}, [1],
    )  # fmt: skip
    assert headline(report)[1] == (
        "reg.dropout=0.5 lowers the final validation loss by 0.51 [0.411, 0.609] nats against "
        "none, better on 3 of 3 seeds."
    )


def test_a_seeds_only_report_has_no_plots_against_strength(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for seed in (0, 1):
        make_run(runs, f"none-{seed}", [f"seed={seed}"], seed=seed)
    out = tmp_path / "report"
    out.mkdir()
    (out / "gap_vs_strength.png").write_bytes(b"from an earlier report")
    written = write_report(build_report(find_runs([runs])), out)
    assert written == ["summary.csv", "report.md", "curves_overlay.png"]
    assert not list(out.glob("*_vs_strength.png"))


def test_the_terminal_table_fits_80_columns(sweep: Path, tmp_path: Path) -> None:
    report = build_report(find_runs([sweep]))
    console = Console(width=80, file=io.StringIO(), record=True)
    print_report(report, ["report.md"], tmp_path, console)
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    table = [line for line in lines if "│" in line]
    assert len(table) <= 2 * 6  # one line per configuration, or two at the most


def test_report_command(sweep: Path, tmp_path: Path) -> None:
    result = run_main("report", str(sweep), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Baseline: none" in result.stdout and "report.md" in result.stdout
    nothing = run_main("report", str(tmp_path / "out"), cwd=tmp_path)
    assert nothing.returncode == 2 and "no runs under" in nothing.stderr
    missing = run_main("report", str(tmp_path / "nope"), cwd=tmp_path)
    assert missing.returncode == 2 and "no such folder" in missing.stderr
