"""Fixtures for the protocol servers: a project and the environment the server runs in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "app.py").write_text("def main():\n    print('hi')\n\n\ndef helper():\n    return 1\n")
    (root / "pkg" / "mod.py").write_text("def handler(request):\n    return 'ok'\n")
    return root


@pytest.fixture
def server_env() -> dict[str, str]:
    """The test's environment (its private data and config folders) for the server process."""
    return {**os.environ, "PYTHONUNBUFFERED": "1"}
