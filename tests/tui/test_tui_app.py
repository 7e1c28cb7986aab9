"""The app driven headless with Pilot against a fake engine that emits events from a thread."""

from __future__ import annotations

from textual.widgets import Tabs

from rlm_tui.config import Settings
from rlm_tui.engine.calls import DONE
from rlm_tui.tui.app import make_app
from rlm_tui.tui.widgets.blocks import CodeBlock, OutputBlock
from rlm_tui.tui.widgets.chat import UserMessage
from rlm_tui.tui.widgets.iteration import IterationBlock
from tests.tui.conftest import ask, settle, wait_for
from tests.tui.fakes import Step, Turn

BIG_OUTPUT = "\n".join(f"line {i}" for i in range(40))


def rich_turn() -> Turn:
    return Turn(steps=[
        Step(code="files = sorted(os.listdir('/project'))\nprint(files)",
             stdout="['README.md', 'docs', 'src']\n",
             variables=[("files", "list", 3, "['README.md', 'docs', 'src']")]),
        Step(code="print('\\n'.join(...))", stdout=BIG_OUTPUT, subcalls=4,
             variables=[("files", "list", 3, "['README.md', 'docs', 'src']"),
                        ("notes", "list", 4, "['a', 'b', 'c', 'd']")],
             files={"summary.md": "# Summary\n"}),
    ], answer="It is a **demo**.\n\n```python\nprint('hi')\n```")


async def test_first_paint_then_session_starts_in_background(project, settings, make_backend):
    backend = make_backend(start_delay=0.3)
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(120, 35)) as pilot:
        assert app.focused is app.main.prompt_area.input  # typing works before the engine loads
        assert app.session is None and app.main.status.info.state == "starting"
        await wait_for(pilot, lambda: app.main.status.info.state == "ready")
        assert backend.sessions[0].started


async def test_question_fills_every_pane(project, settings, make_backend):
    backend = make_backend([rich_turn()])
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(120, 35)) as pilot:
        await ask(pilot, app, "What does this project do?")
        chat = app.main.chat
        assert [m.text for m in chat.query(UserMessage)] == ["What does this project do?"]
        turn = chat.last_turn
        assert turn.answer_text.startswith("It is a **demo**")
        await wait_for(pilot, lambda: "demo" in turn.answer._markdown)
        blocks = list(turn.query(IterationBlock))
        assert len(blocks) == 2 and blocks[0].collapsed and turn.steps.collapsed
        assert "os.listdir" in blocks[0].query_one(CodeBlock).code
        out = blocks[1].query_one(OutputBlock)
        assert len(out.full.splitlines()) == 40 and not out.expanded  # folded
        assert "4 sub-calls: llm_query ×4" in blocks[1].subcalls.summary
        # variables
        assert set(app.main.variables.rows_by_name) == {"files", "notes"}
        # call tree: a turn, two iterations, four sub-calls, all done
        g = app.main.graph
        kinds = sorted(n.kind for n in g.nodes.values())
        assert kinds.count("iteration") == 2 and kinds.count("sub") == 4
        assert all(n.status == DONE for n in g.nodes.values())
        assert app.main.calls.root.children[0].children  # mirrored into the Tree widget
        # status line totals
        info = app.main.status.info
        assert info.usage.prompt_tokens == 2 * 100 + 4 * 50 and info.state == "ready"
        assert info.budget.startswith("2/12 iter")
        # files: the workspace file shows up (watchfiles or the post-start listing)
        files = app.main.files
        await wait_for(pilot, lambda: "summary.md" in _names(files), timeout=8)
        assert "debug.log" not in _names(files) and "node_modules" not in _names(files)


def _names(tree) -> set[str]:
    out, stack = set(), [tree.root]
    while stack:
        node = stack.pop()
        if node.data is not None:
            out.add(node.data.path.name)
        stack.extend(node.children)
    return out


async def test_show_more_and_copy_code(project, settings, make_backend):
    app = make_app(settings, project, backend=make_backend([rich_turn()]))
    async with app.run_test(size=(120, 35)) as pilot:
        await ask(pilot, app, "go")
        app.main.chat.last_turn.steps.collapsed = False
        block = list(app.main.chat.query(IterationBlock))[1]
        block.collapsed = False
        out = block.query_one(OutputBlock)
        out.focus()
        await pilot.press("enter")
        assert out.expanded
        code = list(app.main.chat.query(IterationBlock))[0].query_one(CodeBlock)
        list(app.main.chat.query(IterationBlock))[0].collapsed = False
        await pilot.pause()
        code.focus()
        await pilot.press("c")
        assert app.clipboard == code.code
        await pilot.press("ctrl+y")
        assert app.clipboard.startswith("It is a **demo**")


