"""The TUI a person keeps using (#13): resume without a configured model, citations as links,
inline Markdown in answers, newline and copy keys, history past slash commands."""

from __future__ import annotations

from rlm_tui.config import Settings
from rlm_tui.tui.app import RLMApp, make_app
from tests.tui.conftest import ask, wait_for
from tests.tui.fakes import Turn


async def _saved_session(project, make_backend, settings) -> tuple[object, str]:
    backend = make_backend([Turn(answer="kept")])
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(120, 35)) as pilot:
        await ask(pilot, app, "earlier")
        return backend, app.session.session_id


async def test_resume_without_a_configured_model_restores_the_saved_one(project, make_backend):
    saved = Settings(model="openai/saved-model", api_base="http://localhost:9/v1")
    backend, sid = await _saved_session(project, make_backend, saved)
    app = make_app(Settings(), project, resume="", backend=backend)
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: app.session is not None)
        assert app.session.session_id == sid
        assert app.settings.model == "openai/saved-model"
        assert app.settings.api_base == "http://localhost:9/v1"
        await wait_for(pilot, lambda: app.main.chat.last_turn is not None
                       and app.main.chat.last_turn.done)
        assert app.main.chat.last_turn.answer_text == "kept"


async def test_model_chosen_on_the_no_model_screen_resumes_the_saved_session(project, make_backend):
    backend = make_backend()
    old = backend.create(Settings(), project, lambda e: None)  # a session saved with no model
    await old.start()
    sid = old.session_id
    app = make_app(Settings(), project, resume=sid, backend=backend)
    async with app.run_test(size=(120, 35)) as pilot:
        from rlm_tui.tui.screens.no_model import NoModelScreen

        await wait_for(pilot, lambda: isinstance(app.screen, NoModelScreen))
        await pilot.press(*"openai/typed-model", "enter")
        await wait_for(pilot, lambda: app.session is not None)
        assert app.session.session_id == sid
        assert len(backend.sessions) == 2  # the first run's and the resumed one: no new empty session
        assert backend.list_saved()[0].id == sid


def _styles(paragraph, word: str) -> list:
    return [s.style for s in paragraph.render_line(0) if s.text == word]


async def test_answers_keep_inline_markdown_in_every_theme(project, settings, make_backend):
    from rlm_tui.tui.widgets.answer import AnswerBlock

    backend = make_backend([Turn(answer="It is **bold**, *slanted* and `code` here.")])
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(120, 35)) as pilot:
        await ask(pilot, app, "how?")
        await wait_for(pilot, lambda: app.main.chat.query(AnswerBlock).first().query("MarkdownParagraph"))
        answer = app.main.chat.query_one(AnswerBlock)
        assert answer.can_focus
        for theme in app.theme_set.themes:
            app.theme = theme
            await pilot.pause()
            paragraph = answer.query_one("MarkdownParagraph")
            paragraph._styles_cache.clear()
            assert all(s.bold for s in _styles(paragraph, "bold")), theme
            assert all(s.italic for s in _styles(paragraph, "slanted")), theme
            plain = _styles(paragraph, " here.")[0]
            assert _styles(paragraph, "code")[0] != plain, theme


async def test_paths_in_an_answer_keep_their_underscores(project, settings, make_backend):
    from rlm_tui.tui.widgets.answer import AnswerBlock

    backend = make_backend([Turn(answer="In rlm_tui/__init__.py, not __main__.py: **Budget** and _why_.")])
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(120, 35)) as pilot:
        await ask(pilot, app, "where?")
        await wait_for(pilot, lambda: app.main.chat.query(AnswerBlock).first().query("MarkdownParagraph"))
        paragraph = app.main.chat.query_one(AnswerBlock).query_one("MarkdownParagraph")
        await pilot.pause()
        line = "".join(s.text for s in paragraph.render_line(0))
        assert "In rlm_tui/__init__.py, not __main__.py: Budget and why." in line
        assert all(s.bold for s in _styles(paragraph, "Budget"))  # emphasis outside paths still works
        assert all(s.italic for s in _styles(paragraph, "why"))


