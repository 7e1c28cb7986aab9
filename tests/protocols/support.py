"""Helpers for the protocol tests: the server command line, waiting, process lookups.

Each test runs `python -m rlm_tui mcp|acp` as a real subprocess on stdio pipes, talking to the
scripted LM server of tests/support (real HTTP on 127.0.0.1).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path


def code(body: str, reasoning: str = "Let me look.") -> str:
    return f"{reasoning}\n```python\n{body}\n```"


def server_command(command: str, scripted_server, *extra: str) -> list[str]:
    return [sys.executable, "-m", "rlm_tui", command, *extra, "--model", "openai/root",
            "--sub-model", "openai/sub", "--api-base", scripted_server.url]


async def eventually(condition: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> None:
    """Wait without blocking the event loop (the client under test runs on it)."""
    import anyio

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await anyio.sleep(0.05)


def wait_until(condition: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def live_processes_mentioning(marker: str) -> list[int]:
    """Pids of running (not zombie) processes whose command line contains `marker` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append(int(entry.name))
    return found
