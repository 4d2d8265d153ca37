"""Where preference rows come from: files, a ``save_to_disk`` folder, the Hugging Face Hub, or memory.

``source`` may be

* a path to a ``.jsonl`` / ``.ndjson`` (JSON Lines), ``.json`` (a JSON array of records, or JSON Lines),
  ``.csv`` or ``.parquet`` file, optionally ``.gz``-compressed (not parquet);
* a folder written by ``datasets.Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``;
* a Hugging Face Hub dataset name (``"trl-lib/ultrafeedback_binarized"``), read by ``datasets.load_dataset``;
* a ``datasets.Dataset`` or ``DatasetDict``, a list of dicts, or a dict of lists.

The ``datasets`` library does the reading. ``split`` picks the split of a Hub dataset or a DatasetDict;
a single file is one split and ignores it. A JSON file that ``datasets`` cannot parse (a broken line)
is read again line by line, so that each broken line is reported with its number.

Rows are numbered from 1 in messages (``row 12``); the line is added where it differs (a CSV header,
blank lines, cells that span lines), and the Python index for an in-memory list.

>>> rows = read_rows([{"prompt": "2+2?", "chosen": "4", "rejected": "5"}, {"prompt": "1+1?"}])
>>> rows.name, rows.columns, rows.num_rows
('rows', ('prompt', 'chosen', 'rejected'), 2)
>>> next(rows.batches(10, ["prompt", "rejected"]))
(0, {'prompt': ['2+2?', '1+1?'], 'rejected': ['5', None]})
>>> rows.locate([1])
{1: 'row 2 (index 1)'}
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

from .errors import DataError, Problem

__all__ = ["Rows", "Source", "read_rows", "resolve_source", "FILE_FORMATS"]

# file suffix -> (datasets builder, how rows sit in the file)
FILE_FORMATS = {
    ".jsonl": ("json", "lines"),
    ".ndjson": ("json", "lines"),
    ".json": ("json", "json"),  # an array of records, or JSON Lines: the first character tells
    ".csv": ("csv", "csv"),
    ".parquet": ("parquet", "table"),
}
_COMPRESSED = {".gz": gzip.open}


@dataclass
class Rows:
    """The rows of one source, read in column batches.

    ``batches(size, columns)`` yields ``(start, {column: [values]})``; a value is None where a row lacks
    the column. ``unparsable`` maps the 0-based index of a row that could not be parsed at all (a broken
    JSON line) to what was wrong. ``locate(indices)`` says how a person finds those rows.
    """

    name: str
    columns: tuple[str, ...]
    num_rows: int
    fetch: Callable[[int, int, Sequence[str]], dict[str, list]]
    unparsable: dict[int, str] = field(default_factory=dict)
    lines: Optional[Callable[[set], dict[int, int]]] = None  # 0-based row -> 1-based line of its start
    in_memory: bool = False
    text_cells: bool = False  # CSV: every cell is text, so lists arrive JSON-encoded and booleans as words

    def batches(self, size: int, columns: Sequence[str]) -> Iterator[tuple[int, dict[str, list]]]:
        for start in range(0, self.num_rows, size):
            yield start, self.fetch(start, min(start + size, self.num_rows), columns)

    def locate(self, indices: Iterable[int]) -> dict[int, str]:
        indices = set(indices)
        lines = self.lines(indices) if self.lines is not None and indices else {}
        out = {}
        for i in indices:
            where = f"row {i + 1}"
            if i in lines and lines[i] != i + 1:
                where += f" (line {lines[i]})"
            elif self.in_memory:
                where += f" (index {i})"
            out[i] = where
        return out

    def problem(self, row: Optional[int], column: Optional[str], message: str) -> Problem:
        return Problem(self.name, row, column, message)


@dataclass
class Source:
    """A resolved ``source``: what it is, how to fingerprint its content, how to read it."""

    name: str
    form: str  # "file", "disk", "hub", "memory"
    path: Optional[Path] = None
    file_format: Optional[str] = None  # a FILE_FORMATS suffix
    obj: Any = None  # the in-memory object, or the loaded Hub dataset
    split: str = "train"

    def content_hash(self) -> str:
        """A hash of the data itself (the bytes of the file or folder; datasets' fingerprint otherwise)."""
        h = hashlib.sha256()
        h.update(f"{self.form}:{self.file_format}:".encode())
        if self.form == "file":
            _hash_file(h, self.path)
        elif self.form == "disk":
            for p in sorted(q for q in self.path.rglob("*") if q.is_file()):
                h.update(str(p.relative_to(self.path)).encode() + b"\0")
                _hash_file(h, p)
            h.update(self.split.encode())
        else:
            h.update(_memory_fingerprint(self.obj, self.split).encode())
        return h.hexdigest()

    def read(self, datasets_cache: Optional[str] = None) -> Rows:
        if self.form == "file":
            return _read_file(self, datasets_cache)
        if self.form == "disk":
            import datasets

            return _dataset_rows(self.name, _pick_split(datasets.load_from_disk(str(self.path)), self.split, self.name))
        if self.form == "hub":
            return _dataset_rows(self.name, self.obj)
        return _memory_rows(self.obj, self.split)


def read_rows(source: Any, split: str = "train", *, datasets_cache: Optional[str] = None) -> Rows:
    """The rows of ``source`` (a path, a Hub name, a Dataset, a list of dicts), unvalidated."""
    return resolve_source(source, split, datasets_cache=datasets_cache).read(datasets_cache)


def resolve_source(source: Any, split: str = "train", *, datasets_cache: Optional[str] = None) -> Source:
    """What ``source`` is. Cheap for files and folders; a Hub dataset is loaded here (to fingerprint it)."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        name = str(source)
        if path.is_file():
            suffix = _data_suffix(path)
            if suffix not in FILE_FORMATS:
                raise DataError(
                    f"{name}: unknown file type {''.join(path.suffixes) or '(no suffix)'}; preference data can "
                    f"be {', '.join(FILE_FORMATS)} (optionally .gz), a save_to_disk folder or a Hub dataset name"
                )
            return Source(name, "file", path=path, file_format=suffix, split=split)
        if path.is_dir():
            if not any((path / f).is_file() for f in ("state.json", "dataset_dict.json")):
                raise DataError(
                    f"{name}: this folder was not written by datasets' save_to_disk (it has no state.json or "
                    "dataset_dict.json); pass one data file (.jsonl, .json, .csv, .parquet) instead"
                )
            return Source(name, "disk", path=path, split=split)
        if isinstance(source, os.PathLike) or _looks_like_path(name):
            raise DataError(f"{name}: no such file or folder")
        return Source(f"{name} [{split}]", "hub", obj=_load_hub(name, split, datasets_cache), split=split)
    if isinstance(source, list) or isinstance(source, dict) or _is_dataset(source):
        return Source(_memory_name(source), "memory", obj=source, split=split)
    raise DataError(
        f"cannot read preference data from a {type(source).__name__}; pass a file path, a save_to_disk "
        "folder, a Hub dataset name, a datasets.Dataset, a list of dicts or a dict of lists"
    )


# --------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------


def _data_suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def _open_text(path: Path):
    opener = _COMPRESSED.get(path.suffix.lower())
    if opener is not None:
        return io.TextIOWrapper(opener(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _looks_like_path(name: str) -> bool:
    return (
        name.startswith((".", "/", "~", "\\"))
        or "\\" in name
        or name.count("/") > 1
        or any(name.lower().endswith(s) or name.lower().endswith(s + ".gz") for s in FILE_FORMATS)
    )


def _hash_file(h, path: Path) -> None:
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)


def _read_file(src: Source, datasets_cache: Optional[str]) -> Rows:
    import datasets

    builder, layout = FILE_FORMATS[src.file_format]
    if layout == "json":
        layout = "json" if _first_char(src.path) == "[" else "lines"
    options = _csv_options(src.path) if builder == "csv" else {}
    try:
        ds = datasets.load_dataset(builder, data_files=str(src.path), split="train", cache_dir=datasets_cache, **options)
    except Exception as err:  # noqa: BLE001 - datasets raises many types; JSON gets a second, precise reading
        if builder != "json":
            raise DataError(f"{src.name}: cannot be read as {src.file_format[1:]}: {err}") from err
        return _read_json_by_hand(src, layout)
    rows = _dataset_rows(src.name, ds)
    if layout == "lines":
        rows.lines = lambda wanted: _jsonl_lines(src.path, wanted)
    elif layout == "csv":
        rows.lines = lambda wanted: _csv_lines(src.path, wanted)
        rows.text_cells = True
    return rows


def _csv_options(path: Path) -> dict:
    """Every CSV cell as the text it is: no numbers from "4", no missing value from "NA" or "None"."""
    import datasets

    with _open_text(path) as f:
        header = next((r for r in csv.reader(f) if r), [])
    return {"features": datasets.Features({c: datasets.Value("string") for c in header}), "keep_default_na": False}


def _first_char(path: Path) -> str:
    with _open_text(path) as f:
        while True:
            block = f.read(4096)
            if not block:
                return ""
            stripped = block.lstrip("\ufeff \t\r\n")
            if stripped:
                return stripped[0]


def _jsonl_lines(path: Path, wanted: set) -> dict[int, int]:
    """0-based row (non-blank line) -> 1-based line number, for the rows in ``wanted``."""
    out, row, last = {}, -1, max(wanted)
    with _open_text(path) as f:
        for line_no, line in enumerate(f, 1):
            if line.strip():
                row += 1
                if row in wanted:
                    out[row] = line_no
                if row >= last:
                    break
    return out


def _csv_lines(path: Path, wanted: set) -> dict[int, int]:
    """0-based data row -> 1-based line where the record starts (line 1 is the header)."""
    out, row, last = {}, -2, max(wanted)  # the first non-blank record is the header, row -1
    with _open_text(path) as f:
        reader = csv.reader(f)
        start = 1
        for record in reader:
            if record:
                row += 1
                if row in wanted:
                    out[row] = start
                if row >= last:
                    break
            start = reader.line_num + 1
    return out


def _read_json_by_hand(src: Source, layout: str) -> Rows:
    """Read a JSON file with the json module when datasets cannot, naming each broken line.

    datasets stops at the first broken line without saying which, and some valid files trip it (blank
    lines among rows whose columns change type); the json module reads those, and names broken lines.
    """
    records: list[Optional[dict]] = []
    unparsable: dict[int, str] = {}
    line_of: list[int] = []
    with _open_text(src.path) as f:
        if layout == "json":
            try:
                data = json.load(f)
            except json.JSONDecodeError as e:
                raise DataError(f"{src.name}: not valid JSON: line {e.lineno} column {e.colno}: {e.msg}") from e
            if not isinstance(data, list):
                raise DataError(f"{src.name}: expected a JSON array of records [{{...}}, ...], got a {type(data).__name__}")
            for i, obj in enumerate(data):
                records.append(obj if isinstance(obj, dict) else None)
                if not isinstance(obj, dict):
                    unparsable[i] = f"expected a JSON object {{...}}, got {_json_type(obj)}"
        else:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                i = len(records)
                line_of.append(line_no)
                try:
                    obj = json.loads(line.strip())
                except json.JSONDecodeError as e:
                    unparsable[i] = f"not valid JSON: {e.msg} (at character {e.pos + 1})"
                    records.append(None)
                    continue
                if not isinstance(obj, dict):
                    unparsable[i] = f"expected a JSON object {{...}}, got {_json_type(obj)}"
                    obj = None
                records.append(obj)
    rows = _record_rows(src.name, records)
    rows.unparsable = unparsable
    if line_of:
        rows.lines = lambda wanted: {i: line_of[i] for i in wanted if i < len(line_of)}
    return rows


def _json_type(obj: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(obj), "a number")


# --------------------------------------------------------------------------------------------------
# datasets objects and memory
# --------------------------------------------------------------------------------------------------


def _is_dataset(obj: Any) -> bool:
    try:
        import datasets
    except ImportError:  # pragma: no cover - datasets is a dependency
        return False
    return isinstance(obj, (datasets.Dataset, datasets.DatasetDict))


def _memory_name(obj: Any) -> str:
    return "rows" if isinstance(obj, (list, dict)) and not _is_dataset(obj) else type(obj).__name__


def _pick_split(ds: Any, split: str, name: str):
    import datasets

    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise DataError(f"{name}: no split {split!r}; the splits are {list(ds)}; pass split=...")
        return ds[split]
    return ds


def _load_hub(name: str, split: str, datasets_cache: Optional[str]):
    import datasets

    try:
        return datasets.load_dataset(name, split=split, cache_dir=datasets_cache)
    except Exception as err:  # noqa: BLE001 - offline, missing, gated, bad split: all say the same to the user
        raise DataError(
            f"{name}: not a local file or folder, so it was read as a Hugging Face Hub dataset, which failed: "
            f"{type(err).__name__}: {err}"
        ) from err


def _dataset_rows(name: str, ds) -> Rows:
    cols = tuple(ds.column_names)
    selected: dict[tuple, Any] = {}  # columns -> the dataset narrowed to them (only those are decoded)

    def fetch(start: int, end: int, columns: Sequence[str]) -> dict[str, list]:
        have = tuple(c for c in columns if c in cols)
        if have not in selected:
            selected[have] = ds.select_columns(list(have)) if have else None
        got = selected[have][start:end] if have else {}
        return {c: got[c] if c in got else [None] * (end - start) for c in columns}

    return Rows(name, cols, len(ds), fetch)


def _record_rows(name: str, records: list[Optional[dict]], in_memory: bool = False) -> Rows:
    cols: dict[str, None] = {}
    for r in records:
        if isinstance(r, dict):
            cols.update(dict.fromkeys(r))

    def fetch(start: int, end: int, columns: Sequence[str]) -> dict[str, list]:
        part = [r if isinstance(r, dict) else {} for r in records[start:end]]
        return {c: [r.get(c) for r in part] for c in columns}

    return Rows(name, tuple(cols), len(records), fetch, in_memory=in_memory)


def _memory_rows(obj: Any, split: str) -> Rows:
    name = _memory_name(obj)
    if _is_dataset(obj):
        rows = _dataset_rows(name, _pick_split(obj, split, name))
        rows.in_memory = True
        return rows
    if isinstance(obj, dict):
        lengths = {k: len(v) for k, v in obj.items() if isinstance(v, (list, tuple))}
        if len(lengths) != len(obj) or len(set(lengths.values())) > 1:
            raise DataError(f"{name}: a dict of columns needs lists of one length, got lengths {lengths}")
        n = next(iter(lengths.values()), 0)
        obj = [{k: v[i] for k, v in obj.items()} for i in range(n)]
    rows = _record_rows(name, obj, in_memory=True)
    rows.unparsable = {i: f"expected a dict, got {type(r).__name__}" for i, r in enumerate(obj) if not isinstance(r, dict)}
    return rows


def _memory_fingerprint(obj: Any, split: str) -> str:
    if _is_dataset(obj):
        ds = _pick_split(obj, split, _memory_name(obj))
        return getattr(ds, "_fingerprint", None) or _json_hash(ds.to_list())
    return _json_hash(obj)


def _json_hash(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()
