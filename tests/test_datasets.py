"""Loaders for the real data sets, on the shared copies and on small fixtures."""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import threading
from pathlib import Path

import pytest
import torch
from conftest import count_row_reads

from lstm_overfit.config import (
    Config,
    CorpusData,
    GapPolicy,
    SeriesData,
    SeriesTransform,
    Task,
    TextsData,
)
from lstm_overfit.data import corpus, texts
from lstm_overfit.data.files import DataError
from lstm_overfit.data.load import load_data
from lstm_overfit.data.splits import Sequences, TaskData
from lstm_overfit.data.text import EOS, UNK, tokenize
from lstm_overfit.models import LSTMClassifier, ModelSpec, build_model
from lstm_overfit.tasks.classify import ClassificationTask, length_batches
from lstm_overfit.tasks.forecast import ForecastTask
from lstm_overfit.tasks.lm import LanguageModelTask, batchify, window_lengths

CPU = torch.device("cpu")


def classifier(bidirectional: bool = True, vocab: int = 50) -> torch.nn.Module:
    torch.manual_seed(0)
    spec = ModelSpec(Task.classify, vocab, 8, (6, 6), bidirectional, num_outputs=1)
    return build_model(spec, LSTMClassifier)


def task_config(dataset, **train) -> Config:
    cfg = Config(dataset=dataset)
    for key, value in train.items():
        setattr(cfg.train, key, value)
    return cfg


REVIEWS = [
    ("A great film.<br /><br />I loved it!", 1),
    ("Terrible, boring; don't watch.", 0),
    ("great acting, great story", 1),
    ("awful awful plot", 0),
    ("fine", 1),
    ("bad", 0),
]


def write_jsonl_gz(path: Path, rows: list[dict]) -> None:
    path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))


@pytest.fixture
def imdb_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "imdb"
    folder.mkdir()
    rows = [{"text": text, "label": label} for text, label in REVIEWS]
    write_jsonl_gz(folder / "train.jsonl.gz", rows)
    write_jsonl_gz(folder / "test.jsonl.gz", [{"text": "a test-only word: zebra", "label": 1}])
    return folder


def imdb_config(path: Path, tmp_path: Path, **sizes: int | None) -> TextsData:
    """The imdb preset's settings."""
    sizes = {"num_train": None, "num_val": 2, "num_test": None, **sizes}
    cache = str(tmp_path / "cache")
    return TextsData(name="imdb", path=str(path), cache_dir=cache, stratify=False, **sizes)


def test_tokenizer_drops_html_breaks_and_splits_punctuation() -> None:
    assert tokenize("A great film.<br /><br />I loved it!") == [
        "a",
        "great",
        "film",
        ".",
        "i",
        "loved",
        "it",
        "!",
    ]
    assert tokenize("Don't stop") == ["don't", "stop"]


def test_imdb_vocabulary_comes_from_the_training_part_only(imdb_folder, tmp_path) -> None:
    data = load_data(imdb_config(imdb_folder, tmp_path), seed=0)
    assert data.task == Task.classify and data.num_classes == 2
    assert (len(data.train), len(data.val), len(data.test)) == (4, 2, 1)
    assert data.vocab[:2] == ["<pad>", UNK]
    assert "zebra" not in data.vocab and "<br" not in " ".join(data.vocab)
    unk = data.vocab.index(UNK)
    assert unk in data.test.ids.tolist()  # test-only words map to <unk>


def test_imdb_validation_carve_does_not_follow_the_run_seed(imdb_folder, tmp_path) -> None:
    cfg = imdb_config(imdb_folder, tmp_path)
    a, b = load_data(cfg, seed=0), load_data(cfg, seed=5)
    assert torch.equal(a.val.ids, b.val.ids)


def test_imdb_max_len_and_cache(imdb_folder, tmp_path) -> None:
    cfg = imdb_config(imdb_folder, tmp_path)
    cfg.max_len = 3
    data = load_data(cfg, seed=0)
    assert int(data.train.lengths.max()) == 3
    [cached] = (tmp_path / "cache").glob("imdb-*.pt")
    stamp = cached.stat().st_mtime_ns
    load_data(cfg, seed=0)
    assert cached.stat().st_mtime_ns == stamp  # read back, not rebuilt
    cfg.max_len = 4
    load_data(cfg, seed=0)
    assert len(list((tmp_path / "cache").glob("imdb-*.pt"))) == 2  # new settings, new entry


