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
# An inherited RLM_TUI_HOME would win over every per-test folder below (rlm_tui/paths.py): keep
# only its cache (compiled interpreter, pulled models), as RLM_TUI_CACHE_DIR, for the whole run.
if _inherited_home := os.environ.pop("RLM_TUI_HOME", ""):
    os.environ.setdefault("RLM_TUI_CACHE_DIR", str(Path(_inherited_home) / "cache"))

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
    """Sessions, traces and config go to a temporary folder, never the user's own, and no setting
    comes from the user's env. The cache (interpreter image, compiled module) stays shared:
    rebuilding it costs minutes."""
    base = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("RLM_TUI_CONFIG_DIR", str(base / "config"))
    monkeypatch.setenv("RLM_TUI_DATA_DIR", str(base / "data"))
    from rlm_tui.config import settings_env_vars

    for variable in settings_env_vars():  # the user's RLM_TUI_MODEL, _SUB_MODEL, _THEME, ...
        monkeypatch.delenv(variable, raising=False)


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
