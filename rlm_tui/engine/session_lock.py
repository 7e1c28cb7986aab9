"""One writer per session: an OS file lock held while a session is open.

`flock` on `<session>/lock`, taken without waiting: a second opener, in this process or
another, gets `SessionLocked` naming the holder's pid (written into the lock file). The OS
drops the lock when its holder exits, so a crashed process never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class SessionLocked(RuntimeError):
    """The session is open elsewhere; `pid` is the holder's process id when known."""

    def __init__(self, session: str, pid: int | None) -> None:
        holder = f"process pid {pid}" if pid else "another process"
        super().__init__(f"session {session} is already open in {holder}; close it there first "
                         f"(one process at a time may write a session)")
        self.pid = pid


class SessionLock:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / "lock"
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise SessionLocked(self.folder.name, pid) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.ftruncate(fd, 0)
            os.close(fd)  # closing the descriptor drops the flock


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