async def test_lm_error_mid_turn_keeps_the_session(project, settings, make_backend):
    backend = make_backend([Turn(steps=[Step(variables=[("x", "int", None, "1")])],
                                 lm_error="APIError: 500 from the provider"), Turn()])
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(120, 35)) as pilot:
        await ask(pilot, app, "first")
        turn = app.main.chat.last_turn
        assert turn.error and "500" in turn.error
        assert len(turn.query(".turn-error")) == 1
        assert "x" in app.main.variables.rows_by_name
        await ask(pilot, app, "second")
        assert app.main.chat.last_turn.answer_text == "The project is **small**."
        assert len(backend.sessions) == 1  # same session throughout


async def test_escape_cancels_and_session_survives(project, settings, make_backend):
    backend = make_backend([Turn(steps=[Step(subcalls=3, variables=[("keep", "str", 2, "'ok'")])],
                                 hang=True), Turn()])
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: app.session is not None and app.session.started)
        app.main.prompt_area.input.load_text("long job")
        await pilot.press("enter")
        await wait_for(pilot, lambda: any(n.kind == "sub" for n in app.main.graph.nodes.values()))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.turn_running)
        await settle(pilot, app)
        turn = app.main.chat.last_turn
        assert turn.cancelled and len(turn.query(".turn-cancelled")) == 1
        assert all(n.status != "running" for n in app.main.graph.nodes.values())
        await ask(pilot, app, "again")
        assert app.main.chat.last_turn.answer_text
        assert len(backend.sessions) == 1


async def test_question_before_session_ready_waits(project, settings, make_backend):
    backend = make_backend(start_delay=0.5)
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(120, 35)) as pilot:
        app.main.prompt_area.input.load_text("early bird")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.main.chat.last_turn is not None
                       and app.main.chat.last_turn.done)
        assert backend.sessions[0].asked[0][0] == "early bird"


async def test_session_start_failure_is_shown(project, settings, make_backend):
    app = make_app(settings, project, backend=make_backend(fail_start="sandbox image missing"))
    async with app.run_test(size=(120, 35), notifications=True) as pilot:
        await wait_for(pilot, lambda: app.main.status.info.state == "error")
        assert "sandbox image missing" in app.main.status.info.detail
        app.main.prompt_area.input.load_text("hello?")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.main.chat.last_turn is not None
                       and app.main.chat.last_turn.done)
        assert "sandbox image missing" in app.main.chat.last_turn.error


async def test_mentions_complete_and_become_context(project, settings, make_backend):
    backend = make_backend()
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: bool(app.project_files) and app.session is not None)
        prompt = app.main.prompt_area.input
        prompt.focus()
        await pilot.press(*"explain @ap")
        await wait_for(pilot, lambda: prompt.completion is not None)
        assert prompt.completion.values[0] == "src/app.py"
        assert "node_modules" not in " ".join(app.project_files)
        await pilot.press("tab")
        assert prompt.text == "explain @src/app.py "
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(backend.sessions[0].asked))
        assert backend.sessions[0].asked[0] == ("explain @src/app.py", ["src/app.py"])


async def test_slash_completion_menu(project, settings, make_backend):
    app = make_app(settings, project, backend=make_backend())
    async with app.run_test(size=(120, 35)) as pilot:
        prompt = app.main.prompt_area.input
        await pilot.press("/", "m", "o")
        assert prompt.completion and prompt.completion.values[0] == "model"
        assert app.main.prompt_area.menu.has_class("-visible")
        await pilot.press("enter")  # accepts the completion first
        assert prompt.text == "/model "
        await pilot.press("escape")
        assert not app.main.prompt_area.menu.has_class("-visible")


async def test_history_and_multiline(project, settings, make_backend):
    backend = make_backend()
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(120, 35)) as pilot:
        await ask(pilot, app, "first question")
        prompt = app.main.prompt_area.input
        await pilot.press(*"line one", "ctrl+j", *"line two")
        assert prompt.text == "line one\nline two"
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(backend.sessions[0].asked) == 2)
        assert backend.sessions[0].asked[1][0] == "line one\nline two"
        await wait_for(pilot, lambda: not app.turn_running)
        await pilot.press("up")
        assert prompt.text == "line one\nline two"
        prompt.move_cursor((0, 0))
        await pilot.press("up")
        assert prompt.text == "first question"
        await pilot.press("down")
        assert prompt.text == "line one\nline two"
    # history persists for the next start
    assert "first question" in app.history_file.read_text()


async def test_ctrl_c_twice_quits(project, settings, make_backend):
    backend = make_backend()
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(120, 35), notifications=True) as pilot:
        await wait_for(pilot, lambda: app.session is not None)
        await pilot.press("ctrl+c")
        assert app.is_running
        assert any("again" in n.message for n in app._notifications)
        await pilot.press("ctrl+c")
        await wait_for(pilot, lambda: not app.is_running)
    assert backend.sessions[0].closed


