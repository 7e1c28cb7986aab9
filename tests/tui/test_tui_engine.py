"""The app with the real engine (ChatSession, WASM sandbox, litellm) against the scripted server."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from rlm_tui.config import Settings
from rlm_tui.tui.app import make_app
from rlm_tui.tui.widgets.chat import UserMessage
from tests.support.scripted_server import Reply
from tests.tui.conftest import ask, wait_for

pytestmark = pytest.mark.slow


def cell(body: str, reasoning: str = "Let me look.") -> str:
    return f"{reasoning}\n```python\n{body}\n```"


@pytest.fixture
def engine_home(tui_home: Path) -> Path:
    """A throw-away home that shares the real cache (the compiled interpreter)."""
    real_cache = Path(platformdirs.user_cache_dir("rlm-tui"))
    real_cache.mkdir(parents=True, exist_ok=True)
    tui_home.mkdir(parents=True, exist_ok=True)
    (tui_home / "cache").symlink_to(real_cache, target_is_directory=True)
    return tui_home


async def test_real_session_fills_the_panes(scripted_server, engine_home, project):
    scripted_server.script(
        "root",
        cell("notes = open('/project/README.md').read()\nprint(len(notes), 'chars')",
             "I'll read the README."),
        cell("summary = llm_query('Summarise: ' + notes)\n"
             "open('/workspace/summary.txt', 'w').write(summary)\nSUBMIT(answer=summary)",
             "Now summarise it with a sub-model."),
        Reply(fault="400"),  # the second question fails at the provider
        cell("SUBMIT(answer='still here: ' + summary)"),
    )
    scripted_server.script("sub", "A tiny demo project.")
    settings = Settings(model="openai/root", sub_model="openai/sub", api_base=scripted_server.url,
                        api_key="sk-test-123456789")
    app = make_app(settings, project)
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: app.session is not None, timeout=120)
        await ask(pilot, app, "What is this project?", timeout=60)
        turn = app.main.chat.last_turn
        assert turn.answer_text == "A tiny demo project.", turn.error
        assert len(turn.iterations) == 2
        names = set(app.main.variables.rows_by_name)
        assert {"notes", "summary"} <= names
        subs = [n for n in app.main.graph.nodes.values() if n.kind == "sub"]
        assert [s.title for s in subs] == ["llm_query"] and subs[0].status == "done"
        assert subs[0].response == "A tiny demo project."
        assert app.main.status.info.usage.prompt_tokens > 0
        files = app.main.files
        await wait_for(pilot, lambda: files.workspace is not None)
        await wait_for(pilot, lambda: any(
            n.data and n.data.path.name == "summary.txt"
            for n in files._mounts[files.workspace].children), timeout=10)
        # an LM error mid-turn shows in the chat; the session and its variables carry on
        await ask(pilot, app, "And now?", timeout=60)
        failed = app.main.chat.last_turn
        assert failed.error and "400" in failed.error
        await ask(pilot, app, "Once more?", timeout=60)
        assert app.main.chat.last_turn.answer_text == "still here: A tiny demo project."
        assert len(app.main.chat.query(UserMessage)) == 3
        trace = app.session.trace_path
    assert trace.is_file()


async def test_budget_save_and_resume_reach_the_real_session(scripted_server, engine_home, project):
    """/budget changes the running session's limits, /save writes it, /resume lists readable dates."""
    import re

    from rlm_tui.tui.screens.modals import PickerScreen
    from tests.tui.test_tui_commands import slash

    scripted_server.script("root", cell("print('looking')"), '{"answer": "out of iterations"}')
    settings = Settings(model="openai/root", sub_model="openai/sub", api_base=scripted_server.url,
                        api_key="sk-test-123456789")
    app = make_app(settings, project)
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: app.session is not None, timeout=120)
        await slash(pilot, app, "/budget max_iterations 1")
        assert app.session.budget.max_iterations == 1
        await ask(pilot, app, "What is this project?", timeout=60)
        turn = app.main.chat.last_turn
        assert turn.partial and len(turn.iterations) == 1  # the turn ran under the new limit

        meta = app.session.folder / "meta.json"
        meta.unlink()
        await slash(pilot, app, "/save")
        assert meta.is_file()

        saved = app.session.session_id
        await slash(pilot, app, "/new")
        await wait_for(pilot, lambda: app.session is not None and app.session.session_id != saved,
                       timeout=120)
        await slash(pilot, app, "/resume")
        await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen))
        assert [k for k, _ in app.screen.options] == [saved]  # not the current, empty session
        label = str(app.screen.options[0][1])
        assert re.match(r"just now +What is this project\?\n +\S", label), label
