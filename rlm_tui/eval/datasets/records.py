"""Rows of a published data file, read where they lie: JSONL, a JSON array, or Parquet.

`scan(path)` yields `(Ref, row)` for every row of a file, a folder of data files, or a glob; a
`Ref` remembers where the row lies (file and line, or Parquet row), so a family can keep only
small fields in memory and `load(ref)` the row again when it builds the task (OOLONG's test split
is 21 GB of contexts). `validate(Model, row, ref)` turns a pydantic error into a `DatasetError`
that names the file, the line and the field. A truncated download reads as a clear error at the
line where it is cut, never as a silently shorter dataset.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

DATA_SUFFIXES = (".jsonl", ".json", ".parquet")
M = TypeVar("M", bound=BaseModel)


class DatasetError(ValueError):
    """A dataset cannot be used as given; the message says which file, line and field, and why."""


@dataclass(frozen=True)
class Ref:
    """Where one row lies: `offset` is the line's byte offset (JSONL), the element's byte span
    (JSON), or (row group, row) (Parquet)."""

    path: Path
    line: int  # 1-based line (JSONL, JSON) or row number (Parquet)
    offset: int | tuple[int, int]

    @property
    def where(self) -> str:
        unit = "row" if self.path.suffix == ".parquet" else "line"
        return f"{self.path}: {unit} {self.line}"


def data_files(path: str | Path, suffixes: tuple[str, ...] = DATA_SUFFIXES) -> list[Path]:
    """The data files `path` names: a file, every data file under a folder, or a glob's matches."""
    text = str(path)
    if any(c in text for c in "*?["):
        found = sorted(Path(p) for p in glob.glob(str(Path(text).expanduser()), recursive=True))
    else:
        p = Path(text).expanduser()
        if not p.exists():
            raise DatasetError(f"{p}: no such file or folder")
        found = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    files = [f for f in found if f.is_file() and f.suffix.lower() in suffixes]
    if not files:
        raise DatasetError(f"{path}: no data files ({', '.join(suffixes)}) found there")
    return files


def scan(path: str | Path) -> Iterator[tuple[Ref, dict[str, Any]]]:
    for file in data_files(path):
        suffix = file.suffix.lower()
        if suffix == ".jsonl":
            yield from _scan_jsonl(file)
        elif suffix == ".json":
            yield from _scan_json(file)
        else:
            yield from _scan_parquet(file)


def load(ref: Ref) -> dict[str, Any]:
    """The whole row at `ref` again."""
    suffix = ref.path.suffix.lower()
    if suffix == ".parquet":
        group, row = ref.offset  # type: ignore[misc]
        table = _parquet(ref.path).read_row_group(group)
        return table.slice(row, 1).to_pylist()[0]
    with open(ref.path, "rb") as f:
        if suffix == ".jsonl":
            f.seek(int(ref.offset))  # type: ignore[arg-type]
            return _object(json.loads(f.readline()), ref)
        start, end = ref.offset  # type: ignore[misc]
        f.seek(start)
        return _object(json.loads(f.read(end - start)), ref)


def validate(model: type[M], row: dict[str, Any], ref: Ref) -> M:
    try:
        return model.model_validate(row)
    except ValidationError as e:
        problems = []
        for error in e.errors()[:4]:
            field = ".".join(str(part) for part in error["loc"]) or "row"
            problems.append(f"field {field!r}: {error['msg'].lower()}")
        more = f" (and {e.error_count() - 4} more)" if e.error_count() > 4 else ""
        raise DatasetError(f"{ref.where}: not a {model.__name__} record: {'; '.join(problems)}{more}") from None


# -- formats ------------------------------------------------------------------------------------------

def _object(value: Any, ref: Ref) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DatasetError(f"{ref.where}: a record must be a JSON object, not {type(value).__name__}")
    return value


def _scan_jsonl(file: Path) -> Iterator[tuple[Ref, dict[str, Any]]]:
    offset = 0
    with open(file, "rb") as f:
        for number, raw in enumerate(f, 1):
            ref = Ref(file, number, offset)
            offset += len(raw)
            if not raw.strip():
                continue
            try:
                value = json.loads(raw)
            except ValueError as e:
                cut = " (the file ends mid-record: a truncated download?)" if not raw.endswith(b"\n") else ""
                raise DatasetError(f"{ref.where}: not valid JSON: {e}{cut}") from None
            yield ref, _object(value, ref)


def _scan_json(file: Path) -> Iterator[tuple[Ref, dict[str, Any]]]:
    """The elements of a top-level JSON array, decoded one at a time so that each gets its line
    (and its byte span, to `load` it again) and a cut file the position where it is cut."""
    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise DatasetError(f"{file}: not UTF-8 text (byte {e.start})") from None
    decoder = json.JSONDecoder()
    pos = _skip(text, 0)
    if pos >= len(text) or text[pos] != "[":
        raise DatasetError(f"{file}: line 1: expected a JSON array of records")
    pos += 1
    line, byte, counted = 1, len(text[:pos].encode()), pos
    while True:
        pos = _skip(text, pos)
        line += text.count("\n", counted, pos)
        byte += len(text[counted:pos].encode())
        counted = pos
        if pos < len(text) and text[pos] == "]":
            return
        if pos >= len(text):
            raise DatasetError(f"{file}: line {line}: the array is not closed (a truncated download?)")
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            raise DatasetError(f"{file}: line {line + text.count(chr(10), pos, e.pos)}: not valid JSON: "
                               f"{e.msg} (a truncated download?)") from None
        size = len(text[pos:end].encode())
        ref = Ref(file, line, (byte, byte + size))
        yield ref, _object(value, ref)
        pos = _skip(text, end)
        if pos < len(text) and text[pos] == ",":
            pos += 1


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _parquet(file: Path) -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DatasetError(f"{file}: reading Parquet needs pyarrow (pip install pyarrow), or convert the "
                           "split to JSONL first") from None
    try:
        return pq.ParquetFile(file)
    except Exception as e:  # pyarrow raises ArrowInvalid / OSError for cut or foreign files
        raise DatasetError(f"{file}: not a readable Parquet file ({e}); a truncated download?") from None


def _scan_parquet(file: Path) -> Iterator[tuple[Ref, dict[str, Any]]]:
    parquet = _parquet(file)
    number = 0
    for group in range(parquet.num_row_groups):
        try:
            rows = parquet.read_row_group(group).to_pylist()
        except Exception as e:
            raise DatasetError(f"{file}: row {number + 1}: cannot read row group {group} ({e}); "
                               "a truncated download?") from None
        for index, row in enumerate(rows):
            number += 1
            yield Ref(file, number, (group, index)), row
