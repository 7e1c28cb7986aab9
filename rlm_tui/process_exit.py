"""Ending a process that ran sandboxes, without CPython's finalisation.

wasmtime's WASI layer runs file operations on a tokio thread pool whose idle threads exit on a
timer. One that exits while the interpreter is finalising aborts the whole process ("panic in a
function that cannot unwind", exit status 134) after all the work was done. So a process that
used sandboxes runs its `atexit` handlers (sandbox folders removed, models closed), flushes its
output and leaves with `os._exit`, before finalisation can race those threads.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import NoReturn


def exit_process(code: int) -> NoReturn:
    """Run the atexit handlers, flush stdout/stderr, and end the process with `code`."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken pipe: nothing left to save
            pass
    os._exit(code)
