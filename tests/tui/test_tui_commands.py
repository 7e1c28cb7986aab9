"""Every slash command, typed into the prompt like a user would."""

from __future__ import annotations

from rlm_tui.tui.app import make_app
from rlm_tui.tui.screens.modals import HelpScreen, PickerScreen, PreviewScreen
from rlm_tui.tui.widgets.chat import AssistantTurn, UserMessage
from tests.tui.conftest import ask, wait_for
from tests.tui.fakes import Step, Turn


async def slash(pilot, app, text: str) -> None:
    prompt = app.main.prompt_area.input
    prompt.focus()
    prompt.load_text(text)
    prompt.hide_completion()
    await pilot.press("enter")
    await pilot.pause(0.05)


def messages(app) -> list[str]:
    return [n.message for n in app._notifications]


async def started(pilot, app) -> None:
    await wait_for(pilot, lambda: app.session is not None
                   and app.main.status.info.state == "ready")


async def test_model_and_sub_model(project, settings, make_backend):
    backend = make_backend()
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(120, 35), notifications=True) as pilot:
        await started(pilot, app)
        await slash(pilot, app, "/model")
        assert any("openai/root-model" in m for m in messages(app))
        await slash(pilot, app, "/model openai/other")
        await wait_for(pilot, lambda: app.settings.model == "openai/other", timeout=60)  # litellm checks it
        await slash(pilot, app, "/sub-model openai/tiny")
        await wait_for(pilot, lambda: app.settings.sub_model == "openai/tiny")
        assert backend.sessions[0].models == ("openai/other", "openai/tiny")
        assert app.settings.model == "openai/other" and app.settings.sub_model == "openai/tiny"
        info = app.main.status.info
        assert info.model == "openai/other" and info.sub_model == "openai/tiny"


async def test_new_and_clear(project, settings, make_backend):
    backend = make_backend([Turn(steps=[Step(variables=[("a", "int", None, "1")])]), Turn()])
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(120, 35), notifications=True) as pilot:
        await ask(pilot, app, "one")
        await slash(pilot, app, "/clear")
        await wait_for(pilot, lambda: not app.main.chat.query(UserMessage))
        assert "a" in app.main.variables.rows_by_name  # the session keeps its variables
        assert app.session is backend.sessions[0]
        await slash(pilot, app, "/new")
        await wait_for(pilot, lambda: len(backend.sessions) == 2 and app.session is backend.sessions[1])
        assert backend.sessions[0].closed
        assert not app.main.variables.rows_by_name and not app.main.graph.nodes
        await ask(pilot, app, "two")
        assert len(app.main.chat.query(AssistantTurn)) == 1


async def test_save_trace_and_export(project, settings, make_backend, tmp_path):
    app = make_app(settings, project, backend=make_backend())
    async with app.run_test(size=(120, 35), notifications=True) as pilot:
        await ask(pilot, app, "What is it?")
        sid = app.session.session_id
        await slash(pilot, app, "/save")
        assert any(f"--resume {sid}" in m for m in messages(app))
        await slash(pilot, app, "/trace")
        assert app.clipboard == str(app.session.trace_path)
        target = tmp_path / "out" / "chat.md"
        await slash(pilot, app, f"/export {target}")
        text = target.read_text()
        assert "### You\n\nWhat is it?" in text and "The project is **small**." in text
        assert "```python" in text  # the code cells are in the export


async def test_resume_picker_rebuilds_history(project, settings, make_backend):
    backend = make_backend([Turn(answer="first answer")])
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(120, 35), notifications=True) as pilot:
        await ask(pilot, app, "remember me")
        old_id = app.session.session_id
        await slash(pilot, app, "/new")
        await wait_for(pilot, lambda: app.session is not None and app.session.session_id != old_id)
        await slash(pilot, app, "/resume")
        await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen))
        picker = app.screen
        keys = [k for k, _ in picker.options]
        assert old_id in keys
        app.screen.query_one("OptionList").highlighted = keys.index(old_id)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.session is not None and app.session.session_id == old_id)
        await wait_for(pilot, lambda: app.main.chat.last_turn is not None
                       and app.main.chat.last_turn.done)
        assert [m.text for m in app.main.chat.query(UserMessage)] == ["remember me"]
        assert app.main.chat.last_turn.answer_text == "first answer"