def test_a_changed_local_file_is_prepared_again(imdb_folder, tmp_path) -> None:
    cfg = imdb_config(imdb_folder, tmp_path)
    before = texts.load(cfg, seed=0)
    write_jsonl_gz(imdb_folder / "test.jsonl.gz", [{"text": "great great", "label": 0}])
    after = texts.load(cfg, seed=0)
    assert after.test.labels.tolist() == [0] != before.test.labels.tolist()
    assert len(list((tmp_path / "cache").glob("imdb-*.pt"))) == 2


def write_gz(path: Path, raw: bytes) -> None:
    path.write_bytes(gzip.compress(raw))


DAMAGES = {
    "missing file": (lambda f: (f / "train.jsonl.gz").unlink(), "has no split 'train'"),
    "corrupt gzip": (
        lambda f: (f / "train.jsonl.gz").write_bytes(b"\x1f\x8bnot gzip"),
        "cannot be read as gzip",
    ),
    "empty split": (lambda f: write_jsonl_gz(f / "test.jsonl.gz", []), "is empty"),
    "not JSON": (
        lambda f: write_gz(f / "train.jsonl.gz", b'{"text": "x", "label": 1}\n{oops\n'),
        "line 2 is not JSON",
    ),
    "label out of range": (
        lambda f: write_jsonl_gz(f / "train.jsonl.gz", [{"text": "x", "label": 3}]),
        "every training label is 3, a single class",
    ),
    "a record without a label": (
        lambda f: write_jsonl_gz(f / "train.jsonl.gz", [{"text": "x", "label": 1}, {"text": "y"}]),
        "record 2 has no label",
    ),
    "not UTF-8": (
        lambda f: write_gz(f / "train.jsonl.gz", b'{"text": "caf\xe9", "label": 1}\n'),
        "is not UTF-8",
    ),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_bad_imdb_files_name_the_file_and_the_problem(imdb_folder, tmp_path, damage) -> None:
    spoil, expected = DAMAGES[damage]
    spoil(imdb_folder)
    with pytest.raises(DataError, match=expected) as err:
        load_data(imdb_config(imdb_folder, tmp_path), seed=0)
    assert str(imdb_folder) in str(err.value)


def test_imdb_path_errors(tmp_path) -> None:
    with pytest.raises(DataError, match="no such file or folder"):
        load_data(imdb_config(tmp_path / "missing", tmp_path), seed=0)
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(DataError, match="texts does not read '.txt' files"):
        load_data(imdb_config(a_file, tmp_path), seed=0)


def test_more_validation_than_data_is_refused(imdb_folder, tmp_path) -> None:
    with pytest.raises(DataError, match="dataset.num_val=6 leaves no training texts"):
        load_data(imdb_config(imdb_folder, tmp_path, num_val=6), seed=0)


def test_imdb_from_the_hub_is_one_thin_call(monkeypatch, tmp_path) -> None:
    import datasets

    calls = []

    def fake_load_dataset(name, config=None):
        calls.append((name, config))
        rows = [{"text": text, "label": label} for text, label in REVIEWS]
        return datasets.DatasetDict(
            train=datasets.Dataset.from_list(rows), test=datasets.Dataset.from_list(rows[:2])
        )

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    cfg = TextsData(name="imdb", hub="stanfordnlp/imdb", num_val=2, cache_dir=str(tmp_path))
    data = load_data(cfg, seed=0)
    assert calls == [("stanfordnlp/imdb", None)]
    assert (len(data.train), len(data.val), len(data.test)) == (4, 2, 2)


def test_hub_failure_says_to_use_a_local_copy(monkeypatch, tmp_path) -> None:
    import datasets

    def offline(name, config=None):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    cfg = CorpusData(name="wikitext2", hub="Salesforce/wikitext", hub_config="wikitext-2-raw-v1")
    with pytest.raises(DataError, match="set dataset.path to a local copy"):
        load_data(cfg, seed=0)


def save_hub_copy(folder: Path, splits: dict[str, list[dict]]) -> Path:
    """A hub data set saved by `datasets` itself, so its splits carry real fingerprints."""
    import datasets

    datasets.DatasetDict(
        {name: datasets.Dataset.from_list(rows) for name, rows in splits.items()}
    ).save_to_disk(str(folder))
    return folder


@pytest.fixture
def hub_on_disk(monkeypatch) -> dict[tuple[str, str | None], Path]:
    """`datasets.load_dataset` answered from copies saved on disk (no network), by hub id."""
    import datasets

    copies: dict[tuple[str, str | None], Path] = {}
    monkeypatch.setattr(
        datasets,
        "load_dataset",
        lambda name, config=None: datasets.load_from_disk(copies[name, config]),
    )
    return copies


def test_a_cached_hub_data_set_is_not_read_again(hub_on_disk, monkeypatch, tmp_path) -> None:
    rows = [{"text": text, "label": label} for text, label in REVIEWS]
    hub_on_disk["stanfordnlp/imdb", None] = save_hub_copy(
        tmp_path / "hub", {"train": rows, "test": rows[:2], "unsupervised": rows}
    )
    reads = count_row_reads(monkeypatch)
    cfg = TextsData(
        name="imdb", hub="stanfordnlp/imdb", num_val=2, cache_dir=str(tmp_path / "cache")
    )
    # The loader itself: load_data hands a repeated load over in-process, skipping the cache.
    first = texts.load(cfg, seed=0)
    assert reads  # preparing reads the rows
    reads.clear()
    again = texts.load(cfg, seed=0)
    assert reads == []  # keyed by the splits' fingerprints: no row read, none hashed
    assert torch.equal(first.train.ids, again.train.ids) and first.vocab == again.vocab

    # Other rows under the same id (a new hub revision) are a new entry, not the stale one.
    hub_on_disk["stanfordnlp/imdb", None] = save_hub_copy(
        tmp_path / "hub2", {"train": rows, "test": [{"text": "zebra zebra", "label": 0}]}
    )
    changed = texts.load(cfg, seed=0)
    assert changed.test.ids.tolist() != first.test.ids.tolist()
    assert len(list((tmp_path / "cache").glob("imdb-*.pt"))) == 2


def test_a_cached_hub_corpus_is_not_read_again(hub_on_disk, monkeypatch, tmp_path) -> None:
    split = [{"text": " the cat \n"}, {"text": ""}]
    hub_on_disk["Salesforce/wikitext", "wikitext-2-raw-v1"] = save_hub_copy(
        tmp_path / "hub", {"train": split, "validation": split, "test": split}
    )
    reads = count_row_reads(monkeypatch)
    cfg = CorpusData(
        name="wikitext2",
        hub="Salesforce/wikitext",
        hub_config="wikitext-2-raw-v1",
        cache_dir=str(tmp_path / "cache"),
    )
    first = corpus.load(cfg, seed=0)
    assert reads and [first.vocab[i] for i in first.train.ids.tolist()] == ["the", "cat", EOS, EOS]
    reads.clear()
    again = corpus.load(cfg, seed=0)
    assert reads == []
    assert torch.equal(first.train.ids, again.train.ids)


def lm_config(path: Path, tmp_path: Path, **kw) -> CorpusData:
    return CorpusData(name="ptb", path=str(path), cache_dir=str(tmp_path / "cache"), **kw)


def write_corpus(folder: Path, gz: bool) -> None:
    folder.mkdir()
    texts = {
        "train.txt": " = Heading = \n\n the cat sat on the mat \n the dog sat \n",
        "valid.txt": " the cat ran \n",
        "test.txt": " a bird sat \n",
    }
    for name, text in texts.items():
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(text.encode()))
        else:
            (folder / name).write_text(text)


