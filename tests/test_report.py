"""The report over runs and sweeps: grouping over seeds, like with like (data sets apart,
strata by the other swept keys), the baseline, paired intervals and Holm's adjustment, the
headline, files, plots that read alone, odd statuses, and the table at 80 columns."""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import run_main, tiny_config
from omegaconf import OmegaConf
from rich.console import Console

from lstm_overfit import report_heatmap, report_overlay, report_plots
from lstm_overfit.config import Config, SyntheticData
from lstm_overfit.console import print_report
from lstm_overfit.fit import fit
from lstm_overfit.liveness import mark_running
from lstm_overfit.report import build_report
from lstm_overfit.report_files import headline, report_markdown, write_report
from lstm_overfit.report_text import family_line
from lstm_overfit.runs import find_runs
from lstm_overfit.stats import holm, paired, seeds_for_power


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


def test_the_report_opens_with_its_headline(sweep: Path, tmp_path: Path) -> None:
    report = build_report(find_runs([sweep]))
    written = write_report(report, tmp_path)
    lines = (tmp_path / "report.md").read_text().splitlines()
    start = lines.index("Baseline: none (the unregularized configuration).")
    assert lines[start - 2].startswith("## synthetic · LSTM 1x16 · 2 epochs · varies: regularizer")
    # reg.l2=1 has one seed: nothing is said of it but how to add seeds.
    assert lines[start + 1].startswith(
        "Nothing is stated about 1 of the 2 configurations compared: they have 1 seed in "
        "common with the baseline, and 3 are the least for an interval. Add seeds with "
    )
    # Whether these two-epoch runs learned varies by CPU: what follows may or may not
    # compare them, but it ends with the strength and the recommendation, and never states
    # anything of the one-seed configuration.
    sentences = lines[start + 2 : lines.index("", start)]
    assert sentences[-2].startswith("How strong, reg.l2: not stated: 0.1, 1 swept, some with 1")
    assert sentences[-1].startswith("Recommended: not yet:")
    assert not any(" on none" in s or "reg.l2=1 " in s for s in sentences)
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
    for spec, says in (
        (["reg.l2=7"], "--baseline reg.l2=7 matches no configuration with finished runs"),
        (["+reg=dropout"], "--baseline +reg=dropout matches no configuration"),
        (["reg.l2"], "--baseline reg.l2: write it as KEY=VALUE"),
    ):
        result = run_main("report", str(sweep), "--baseline", *spec, cwd=tmp_path)
        assert result.returncode == 2, spec
        assert len(result.stderr.strip().splitlines()) == 1, spec
        assert says in result.stderr, spec


def test_the_baseline_none_is_the_tables_own_label(sweep: Path, tmp_path: Path) -> None:
    named = build_report(find_runs([sweep]), ["none"])
    assert report_markdown(named) == report_markdown(build_report(find_runs([sweep])))
    regularized = [r for r in find_runs([sweep]) if "+reg=l2" in r.overrides]
    result = run_main(
        "report", *{str(r.folder) for r in regularized}, "--baseline", "none", cwd=tmp_path
    )
    assert result.returncode == 2 and "--baseline none matches no configuration" in result.stderr


