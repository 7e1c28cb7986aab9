"""Checks and small helpers of `Sandbox`: mount paths, host function names, traps."""

from __future__ import annotations

import builtins
import keyword
import posixpath
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from rlm_tui.sandbox.results import SandboxError

HostFunction = Callable[..., Any]


_RESERVED = frozenset(dir(builtins)) | {"SUBMIT", "SHOW_VARS", "Image", "Audio"}


def check_names(functions: Mapping[str, HostFunction]) -> None:
    for name, fn in functions.items():
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise SandboxError(f"host function name {name!r} must be a Python identifier")
        if name in _RESERVED:
            raise SandboxError(f"host function name {name!r} would hide a Python or sandbox builtin")
        if not callable(fn):
            raise SandboxError(f"host function {name!r} is not callable")


def describe_trap(error: Exception) -> str:
    text = str(error)
    if "stack overflow" in text or "call stack exhausted" in text:
        return "the guest overflowed its stack (recursion too deep)"
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return f"the guest trapped ({first})"


def existing_dir(path: str | Path, what: str) -> Path:
    resolved = Path(path).expanduser()
    if not resolved.exists():
        raise SandboxError(f"{what} path {str(path)!r} does not exist")
    if not resolved.is_dir():
        raise SandboxError(f"{what} path {str(path)!r} is not a directory")
    return resolved.resolve()


def workspace_dir(path: str | Path) -> Path:
    resolved = Path(path).expanduser()
    if resolved.exists() and not resolved.is_dir():
        raise SandboxError(f"workspace path {str(path)!r} is not a directory")
    resolved.mkdir(parents=True, exist_ok=True)
    return resolved.resolve()


BUILTIN_MOUNTS = ("/usr/local/lib", "/project", "/workspace", "/tmp", "/skills")


def _overlap(a: str, b: str) -> bool:
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


def extra_mounts(mounts: Mapping[str, str | Path]) -> dict[str, Path]:
    """Read-only mounts beyond the built-in ones: guest path -> existing host folder.

    A guest path must be absolute and normal (`/inputs`, `/data/refs`), and may neither hold,
    nor lie inside, a built-in mount or another extra one."""
    checked: dict[str, Path] = {}
    for guest, host in mounts.items():
        normal = isinstance(guest, str) and guest.startswith("/") and not guest.startswith("//")
        if not normal or posixpath.normpath(guest) != guest or guest == "/":
            raise SandboxError(f"mount point {guest!r} must be an absolute, normalised guest path such as '/inputs'")
        if any(c in guest for c in "\0\n\r\\"):
            raise SandboxError(f"mount point {guest!r} has characters a guest path cannot have")
        for taken in (*BUILTIN_MOUNTS, *checked):
            if _overlap(guest, taken):
                raise SandboxError(f"mount point {guest!r} overlaps {taken!r}")
        checked[guest] = existing_dir(host, f"mount {guest}")
    return checked