async def test_narrow_terminal_folds_side_panes_into_tabs(project, settings, make_backend):
    app = make_app(settings, project, backend=make_backend([rich_turn()]))
    async with app.run_test(size=(80, 24)) as pilot:
        await ask(pilot, app, "go")
        tabs = app.main.query_one("#pane-tabs", Tabs)
        assert tabs.display and app.main.has_class("-narrow")
        side = app.main.query_one("#side")
        assert not side.display or side.region.width == 0
        await pilot.press("f3")
        await pilot.pause()
        assert app.main.calls.region.width > 60 and app.main.query_one("#chat-column").region.width == 0
        await pilot.press("f4")
        await pilot.pause()
        assert app.main.variables.region.height > 5
        await pilot.press("f2")
        await pilot.pause()
        assert app.focused is app.main.prompt_area.input
        await pilot.resize_terminal(130, 40)
        await pilot.pause()
        assert app.main.has_class("-wide") and not tabs.display
        assert app.main.calls.region.width > 20 and app.main.chat.region.width > 40


async def test_no_model_screen_explains_and_accepts_a_model(project, make_backend):
    backend = make_backend()
    app = make_app(Settings(), project, backend=backend)
    async with app.run_test(size=(100, 40)) as pilot:
        from rlm_tui.tui.screens.no_model import NoModelScreen

        assert isinstance(app.screen, NoModelScreen)
        text = app.screen.query_one("Markdown")._markdown
        assert "config.toml" in text and "RLM_TUI_MODEL" in text and "--model" in text
        assert "api_base" in text
        assert not backend.sessions  # nothing starts without a model
        await pilot.press(*"openai/typed-model", "enter")
        await wait_for(pilot, lambda: app.session is not None)
        assert app.settings.model == "openai/typed-model"
        assert isinstance(app.screen, type(app.main))


async def test_replay_view_is_read_only(tmp_path, project, settings):
    from tests.tui.traces import write_trace

    trace = write_trace(tmp_path / "t" / "trace.jsonl", project=project)
    app = make_app(settings, project, replay=trace)
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: app.main.chat.last_turn is not None
                       and app.main.chat.last_turn.done)
        assert not app.main.query("PromptInput")
        assert app.main.status.info.state == "replay"
        assert [m.text for m in app.main.chat.query(UserMessage)] == ["What does this project do?"]
        assert "tiny demo project" in app.main.chat.last_turn.answer_text
        assert len(app.main.chat.last_turn.iterations) == 2  # the child run stays in Calls
        assert app.main.graph.nodes["child"].depth == 1
        await wait_for(pilot, lambda: len(app.main.variables.rows_by_name) == 4)
        assert set(app.main.variables.rows_by_name) == {"files", "texts", "notes", "deep"}
        assert app.session is None


async def test_call_variable_and_file_previews(project, settings, make_backend):
    from rlm_tui.tui.screens.modals import PreviewScreen

    app = make_app(settings, project, backend=make_backend([rich_turn()]))
    async with app.run_test(size=(120, 35)) as pilot:
        await ask(pilot, app, "go")
        tree = app.main.calls
        sub = next(n for n in app.main.graph.nodes.values() if n.kind == "sub")
        tree_node = tree._tree_nodes_by_call[sub.call_id]
        tree.focus()
        tree.move_cursor(tree_node)
        await pilot.press("enter")
        from rlm_tui.tui.screens.call_detail import CallDetailScreen  # a call opens beside the tree

        await wait_for(pilot, lambda: isinstance(app.screen, CallDetailScreen))
        source = app.screen.query_one("Markdown").source
        assert "summarise chunk" in source and "summary" in source
        await pilot.press("escape")
        app.main.variables.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PreviewScreen))
        assert "files" in app.screen.body
        await pilot.press("escape")
        files = app.main.files
        readme = next(n for n in files._mounts[files.project].children
                      if n.data and n.data.path.name == "README.md")
        files.focus()
        files.move_cursor(readme)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PreviewScreen))
        assert app.screen.kind == "code" and "Demo project" in app.screen.body
        await pilot.press("c")
        assert "Demo project" in app.clipboard


async def test_files_pane_follows_the_disk(project, settings, make_backend):
    app = make_app(settings, project, backend=make_backend())
    async with app.run_test(size=(120, 35)) as pilot:
        files = app.main.files
        await wait_for(pilot, lambda: "README.md" in _names(files) and app.session is not None)
        (project / "NEW_NOTES.md").write_text("fresh")
        (project / "ignored.log").write_text("x")
        await wait_for(pilot, lambda: "NEW_NOTES.md" in _names(files), timeout=10)
        (project / "NEW_NOTES.md").unlink()
        await wait_for(pilot, lambda: "NEW_NOTES.md" not in _names(files), timeout=10)
        assert "ignored.log" not in _names(files)


async def test_help_and_palette(project, settings, make_backend):
    from rlm_tui.tui.screens.modals import HelpScreen

    app = make_app(settings, project, backend=make_backend())
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        assert "/resume" in app.screen.body and "ctrl+c" in app.screen.body
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"sub-model")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.main.prompt_area.input.text == "/sub-model ")