@pytest.mark.parametrize("gz", [True, False])
def test_wikitext_layout_streams_with_eos_and_unk(tmp_path, gz) -> None:
    write_corpus(tmp_path / "wt2", gz)
    cfg = lm_config(tmp_path / "wt2", tmp_path)
    cfg.name = "wikitext2"
    data = load_data(cfg, seed=0)
    words = [data.vocab[i] for i in data.train.ids.tolist()]
    assert words[:5] == ["=", "Heading", "=", EOS, EOS]  # the blank line keeps its <eos>
    assert words.count(EOS) == 4
    val = [data.vocab[i] for i in data.val.ids.tolist()]
    assert val == ["the", "cat", UNK, EOS]  # 'ran' is not a training word


def test_wikitext_from_the_hub(monkeypatch, tmp_path) -> None:
    import datasets

    def fake(name, config=None):
        assert (name, config) == ("Salesforce/wikitext", "wikitext-2-raw-v1")
        split = datasets.Dataset.from_list([{"text": " the cat \n"}, {"text": ""}])
        return datasets.DatasetDict(train=split, validation=split, test=split)

    monkeypatch.setattr(datasets, "load_dataset", fake)
    cfg = CorpusData(
        name="wikitext2",
        hub="Salesforce/wikitext",
        hub_config="wikitext-2-raw-v1",
        cache_dir=str(tmp_path),
    )
    data = load_data(cfg, seed=0)
    assert [data.vocab[i] for i in data.train.ids.tolist()] == ["the", "cat", EOS, EOS]