async def test_resume_by_id_at_startup(project, settings, make_backend):
    backend = make_backend([Turn(answer="kept")])
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(120, 35)) as pilot:
        await ask(pilot, app, "earlier")
        sid = app.session.session_id
    again = make_app(settings, project, resume=sid, backend=backend)
    async with again.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: again.session is not None
                       and again.main.chat.last_turn is not None)
        await wait_for(pilot, lambda: again.main.chat.last_turn.done)
        assert again.main.chat.last_turn.answer_text == "kept"
        await ask(pilot, again, "and now?")
        assert len(again.main.chat.query(AssistantTurn)) == 2
    newest = make_app(settings, project, resume="", backend=backend)  # --resume with no ID
    async with newest.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: newest.session is not None)
        assert newest.session.session_id == sid


async def test_budget(project, settings, make_backend):
    backend = make_backend()
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(120, 35), notifications=True) as pilot:
        await started(pilot, app)
        await slash(pilot, app, "/budget")
        assert isinstance(app.screen, PreviewScreen) and "max_iterations" in app.screen.body
        await pilot.press("escape")
        await slash(pilot, app, "/budget max_iterations 20")
        assert app.settings.budget.max_iterations == 20
        assert backend.sessions[0].budget.max_iterations == 20
        assert app.main.status.info.budget.startswith("0/20 iter")
        await slash(pilot, app, "/budget max_cost_usd 0.5")
        assert "$0.50" in app.main.status.info.budget
        await slash(pilot, app, "/budget max_iterations -3")
        assert app.settings.budget.max_iterations == 20
        assert any("Invalid value" in m for m in messages(app))


async def test_skills_help_and_unknown(project, settings, make_backend):
    app = make_app(settings, project, backend=make_backend())
    async with app.run_test(size=(120, 35), notifications=True) as pilot:
        await started(pilot, app)
        await slash(pilot, app, "/skills")
        assert isinstance(app.screen, PreviewScreen) and app.screen.title_text == "Skills"
        await pilot.press("escape")
        await slash(pilot, app, "/help")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await slash(pilot, app, "/modle x")
        assert any("Unknown command /modle" in m and "/model" in m for m in messages(app))
        await slash(pilot, app, "//etc is a path")  # escaped: sent as a question
        await wait_for(pilot, lambda: app.main.chat.last_turn is not None)
        assert app.main.chat.last_turn.question == "/etc is a path"


async def test_theme_picker_previews_live(project, settings, make_backend):
    app = make_app(settings, project, backend=make_backend())
    async with app.run_test(size=(120, 35)) as pilot:
        assert app.theme == "rlm-dark"
        await slash(pilot, app, "/theme rlm-light")
        assert app.theme == "rlm-light" and app.main.chat.syntax_theme == "friendly"
        await slash(pilot, app, "/theme")
        await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen))
        await pilot.press("down")
        previewed = app.theme
        assert previewed != "rlm-light"  # moving the cursor previews
        await pilot.press("escape")
        assert app.theme == "rlm-light"  # cancel restores
        await slash(pilot, app, "/theme")
        await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen))
        keys = [k for k, _ in app.screen.options]
        app.screen.query_one("OptionList").highlighted = keys.index("rlm-high-contrast")
        await pilot.press("enter")
        assert app.theme == "rlm-high-contrast"


async def test_user_theme_from_config_dir(project, settings, make_backend, tui_home):
    themes = tui_home / "config" / "themes"
    themes.mkdir(parents=True)
    (themes / "sunset.toml").write_text('name = "sunset"\n[colors]\nprimary = "#ff8800"\n')
    app = make_app(settings.with_overrides(theme="sunset"), project, backend=make_backend())
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        assert app.theme == "sunset"


async def test_quit(project, settings, make_backend):
    backend = make_backend()
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(120, 35)) as pilot:
        await started(pilot, app)
        await slash(pilot, app, "/quit")
        await wait_for(pilot, lambda: not app.is_running)
    assert backend.sessions[0].closed
