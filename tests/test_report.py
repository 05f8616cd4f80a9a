"""The report over runs and sweeps: grouping over seeds, like with like (data sets apart,
strata by the other swept keys), the baseline, paired intervals and Holm's adjustment, the
headline, files, plots that read alone, odd statuses, and the table at 80 columns."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import run_main, tiny_config
from omegaconf import OmegaConf
from rich.console import Console

from lstm_overfit import report_plots
from lstm_overfit.config import Config, SyntheticData
from lstm_overfit.console import print_report
from lstm_overfit.fit import fit
from lstm_overfit.liveness import mark_running
from lstm_overfit.report import build_report
from lstm_overfit.report_files import headline, report_markdown, write_report
from lstm_overfit.runs import find_runs
from lstm_overfit.stats import holm, paired


def write_hydra(folder: Path, cfg: Any, overrides: list[str]) -> None:
    (folder / ".hydra").mkdir(parents=True, exist_ok=True)
    (folder / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))


def make_run(root: Path, name: str, overrides: list[str], l2: float = 0.0, seed: int = 0):
    """A real (tiny) training run with the folder Hydra would have made."""
    cfg = tiny_config(epochs=2)
    cfg.reg.l2, cfg.seed = l2, seed
    write_hydra(root / name, OmegaConf.structured(cfg), overrides)
    return fit(cfg, root / name)


def fake_run(
    root: Path, name: str, seed: int, settings: dict[str, Any], best: float, **numbers: Any
) -> Path:
    """A finished run folder written by hand (no training): its config, overrides, summary
    and a three-epoch metrics.jsonl."""
    cfg = OmegaConf.structured(Config(dataset=SyntheticData()))
    cfg.seed = seed
    for key, value in settings.items():
        OmegaConf.update(cfg, key, value)
    folder = root / name
    write_hydra(folder, cfg, [f"{k}={v}" for k, v in settings.items()] + [f"seed={seed}"])
    gap = numbers.get("gap", 0.1)
    summary = {
        "status": "completed",
        "metric": "acc",
        "metric_higher_is_better": True,
        "loss_unit": "nats",
        "best_val_loss": best,
        "final_val_loss": numbers.get("final", best + 0.2),
        "gap_at_best": gap,
        "max_gap": gap + 0.3,
        "test": {"loss": best, "acc": numbers.get("acc", 0.8)},
        "seed": seed,
        "num_threads": 1,
        "reg": {},
    }
    (folder / "summary.json").write_text(json.dumps(summary))
    rows = [{"epoch": e, "val_loss": best + 0.1 * e, "gap": gap * e} for e in (1, 2, 3)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sweep")
    for seed in (0, 1, 2):
        make_run(root, f"none-{seed}", [f"seed={seed}", "train.epochs=2"], seed=seed)
        overrides = ["+reg=l2", "reg.l2=0.1", f"seed={seed}", "train.epochs=2"]
        make_run(root, f"l2-{seed}", overrides, 0.1, seed)
    make_run(root, "strong-0", ["+reg=l2", "reg.l2=1.0", "seed=0", "train.epochs=2"], 1.0)
    base = OmegaConf.structured(tiny_config(epochs=2))
    base.reg.l2 = 0.5
    failed = root / "failed"
    write_hydra(failed, base, ["reg.l2=0.5"])
    (failed / "summary.json").write_text(json.dumps({"status": "failed", "error": "bad"}))
    write_hydra(root / "nested" / "running", base, ["reg.l2=0.5"])
    mark_running(root / "nested" / "running")  # run by this live process
    return root


def summaries(root: Path, prefix: str) -> list[dict]:
    return [json.loads((root / f"{prefix}-{s}" / "summary.json").read_text()) for s in (0, 1, 2)]


def test_runs_group_over_seeds_against_the_unregularized_baseline(sweep: Path) -> None:
    report = build_report(find_runs([sweep]))
    (section,) = report.sections
    (stratum,) = section.strata
    by_label = {g.label: g for g in section.groups}
    assert stratum.baseline is by_label["none"]
    assert stratum.baseline_reason == "the unregularized configuration"
    l2 = by_label["reg.l2=0.1"]
    assert len(l2.usable) == 3
    assert {g.statuses() for g in section.groups} >= {"1 failed, 1 running", "3 completed"}
    ours = [s["best_val_loss"] for s in summaries(sweep, "l2")]
    theirs = [s["best_val_loss"] for s in summaries(sweep, "none")]
    assert report.comparisons[l2.key, "best_val_loss"] == paired(ours, theirs, False)
    accuracy = report.comparisons[l2.key, "test"]
    assert accuracy == paired(
        [s["test"]["acc"] for s in summaries(sweep, "l2")],
        [s["test"]["acc"] for s in summaries(sweep, "none")],
        True,
    )


def test_the_report_opens_with_one_sentence_per_number(sweep: Path, tmp_path: Path) -> None:
    report = build_report(find_runs([sweep]))
    written = write_report(report, tmp_path)
    lines = (tmp_path / "report.md").read_text().splitlines()
    start = lines.index("Baseline: none (the unregularized configuration).")
    assert lines[start - 2].startswith("## synthetic · LSTM 1x16 · 2 epochs · varies: regularizer")
    sentences = lines[start + 1 : start + 5]
    assert all(" against none" in s for s in sentences), sentences
    assert not any(" on none" in s for s in sentences)
    assert written == [
        "summary.csv",
        "report.md",
        "curves_overlay.png",
        "val_loss_vs_strength.png",
        "gap_vs_strength.png",
    ]
    for plot in written[2:]:
        assert (tmp_path / plot).stat().st_size > 5_000


def test_summary_csv_has_each_column_once(sweep: Path, tmp_path: Path) -> None:
    write_report(build_report(find_runs([sweep])), tmp_path)
    reader = csv.reader(io.StringIO((tmp_path / "summary.csv").read_text()))
    header = next(reader)
    assert len(header) == len(set(header)) and header.count("seed") == 1
    rows = list(csv.DictReader(io.StringIO((tmp_path / "summary.csv").read_text())))
    assert len(rows) == 9 and {"num_threads", "best_val_loss", "folder", "reg.l2"} <= set(rows[0])
    assert {r["status"] for r in rows} == {"completed", "failed", "running"}
    assert {r["configuration"] for r in rows} >= {"none", "reg.l2=0.1", "reg.l2=1"}


def test_a_named_baseline_and_the_best_when_none_is_unregularized(sweep: Path) -> None:
    runs = find_runs([sweep])
    (named,) = build_report(runs, ["reg.l2=0.1"]).sections[0].strata
    assert named.baseline.label == "reg.l2=0.1" and named.baseline_reason.startswith("named")
    regularized = [r for r in runs if "+reg=l2" in r.overrides]
    best = build_report(regularized)
    assert best.sections[0].strata[0].baseline_reason.startswith("no unregularized")
    assert "(no unregularized configuration" in report_markdown(best)


def test_values_are_matched_as_numbers_and_config_groups_as_typed(sweep: Path) -> None:
    runs = find_runs([sweep])
    for spec in (["+reg=l2", "reg.l2=1e-1"], ["reg.l2=0.10"], ["+reg=l2", "reg.l2=.1"]):
        (stratum,) = build_report(runs, spec).sections[0].strata
        assert stratum.baseline.label == "reg.l2=0.1", spec
    # A preset stacked with another is one configuration whatever the strength's spelling.
    root = Path(runs[0].folder).parent
    twins = build_report(find_runs([root / "l2-0", root / "l2-1"])).sections[0].groups
    assert len(twins) == 1


def test_a_baseline_that_matches_nothing_is_one_line(sweep: Path, tmp_path: Path) -> None:
    for spec in (["reg.l2=7"], ["+reg=dropout"], ["reg.l2"]):
        result = run_main("report", str(sweep), "--baseline", *spec, cwd=tmp_path)
        assert result.returncode == 2, spec
        assert len(result.stderr.strip().splitlines()) == 1
    assert "matches no configuration" in result.stderr or "KEY=VALUE" in result.stderr


def test_two_seeds_give_no_interval_and_say_so(tmp_path: Path) -> None:
    for seed in (0, 1):
        fake_run(tmp_path, f"none-{seed}", seed, {}, 0.60 + seed / 100)
        fake_run(tmp_path, f"l2-{seed}", seed, {"reg.l2": 0.1}, 0.50 + seed / 100)
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
    runs.append(type(rerun)(tmp_path / "rerun", rerun.config, rerun.overrides, rerun.summary))
    text = report_markdown(build_report(runs))
    assert "none has more than one finished run with seed 0" in text


def test_the_headline_and_the_table_share_one_sign_convention(tmp_path: Path) -> None:
    # Paired differences -0.55, -0.51, -0.47: mean -0.51, t interval [-0.609, -0.411].
    for seed, final in enumerate((0.45, 0.49, 0.53)):
        fake_run(tmp_path, f"none-{seed}", seed, {}, 0.5, final=1.0)
        fake_run(tmp_path, f"drop-{seed}", seed, {"reg.dropout": 0.5}, 0.5, final=final)
    report = build_report(find_runs([tmp_path]))
    sentence = next(s for s in headline(report, report.sections[0]) if "final" in s)
    assert sentence.startswith(
        "reg.dropout=0.5 lowers the final validation loss against none: "
        "-0.5100 [-0.6094, -0.4106] nats, better on 3 of 3 seeds (Holm-adjusted p = "
    )
    assert "-0.5100 [-0.6094, -0.4106]*†" in report_markdown(report)


def test_runs_on_other_data_sets_are_never_compared(tmp_path: Path) -> None:
    for seed in (0, 1, 2):
        fake_run(tmp_path, f"a-none-{seed}", seed, {}, 0.6)
        fake_run(tmp_path, f"a-l2-{seed}", seed, {"reg.l2": 0.1}, 0.5 - seed / 100)
        fake_run(tmp_path, f"b-l2-{seed}", seed, {"dataset.name": "other", "reg.l2": 0.1}, 0.1)
    report = build_report(find_runs([tmp_path]))
    assert [s.dataset for s in report.sections] == ["other", "synthetic"]
    other, synthetic = report.sections
    # The other data set has no unregularized run: its own best is its baseline, and nothing
    # of it is compared with the synthetic runs.
    assert other.strata[0].baseline_reason.startswith("no unregularized")
    assert len(report.comparisons) == 4 and synthetic.strata[0].baseline.label == "none"
    written = write_report(report, tmp_path / "out")
    assert "other_curves_overlay.png" in written and "synthetic_curves_overlay.png" in written
    text = (tmp_path / "out" / "report.md").read_text()
    assert "## other ·" in text and "## synthetic ·" in text and "2 data sets" in text


def test_the_metric_its_direction_and_the_loss_unit_come_from_the_summaries(
    tmp_path: Path,
) -> None:
    """A forecaster's summaries name mae (lower is better) among other test figures: the
    report compares that one, in that direction, and states the loss in its unit."""
    for seed in (0, 1, 2):
        for name, l2, mae in (("none", 0.0, 12.0), ("l2", 0.1, 10.0 + seed / 10)):
            folder = fake_run(tmp_path, f"{name}-{seed}", seed, {"reg.l2": l2}, 0.5 - l2)
            summary = json.loads((folder / "summary.json").read_text())
            summary.update(metric="mae", metric_higher_is_better=False, loss_unit="normalized MSE")
            summary["test"] = {"mase": 0.9, "loss": 0.3, "mae": mae}
            (folder / "summary.json").write_text(json.dumps(summary))
    report = build_report(find_runs([tmp_path]))
    [section] = report.sections
    assert (section.metric, section.loss_unit) == ("mae", "normalized MSE")
    l2 = next(g for g in section.groups if g.label == "reg.l2=0.1")
    test = report.comparisons[l2.key, "test"]
    assert test.mean == pytest.approx(-1.9) and test.better == 3  # lower mae is better
    text = report_markdown(report)
    assert "normalized MSE" in text and "test mae" in text


def test_configurations_that_differ_beyond_the_regularizers_are_compared_within_strata(
    tmp_path: Path,
) -> None:
    # 6-epoch stacked runs beside 40-epoch ones: never compared across epochs.
    for seed in (0, 1, 2):
        fake_run(tmp_path, f"none40-{seed}", seed, {}, 0.6, final=1.5)
        fake_run(tmp_path, f"l2-40-{seed}", seed, {"reg.l2": 1e-3}, 0.55, final=1.0 + seed / 10)
        stacked = {"train.epochs": 6, "reg.l2": 1e-3, "reg.dropout": 0.3}
        fake_run(tmp_path, f"stacked6-{seed}", seed, stacked, 0.7, final=0.2)
    report = build_report(find_runs([tmp_path]))
    (section,) = report.sections
    assert section.context_keys == ["train.epochs"]
    six, forty = section.strata
    assert six.context == {"train.epochs": 6} and forty.context == {"train.epochs": 40}
    assert [g.label for g in six.groups] == ["reg.l2=0.001 reg.dropout=0.3"]
    assert six.baseline.label == "reg.l2=0.001 reg.dropout=0.3"  # its own best, alone
    assert {k for k, _ in report.comparisons} == {forty.groups[0].key}  # l2 vs none at 40
    line = headline(report, section)[0]
    assert "compared only with the baseline of the same train.epochs" in line
    # The terminal shows the stacked label whole, as report.md does.
    console = Console(width=260, file=io.StringIO(), record=True)
    print_report(report, ["report.md"], tmp_path, console)
    assert "reg.l2=0.001 reg.dropout=0.3" in console.export_text()
    assert "reg.l2=0.001 reg.dropout=0.3" in report_markdown(report)


def test_holm_runs_over_every_comparison_and_the_headline_states_only_survivors(
    tmp_path: Path,
) -> None:
    # One clear effect (dropout) and one that a lone 95% interval calls a difference but
    # that does not survive 8 comparisons (l2 on the test accuracy).
    for seed in range(4):
        fake_run(tmp_path, f"none-{seed}", seed, {}, 0.60, acc=0.80)
        fake_run(tmp_path, f"drop-{seed}", seed, {"reg.dropout": 0.5}, 0.50 - seed / 1000)
        jitter = (0.02, 0.03, 0.025, 0.01)[seed]
        fake_run(tmp_path, f"l2-{seed}", seed, {"reg.l2": 0.1}, 0.6, acc=0.80 + jitter)
    report = build_report(find_runs([tmp_path]))
    keys = sorted(report.adjusted)
    assert len(keys) == 8
    raw = [report.comparisons[k].p_value for k in keys]
    assert [report.adjusted[k] for k in keys] == pytest.approx(holm(raw))
    (section,) = report.sections
    l2 = next(g for g in section.groups if g.label == "reg.l2=0.1")
    test = report.comparisons[l2.key, "test"]
    assert test.excludes_zero and not report.survives((l2.key, "test"))
    lines = headline(report, section)
    assert any(s.startswith("reg.dropout=0.5 lowers the best validation loss") for s in lines)
    assert not any(s.startswith("reg.l2=0.1") for s in lines)
    assert "No configuration improves the test acc against none distinguishably" in "\n".join(lines)
    text = report_markdown(report)
    assert "8 comparisons with a 95% interval" in text and "Holm" in text


def captured_figures(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    monkeypatch.setattr(report_plots, "save", lambda fig, path: figures.__setitem__(path.name, fig))
    return figures


def test_plots_read_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    figures = captured_figures(monkeypatch)
    for seed in (0, 1, 2):
        fake_run(tmp_path, f"none-{seed}", seed, {}, 0.6)
        for i, strength in enumerate((1e-4, 1e-3, 1e-2)):
            fake_run(tmp_path, f"l2-{i}-{seed}", seed, {"reg.l2": strength}, 0.5)
        for i, rate in enumerate((0.1, 0.3, 0.5, 0.7, 0.2, 0.4, 0.6, 0.8, 0.9)):
            fake_run(tmp_path, f"drop-{i}-{seed}", seed, {"reg.dropout": rate}, 0.55)
    write_report(build_report(find_runs([tmp_path])), tmp_path / "out")
    title = "synthetic · LSTM 2x200 · 40 epochs · varies: regularizer"
    gap = figures["gap_vs_strength.png"]
    assert gap._suptitle.get_text().startswith(title)
    assert "error bars ±1 std over them" in gap._suptitle.get_text()
    assert "3 seeds per point" in gap._suptitle.get_text()
    assert [ax.get_xlabel() for ax in gap.axes] == ["reg.dropout", "reg.l2"]
    legend = [t.get_text() for t in gap.axes[-1].get_legend().get_texts()]
    assert "largest gap over epochs" in legend and "gap at the best epoch" in legend
    overlay = figures["curves_overlay.png"]
    assert overlay.axes[0].get_title().startswith(title)
    colours = [line.get_color() for line in overlay.axes[0].get_lines()]
    assert len(colours) == 13 and len({str(c) for c in colours}) == 13  # one per configuration
    # The legend stands beside the axes, not on the lines.
    assert overlay.axes[0].get_legend().get_bbox_to_anchor().x0 > overlay.axes[0].bbox.x1


def test_learning_curves_and_capacity_get_plots_and_a_heatmap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    figures = captured_figures(monkeypatch)
    for seed in (0, 1, 2):
        for size in (500, 1000, 2000):
            for hidden in (32, 128):
                for reg in ({}, {"reg.dropout": 0.5}):
                    gap = 1.0 / size * 1000 * hidden / 64 * (0.5 if reg else 1.0)
                    settings = {"dataset.num_train": size, "model.hidden_size": hidden, **reg}
                    name = f"{size}-{hidden}-{len(reg)}-{seed}"
                    fake_run(tmp_path, name, seed, settings, 0.5 + gap / 10, gap=gap)
    report = build_report(find_runs([tmp_path]))
    (section,) = report.sections
    assert section.context_keys == ["dataset.num_train", "model.hidden_size"]
    assert len(section.strata) == 6 and all(s.baseline.label == "none" for s in section.strata)
    written = write_report(report, tmp_path / "out")
    assert {"vs_dataset.num_train.png", "vs_model.hidden_size.png"} <= set(written)
    learning = figures["vs_dataset.num_train.png"]
    assert learning.axes[-1].get_xlabel() == "dataset.num_train"
    legend = [t.get_text() for t in learning.axes[0].get_legend().get_texts()]
    assert "reg.dropout=0.5 model.hidden_size=128 (n=3)" in legend
    # Two numeric keys on a grid: num_train x hidden_size (a panel per dropout setting), and
    # each against the dropout rate.
    heatmap = "gap_heatmap_dataset.num_train_model.hidden_size.png"
    assert heatmap in written
    panels = [ax for ax in figures[heatmap].axes if ax.get_images()]
    assert [ax.get_title() for ax in panels] == ["reg.dropout=0", "reg.dropout=0.5"]
    image = panels[0].get_images()[0].get_array()
    assert image.shape == (2, 3)  # hidden sizes x training sizes
    assert image[0, 0] == pytest.approx(1000 / 500 * 32 / 64)  # the smallest, no dropout
    assert image[1, 2] == pytest.approx(1000 / 2000 * 128 / 64)


def test_a_seeds_only_report_has_no_plots_against_strength(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for seed in (0, 1):
        fake_run(runs, f"none-{seed}", seed, {}, 0.6)
    out = tmp_path / "report"
    out.mkdir()
    (out / "gap_vs_strength.png").write_bytes(b"from an earlier report")
    (out / "notes.png").write_bytes(b"the user's own")
    written = write_report(build_report(find_runs([runs])), out)
    assert written == ["summary.csv", "report.md", "curves_overlay.png"]
    assert not list(out.glob("*_vs_strength.png")) and (out / "notes.png").exists()


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


def test_a_damaged_config_is_one_line(tmp_path: Path) -> None:
    folder = fake_run(tmp_path / "runs", "none-0", 0, {}, 0.6)
    (folder / ".hydra" / "config.yaml").write_text("seed: [unclosed")
    result = run_main("report", str(tmp_path / "runs"), cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "config.yaml is damaged" in result.stderr


def test_a_runs_curves_show_best_epoch_and_onset_apart_when_they_coincide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lstm_overfit import plots
    from lstm_overfit.run_folder import EpochRecord, RunSummary

    figures: dict[str, Any] = {}
    monkeypatch.setattr(plots, "save", lambda fig, path: figures.__setitem__(path.name, fig))
    losses = [(0.7, 0.7), (0.5, 0.6), (0.3, 0.65), (0.2, 0.7), (0.1, 0.8)]
    records = [
        EpochRecord(e, t, t, 0.0, v, v - t, 1e-3, 1.0, 1.0, 1.0, 0.1, 0.0)
        for e, (t, v) in enumerate(losses, 1)
    ]
    summary = RunSummary(best_epoch=2, overfit_onset_epoch=2)
    plots.plot_curves(records, summary, tiny_config(), tmp_path / "curves.png")
    ax = figures["curves.png"].axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "best epoch (2)" in legend and "overfit onset (2)" in legend
    markers = {line.get_label(): line for line in ax.get_lines()}
    best, onset = markers["best epoch (2)"], markers["overfit onset (2)"]
    assert best.get_marker() != onset.get_marker() and best.get_color() != onset.get_color()
    # Drawn at different heights on the figure, though at the same point of the data.
    assert (
        best.get_transform().transform((2, 0.6))[1] != onset.get_transform().transform((2, 0.6))[1]
    )