async def test_a_citation_in_an_answer_opens_the_file_at_its_lines(project, settings, make_backend):
    from rlm_tui.tui.screens.modals import PreviewScreen
    from rlm_tui.tui.widgets.answer import AnswerBlock

    backend = make_backend([Turn(answer="`main` is at `src/app.py:1-2`; `nope.py:3` is not a file.")])
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(120, 35)) as pilot:
        await ask(pilot, app, "where is main?")
        await wait_for(pilot, lambda: app.main.chat.query(AnswerBlock).first().query("MarkdownParagraph"))
        paragraph = app.main.chat.query_one(AnswerBlock).query_one("MarkdownParagraph")
        await pilot.pause()
        line = "".join(s.text for s in paragraph.render_line(0))
        await pilot.click(paragraph, offset=(line.index("src/app.py") + 2, 0))
        await wait_for(pilot, lambda: isinstance(app.screen, PreviewScreen))
        assert app.screen.title_text == "src/app.py:1-2"
        assert app.screen.lines == (1, 2) and "def main" in app.screen.body
        await pilot.press("escape")
        await pilot.click(paragraph, offset=(line.index("nope.py") + 2, 0))
        await pilot.pause()
        assert not isinstance(app.screen, PreviewScreen)  # not a file of the project: no link


def test_citations_in_fences_and_links_stay_text(project):
    from rlm_tui.tui.widgets.answer import link_citations

    text = "[see](src/app.py:1) and src/util.py:1\n\n```\nsrc/app.py:2\n```\n"
    shown, cited = link_citations(text, project)
    assert shown == "[see](src/app.py:1) and [src/util.py:1](cite:0)\n\n```\nsrc/app.py:2\n```\n"
    assert [str(c) for c in cited] == ["src/util.py:1"]


async def _typed_in_a_terminal(pilot, app, data: str) -> None:
    """Deliver `data` as a terminal would: parsed by the parser the drivers use, then posted."""
    from textual.drivers import linux_driver

    parser = linux_driver.XTermParser()
    for key in [*parser.feed(data), *parser.feed("")]:
        app.post_message(key)
        await pilot.pause()


async def test_alt_enter_from_a_terminal_inserts_a_newline(project, settings, make_backend):
    backend = make_backend()
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: app.session is not None)
        prompt = app.main.prompt_area.input
        prompt.focus()
        await _typed_in_a_terminal(pilot, app, "one\x1b\rtwo")  # tmux and xterm send alt+enter as ESC CR
        assert prompt.text == "one\ntwo"
        assert not backend.sessions[0].asked


async def test_ctrl_y_copies_the_last_answer_while_the_input_has_focus(project, settings, make_backend):
    backend = make_backend([Turn(answer="copy **me**")])
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(120, 35)) as pilot:
        await ask(pilot, app, "q")
        prompt = app.main.prompt_area.input
        prompt.focus()
        await pilot.press(*"draft")
        copied: list[str] = []
        app.copy_to_clipboard = copied.append
        await pilot.press("ctrl+y")
        assert copied == ["copy **me**"]
        assert prompt.text == "draft"


async def test_up_arrow_history_walks_past_a_recalled_slash_command(project, settings, make_backend, tmp_path):
    history = tmp_path / "history"
    history.write_text("first question\x1e\n/model\x1e\nlast question\x1e\n")
    app = RLMApp(settings, project, backend=make_backend(), history_file=history)
    async with app.run_test(size=(120, 35)) as pilot:
        prompt = app.main.prompt_area.input
        prompt.focus()
        seen = []
        for _ in range(3):
            await pilot.press("up")
            await pilot.pause()
            seen.append(prompt.text)
        assert seen == ["last question", "/model", "first question"]
        await pilot.press("down", "down")
        await pilot.pause()
        assert prompt.text == "last question"


async def test_first_start_shows_the_model_field_the_offline_model_and_a_key_field(
        project, make_backend, monkeypatch):
    from rlm_tui import redact
    from rlm_tui.tui.screens import no_model

    monkeypatch.setattr(no_model, "offline_model", lambda: "embedded/tiny")
    backend = make_backend()
    app = make_app(Settings(), project, backend=backend)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, no_model.NoModelScreen))
        await pilot.pause()
        for field in ("#model", "#api-key", "#offline"):
            region = app.screen.query_one(field).region
            assert region.height and region.bottom <= 39, field  # above the fold (and the hint row)
        assert app.screen.query_one("#model").has_focus
        await pilot.press(*"openai/typed", "tab", "tab", *"sk-secret-123", "enter")
        await wait_for(pilot, lambda: app.session is not None)
        assert app.settings.model == "openai/typed"
        assert app.settings.api_key.get_secret_value() == "sk-secret-123"
        assert "sk-secret-123" not in redact.scrub("key sk-secret-123")


async def test_first_start_offline_model_button(project, make_backend, monkeypatch):
    from rlm_tui.tui.screens import no_model

    monkeypatch.setattr(no_model, "offline_model", lambda: "embedded/tiny")
    app = make_app(Settings(), project, backend=make_backend())
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, no_model.NoModelScreen))
        await pilot.pause()
        await pilot.click("#offline")
        await wait_for(pilot, lambda: app.session is not None)
        assert app.settings.model == "embedded/tiny"


