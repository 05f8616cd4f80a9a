"""Where labelled texts come from: a CSV, TSV, JSON-lines or Parquet file, a folder of such
files named by split (train.csv, test.csv), a folder saved by `datasets` (`save_to_disk`), or
a hub id. Every kind is read through `datasets`; each bad file is named in one line.

A source is opened without reading a row: its splits' names and identity (the files' bytes,
or the `datasets` fingerprints) decide the cache entry, so a cached data set reads no row.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lstm_overfit.config import TextsData
from lstm_overfit.data.files import DataError, content_hash, hub_source_key, open_hub, read_text

# A file's extension (before an optional .gz): its `datasets` builder, the builder's options,
# and the format's name in messages.
FORMATS: dict[str, tuple[str, dict[str, str], str]] = {
    ".csv": ("csv", {}, "CSV"),
    ".tsv": ("csv", {"sep": "\t"}, "TSV"),
    ".jsonl": ("json", {}, "JSON lines"),
    ".json": ("json", {}, "JSON"),
    ".parquet": ("parquet", {}, "Parquet"),
}
EXTENSIONS = ", ".join(FORMATS)
FIX = (
    f"set dataset.path to a {EXTENSIONS} file (.gz too), a folder of such files named by "
    "split (train.csv, test.csv), or a folder saved by datasets; or set dataset.hub"
)


@dataclass
class Columns:
    """One split's texts and labels as Python lists, and where they came from."""

    texts: list[Any]
    labels: list[Any]
    where: str  # the file, or "SOURCE (split)", for messages
    label_names: list[str] | None = None  # a ClassLabel column's names, by its integer ids


def file_format(path: Path) -> str | None:
    """The data extension of `path` (.csv, .jsonl...; .gz looked through), else None."""
    suffixes = path.suffixes[-2:] if path.suffix == ".gz" else path.suffixes[-1:]
    return suffixes[0] if suffixes and suffixes[0] in FORMATS else None


def _split_name(path: Path) -> str:
    """train.csv, train.jsonl.gz -> train."""
    name = path.name[: -len(".gz")] if path.suffix == ".gz" else path.name
    return name[: -len(file_format(path) or "")]


class TextSource:
    """The splits of one source, by name; nothing read until `columns` is called."""

    def __init__(
        self,
        label: str,
        files: dict[str, Path] | None = None,
        tables: dict[str, Any] | None = None,
    ) -> None:
        self.label = label  # the path or hub id
        self.files = files or {}
        self.tables = tables or {}  # split name -> datasets.Dataset (hub, saved folder)

    @property
    def splits(self) -> list[str]:
        return sorted(self.files or self.tables)

    def where(self, split: str) -> str:
        return str(self.files[split]) if self.files else f"{self.label} ({split})"

    def key(self, splits: list[str], hub_config: str | None) -> str:
        """The identity of these splits' content, read without parsing a row."""
        if self.files:
            return content_hash([self.files[s] for s in splits])
        return hub_source_key(self.label, hub_config, {s: self.tables[s] for s in splits})

    def columns(self, split: str, text_column: str, label_column: str) -> Columns:
        if self.files:
            return _file_columns(self.files[split], text_column, label_column)
        return _table_columns(self.tables[split], self.where(split), text_column, label_column)


def open_source(cfg: TextsData) -> TextSource:
    if cfg.path:
        path = Path(cfg.path).expanduser()
        if not path.exists():
            raise DataError(f"{path}: no such file or folder; {FIX}")
        if path.is_dir():
            return _open_folder(path, cfg.train_split)
        if file_format(path) is None:
            raise DataError(f"{path}: texts does not read {path.suffix!r} files; {FIX}")
        return TextSource(str(path), files={cfg.train_split: path})
    if cfg.hub:
        return TextSource(cfg.hub, tables=dict(open_hub(cfg.hub, cfg.hub_config)))
    raise DataError(f"dataset {cfg.name} has no source; {FIX}")


