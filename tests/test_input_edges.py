"""The edges a new user hits: a model too large for the machine, numbers that are not
numbers, overrides a shell or a keyboard mangles, data files in another shape; and what the
console shows of training speed."""

from __future__ import annotations

import gzip
import io
import logging
import math
import re
from pathlib import Path

import pytest
from conftest import REPO, assert_refused, catalogue_rows, run_folders, run_main
from rich.console import Console

from lstm_overfit.config import GapPolicy, SeriesData, Task
from lstm_overfit.run_folder import EpochRecord
from lstm_overfit.tasks import task_kind


def write_csv(path: Path, cells: list[str], header: str = "t,value") -> Path:
    path.write_text(header + "\n" + "".join(f"{i},{c}\n" for i, c in enumerate(cells)))
    return path


def series(count: int = 200) -> list[str]:
    return [f"{math.sin(i / 5) + i / 50:.4f}" for i in range(count)]


def edge_case(name: str, root: Path) -> tuple[list[str], str]:
    """(arguments, expected text) for each row of docs/reliability.md this file covers."""
    csv = ["dataset=csv", "dataset.column=value"]
    if name == "a model too large for the machine":
        return ["model.hidden_size=200000"], "parameters: training it needs at least"
    if name == "a CSV cell that is infinite":
        cells = series()
        cells[7] = "inf"
        path = write_csv(root / "inf.csv", cells)
        return [*csv, f"dataset.path={path}"], (
            "inf.csv: line 9: 'inf' in column value is not a finite number"
        )
    if name == "CSV values too large to compute with":
        path = write_csv(root / "huge.csv", [f"{1e300 * (1 + i / 100):.6g}" for i in range(200)])
        return [*csv, f"dataset.path={path}"], (
            "huge.csv: line 2: '1e+300' in column value is too large to compute with"
        )
    if name == "a knob that is not a finite number":
        return ["+reg=l2", "reg.l2=1e400"], "reg.l2=inf is out of range: it must be a finite number"
    if name == "more missing values than dataset.max_missing":
        cells = ["" if i % 4 == 0 else c for i, c in enumerate(series())]
        path = write_csv(root / "gaps.csv", cells)
        return [*csv, f"dataset.path={path}"], (
            "gaps.csv: 50 of 200 values of column value are missing (25.0%), more than "
            "dataset.max_missing=0.1 allows"
        )
    if name == "several values without -m":
        return ["seed=0,1"], "several values (seed=0,1) make a sweep, one run per value: add -m"
    if name == "a full-width digit":
        return ["seed=\uff11"], "'\uff11' (FULLWIDTH DIGIT ONE) is not an ASCII digit; write seed=1"
    if name == "an Arabic-Indic digit":
        return ["train.epochs=\u0663"], (
            "'\u0663' (ARABIC-INDIC DIGIT THREE) is not an ASCII digit; write train.epochs=3"
        )
    if name == "typographic quotes":
        return ["dataset.path=\u201c/data/x.csv\u201d"], (
            "is a typographic quote; use straight ones: \"dataset.path='/data/x.csv'\""
        )
    if name == "an accented character outside quotes":
        return [*csv, "dataset.path=/data/caf\u00e9.csv"], (
            "'\u00e9' (LATIN SMALL LETTER E WITH ACUTE) cannot appear in a value outside quotes; "
            "quote the value, and the override for the shell: "
            "\"dataset.path='/data/caf\u00e9.csv'\""
        )
    if name == "a review without a label":
        folder = root / "imdb"
        folder.mkdir()
        good = b'{"text": "a fine film", "label": 1}\n{"text": "a bad film", "label": 0}\n' * 4
        for split, rows in (("train", b'{"text": "no label here"}\n' + good), ("test", good)):
            (folder / f"{split}.jsonl.gz").write_bytes(gzip.compress(rows))
        imdb = ["dataset=imdb", "dataset.num_val=2", f"dataset.cache_dir={root / 'cache'}"]
        return [*imdb, f"dataset.path={folder}"], (
            "train.jsonl.gz: record 1 has no label (missing or NaN); give every record a label, "
            "or drop the records without one"
        )
    if name == "a semicolon-separated CSV":
        path = root / "semi.csv"
        path.write_text("month;sunspots\n" + "".join(f"{i};{c}\n" for i, c in enumerate(series())))
        return ["dataset=csv", "dataset.column=sunspots", f"dataset.path={path}"], (
            "semi.csv: its header 'month;sunspots' reads as one column: the file looks "
            "semicolon-separated"
        )
    raise KeyError(name)


EDGES = [
    "a model too large for the machine",
    "a CSV cell that is infinite",
    "CSV values too large to compute with",
    "a knob that is not a finite number",
    "more missing values than dataset.max_missing",
    "several values without -m",
    "a full-width digit",
    "an Arabic-Indic digit",
    "typographic quotes",
    "an accented character outside quotes",
    "a review without a label",
    "a semicolon-separated CSV",
]


