"""`File`: the type of a signature field that is a file (a host path for the caller, a guest path
inside the run). Staging and copying files across the sandbox is `rlm_tui.engine.files`' job."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


class File(type(Path())):  # type: ignore[misc]  # a concrete Path class (PosixPath/WindowsPath)
    """A file crossing a signature: a host path for the caller; a guest path inside the run."""

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
