"""Shared pytest fixtures. Keep this file general: add fixtures here, one block per concern.

Tests never call a hosted LM: use the `scripted_server` fixture (a real OpenAI-compatible HTTP
server on 127.0.0.1) with ``model="openai/<name>", api_base=scripted_server.url``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

# Before anything imports litellm/dspy: bundled price map, no network at import.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:  # `tests.support` importable without an editable install
    sys.path.insert(0, str(_ROOT))

import pytest  # noqa: E402

from tests.support.scripted_server import ScriptedServer  # noqa: E402


# --- scripted LM server --------------------------------------------------------------------------
@pytest.fixture
def scripted_server() -> Iterator[ScriptedServer]:
    """A started `ScriptedServer` (see tests/support/scripted_server.py); stopped after the test."""
    server = ScriptedServer().start()
    try:
        yield server
    finally:
        server.stop()


# --- user folders ------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _private_user_folders(tmp_path_factory, monkeypatch) -> None:
    """Sessions, traces and config go to a temporary folder, never the user's own. The cache
    (interpreter image, compiled module) stays shared: rebuilding it costs minutes."""
    base = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("RLM_TUI_CONFIG_DIR", str(base / "config"))
    monkeypatch.setenv("RLM_TUI_DATA_DIR", str(base / "data"))
    monkeypatch.delenv("RLM_TUI_MODEL", raising=False)


# --- process exit ------------------------------------------------------------------------------
_exit_status = 0


def pytest_sessionfinish(session, exitstatus) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config) -> None:
    """End the test process as the CLI ends (see rlm_tui/process_exit.py): a wasmtime thread
    exiting during interpreter finalisation must not turn a finished run into an abort."""
    from rlm_tui.process_exit import exit_process

    exit_process(_exit_status)
