"""`File`: the type of a signature field that is a file (a host path for the caller, a guest path
inside the run). Staging and copying files across the sandbox is `rlm_tui.engine.files`' job."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any


class File(type(Path())):  # type: ignore[misc]  # a concrete Path class (PosixPath/WindowsPath)
    """A file crossing a signature: a host path for the caller; a guest path inside the run.

    `File("a.pdf")` or, as predict-rlm writes it, `File(path="a.pdf")`; `.path` is the path as text."""

    def __new__(cls, *args: Any, path: str | os.PathLike[str] | None = None) -> File:
        return super().__new__(cls, *_parts(args, path))

    if sys.version_info >= (3, 12):  # pathlib takes its parts in __init__ from 3.12 on
        def __init__(self, *args: Any, path: str | os.PathLike[str] | None = None) -> None:
            super().__init__(*_parts(args, path))

    @property
    def path(self) -> str:
        return str(self)

    @classmethod
    def from_dir(cls, folder: str | os.PathLike[str]) -> list[File]:
        """Every file under `folder` (recursively), in sorted path order."""
        root = Path(folder)
        if not root.is_dir():
            raise NotADirectoryError(f"{str(folder)!r} is not a directory")
        return [cls(p) for p in sorted(root.rglob("*")) if p.is_file()]

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_plain_validator_function(
            cls._validate, serialization=core_schema.plain_serializer_function_ser_schema(str),
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        return {"type": "string", "format": "path", "description": "a file path"}

    @classmethod
    def _validate(cls, value: Any) -> File:
        if isinstance(value, cls):
            return value
        if isinstance(value, (str, os.PathLike)) and os.fspath(value):
            return cls(value)
        raise ValueError(f"a file path is required, not {type(value).__name__}")


def _parts(args: tuple[Any, ...], path: str | os.PathLike[str] | None) -> tuple[Any, ...]:
    if path is None:
        return args
    if args:
        raise TypeError("File() takes the path once: File('a.txt') or File(path='a.txt')")
    return (path,)