@pytest.mark.parametrize("case", EDGES)
def test_each_edge_is_refused_in_one_line(tmp_path: Path, case: str) -> None:
    assert_refused(*edge_case(case, tmp_path), tmp_path)


def test_the_docs_list_every_edge(tmp_path: Path) -> None:
    """Each case has its row in docs/reliability.md's catalogue, showing its message
    (paths written as PATH)."""
    rows = catalogue_rows()
    for number, case in enumerate(EDGES):
        (shown,) = [message for what, message in rows.items() if what.startswith(case)]
        (tmp_path / str(number)).mkdir()
        _, expected = edge_case(case, tmp_path / str(number))
        after_path = expected.split(": ", 1)[-1]
        assert expected in shown or after_path in shown, (case, shown)


def test_the_memory_refusal_states_both_figures(tmp_path: Path) -> None:
    result = run_main("train", "model.hidden_size=200000", cwd=tmp_path)
    assert result.returncode == 2
    # The default model's 2 layers at 200,000 units: 4 gates x 200,000 x (32 inputs + 200,000)
    # and 4 x 200,000 x 400,000 weights, 8 x 200,000 biases each; a weight, a gradient and
    # Adam's two moments for each: 7 TiB, against the machine's memory in GiB.
    lstm = 4 * 200_000 * (32 + 200_000) + 4 * 200_000 * 400_000 + 2 * 8 * 200_000
    counted = int(re.search(r"has ([\d,]+) parameters", result.stderr)[1].replace(",", ""))
    assert 0 < counted - lstm < 300_000  # the embedding and the head
    assert "7.0 TiB" in result.stderr and "GiB; use a smaller model.hidden_size" in result.stderr


def test_the_count_on_the_meta_device_is_the_built_models(cfg) -> None:
    from lstm_overfit.build import build_run
    from lstm_overfit.data.load import load_data
    from lstm_overfit.memory import check_memory, parameter_count

    data = load_data(cfg.dataset, cfg.seed)
    check_memory([cfg], data)  # a model that fits passes
    built = build_run(cfg).model
    assert parameter_count(cfg, data) == sum(p.numel() for p in built.parameters())


def test_a_home_path_is_expanded(tmp_path: Path, monkeypatch) -> None:
    """`~` starts no value Hydra can parse, and a quoted one would name a folder `~`: the
    path is the home folder's, whether quoted or not."""
    monkeypatch.setenv("HOME", str(tmp_path))
    write_csv(tmp_path / "empty.csv", [])
    for override in ("dataset.path=~/empty.csv", "dataset.path='~/empty.csv'"):
        result = run_main("train", "dataset=csv", "dataset.column=value", override, cwd=tmp_path)
        assert result.returncode == 2
        assert f"{tmp_path / 'empty.csv'}: has a header but no rows" in result.stderr
    result = run_main("train", "resume=~/gone", cwd=tmp_path)
    assert f"resume={tmp_path / 'gone'} is not a run folder" in result.stderr


def test_missing_values_are_counted_and_logged(tmp_path: Path, caplog) -> None:
    from lstm_overfit.data.series import load

    cells = series()
    for i in (10, 11, 80):
        cells[i] = "" if i != 80 else "nan"
    path = write_csv(tmp_path / "gaps.csv", cells)
    for gaps, fate in ((GapPolicy.interpolate, "filled by"), (GapPolicy.drop, "dropped")):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="lstm_overfit.data.series"):
            load(SeriesData(name="csv", path=str(path), column="value", window=8, gaps=gaps), 0)
        (message,) = [r.getMessage() for r in caplog.records]
        assert "3 of 200 values of column value are missing (1.5%)" in message and fate in message
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="lstm_overfit.data.series"):
        load(
            SeriesData(
                name="csv",
                path=str(write_csv(tmp_path / "full.csv", series())),
                column="value",
                window=8,
            ),
            0,
        )
    assert not caplog.records


def test_max_missing_lets_a_gappy_series_through(tmp_path: Path) -> None:
    from lstm_overfit.data.series import load

    cells = ["" if i % 4 == 0 else c for i, c in enumerate(series())]
    cfg = SeriesData(name="csv", path=str(write_csv(tmp_path / "g.csv", cells)), column="value")
    cfg.window, cfg.max_missing = 8, 0.25
    data = load(cfg, 0)
    assert not data.train.inputs.isnan().any() and len(data.train) > 0


