"""What a sandbox hands back: cell results, variable rows, and its error type."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rlm_tui.chat_api import VarInfo


class SandboxError(RuntimeError):
    """The sandbox cannot be set up or used (bad mount, closed session, broken image)."""


class SandboxRestarted(SandboxError):
    """Host-made code (loading inputs, installing functions) stopped the instance: it was
    restarted, and the message says which variables were restored and which lost."""


@dataclass(frozen=True)
class CellResult:
    """What running one cell produced.

    `error` is None or the exception's text (traceback included); `error_type` its class
    name (`SandboxRestarted` when a trap ended the instance, with `restarted` True).
    `submitted` holds the outputs of a `SUBMIT(...)` the cell made, else None.
    """

    stdout: str
    stderr: str
    error: str | None
    duration_s: float
    variables: list[VarInfo] = field(default_factory=list)
    restarted: bool = False
    error_type: str | None = None
    submitted: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None
