"""Temporary folders a process makes for its sandboxes: named with the owner's pid, removed
without recursion and without following links, and swept once their owner has died.

`remove_tree` walks with directory descriptors, one level open at a time, so a tree deeper than
Python's recursion limit or `PATH_MAX` (a guest can make one in `/workspace` in a second) is
removed like any other, and a link the guest made is removed, never followed.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

# Kinds of private folder; their names are rlm-<kind>-<pid>-<random>. Output folders are not
# among them: they hold results handed to the caller and outlive the process on purpose.
KINDS = ("workspace", "tmp", "inputs", "skills", "dspy-project")
_NAME = re.compile(rf"^rlm-({'|'.join(map(re.escape, KINDS))})-(\d+)-")
_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_swept = threading.Event()


def warn(message: str, *args: object) -> None:
    """Log a cleanup problem (logging is imported only then: it costs start time)."""
    import logging

    logging.getLogger("rlm_tui.sandbox").warning(message, *args)


def make_private(kind: str) -> Path:
    """A fresh temporary folder marked with this process's pid (swept if the process dies)."""
    if kind not in KINDS:
        raise ValueError(f"unknown private folder kind {kind!r}")
    return Path(tempfile.mkdtemp(prefix=f"rlm-{kind}-{os.getpid()}-"))


def owner_pid(name: str) -> int | None:
    """The pid in a private folder's name, else None."""
    match = _NAME.match(name)
    return int(match.group(2)) if match else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: someone else's live process
        return True
    return True


def sweep_stale(root: str | Path | None = None) -> list[Path]:
    """Remove this user's private folders under `root` (the temp dir) whose owner is gone."""
    folder = Path(root or tempfile.gettempdir())
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        pid = owner_pid(entry.name)
        if pid is None or pid == os.getpid() or pid_alive(pid):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
                continue
            remove_tree(entry.path)
        except OSError as e:
            warn("could not remove the stale sandbox folder %s: %s", entry.path, e)
            continue
        removed.append(Path(entry.path))
    return removed


def sweep_stale_once() -> None:
    """Sweep stale folders in the background, once per process."""
    if _swept.is_set():
        return
    _swept.set()
    threading.Thread(target=sweep_stale, name="rlm-sweep", daemon=True).start()


@dataclass
class _Level:
    """One open folder on the way down: its name in its parent, identity, and subfolders left."""

    name: str
    ident: tuple[int, int]
    pending: list[str] = field(default_factory=list)


def remove_tree(path: str | Path) -> None:
    """Remove `path` and everything under it; links are removed, never followed.

    Iterative, holding at most two descriptors; raises OSError when something cannot be removed
    (after removing all it can)."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return
    top = os.open(path.parent, _DIR)
    try:
        _remove_below(top, path.name)
    finally:
        os.close(top)


def _ident(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def _open_dir(parent: int, name: str) -> int | None:
    """`name` in `parent` opened as a folder, or None when it is not one (a file, a link)."""
    try:
        return os.open(name, _DIR | _NOFOLLOW, dir_fd=parent)
    except OSError as e:
        if e.errno in (errno.ENOTDIR, errno.ELOOP):
            return None
        raise


def _clear_files(fd: int) -> list[str]:
    """Unlink every non-folder in `fd`; its subfolders' names."""
    with os.scandir(fd) as it:
        entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
    folders = []
    for name, is_dir in entries:
        if is_dir:
            folders.append(name)
            continue
        try:
            os.unlink(name, dir_fd=fd)
        except PermissionError:
            os.fchmod(fd, 0o700)  # a folder without write permission: take it back (we own it)
            os.unlink(name, dir_fd=fd)
        except FileNotFoundError:
            pass
    return folders


def _remove_below(top: int, name: str) -> None:
    top_ident = _ident(top)
    fd = _open_dir(top, name)
    if fd is None:
        os.unlink(name, dir_fd=top)
        return
    levels = [_Level(name, _ident(fd))]
    try:
        levels[-1].pending = _clear_files(fd)
        while levels:
            level = levels[-1]
            if level.pending:
                sub = level.pending.pop()
                child = _open_dir(fd, sub)
                if child is None:  # replaced by a file or link meanwhile
                    os.unlink(sub, dir_fd=fd)
                    continue
                os.close(fd)
                fd = child
                levels.append(_Level(sub, _ident(fd)))
                levels[-1].pending = _clear_files(fd)
                continue
            levels.pop()
            parent = os.open("..", _DIR, dir_fd=fd)
            os.close(fd)
            fd = parent
            expected = levels[-1].ident if levels else top_ident
            if _ident(fd) != expected:
                raise OSError(errno.EBUSY, "a folder was moved while it was being removed", level.name)
            if not levels:
                break
            try:
                os.rmdir(level.name, dir_fd=fd)
            except PermissionError:
                os.fchmod(fd, 0o700)
                os.rmdir(level.name, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=top)