def test_offline_hub_errors_are_one_line(tmp_path: Path, monkeypatch, capfd) -> None:
    """The hub's client logs each failed request and retry; only the clean error shows."""
    datasets = pytest.importorskip("datasets")
    from huggingface_hub.utils import logging as hub_logging

    hub_logging.get_logger()  # its own handler, as an import of the client sets it up

    def offline(*args, **kwargs):
        for name in ("huggingface_hub.utils._http", "datasets.load"):
            logging.getLogger(name).warning("Retrying in 1s [Retry 1/5].")
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    args = ["dataset=ptb", f"dataset.cache_dir={tmp_path / 'cache'}"]
    result = run_main("train", *args, cwd=tmp_path)
    captured = capfd.readouterr()
    assert result.returncode == 2
    assert "Retrying" not in captured.err + captured.out + result.stderr + result.stdout
    assert result.stderr.strip().count("\n") == 0 and "could not load" in result.stderr
    shown = result.stderr.strip().removeprefix("lstm-overfit: error: ")
    assert f"| `{shown}` |" in (REPO / "docs" / "reliability.md").read_text()  # its row
    assert logging.getLogger("huggingface_hub").level != logging.ERROR  # restored


def test_piped_log_lines_are_not_wrapped() -> None:
    from lstm_overfit.console import ConsoleHandler

    out = io.StringIO()
    handler = ConsoleHandler(console=Console(file=out, width=80, force_terminal=False))
    handler.setFormatter(logging.Formatter("%(message)s"))
    message = "epoch 1/40 " + "x" * 150
    handler.emit(logging.LogRecord("lstm_overfit", logging.WARNING, "", 0, message, None, None))
    (line,) = out.getvalue().splitlines()
    assert line.endswith(message) and "WARNING" in line


def test_help_examples_quote_brackets_for_the_shell(tmp_path: Path) -> None:
    """`+reg=[l2,dropout]` unquoted is a glob: zsh refuses it, bash may match a file."""
    for args in (["--help"], ["train", "--help"]):
        shown = run_main(*args, cwd=tmp_path).stdout
        examples = shown[shown.index("examples:") :]
        assert "'+reg=[l2,dropout]'" in examples
        assert " +reg=[" not in examples


def record(epoch: int, per_second: float) -> EpochRecord:
    return EpochRecord(
        epoch=epoch,
        train_loss=0.5,
        train_loss_running=0.5,
        penalty=0.0,
        val_loss=0.6,
        gap=0.1,
        lr=1e-3,
        grad_norm=1.0,
        epoch_seconds=10_000 / per_second,
        tokens_per_second=per_second,
        eval_seconds=0.1,
        ended_at=0.0,
    )


def slow_warnings(rates: list[float], caplog) -> list[str]:
    from lstm_overfit.throughput import SlowEpochWarning

    watch = SlowEpochWarning(task_kind(Task.lm).rate_unit)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="lstm_overfit.throughput"):
        for epoch, rate in enumerate(rates, 1):
            watch.end_epoch(record(epoch, rate))
    return [r.getMessage() for r in caplog.records]


def test_a_slow_epoch_is_named_once_with_its_cause_and_knob(caplog) -> None:
    (warning,) = slow_warnings([4000, 5000, 4800, 1200, 900, 5000, 1000], caplog)
    assert warning.startswith("epoch 4 trained at 1.2k tokens/s, 4.2x slower than this run's")
    assert "(5.0k tokens/s)" in warning and "busy" in warning
    assert "train.num_threads" in warning


def test_ordinary_variation_is_not_a_slow_epoch(caplog) -> None:
    # A slow first epoch (warm-up) and epochs within a factor of 3 of the fastest.
    assert slow_warnings([1000, 5000, 2000, 1700, 4900], caplog) == []


def test_a_run_whose_epochs_slow_down_says_so_in_its_log(tmp_path: Path, monkeypatch) -> None:
    """The command wires the warning into every run: epoch speeds scripted through the
    training pass, no sleeps."""
    import lstm_overfit.train as train

    real = train.TrainingRun.train_epoch
    rates = iter([5000.0, 4000.0, 1000.0, 900.0])

    def scripted(self, epoch: int, lr: float) -> dict[str, float]:
        return {**real(self, epoch, lr), "tokens_per_second": next(rates)}

    monkeypatch.setattr(train.TrainingRun, "train_epoch", scripted)
    args = ["train", "+experiment=smoke", "train.epochs=4", "train.progress=false"]
    result = run_main(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [folder] = run_folders(tmp_path)
    log = (folder / "run.log").read_text()
    assert log.count("slower than this run's fastest") == 1
    assert "epoch 3 trained at 1.0k tokens/s, 5.0x slower" in log


def test_the_progress_display_shows_the_training_speed() -> None:
    from lstm_overfit.console import RichProgress

    for task, unit in ((Task.lm, "tokens/s"), (Task.forecast, "steps/s")):
        progress = RichProgress(3, task_kind(task).rate_unit)
        progress.end_epoch(record(1, 12_345.0))
        stats = progress.progress.tasks[progress.epochs].fields["stats"]
        assert stats.endswith(f"12.3k {unit}") and "gap +0.1000" in stats
