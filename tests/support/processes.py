"""Ending test subprocesses without racing them: a process found alive may exit before the kill."""

from __future__ import annotations

import contextlib
import os
import signal


def kill_if_alive(pid: int) -> None:
    """SIGKILL `pid`; one that has already ended is not an error (it was found a moment ago)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