def _open_folder(folder: Path, train_split: str) -> TextSource:
    if (folder / "dataset_dict.json").exists() or (folder / "state.json").exists():
        import datasets

        try:
            saved = datasets.load_from_disk(str(folder))
        except Exception as err:  # a damaged folder: the library raises many types
            raise DataError(
                f"{folder}: cannot be read as a data set saved by datasets ({_brief(err)}); "
                "save it again with save_to_disk"
            ) from None
        whole = isinstance(saved, datasets.DatasetDict)
        tables = dict(saved) if whole else {train_split: saved}  # one Dataset: the training split
        return TextSource(str(folder), tables=tables)
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and file_format(path):
            split = _split_name(path)
            if split in files:
                raise DataError(
                    f"{folder}: holds {files[split].name} and {path.name} for split {split!r}; "
                    "keep one file per split"
                )
            files[split] = path
    if not files:
        raise DataError(f"{folder}: holds no data file; {FIX}")
    return TextSource(str(folder), files=files)


def _brief(err: Exception) -> str:
    """An exception in a few words: its type and its message's first line, shortened."""
    lines = str(err).strip().splitlines()
    text = lines[0] if lines else ""
    return f"{type(err).__name__}: {text[:120]}" if text else type(err).__name__


def _diagnose(path: Path, extension: str) -> None:
    """Why `datasets` could not read a file, in one line, where it is a common mistake: an
    empty file, a header without rows, bytes that are not UTF-8, a Parquet file under another
    extension, a JSON line that is not JSON. Read only once `datasets` has failed, so a good
    file is read once."""
    if extension == ".parquet":
        if path.stat().st_size == 0:
            raise DataError(f"{path}: is empty; give a Parquet file with one text per row")
        return
    text = read_text(path)  # names a corrupt gzip and bytes that are not UTF-8
    lines = text.strip().splitlines()
    if not lines:
        raise DataError(f"{path}: is empty; give a file with one text per row")
    if text.startswith("PAR1"):
        raise DataError(
            f"{path}: is a Parquet file, not {FORMATS[extension][2]} as its extension says; "
            "name it .parquet"
        )
    if extension in (".csv", ".tsv") and len(lines) == 1:
        raise DataError(f"{path}: has a header but no rows; give one text per row")
    if extension == ".jsonl":
        for number, line in enumerate(lines, 1):
            try:
                json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}: line {number} is not JSON ({err.msg})") from None


def _file_columns(path: Path, text_column: str, label_column: str) -> Columns:
    import datasets

    extension = file_format(path) or ""
    builder, options, kind = FORMATS[extension]
    datasets.disable_progress_bars()
    verbosity = datasets.logging.get_verbosity()
    # Its own log lines about a bad file would come before this module's one line.
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)
    # The builder's Arrow files go to a folder thrown away once the columns are read: this
    # project caches the processed result, keyed by the file's bytes.
    with tempfile.TemporaryDirectory() as scratch:
        try:
            table = datasets.load_dataset(
                builder,
                data_files=str(path),
                split="train",
                cache_dir=scratch,
                keep_in_memory=True,
                **options,
            )
        except Exception as err:  # pyarrow's and pandas' many parse errors
            _diagnose(path, extension)
            raise DataError(
                f"{path}: cannot be read as {kind}, the format its extension says "
                f"({_brief(err)}); fix the file or give it its format's extension"
            ) from None
        finally:
            datasets.logging.set_verbosity(verbosity)
        if len(table) == 0:
            _diagnose(path, extension)
            raise DataError(f"{path}: has no rows; give one text per row")
        try:
            return _table_columns(table, str(path), text_column, label_column)
        except UnicodeDecodeError:  # pyarrow's JSON reader may keep bytes that are not UTF-8
            _diagnose(path, extension)
            raise


def _table_columns(table: Any, where: str, text_column: str, label_column: str) -> Columns:
    import datasets

    for knob, column in (("text_column", text_column), ("label_column", label_column)):
        if column not in table.column_names:
            raise DataError(
                f"{where}: no column {column!r}; its columns are "
                f"{', '.join(table.column_names)}: set dataset.{knob} to one of them"
            )
    feature = table.features[label_column]
    names = feature.names if isinstance(feature, datasets.ClassLabel) else None
    # One Arrow table of the two columns, converted to lists column by column (batched).
    arrow = table.select_columns([text_column, label_column]).with_format("arrow")[:]
    return Columns(
        arrow.column(text_column).to_pylist(),
        arrow.column(label_column).to_pylist(),
        where,
        names,
    )