def test_ptb_has_the_published_counts(shared_data: Path, tmp_path: Path) -> None:
    cfg = lm_config(shared_data / "ptb", tmp_path)
    data = load_data(cfg, seed=0)
    assert data.vocab_size == 10000
    assert (len(data.train), len(data.val), len(data.test)) == (929589, 73760, 82430)
    assert UNK in data.vocab and data.vocab[0] == EOS


def test_bptt_windows_cover_the_stream_and_targets_are_the_next_tokens(tmp_path) -> None:
    write_corpus(tmp_path / "c", gz=False)
    corpus = lm_config(tmp_path / "c", tmp_path, bptt=2)
    data = load_data(corpus, seed=0)
    task = LanguageModelTask(data, task_config(corpus, batch_size=2), CPU)
    rows = batchify(data.train, 2)
    assert torch.equal(rows.reshape(-1), data.train.ids[: rows.numel()])
    windows = task.epoch_batches(torch.Generator())
    assert [start for start, _ in windows] == list(range(0, rows.shape[1] - 1, 2))
    assert sum(length for _, length in windows) == rows.shape[1] - 1
    inputs, targets = task.window(rows, *windows[0])
    assert torch.equal(targets[:, :-1], inputs[:, 1:])


def test_variable_bptt_draws_awd_lstm_lengths_and_scales_the_step() -> None:
    gen = torch.Generator().manual_seed(0)
    lengths = window_lengths(200_000, 70, gen)
    assert sum(lengths) == 200_000 and min(lengths[:-1]) >= 5
    short = sum(1 for n in lengths if n < 52) / len(lengths)
    assert 0.03 < short < 0.07  # N(35, 5) with probability 0.05
    long = torch.tensor([float(n) for n in lengths[:-1] if n >= 52])
    assert abs(long.mean().item() - 69.5) < 0.3 and abs(long.std().item() - 5) < 0.3
    assert window_lengths(10, 4, None) == [4, 4, 2]
    again = window_lengths(200_000, 70, torch.Generator().manual_seed(0))
    assert again == lengths  # the batch-order generator makes them reproducible


# What the imdb preset prepared from the shared copy before it became a preset of texts
# (1,000 validation reviews carved, 1,000 training reviews after them, the first 1,000 test):
# the vocabulary and every split's ids, offsets and labels, hashed. Integers only, so the same
# on every CPU.
IMDB_PREPARED = "11f2a471c366dfa141b8d1d876fe5d9b5fad960b914004c0528873917d57ad40"


