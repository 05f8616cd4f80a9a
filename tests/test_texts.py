"""dataset=texts: labelled texts of any file format, folder or hub copy, any columns and any
number of classes; the fixtures are written here, by the tests."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
import torch
from conftest import count_row_reads, run_main

from lstm_overfit.config import Config, TextsData
from lstm_overfit.data import texts
from lstm_overfit.data.labels import carve
from lstm_overfit.data.load import load_data
from lstm_overfit.fit import fit
from lstm_overfit.tasks.classify import macro_f1

# A learnable rule: the class is the colour word a text holds, among filler words. One class
# is rare, so stratification and macro-F1 have something to do.
COLOURS = {"alpha": "red", "beta": "green", "gamma": "blue"}
SHARES = {"alpha": 0.6, "beta": 0.3, "gamma": 0.1}
FILLER = "the a film plot was is and of to it very quite rather story scene".split()


def labelled_rows(count: int, seed: int = 0) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        label = rng.choices(list(SHARES), weights=list(SHARES.values()))[0]
        words = rng.choices(FILLER, k=rng.randint(4, 12))
        words.insert(rng.randrange(len(words) + 1), COLOURS[label])
        rows.append({"review": " ".join(words), "category": label})
    return rows


def write_rows(path: Path, rows: list[dict]) -> Path:
    """The rows in the format the extension names."""
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    else:
        with path.open("w", newline="") as f:
            delimiter = "\t" if path.suffix == ".tsv" else ","
            writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter=delimiter)
            writer.writeheader()
            writer.writerows(rows)
    return path


def texts_config(path: Path | None, tmp_path: Path, **keys) -> TextsData:
    return TextsData(
        path=None if path is None else str(path),
        cache_dir=str(tmp_path / "cache"),
        text_column="review",
        label_column="category",
        **keys,
    )


@pytest.fixture
def rows_csv(tmp_path: Path) -> Path:
    return write_rows(tmp_path / "reviews.csv", labelled_rows(300))


def test_string_labels_become_sorted_classes_and_the_run_records_them(rows_csv, tmp_path):
    data = load_data(texts_config(rows_csv, tmp_path), seed=0)
    assert data.num_classes == 3 and data.info["classes"] == ["alpha", "beta", "gamma"]
    assert (len(data.train), len(data.val), len(data.test)) == (240, 30, 30)
    red, blue = data.vocab.index("red"), data.vocab.index("blue")
    for split in (data.train, data.val, data.test):
        for i in range(len(split)):
            ids = split.ids[split.offsets[i] : split.offsets[i + 1]].tolist()
            label = int(split.labels[i])
            assert (red in ids) == (label == 0) and (blue in ids) == (label == 2)


@pytest.mark.parametrize("extension", [".tsv", ".jsonl", ".parquet"])
def test_every_file_format_gives_what_the_csv_gives(rows_csv, tmp_path, extension) -> None:
    other = write_rows(tmp_path / f"reviews{extension}", labelled_rows(300))
    a = load_data(texts_config(rows_csv, tmp_path), seed=0)
    b = load_data(texts_config(other, tmp_path), seed=0)
    assert a.vocab == b.vocab and a.info == b.info
    for name in ("train", "val", "test"):
        assert torch.equal(getattr(a, name).ids, getattr(b, name).ids)
        assert torch.equal(getattr(a, name).labels, getattr(b, name).labels)


def test_integer_labels_sort_as_numbers(tmp_path) -> None:
    rows = [
        {"review": r["review"], "category": {"alpha": 10, "beta": 2, "gamma": 7}[r["category"]]}
        for r in labelled_rows(200)
    ]
    data = load_data(texts_config(write_rows(tmp_path / "n.jsonl", rows), tmp_path), seed=0)
    assert data.info["classes"] == ["2", "7", "10"]


def test_the_stratified_carve_keeps_every_class_in_each_part() -> None:
    labels = torch.tensor([0] * 180 + [1] * 15 + [2] * 5)
    for seed in range(5):
        val, test, rest = carve(labels, [20, 20], stratify=True, seed=seed)
        assert sorted(torch.cat([val, test, rest]).tolist()) == list(range(200))
        for part in (val, test, rest):
            assert set(labels[part].tolist()) == {0, 1, 2}  # the rare class too
        assert abs(int((labels[val] == 0).sum()) - 18) <= 1  # the shares kept
    plain = carve(labels, [20, 20], stratify=False, seed=3)
    order = torch.randperm(200, generator=torch.Generator().manual_seed(3))
    assert torch.equal(torch.cat(plain), order)  # consecutive stretches of one permutation


def test_a_folder_of_split_files_uses_its_own_validation_and_test(tmp_path) -> None:
    folder = tmp_path / "own"
    folder.mkdir()
    write_rows(folder / "train.csv", labelled_rows(200, seed=1))
    write_rows(folder / "validation.csv", labelled_rows(40, seed=2))
    write_rows(folder / "test.parquet", labelled_rows(50, seed=3))
    data = load_data(texts_config(folder, tmp_path), seed=0)
    assert (len(data.train), len(data.val), len(data.test)) == (200, 40, 50)
    capped = load_data(texts_config(folder, tmp_path, num_val=10, num_test=20), seed=0)
    assert (len(capped.val), len(capped.test)) == (10, 20)
    assert torch.equal(capped.val.labels, data.val.labels[:10])


def save_hub_copy(folder: Path, splits: dict[str, list[dict]]) -> Path:
    """A hub data set as `datasets` saves it: integer labels with their names (ClassLabel),
    SST-2's unlabelled test split (every label -1)."""
    import datasets

    features = datasets.Features(
        review=datasets.Value("string"),
        category=datasets.ClassLabel(names=list(COLOURS)),
    )
    ids = {name: i for i, name in enumerate(COLOURS)}
    datasets.DatasetDict(
        {
            name: datasets.Dataset.from_list(
                [{**row, "category": ids.get(row["category"], -1)} for row in rows],
                features=features,
            )
            for name, rows in splits.items()
        }
    ).save_to_disk(str(folder))
    return folder


