"""Quitting is immediate even while blocking work runs in a thread (a sandbox compile, a model load).

Run in a child process as the console script runs the TUI: `run_app`, then `exit_process`."""

from __future__ import annotations

import subprocess
import sys
import time

CHILD = """
import asyncio, time
from textual.app import App
from rlm_tui.process_exit import exit_process
from rlm_tui.tui.run_app import run_app

class Busy(App):
    async def on_mount(self):
        self.run_worker(asyncio.to_thread(time.sleep, 60))  # like the first sandbox compile
        self.set_timer(0.5, self.exit)                      # the user quits meanwhile

run_app(Busy(), headless=True)
exit_process(0)
"""


def test_quitting_does_not_wait_for_blocking_work_in_a_thread() -> None:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, timeout=90, check=False,
                          stdin=subprocess.DEVNULL)
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert took < 30, f"the process waited {took:.0f} s for a thread after the app quit"