def test_the_imdb_preset_prepares_what_it_did_before(shared_data: Path, tmp_path: Path) -> None:
    import hashlib

    from conftest import CONF

    from lstm_overfit.config import register_configs
    from lstm_overfit.preflight import compose_config

    register_configs()
    cfg = compose_config(
        CONF,
        [
            "dataset=imdb",
            f"dataset.path={shared_data / 'imdb'}",
            f"dataset.cache_dir={tmp_path}",
            "dataset.num_train=1000",
            "dataset.num_val=1000",
            "dataset.num_test=1000",
        ],
    )
    data = load_data(cfg.dataset, seed=0)
    assert (len(data.train), len(data.val), len(data.test)) == (1000, 1000, 1000)
    assert data.info["classes"] == ["0", "1"] and len(data.vocab) == 18937
    digest = hashlib.sha256("\n".join(data.vocab).encode())
    for split in (data.train, data.val, data.test):
        for tensor in (split.ids, split.offsets, split.labels):
            digest.update(tensor.numpy().tobytes())
    assert digest.hexdigest() == IMDB_PREPARED


def series_config(path: Path, column: str, **kw) -> SeriesData:
    return SeriesData(name="csv", path=str(path), column=column, **kw)


def read_levels(path: Path, column: int = 1) -> list[float]:
    rows = [line.split(",") for line in path.read_text().splitlines()[1:]]
    return [float(row[column]) if row[column] else math.nan for row in rows]


def test_sunspots_windows_are_chronological_and_normalized_on_train(shared_data: Path) -> None:
    path = shared_data / "sunspots" / "monthly.csv"
    data = load_data(series_config(path, "sunspots", window=12, horizon=2), seed=0)
    steps = data.info["steps"]
    assert sum(steps.values()) == 3126
    assert len(data.train) == steps["train"] - 12 - 2 + 1
    assert len(data.val) == steps["val"] - 2 + 1  # looks back into train for its inputs
    assert abs(float(data.train.inputs[:, 0].mean())) < 0.1
    raw = read_levels(path)
    # The first validation target is the first step after the training part.
    assert math.isclose(data.val.target_levels[0, 0].item(), raw[steps["train"]], rel_tol=1e-9)
    first = data.scale.levels(data.val.targets[:1].double(), data.val.last[:1])[0, 0].item()
    assert math.isclose(first, raw[steps["train"]], rel_tol=1e-5)
    assert data.val.last[0].item() == raw[steps["train"] - 1]


def test_differences_are_modelled_and_scored_on_levels(shared_data: Path) -> None:
    path = shared_data / "co2" / "weekly.csv"
    level = load_data(series_config(path, "co2_ppm", window=52), seed=0)
    change = load_data(
        series_config(path, "co2_ppm", window=52, transform=SeriesTransform.difference), seed=0
    )
    assert change.scale.differenced and not level.scale.differenced
    # The same test targets, in ppm, whatever the model reads.
    assert torch.equal(change.test.target_levels[-50:], level.test.target_levels[-50:])
    # A perfect change forecast is a perfect level forecast.
    levels = change.scale.levels(change.test.targets.double(), change.test.last)
    torch.testing.assert_close(levels, change.test.target_levels, rtol=0, atol=1e-4)
    # Every test value lies above the training maximum: levels extrapolate, changes do not.
    assert level.test.target_levels.min() > level.train.target_levels.max()
    assert change.test.inputs.abs().max() < 6


def test_persistence_and_mase_are_computed_on_the_same_windows(shared_data: Path) -> None:
    path = shared_data / "sunspots" / "monthly.csv"
    data = load_data(series_config(path, "sunspots", window=12), seed=0)
    raw = read_levels(path)
    n_train = data.info["steps"]["train"]
    steps = [abs(raw[t] - raw[t - 1]) for t in range(1, n_train)]
    assert math.isclose(data.naive_step_mae, sum(steps) / len(steps), rel_tol=1e-9)
    task = ForecastTask(data, Config(dataset=SeriesData()), CPU)
    naive = task.persistence(data.test)
    by_hand = (data.test.target_levels[:, 0] - data.test.last).abs().mean().item()
    assert math.isclose(naive["mae"], by_hand, rel_tol=1e-9)
    assert math.isclose(naive["mase"], by_hand / data.naive_step_mae, rel_tol=1e-9)


