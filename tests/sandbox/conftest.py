"""Fixtures for the sandbox tests: a project tree with a known fingerprint, shared sandboxes."""

from __future__ import annotations

from pathlib import Path

import pytest
from sandbox_helpers import make_project

from rlm_tui.sandbox import Sandbox


@pytest.fixture(scope="session")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_project(tmp_path_factory.mktemp("tree"))


@pytest.fixture(scope="session")
def project(tree: tuple[Path, Path]) -> Path:
    return tree[0]


@pytest.fixture(scope="session")
def outside(tree: tuple[Path, Path]) -> Path:
    return tree[1]


@pytest.fixture(scope="session")
def shared(project: Path, tmp_path_factory: pytest.TempPathFactory):
    """One sandbox for tests whose state does not matter (names are per test)."""
    workspace = tmp_path_factory.mktemp("workspace")
    with Sandbox(project, workspace=workspace, timeout_s=10) as sandbox:
        yield sandbox


@pytest.fixture
def fresh(project: Path):
    """A sandbox of its own, for tests that restart, cancel or fill it."""
    with Sandbox(project, timeout_s=10) as sandbox:
        yield sandbox
