"""SVG snapshots of the main layouts, from a deterministic trace (replay view) so they are stable.

Update after an intended change with `pytest tests/tui/test_tui_snapshots.py --snapshot-update`
and look at the report before committing.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rlm_tui.chat_api import SavedSession
from rlm_tui.config import Settings
from rlm_tui.tui.app import make_app
from rlm_tui.tui.commands import parse
from rlm_tui.tui.widgets.answer import link_citations
from tests.tui.conftest import wait_for
from tests.tui.fakes import FakeBackend
from tests.tui.traces import T0, write_trace


@pytest.fixture
def replay_app(tmp_path: Path, project: Path):
    def make(theme: str = "rlm-dark"):
        trace = write_trace(tmp_path / "trace.jsonl", project=project)
        return make_app(Settings(model="openai/gpt-4o-mini", theme=theme), project, replay=trace)

    return make


async def _replayed(pilot) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.main.chat.last_turn is not None
                   and app.main.chat.last_turn.done
                   and len(app.main.variables.rows_by_name) == 4)
    answer = app.main.chat.last_turn.answer
    shown, citations = link_citations(answer.text, app.project)
    assert citations, "the answer cites a project file: it is drawn as a link"
    await wait_for(pilot, lambda: answer._markdown == shown)
    variables = app.main.variables
    variables._flash_until = dict.fromkeys(variables._flash_until, 0.0)
    variables._unflash()  # no timing-dependent highlight in the picture
    await pilot.pause(0.2)


def test_main_wide(snap_compare, replay_app):
    assert snap_compare(replay_app(), terminal_size=(120, 36), run_before=_replayed)


def test_main_light_theme(snap_compare, replay_app):
    assert snap_compare(replay_app("rlm-light"), terminal_size=(120, 36), run_before=_replayed)


def test_narrow_calls_tab(snap_compare, replay_app):
    async def run_before(pilot) -> None:
        await _replayed(pilot)
        await pilot.press("f3")
        await pilot.pause(0.1)

    assert snap_compare(replay_app(), terminal_size=(80, 24), run_before=run_before)


def test_no_model_screen(snap_compare, project: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RLM_TUI_HOME", "/nonexistent/rlm-home")  # the path shown must be stable
    app = make_app(Settings(), project)

    async def run_before(pilot) -> None:
        for widget in pilot.app.screen.query("Input"):
            widget.cursor_blink = False
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=(140, 40), run_before=run_before)


def test_finished_turn_140x40(snap_compare, replay_app):
    assert snap_compare(replay_app(), terminal_size=(140, 40), run_before=_replayed)


def test_call_detail_80x24(snap_compare, replay_app):
    async def run_before(pilot) -> None:
        from rlm_tui.tui.widgets.call_tree import CallTreeView

        await _replayed(pilot)
        await pilot.press("f3")
        pilot.app.main.post_message(CallTreeView.CallChosen("q0"))
        await pilot.pause(0.3)

    assert snap_compare(replay_app(), terminal_size=(80, 24), run_before=run_before)


def test_main_80x24(snap_compare, replay_app):
    assert snap_compare(replay_app(), terminal_size=(80, 24), run_before=_replayed)


class _SavedBackend(FakeBackend):
    """Three saved sessions at stable relative times (the picker shows `12 min ago`)."""

    def list_saved(self) -> list[SavedSession]:
        now = time.time()
        rows = [("s-new", "Where is the config read?", now - 5, "/srv/demo"),
                ("s-old", "Summarise the README\nand list every TODO in src/", now - 725, "/srv/demo"),
                ("s-2025", "Why does the build fail on CI?", T0 + 9600, "/srv/other-project")]
        return [SavedSession(sid, title, updated, self.root / sid, project=where)
                for sid, title, updated, where in rows]


def test_resume_picker(snap_compare, project: Path, settings: Settings, tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # the welcome line shows the project as ~/proj
    app = make_app(settings, project, backend=_SavedBackend(tmp_path / "engine", project=project))

    async def run_before(pilot) -> None:
        await wait_for(pilot, lambda: pilot.app.session is not None
                       and pilot.app.main.status.info.state == "ready")
        pilot.app.main.prompt_area.input.cursor_blink = False
        pilot.app.run_slash(parse("/resume"))
        await wait_for(pilot, lambda: pilot.app.screen.query("OptionList"))
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=(120, 30), run_before=run_before)