@pytest.mark.parametrize("gaps", [GapPolicy.interpolate, GapPolicy.drop])
def test_co2_gaps(shared_data: Path, gaps: GapPolicy) -> None:
    path = shared_data / "co2" / "weekly.csv"
    data = load_data(series_config(path, "co2_ppm", window=52, gaps=gaps), seed=0)
    for split in (data.train, data.val, data.test):
        assert not split.inputs.isnan().any() and not split.targets.isnan().any()
        assert not split.last.isnan().any() and not split.target_levels.isnan().any()
    full = load_data(series_config(path, "co2_ppm", window=52), seed=0)
    if gaps == GapPolicy.drop:
        assert len(data.train) < len(full.train)


def test_csv_errors_name_the_column(tmp_path: Path) -> None:
    csv = tmp_path / "s.csv"
    csv.write_text("t,value\n1,2.0\n2,x\n")
    with pytest.raises(DataError, match="no column 'values'; its columns are t, value"):
        load_data(series_config(csv, "values"), seed=0)
    with pytest.raises(DataError, match="line 3: 'x' in column value is not a number"):
        load_data(series_config(csv, "value"), seed=0)


def test_padding_is_irrelevant() -> None:
    """A padded row gives the same prediction as the same sequence alone (both directions)."""
    model = classifier().eval()
    short = torch.tensor([[3, 4, 5]])
    padded = torch.tensor([[3, 4, 5, 0, 0], [1, 2, 3, 4, 5]])
    alone = model(short, torch.tensor([3])).prediction
    together = model(padded, torch.tensor([3, 5])).prediction
    torch.testing.assert_close(together[0], alone[0])


def classification_data(lengths: torch.Tensor) -> TaskData:
    """Random binary-labelled sequences of the given lengths (vocabulary 50) in every split."""
    ids = torch.randint(2, 50, (int(lengths.sum()),))
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)])
    split = Sequences(ids, offsets, torch.randint(0, 2, (len(lengths),)))
    return TaskData(Task.classify, split, split, split, vocab_size=50, num_classes=2)


@pytest.mark.parametrize("equal", [False, True], ids=["varying lengths", "one length"])
def test_a_batch_holds_each_sequence_in_its_row_padded_with_zeros(equal: bool) -> None:
    torch.manual_seed(0)
    lengths = torch.full((50,), 17) if equal else torch.randint(1, 40, (50,))
    split = classification_data(lengths).train
    assert split.width == (17 if equal else None)
    assert split.subset(torch.tensor([4, 2])).width == (17 if equal else None)
    index = torch.tensor([7, 3, 3, 49, 0])
    tokens, batch_lengths, labels = split.batch(index)
    assert tokens.shape == (5, int(lengths[index].max()))
    assert torch.equal(batch_lengths, lengths[index]) and torch.equal(labels, split.labels[index])
    for row, i in zip(tokens, index.tolist(), strict=True):
        sequence = split.ids[split.offsets[i] : split.offsets[i + 1]]
        assert torch.equal(row[: len(sequence)], sequence)
        assert not row[len(sequence) :].any()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_length_buckets_keep_padding_low(seed: int) -> None:
    """Training batches drawn from length-sorted pools pad to under 10% more than the real
    steps, where batches of the same lengths in shuffled order pad to over half more."""
    torch.manual_seed(seed)
    lengths = torch.randint(5, 400, (3000,))
    data = classification_data(lengths)
    task = ClassificationTask(data, task_config(None, batch_size=32), CPU)
    batches = task.epoch_batches(torch.Generator().manual_seed(seed))
    assert sorted(torch.cat(batches).tolist()) == list(range(3000))
    assert max(len(b) for b in batches) <= 32

    def padded_share(batches: list[torch.Tensor]) -> float:
        return sum(len(b) * int(lengths[b].max()) for b in batches) / int(lengths.sum())

    assert padded_share(batches) < 1.10
    assert padded_share(list(torch.randperm(3000).split(32))) > 1.5


