"""Fixtures of the engine tests: a small project folder to mount, and litellm imported ahead.

`project` is a folder with one text file; a test module that needs other files overrides it with
`write_project(tmp_path, {...})`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.projects import write_project


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path, {"a.txt": "alpha\n"})


@pytest.fixture
def litellm_preloaded() -> None:
    """Import litellm before the clock starts: a cold import takes seconds of a short turn."""
    from rlm_tui.lm.client import preload

    preload()