def test_below_three_seeds_nothing_is_stated_and_the_command_adds_seeds(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    for seed in (0, 1):
        fake_run(sweep, f"none-{seed}", seed, {}, 0.60 + seed / 100)
        for l2 in (0.1, 0.2):
            fake_run(sweep, f"l2-{l2}-{seed}", seed, {"reg.l2": l2}, 0.40 + seed / 100)
    task = ["+reg=[l2]", "reg.l2=0,0.1,0.2", "seed=0,1"]
    (sweep / "multirun.yaml").write_text(
        yaml.safe_dump(
            {
                "hydra": {
                    "overrides": {"task": task, "hydra": []},
                    "sweeper": {
                        "_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
                    },
                }
            }
        )
    )
    report = build_report(find_runs([sweep]))
    lines = headline(report, report.sections[0])
    assert lines[1] == (
        "Nothing is stated about the configurations: they have 2 seeds in common with the "
        "baseline, and 3 are the least for an interval. Add seeds with `lstm-overfit train -m "
        f"'+reg=[l2]' reg.l2=0,0.1,0.2 seed=0,1,2 resume={sweep}`."
    )
    # The terminal prints it as it is, brackets and all (not as markup).
    console = Console(width=400, file=io.StringIO(), record=True)
    print_report(report, ["report.md"], tmp_path, console)
    assert f"'+reg=[l2]' reg.l2=0,0.1,0.2 seed=0,1,2 resume={sweep}`" in console.export_text()
    # A search samples its values: more seed values do not extend it.
    optuna = "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    saved = yaml.safe_load((sweep / "multirun.yaml").read_text())
    saved["hydra"]["sweeper"]["_target_"] = optuna
    (sweep / "multirun.yaml").write_text(yaml.safe_dump(saved))
    searched = build_report(find_runs([sweep]))
    lines = headline(searched, searched.sections[0])
    assert lines[1].endswith("Add seeds with each configuration's command with -m seed=0,1,2.")
    # Not a word on which is better: no finding, no best strength, no recommendation.
    assert not any(w in line for line in lines for w in ("lowers", "raises", "best at"))
    assert lines[-2].startswith("How strong, reg.l2: not stated")
    assert lines[-1].startswith("Recommended: not yet")
    assert "(n=2)" in report_markdown(report)  # the table keeps the signed means


def test_a_harm_that_holds_is_headlined_like_an_improvement(tmp_path: Path) -> None:
    for seed in range(5):
        fake_run(tmp_path, f"none-{seed}", seed, {}, 0.60, acc=0.80)
        acc = 0.75 - seed / 1000
        fake_run(tmp_path, f"l2-{seed}", seed, {"reg.l2": 0.1}, 0.60 - seed / 1e4, acc=acc)
    report = build_report(find_runs([tmp_path]))
    lines = headline(report, report.sections[0])
    harm = next(line for line in lines if "test acc" in line and "harm" in line)
    assert harm.startswith("reg.l2=0.1 lowers the test acc against none by 0.0520 [")
    assert "better on 0 of 5 seeds: a harm (Holm-adjusted p = " in harm
    assert "1 harm against a baseline hold" in report_markdown(report)
    # Sentences carry a direction and a magnitude, never a negative number after "by".
    assert not any(" by -" in line for line in lines)


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
        "reg.dropout=0.5 lowers the final validation loss against none by "
        "0.5100 [0.4106, 0.6094] nats, better on 3 of 3 seeds (Holm-adjusted p = "
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
    assert (
        "No configuration changes the gap at the best epoch or the test acc against none "
        "distinguishably" in "\n".join(lines)
    )
    # The l2 change in test accuracy, +0.0213 over 4 seeds, and the seeds it would need to
    # hold after the adjustment over 8 comparisons.
    needed = seeds_for_power(test.mean, test.spread, 0.05 / 8)
    assert "reg.l2=0.1 raising the test acc by 0.0213 [" in "\n".join(lines)
    assert f"would need about {needed} seeds" in "\n".join(lines)
    text = report_markdown(report)
    assert "8 comparisons with a 95% interval" in text and "Holm" in text


def captured_figures(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for module in (report_plots, report_heatmap, report_overlay):
        monkeypatch.setattr(module, "save", lambda fig, path: figures.__setitem__(path.name, fig))
    return figures


def test_plots_read_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    figures = captured_figures(monkeypatch)
    for seed in (0, 1, 2):
        fake_run(tmp_path, f"none-{seed}", seed, {}, 0.6)
        for i, strength in enumerate((1e-4, 1e-3, 1e-2)):
            fake_run(tmp_path, f"l2-{i}-{seed}", seed, {"reg.l2": strength}, 0.5 + seed / 100)
        for i, rate in enumerate((0.1, 0.3, 0.5, 0.7, 0.2, 0.4, 0.6, 0.8, 0.9)):
            fake_run(tmp_path, f"drop-{i}-{seed}", seed, {"reg.dropout": rate}, 0.55)
    report = build_report(find_runs([tmp_path]))
    write_report(report, tmp_path / "out")
    title = "synthetic · LSTM 2x200 · 40 epochs · varies: regularizer"
    gap = figures["gap_vs_strength.png"]
    assert gap._suptitle.get_text().startswith(title)
    assert "error bars: the 95% t interval of the mean" in gap._suptitle.get_text()
    assert "3 seeds per point" in gap._suptitle.get_text()
    assert [ax.get_xlabel() for ax in gap.axes] == ["reg.dropout", "reg.l2"]
    legend = [t.get_text() for t in gap.axes[1].get_legend().get_texts()]  # beside the row
    assert "largest gap over epochs" in legend and "gap at the best epoch" in legend
    # Error bars are the 95% t interval of the mean: l2's best values are 0.50, 0.51, 0.52.
    val = figures["val_loss_vs_strength.png"]
    bars = [c for c in val.axes[1].collections if c.get_segments()]
    (low, high) = bars[0].get_segments()[0][:, 1]
    assert high - low == pytest.approx(2 * 4.302653 * 0.01 / 3**0.5, rel=1e-4)
    # The best and the last epoch coincide here (final = best + 0.2 is not equal; make the
    # markers differ in size and face so that one never hides the other).
    best, last = (line for line in val.axes[1].get_lines() if line.get_marker() in "os")
    assert best.get_markersize() > last.get_markersize() and last.get_markerfacecolor() == "white"
    # The overlay: a pair of panels per regularizer, none in grey in each; within a panel
    # one hue, lighter for weaker.
    overlay = figures["curves_overlay.png"]
    assert overlay._suptitle.get_text().startswith(title)
    assert "bands: the 95% t interval of the mean" in overlay._suptitle.get_text()
    panels = [ax for ax in overlay.axes if ax.get_visible() and ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["reg.dropout", "reg.l2"]
    l2 = {line.get_label(): line.get_color() for line in panels[1].get_lines()}
    assert list(l2) == ["none (n=3)", "0.0001 (n=3)", "0.001 (n=3)", "0.01 (n=3)"]
    weak, middle, strong = (sum(l2[k]) for k in list(l2)[1:])
    assert weak > middle > strong  # lighter (nearer white) for weaker
    assert len(panels[0].get_lines()) == 10  # nine rates and none


def test_the_report_draws_without_a_warning(tmp_path: Path) -> None:
    for seed in (0, 1, 2):
        for size in (500, 1000):
            fake_run(tmp_path, f"none-{size}-{seed}", seed, {"dataset.num_train": size}, 0.6)
            for rate in (0.2, 0.5):
                settings = {"dataset.num_train": size, "reg.dropout": rate}
                fake_run(tmp_path, f"d{rate}-{size}-{seed}", seed, settings, 0.5, gap=rate)
    report = build_report(find_runs([tmp_path]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        written = write_report(report, tmp_path / "out")
    assert "gap_heatmap_dataset.num_train_reg.dropout.png" in written


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
    # The overlay's lines in numeric order of the training-set size (500 before 1000).
    overlay = [ax for ax in figures["curves_overlay.png"].axes if ax.get_title()][0]
    sizes = [line.get_label().split()[1] for line in overlay.get_lines()][-6:]
    assert sizes == [f"dataset.num_train={n}" for n in (500, 500, 1000, 1000, 2000, 2000)]
    # Two numeric keys on a grid: num_train x hidden_size, a panel per dropout setting where
    # something is compared (without dropout every cell is its own baseline: no panel), and
    # each against the dropout rate. Cells hold the paired difference from the baseline.
    heatmap = "gap_heatmap_dataset.num_train_model.hidden_size.png"
    assert heatmap in written
    panels = [ax for ax in figures[heatmap].axes if ax.get_images()]
    assert [ax.get_title() for ax in panels] == ["reg.dropout=0.5"]
    image = panels[0].get_images()[0].get_array()
    assert image.shape == (2, 3)  # hidden sizes x training sizes
    assert image[0, 0] == pytest.approx(-0.5 * 1000 / 500 * 32 / 64)  # halved by dropout
    assert image[1, 2] == pytest.approx(-0.5 * 1000 / 2000 * 128 / 64)
    # Centred on the baseline: a diverging scale symmetric about zero.
    low, high = panels[0].get_images()[0].get_clim()
    assert low == -high
    by_dropout = figures["gap_heatmap_dataset.num_train_reg.dropout.png"]
    texts = [t.get_text() for ax in by_dropout.axes for t in ax.texts]
    assert any(t.startswith("baseline\n") for t in texts)


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
    for seed in (0, 1, 2):  # strata, a stacked label, a long metric name
        for size in (500, 4000):
            for reg in ({}, {"reg.dropout": 0.5}, {"reg.locked_dropout": 0.5, "reg.l2": 1e-4}):
                settings = {"dataset.num_train": size, **reg}
                fake_run(tmp_path / "runs", f"{size}-{len(reg)}-{seed}", seed, settings, 0.5)
    for report in (build_report(find_runs([sweep])), build_report(find_runs([tmp_path]))):
        console = Console(width=80, file=io.StringIO(), record=True)
        print_report(report, ["report.md"], tmp_path, console)
        lines = console.export_text().splitlines()
        assert max(len(line) for line in lines) <= 80
        table = [line for line in lines if "│" in line or "┃" in line]
        header = next(line for line in table if "┃" in line)
        assert "configuration" in header and "Δ best val" in header and "Δ test acc" in header
        rows = len(report.groups)
        assert len(table) <= 2 * rows + 1, table  # one line per configuration, or two
    assert any(line.startswith("│ 4000      │ reg.l2=0.0001") for line in table)


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


def test_how_strong_names_the_best_strength_its_neighbours_and_the_edge(tmp_path: Path) -> None:
    # Dropout is best at 0.3, inside its range; L2 keeps improving to its strongest value.
    for seed in range(4):
        wobble = (0.001, -0.001, 0.002, 0.0)[seed]
        fake_run(tmp_path, f"none-{seed}", seed, {}, 0.60 + wobble)
        for rate, best in ((0.1, 0.55), (0.3, 0.50), (0.5, 0.56)):
            fake_run(tmp_path, f"d{rate}-{seed}", seed, {"reg.dropout": rate}, best + wobble)
        for l2, best in ((1e-4, 0.59), (1e-3, 0.57)):
            fake_run(tmp_path, f"l2{l2}-{seed}", seed, {"reg.l2": l2}, best - seed / 1e4)
    report = build_report(find_runs([tmp_path]))
    section = report.sections[0]
    lines = headline(report, section)
    dropout = next(line for line in lines if line.startswith("How strong, reg.dropout"))
    assert dropout.startswith(
        "How strong, reg.dropout: best at 0.3 of 0.1, 0.3, 0.5 (best validation loss 0.5005 "
        "nats): against none, 0.1000 [0.1000, 0.1000] nats lower†; against 0.1, 0.0500 "
        "[0.0500, 0.0500] nats lower†; against 0.5, 0.0600 [0.0600, 0.0600] nats lower†."
    )
    assert dropout.endswith("It lies inside the swept range.")
    l2 = next(line for line in lines if line.startswith("How strong, reg.l2"))
    assert "best at 0.001 of 0.0001, 0.001" in l2
    assert l2.endswith("It is the strongest swept: extend the sweep above 0.001.")
    # The comparisons between strengths join Holm's family: 5 configurations x 4 numbers,
    # and dropout 0.3 against 0.1 and 0.5, and l2 1e-3 against 1e-4.
    assert len(report.adjusted) == 5 * 4 + 3 and len(report.versus) == 3
    assert family_line(report).endswith(
        "between strengths of one regularizer; with Holm's adjustment over all of them (a 5% "
        "chance of any false finding), 10 improvements and 0 harms against a baseline hold, "
        "marked † in the table, and 3 differences between strengths (†)."
    )
    assert lines[-1] == (
        "Recommended: reg.dropout=0.3: its best validation loss is 0.1000 [0.1000, 0.1000] "
        "nats lower than none's, and that holds after Holm's adjustment (Holm-adjusted p = 0)."
    )


def test_a_configuration_that_did_not_learn_is_flagged_and_never_headlined(
    tmp_path: Path,
) -> None:
    # IMDB-like: the constant predictor scores ln 2; l2 at 1.0 stays there and "improves"
    # the final validation loss of none, which overfits.
    for seed in range(3):
        fake_run(tmp_path, f"none-{seed}", seed, {}, 0.45 + seed / 100, final=1.2)
        fake_run(tmp_path, f"l2-{seed}", seed, {"reg.l2": 1.0}, 0.6931 + seed / 1e4, final=0.7)
        for folder in tmp_path.glob(f"*-{seed}"):
            summary = json.loads((folder / "summary.json").read_text())
            summary["constant_loss"] = 0.6931
            (folder / "summary.json").write_text(json.dumps(summary))
    report = build_report(find_runs([tmp_path]))
    l2 = next(g for g in report.groups if g.reg)
    assert not report.learned(l2) and report.survives((l2.key, "final_val_loss"))
    lines = headline(report, report.sections[0])
    assert not any(line.startswith("reg.l2=1") for line in lines)
    # Nor is a best strength named among strengths that did not learn.
    for seed in range(3):
        folder = fake_run(tmp_path, f"l2b-{seed}", seed, {"reg.l2": 2.0}, 0.6932, final=0.7)
        summary = json.loads((folder / "summary.json").read_text())
        (folder / "summary.json").write_text(json.dumps({**summary, "constant_loss": 0.6931}))
    report = build_report(find_runs([tmp_path]))
    lines = headline(report, report.sections[0])
    assert (
        "How strong, reg.l2: not stated: 1, 2 swept, and not even the best of them learned."
        in lines
    )
    assert lines[-1].startswith("Recommended: none (the baseline)")
    text = report_markdown(report)
    assert (
        "warning: reg.l2=1 (synthetic) did not learn: its best validation loss, 0.6932, is no "
        "better than that of predicting the training split's class frequencies, 0.6931" in text
    )
    assert "| reg.l2=1 (did not learn) |" in text


def test_a_forecaster_is_held_against_persistence(tmp_path: Path) -> None:
    for seed in range(3):
        for name, l2, mae in (("none", 0.0, 10.0 + seed / 10), ("l2", 0.1, 15.0 + seed / 10)):
            folder = fake_run(tmp_path, f"{name}-{seed}", seed, {"reg.l2": l2}, 0.3)
            summary = json.loads((folder / "summary.json").read_text())
            summary.update(metric="mae", metric_higher_is_better=False, best_epoch=2)
            summary["naive_forecast"] = {"val_mae": 14.0, "test_mae": 14.5}
            (folder / "summary.json").write_text(json.dumps(summary))
            rows = [{"epoch": e, "val_loss": 0.3, "gap": 0.1, "val_mae": mae} for e in (1, 2)]
            (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = build_report(find_runs([tmp_path]))
    learned = {g.label: report.learned(g) for g in report.groups}
    assert learned == {"none": True, "reg.l2=0.1": False}
    assert "no better than that of persistence (the naive forecast), 14" in report_markdown(report)


def test_a_comparison_over_a_value_that_is_not_a_number_is_undefined(tmp_path: Path) -> None:
    for seed in range(4):
        fake_run(tmp_path, f"none-{seed}", seed, {}, 0.6)
        best = math.nan if seed == 2 else 0.4 - seed / 1000
        fake_run(tmp_path, f"l2-{seed}", seed, {"reg.l2": 0.1}, best, final=0.5)
    report = build_report(find_runs([tmp_path]))
    l2 = next(g for g in report.groups if g.reg)
    c = report.comparisons[l2.key, "best_val_loss"]
    assert not c.defined and (l2.key, "best_val_loss") not in report.adjusted
    text = report_markdown(report)
    row = next(line for line in text.splitlines() if line.startswith("| reg.l2=0.1"))
    # Δ best val is undefined (never †); the final validation loss, finite, is compared.
    assert "| 0.8 ± 0 | undefined | -0.3000 [-0.3000, -0.3000]*† |" in row
    assert not any("lowers the best validation loss" in s for s in text.splitlines())


def test_an_out_folder_that_takes_no_file_is_one_line_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    for seed in (0, 1, 2):
        fake_run(tmp_path / "runs", f"none-{seed}", seed, {}, 0.6)
    blocker = tmp_path / "notes.txt"  # a file where a folder is asked for (as root, too)
    blocker.write_text("mine")
    before = sorted(tmp_path.rglob("*"))
    result = run_main("report", str(tmp_path / "runs"), "--out", str(blocker / "r"), cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (
        f"lstm-overfit: error: {blocker / 'r'}: cannot write the report there (Not a "
        "directory); choose a folder you can write to with --out DIR\n"
    )
    assert sorted(tmp_path.rglob("*")) == before


def test_a_file_of_a_run_folder_reports_the_run(tmp_path: Path) -> None:
    folder = fake_run(tmp_path / "runs", "none-0", 0, {}, 0.6)
    result = run_main("report", str(folder / "summary.json"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (folder / "report.md").is_file() and "Baseline: none" in result.stdout


def test_runs_without_epoch_records_get_no_overlay(tmp_path: Path) -> None:
    for seed in (0, 1, 2):
        for name, l2 in (("none", 0.0), ("weak", 0.1), ("strong", 1.0)):
            folder = fake_run(tmp_path / "runs", f"{name}-{seed}", seed, {"reg.l2": l2}, 0.5)
            (folder / "metrics.jsonl").unlink()
    written = write_report(build_report(find_runs([tmp_path / "runs"])), tmp_path / "out")
    assert written == ["summary.csv", "report.md", *report_plots.STRENGTH_PLOTS]


def test_a_run_not_ended_is_drawn_with_its_epochs_so_far(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    figures = captured_figures(monkeypatch)
    for seed in (0, 1, 2):
        fake_run(tmp_path, f"none-{seed}", seed, {}, 0.6)
        fake_run(tmp_path, f"l2-{seed}", seed, {"reg.l2": 0.001}, 0.5)
    running = fake_run(tmp_path, "l2-running", 3, {"reg.l2": 0.001}, 0.4)
    (running / "summary.json").unlink()
    mark_running(running)  # run by this live process
    rows = [json.loads(line) for line in (running / "metrics.jsonl").read_text().splitlines()]
    (running / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:2]))
    write_report(build_report(find_runs([tmp_path])), tmp_path / "out")
    loss = [ax for ax in figures["curves_overlay.png"].axes if ax.get_title()][0]
    [dashed] = [line for line in loss.get_lines() if line.get_linestyle() == "--"]
    assert dashed.get_label() == "0.001 seed 3: running, 2 epochs so far"
    assert list(dashed.get_xdata()) == [1, 2]
    assert list(dashed.get_ydata()) == pytest.approx([0.5, 0.6])