@pytest.mark.parametrize("max_rows", [1, 7, 256])
def test_evaluation_batches_cover_every_sequence_with_little_padding(max_rows: int) -> None:
    lengths = torch.cat([torch.randint(5, 400, (600,)), torch.full((40,), 500)])
    batches = length_batches(lengths, max_rows)
    assert sorted(torch.cat(batches).tolist()) == list(range(len(lengths)))
    for batch in batches:
        assert 1 <= len(batch) <= max_rows
        padded = len(batch) * int(lengths[batch].max())
        assert len(batch) == 1 or padded <= 1.10 * int(lengths[batch].sum())
    # Sequences of one length fill whole batches.
    assert [len(b) for b in length_batches(torch.full((600,), 30), 256)] == [256, 256, 88]


def test_evaluation_does_not_depend_on_its_batches() -> None:
    torch.manual_seed(0)
    data = classification_data(torch.randint(1, 60, (90,)))
    split = data.val
    model = classifier()
    results = [
        ClassificationTask(data, task_config(None, eval_batch_size=rows), CPU).evaluate(
            model, split
        )
        for rows in (1, 16, 256)
    ]
    for other in results[1:]:
        assert other["acc"] == results[0]["acc"]
        assert other["loss"] == pytest.approx(results[0]["loss"], rel=1e-5)


def _prepare_in_subprocess(folder: str, cache: str, queue) -> None:
    from lstm_overfit.config import TextsData
    from lstm_overfit.data.load import load_data

    cfg = TextsData(name="imdb", path=folder, num_val=2, cache_dir=cache)
    queue.put(load_data(cfg, seed=0).train.ids.tolist())


def test_jobs_preparing_one_cache_at_once_agree(imdb_folder, tmp_path) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    cache = str(tmp_path / "shared_cache")
    procs = [
        ctx.Process(target=_prepare_in_subprocess, args=(str(imdb_folder), cache, queue))
        for _ in range(3)
    ]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    assert results[0] == results[1] == results[2]
    assert len(list(Path(cache).glob("imdb-*.pt"))) == 1
    assert not list(Path(cache).glob("*.tmp"))


def test_two_callers_at_once_build_the_cache_once(monkeypatch, tmp_path) -> None:
    """The second caller waits on the first's lock, then reads what the first built."""
    import filelock

    from lstm_overfit.data import cache

    first_building = threading.Event()
    # The second caller has either met the first's lock or, with no lock, started building.
    second_arrived = threading.Event()
    real_lock = cache.FileLock

    @contextlib.contextmanager
    def watched_lock(path, *args, **kwargs):
        lock = real_lock(path, *args, **kwargs)
        try:
            lock.acquire(blocking=False)
        except filelock.Timeout:
            second_arrived.set()  # the lock is held, so this caller now waits its turn
            lock.acquire()
        try:
            yield lock
        finally:
            lock.release()

    monkeypatch.setattr(cache, "FileLock", watched_lock)
    builds: list[str] = []
    waited: list[bool] = []

    def build() -> dict:
        builds.append(threading.current_thread().name)
        if len(builds) == 1:
            first_building.set()
            # Hold the build open until the second caller is in; the timeout only stops a hang.
            waited.append(second_arrived.wait(timeout=60))
        else:
            second_arrived.set()
        return {"x": torch.arange(3)}

    results: dict[str, object] = {}

    def call() -> None:
        name = threading.current_thread().name
        try:
            results[name] = cache.cached("toy", "key", tmp_path, build)
        except BaseException as err:  # surfaced by the asserts below
            results[name] = err

    first = threading.Thread(target=call, name="first")
    first.start()
    assert first_building.wait(timeout=60)
    second = threading.Thread(target=call, name="second")
    second.start()
    for thread in (first, second):
        thread.join(timeout=60)
        assert not thread.is_alive()
    assert builds == ["first"]
    assert waited == [True]
    assert torch.equal(results["first"]["x"], torch.arange(3))
    assert torch.equal(results["second"]["x"], torch.arange(3))


def test_a_constant_series_is_refused(tmp_path: Path) -> None:
    csv = tmp_path / "flat.csv"
    csv.write_text("t,value\n" + "".join(f"{i},5\n" for i in range(200)))
    with pytest.raises(DataError, match="constant over the training part"):
        load_data(series_config(csv, "value", window=12), seed=0)
