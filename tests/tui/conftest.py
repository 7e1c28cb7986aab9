"""Fixtures for the TUI tests: a throw-away home, a small project, a fake engine backend."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rlm_tui.config import Settings
from tests.tui.fakes import FakeBackend, Turn


@pytest.fixture(autouse=True)
def tui_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("RLM_TUI_HOME", str(home))
    return home


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "src").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "node_modules" / "left-pad").mkdir(parents=True)
    (root / "README.md").write_text("# Demo project\n\nA tiny project.\n")
    (root / "src" / "app.py").write_text("def main():\n    print('hi')\n")
    (root / "src" / "util.py").write_text("X = 1\n")
    (root / "docs" / "guide.md").write_text("# Guide\n")
    (root / ".gitignore").write_text("*.log\n")
    (root / "debug.log").write_text("noise\n")
    return root


@pytest.fixture
def make_backend(tmp_path: Path, project: Path) -> Callable[..., FakeBackend]:
    def make(turns: list[Turn] | None = None, **kwargs) -> FakeBackend:
        return FakeBackend(tmp_path / "engine", turns, project=project, **kwargs)

    return make


@pytest.fixture
def settings() -> Settings:
    return Settings(model="openai/root-model", sub_model="openai/sub-model")


async def wait_for(pilot, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Pause the pilot until `predicate()` holds (or fail after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        await pilot.pause(0.02)


async def ask(pilot, app, text: str, timeout: float = 10.0) -> None:
    """Type `text`, send it, wait until the turn is over and every event is shown."""
    from rlm_tui.tui.widgets.chat import AssistantTurn

    before = len(app.main.chat.query(AssistantTurn))
    app.main.prompt_area.input.focus()
    app.main.prompt_area.input.load_text(text)
    await pilot.press("enter")
    await wait_for(pilot, lambda: len(app.main.chat.query(AssistantTurn)) > before, timeout)
    await wait_for(pilot, lambda: app.main.chat.last_turn.done and not app.turn_running, timeout)
    await app.drain_events()
    await pilot.pause()


async def settle(pilot, app) -> None:
    await app.drain_events()
    await pilot.pause(0.05)
    await asyncio.sleep(0)
