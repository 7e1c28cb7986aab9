"""Guest paths for host tools: the host file a guest path names, opened without following links.

A skill's host tool (its tools.py) is handed guest paths such as `/inputs/doc/a.pdf`. While a run
calls it, `current()` maps `/project`, `/inputs` and `/workspace` to the calling sandbox's host
folders (set by the run around each tool call). `read_bytes` opens a regular file under one of
them and `write_bytes` creates one under `/workspace`, walking every component with `O_NOFOLLOW`
from the mount's root: a link anywhere (made by the guest or already in the project) is refused,
as are `..`, other mounts and anything that is not a regular file. Checked here, on the host.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import posixpath
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from rlm_tui.engine.files import open_regular

READABLE = ("/project", "/inputs", "/workspace")
WRITABLE = "/workspace"
_MOUNTS: contextvars.ContextVar[Mapping[str, Path] | None] = contextvars.ContextVar("rlm_guest_mounts", default=None)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


class GuestPathError(ValueError):
    """A guest path a host tool cannot use; the message is written for the model."""


def sandbox_mounts(sandbox: Any) -> dict[str, Path]:
    """The mounts host tools may touch, for a `Sandbox`."""
    mounts = {"/project": Path(sandbox.project), "/workspace": Path(sandbox.workspace)}
    if "/inputs" in getattr(sandbox, "mounts", {}):
        mounts["/inputs"] = Path(sandbox.mounts["/inputs"])
    return mounts


@contextlib.contextmanager
def mounted(mounts: Mapping[str, Path]) -> Iterator[None]:
    """Host tools called inside this block resolve guest paths against `mounts`."""
    token = _MOUNTS.set(dict(mounts))
    try:
        yield
    finally:
        _MOUNTS.reset(token)


def current() -> Mapping[str, Path]:
    mounts = _MOUNTS.get()
    if mounts is None:
        raise GuestPathError("this host tool works on sandbox files and can only be called from a run's sandbox")
    return mounts


def split(guest_path: Any, allowed: tuple[str, ...] = READABLE) -> tuple[str, list[str]]:
    """(mount, components) of an absolute guest path under one of `allowed`."""
    if not isinstance(guest_path, str) or not guest_path:
        raise GuestPathError(f"a path must be a non-empty string, not {guest_path!r}")
    if "\0" in guest_path or not guest_path.startswith("/") or guest_path.startswith("//"):
        raise GuestPathError(f"{guest_path!r} is not an absolute path under {', '.join(allowed)}")
    parts = guest_path.split("/")[1:]
    if any(p in ("..", ".") for p in parts):
        raise GuestPathError(f"{guest_path!r}: '..' and '.' are not allowed in a tool's path")
    normal = posixpath.normpath(guest_path)
    for mount in allowed:
        if normal.startswith(mount + "/"):
            rest = [p for p in normal[len(mount) + 1:].split("/") if p]
            if rest:
                return mount, rest
    raise GuestPathError(f"{guest_path!r} is outside {', '.join(allowed)}: host tools only touch files there")


def _walk(root: Path, folders: list[str], guest_path: str) -> int:
    """An fd of the folder `root/folders...` (made where missing), no link followed."""
    fd = os.open(root, os.O_RDONLY | _DIRECTORY)
    try:
        for part in folders:
            try:
                inner = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW, dir_fd=fd)
            except FileNotFoundError:
                os.mkdir(part, 0o755, dir_fd=fd)
                inner = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW, dir_fd=fd)
            except OSError as e:
                raise GuestPathError(f"{guest_path!r}: {part!r} is not a folder (links are not followed: "
                                     f"{e.strerror})") from None
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_read(guest_path: str) -> tuple[int, int]:
    """(fd, size) of the regular file at `guest_path`; the caller closes the fd."""
    mount, parts = split(guest_path)
    root = current().get(mount)
    if root is None:
        raise GuestPathError(f"{guest_path!r}: {mount} is not mounted in this run")
    try:
        fd = open_regular(root, parts)
    except (ValueError, OSError) as e:
        raise GuestPathError(f"{guest_path!r}: {e}") from None
    return fd, os.fstat(fd).st_size


def read_bytes(guest_path: str, max_bytes: int) -> bytes:
    """The file's bytes; GuestPathError when it is over `max_bytes`."""
    fd, size = open_read(guest_path)
    try:
        if size > max_bytes:
            raise GuestPathError(f"{guest_path!r} is {size / 1e6:.1f} MB, over this tool's {max_bytes / 1e6:.0f} MB limit")
        chunks, total = [], 0
        while chunk := os.read(fd, 1 << 20):
            total += len(chunk)
            if total > max_bytes:
                raise GuestPathError(f"{guest_path!r} grew past this tool's {max_bytes / 1e6:.0f} MB limit")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def write_bytes(guest_path: str, data: bytes) -> str:
    """Create (or replace) the regular file `guest_path` under /workspace; returns the guest path."""
    mount, parts = split(guest_path, (WRITABLE,))
    root = current().get(mount)
    if root is None:
        raise GuestPathError(f"{guest_path!r}: {mount} is not mounted in this run")
    if not _NOFOLLOW or os.open not in os.supports_dir_fd:
        raise GuestPathError("this platform cannot open files without following links")
    folder = _walk(root, parts[:-1], guest_path)
    try:
        try:
            fd = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0),
                         0o644, dir_fd=folder)
        except OSError as e:
            raise GuestPathError(f"cannot write {guest_path!r} (links are not followed): {e.strerror}") from None
    finally:
        os.close(folder)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise GuestPathError(f"{guest_path!r} is not a regular file")
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    return posixpath.normpath(guest_path)
