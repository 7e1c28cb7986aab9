"""`/skills` lists the skills with on/off marks; `/skills NAME` switches one for the running
session (through `ChatSessionAPI.set_skills`), from the next turn."""

from __future__ import annotations

from rlm_tui.tui.app import make_app
from rlm_tui.tui.screens.modals import PreviewScreen
from tests.tui.conftest import wait_for
from tests.tui.test_tui_commands import messages, slash, started


async def test_skills_toggle_reaches_the_session(project, settings, make_backend):
    backend = make_backend()
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(120, 35), notifications=True) as pilot:
        await started(pilot, app)
        session = backend.sessions[0]
        await slash(pilot, app, "/skills")
        assert isinstance(app.screen, PreviewScreen)
        body = app.screen.body
        assert "| **on** | **codebase** |" in body and "| off | **pdf** |" in body
        await pilot.press("escape")
        await slash(pilot, app, "/skills pdf")
        await wait_for(pilot, lambda: session.skills == ["codebase", "pdf"])
        assert app.settings.skills == ["codebase", "pdf"]
        assert any("pdf is on from the next turn" in m for m in messages(app))
        await slash(pilot, app, "/skills codebase")
        await wait_for(pilot, lambda: session.skills == ["pdf"])
        await slash(pilot, app, "/skills")
        assert "| off | **codebase** |" in app.screen.body and "| **on** | **pdf** |" in app.screen.body
        await pilot.press("escape")
        await slash(pilot, app, "/skills nope")
        await wait_for(pilot, lambda: any("No skill 'nope'" in m for m in messages(app)))
        error = next(m for m in messages(app) if "No skill 'nope'" in m)
        assert "codebase" in error and "pdf" in error  # the available ones are listed
        assert session.skills == ["pdf"] and app.settings.skills == ["pdf"]
        await slash(pilot, app, "/new")  # a new session starts with the skills as switched
        await wait_for(pilot, lambda: len(backend.sessions) == 2 and app.session is backend.sessions[1])
        assert backend.sessions[1].skills == ["pdf"]


async def test_a_skill_that_cannot_load_changes_nothing(project, settings, make_backend):
    backend = make_backend()
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(120, 35), notifications=True) as pilot:
        await started(pilot, app)
        session = backend.sessions[0]

        def refuse(skills: list[str]) -> None:
            raise ValueError("tool lookup defined by two skills")

        session.set_skills = refuse
        await slash(pilot, app, "/skills pdf")
        await wait_for(pilot, lambda: any("not switched on: tool lookup" in m for m in messages(app)))
        assert app.settings.skills == ["codebase"]
