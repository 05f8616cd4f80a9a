"""Bad labelled texts: each mistake one line naming it and the fix, exit status 2, nothing
written; each has its row in docs/reliability.md's bad-input table."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assert_refused, catalogue_rows


def texts_args(path: Path, root: Path) -> list[str]:
    return ["dataset=texts", f"dataset.path={path}", f"dataset.cache_dir={root / 'cache'}"]


GOOD = "text,label\n" + "a fine film,good\na bad film,bad\n" * 10


def texts_case(name: str, root: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], str]:
    """(arguments, expected text) for each texts row of the bad-input table."""
    csv = root / "texts.csv"
    if name == "a missing text or label column":
        csv.write_text(GOOD.replace("text,label", "review,label"))
        return texts_args(csv, root), (
            "no column 'text'; its columns are review, label: set dataset.text_column"
        )
    if name == "an empty or non-string text":
        csv.write_text(GOOD + ",good\n")
        return texts_args(csv, root), "texts.csv: record 21 has no text string (none)"
    if name == "a missing or NaN label":
        csv.write_text("text,label\n" + "a fine film,1\na bad film,0\n" * 10 + "a film,\n")
        return texts_args(
            csv, root
        ), "texts.csv: record 21 has no label (missing or NaN); give every"
    if name == "a single class":
        csv.write_text("text,label\n" + "a fine film,good\n" * 20)
        return texts_args(csv, root), "every training label is 'good', a single class"
    if name == "a file of texts that is not UTF-8":
        csv.write_bytes(GOOD.replace("fine", "caf\xe9").encode("latin-1"))
        return texts_args(csv, root), "texts.csv: is not UTF-8 text (byte 16); convert it"
    if name == "a format its extension does not match":
        wrong = root / "texts.parquet"
        wrong.write_text(GOOD)
        return texts_args(wrong, root), (
            "texts.parquet: cannot be read as Parquet, the format its extension says"
        )
    if name == "an extension texts does not read":
        sheet = root / "texts.xlsx"
        sheet.write_bytes(b"PK")
        return texts_args(
            sheet, root
        ), "texts.xlsx: texts does not read '.xlsx' files; set dataset.path"
    if name == "an empty file of texts":
        csv.write_text("")
        return texts_args(csv, root), "texts.csv: is empty; give a file with one text per row"
    if name == "a file of texts with a header and no rows":
        csv.write_text("text,label\n")
        return texts_args(csv, root), "texts.csv: has a header but no rows"
    if name == "a hub split that does not exist":
        import datasets

        rows = [{"text": "a fine film", "label": 1}, {"text": "a bad film", "label": 0}] * 10
        saved = datasets.DatasetDict(
            train=datasets.Dataset.from_list(rows), test=datasets.Dataset.from_list(rows)
        )
        monkeypatch.setattr(datasets, "load_dataset", lambda name, config=None: saved)
        return ["dataset=texts", "dataset.hub=someone/films", "dataset.val_split=dev"], (
            "someone/films: has no split 'dev'; its splits are test, train: set "
            "dataset.val_split to one of them"
        )
    raise KeyError(name)


CATALOGUE = [
    "a missing text or label column",
    "an empty or non-string text",
    "a missing or NaN label",
    "a single class",
    "a file of texts that is not UTF-8",
    "a format its extension does not match",
    "an extension texts does not read",
    "an empty file of texts",
    "a file of texts with a header and no rows",
    "a hub split that does not exist",
]


@pytest.mark.parametrize("case", CATALOGUE)
def test_bad_texts_give_one_line_exit_2_and_nothing_written(tmp_path, case, monkeypatch):
    assert_refused(*texts_case(case, tmp_path, monkeypatch), tmp_path)


def test_the_docs_list_every_texts_row(tmp_path, monkeypatch) -> None:
    """Each case has its row in docs/reliability.md, showing its message (paths as PATH)."""
    rows = catalogue_rows()
    for number, case in enumerate(CATALOGUE):
        (shown,) = [message for what, message in rows.items() if what.startswith(case)]
        root = tmp_path / str(number)
        root.mkdir()
        _, expected = texts_case(case, root, monkeypatch)
        assert expected.split(": ", 1)[-1] in shown, (case, shown)