@pytest.fixture
def hub_copy(tmp_path: Path) -> Path:
    unlabelled = [{**row, "category": None} for row in labelled_rows(30, seed=3)]
    return save_hub_copy(
        tmp_path / "hub",
        {"train": labelled_rows(200, seed=1), "dev": labelled_rows(40, seed=2), "test": unlabelled},
    )


def test_a_saved_folder_names_its_classes_and_carves_an_unlabelled_test(hub_copy, tmp_path):
    data = load_data(texts_config(hub_copy, tmp_path), seed=0)
    assert data.info["classes"] == ["alpha", "beta", "gamma"]
    # dev is the validation split; the test split has no labels, so 10% of train is carved.
    assert (len(data.train), len(data.val), len(data.test)) == (180, 40, 20)


def test_a_hub_id_reads_the_same_and_a_warm_start_reads_no_row(hub_copy, monkeypatch, tmp_path):
    import datasets

    monkeypatch.setattr(
        datasets, "load_dataset", lambda name, config=None: datasets.load_from_disk(str(hub_copy))
    )
    reads = count_row_reads(monkeypatch)
    cfg = texts_config(None, tmp_path, hub="someone/colours")
    first = texts.load(cfg, seed=0)
    assert reads and first.info["classes"] == ["alpha", "beta", "gamma"]
    reads.clear()
    again = texts.load(cfg, seed=0)
    assert reads == [] and torch.equal(first.train.ids, again.train.ids)


def test_a_warm_start_from_a_file_reads_no_row(rows_csv, monkeypatch, tmp_path) -> None:
    import datasets

    cfg = texts_config(rows_csv, tmp_path)
    first = texts.load(cfg, seed=0)

    def no_reading(*args, **kwargs):
        raise AssertionError("a row was read")

    monkeypatch.setattr(datasets, "load_dataset", no_reading)
    monkeypatch.setattr(texts.TextSource, "columns", no_reading)
    again = texts.load(cfg, seed=0)
    assert torch.equal(first.val.ids, again.val.ids) and first.info == again.info


def test_macro_f1_averages_the_classes_that_occur() -> None:
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    predicted = torch.tensor([0, 0, 1, 1, 1, 0])
    f1 = [2 * 2 / (2 * 2 + 1 + 1), 2 * 2 / (2 * 2 + 1 + 0), 0.0]
    assert macro_f1(predicted, labels, 4) == pytest.approx(sum(f1) / 3)  # class 3 never occurs
    assert macro_f1(labels, labels, 3) == 1.0


def test_a_model_learns_the_rule_beyond_the_majority_class(tmp_path) -> None:
    path = write_rows(tmp_path / "rule.csv", labelled_rows(600))
    for seed in (0, 1):
        cfg = Config(dataset=texts_config(path, tmp_path), seed=seed)
        cfg.model.embedding_size, cfg.model.hidden_size, cfg.model.num_layers = 16, 16, 1
        cfg.train.epochs, cfg.train.batch_size, cfg.train.progress = 8, 16, False
        cfg.optim.lr = 1e-2
        summary = fit(cfg, tmp_path / str(seed))
        assert summary.metric == "macro_f1" and summary.classes == ["alpha", "beta", "gamma"]
        baseline = summary.majority_baseline
        assert baseline["test_acc"] == pytest.approx(0.6, abs=0.12)
        assert summary.test["macro_f1"] > baseline["test_macro_f1"] + 0.4


def test_a_three_class_sweep_and_its_report_compare_macro_f1(rows_csv, tmp_path) -> None:
    sweep = tmp_path / "sweep"
    result = run_main(
        "train",
        "-m",
        "+experiment=smoke",
        "dataset=texts",
        f"dataset.path={rows_csv}",
        "dataset.text_column=review",
        "dataset.label_column=category",
        f"dataset.cache_dir={tmp_path / 'cache'}",
        "reg.dropout=0,0.3",
        "seed=0,1",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    summaries = [json.loads(p.read_text()) for p in sweep.rglob("summary.json")]
    assert len(summaries) == 4
    for summary in summaries:
        assert summary["metric"] == "macro_f1" and "macro_f1" in summary["test"]
        assert summary["classes"] == ["alpha", "beta", "gamma"]
        assert set(summary["majority_baseline"]) >= {"train_acc", "val_acc", "test_acc"}
    report = (sweep / "report.md").read_text()
    assert "macro_f1" in report
