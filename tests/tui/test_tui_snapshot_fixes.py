"""What looking at the SVG snapshots found: variable previews cut mid-word at the pane's edge,
a blank row closing every answer's bar, the welcome line's long absolute project path."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlm_tui.config import Settings
from rlm_tui.tui.app import make_app
from tests.tui.conftest import wait_for
from tests.tui.traces import write_trace


async def test_previews_fit_the_variables_pane_and_answers_end_on_their_last_line(tmp_path: Path, project):
    app = make_app(Settings(model="openai/m"), project, replay=write_trace(tmp_path / "t.jsonl"))
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.main.variables
        await wait_for(pilot, lambda: len(table.rows_by_name) == 4 and app.main.chat.last_turn.done)
        await pilot.pause(0.3)
        widths = [c.get_render_width(table) for c in table.columns.values()]
        assert sum(widths) <= table.scrollable_content_region.width  # nothing drawn past the edge
        preview = str(table.get_cell("files", "preview"))
        assert preview.endswith("…") and preview.startswith("['README.md'")
        answer = app.main.chat.last_turn.answer
        assert answer.children and answer.children[-1].styles.margin.bottom == 0


async def test_the_welcome_line_shortens_the_home_folder(project, settings, make_backend, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    app = make_app(settings, project, backend=make_backend())
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        assert "project ~/proj\n" in str(app.main.chat.query_one("#chat-welcome").render())