async def test_the_key_typed_on_first_start_is_never_shown(project, make_backend):
    from rlm_tui.tui.screens import no_model

    app = make_app(Settings(), project, backend=make_backend())
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, no_model.NoModelScreen))
        app.screen.query_one("#api-key").focus()
        await pilot.press(*"sk-visible-456")
        await pilot.pause()
        assert "sk-visible-456" not in app.export_screenshot()


async def test_the_compile_estimate_is_not_cut_off(project, settings, make_backend):
    app = make_app(settings, project, backend=make_backend())
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: app.session is not None and app.main.status.info.state == "ready")
        await app.drain_events()
        detail = "Compiling the Python sandbox (first run only, ~45 s)… 12 s"
        app.main.status.update_info(state="starting", detail=detail)
        await pilot.pause()
        shown = str(app.main.status.query_one("#status-left").render())
        assert detail in shown


async def test_printable_keys_on_the_chat_or_calls_pane_go_to_the_input(project, settings, make_backend):
    from rlm_tui.tui.widgets.answer import AnswerBlock

    app = make_app(settings, project, backend=make_backend([Turn(answer="an answer")]))
    async with app.run_test(size=(140, 40)) as pilot:
        await ask(pilot, app, "q")
        prompt = app.main.prompt_area.input
        app.main.calls.focus()
        await pilot.press("h", "i")
        assert prompt.has_focus and prompt.text == "hi"
        copied: list[str] = []
        app.copy_to_clipboard = copied.append
        app.main.chat.query_one(AnswerBlock).focus()
        await pilot.press("c")  # the block's own key, shown on it: copies
        assert copied == ["an answer"] and prompt.text == "hi"
        await pilot.press("!")
        assert prompt.has_focus and prompt.text == "hi!"


async def test_model_strings_are_checked_when_set(project, settings, make_backend):
    from tests.tui.test_tui_commands import messages, slash, started

    backend = make_backend()
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(120, 35), notifications=True) as pilot:
        await started(pilot, app)
        for junk, why in (("/theme", "is not a model string"), ("nosuch/model-x", "knows no provider"),
                          ("embedded/nope", "unknown offline model")):
            await slash(pilot, app, f"/model {junk}")
            await wait_for(pilot, lambda why=why: any(why in m for m in messages(app)), timeout=60)  # litellm loads
            said = next(m for m in messages(app) if why in m)
            assert "HTTP" not in said and junk in said, said
            assert app.settings.model == "openai/root-model"
            assert backend.sessions[0].models[0] == "openai/root-model"
        await slash(pilot, app, "/sub-model anthropic/claude-x")
        await wait_for(pilot, lambda: app.settings.sub_model == "anthropic/claude-x")


def test_saved_dates_read_like_a_person_says_them():
    import time

    from rlm_tui.tui.slash import saved_when

    now = time.mktime((2026, 12, 3, 15, 0, 0, 0, 0, -1))
    at = lambda *t: time.mktime((2026, *t, 0, 0, 0, -1))  # noqa: E731
    assert saved_when(now - 20, now) == "just now"
    assert saved_when(now - 600, now) == "10 min ago"
    assert saved_when(at(12, 3, 9, 5), now) == "today 09:05"
    assert saved_when(at(12, 2, 22, 0), now) == "yesterday 22:00"
    assert saved_when(at(11, 30, 8, 0), now) == time.strftime("%a", time.localtime(at(11, 30, 8, 0))) + " 08:00"
    assert saved_when(at(3, 1, 8, 0), now) == "1 Mar 08:00"
    assert saved_when(time.mktime((2025, 3, 1, 8, 0, 0, 0, 0, -1)), now) == "1 Mar 2025"


async def test_resume_picker_lists_other_sessions_on_one_line_with_their_project(
        project, settings, make_backend):
    from rlm_tui.tui.screens.modals import PickerScreen
    from tests.tui.test_tui_commands import slash

    backend = make_backend()
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(140, 40)) as pilot:
        await ask(pilot, app, "What does\nthis project\ndo?")
        old = app.session.session_id
        await slash(pilot, app, "/new")
        await wait_for(pilot, lambda: app.session is not None and app.session.session_id != old
                       and app.main.status.info.state == "ready")
        await slash(pilot, app, "/resume")
        await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen))
        assert [k for k, _ in app.screen.options] == [old]  # not the current, empty one
        first, second = str(app.screen.options[0][1]).split("\n")
        assert first.split() == ["just", "now", "What", "does", "this", "project", "do?"]
        assert second.strip() == str(project)
        app.save_screenshot("resume_picker.svg", path="/tmp")
