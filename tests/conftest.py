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
