"""`RLMApp`: wires a chat session's events into the main screen. `make_app` is the factory.

Startup: the main screen is composed and painted first; the engine (litellm, dspy, wasmtime)
is imported and the sandbox started afterwards in a worker, with progress in the status line.
A question typed meanwhile waits for the session.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.notifications import SeverityLevel

from rlm_tui import redact
from rlm_tui.chat_api import ChatSessionAPI, SessionBackend, TurnResult
from rlm_tui.config import Settings, config_file
from rlm_tui.paths import data_dir
from rlm_tui.tui import alt_keys, commands, fuzzy
from rlm_tui.tui.backend import EngineBackend
from rlm_tui.tui.model_choice import ModelChoiceFlow
from rlm_tui.tui.palette import RLMCommands
from rlm_tui.tui.pump import EventPump
from rlm_tui.tui.quiet_gc import QuietGC
from rlm_tui.tui.screens.main import MainScreen
from rlm_tui.tui.slash import SlashCommands
from rlm_tui.tui.themes import discover, syntax_style
from rlm_tui.tui.widgets.blocks import CodeBlock
from rlm_tui.tui.widgets.prompt import PromptInput

QUIT_WINDOW_S = 2.0


class RLMApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "rlm-tui"
    COMMANDS = App.COMMANDS | {RLMCommands}
    BINDINGS = [
        Binding("escape", "cancel_turn", "Cancel turn", id="cancel", show=False),
        Binding("ctrl+c", "ctrl_c", "Quit (twice)", id="quit", priority=True, show=False),
        Binding("f1", "help", "Help", id="help"),
        Binding("ctrl+y", "copy_answer", "Copy answer", id="copy_answer", show=False,
                priority=True),  # over the input's redo (super+y still redoes)
    ]

    def __init__(self, settings: Settings, project: Path, resume: str | None = None,
                 replay: Path | None = None, backend: SessionBackend | None = None,
                 history_file: Path | None = None, theme_dirs: list[Path] | None = None,
                 offline_default: str | None = None, config_path: Path | None = None) -> None:
        super().__init__()
        alt_keys.install()  # alt+enter from tmux/xterm stays alt+enter (a newline), not enter
        self.settings = settings
        self.config_path = config_path or config_file()  # where a chosen theme is saved
        if settings.api_key is not None:  # scrubbed from /export and everything else written out
            redact.register(settings.api_key.get_secret_value())
        self.offline_default = offline_default or ""  # the offline model picked because none was configured
        self.project = Path(project).resolve()
        self.resume_id = resume
        self.replay = Path(replay) if replay else None
        self.backend: SessionBackend = backend or EngineBackend()
        self.history_file = history_file if history_file is not None else data_dir() / "history"
        self.session: ChatSessionAPI | None = None
        self.session_error: str | None = None
        self.turn_running = False
        self.project_files: list[str] = []
        self.pump: EventPump | None = None
        self._queue: asyncio.Queue[list[Any]] = asyncio.Queue()
        self._session_ready = asyncio.Event()
        self._last_ctrl_c = 0.0
        self.quiet_gc = QuietGC()
        self._gc_idle: Any = None
        self.theme_set = discover(theme_dirs)
        for theme in self.theme_set.themes.values():
            self.register_theme(theme)
        self.main: MainScreen = MainScreen(
            self.project, self._syntax_for(settings.theme), lambda: self.project_files,
            self.history_file, replay=self.replay)
        self.slash = SlashCommands(self)
        self.model_choice = ModelChoiceFlow(self)

    # ---- startup -------------------------------------------------------------------------
    def get_default_screen(self) -> MainScreen:
        return self.main

    def on_mount(self) -> None:
        self._apply_keymap()
        self._set_theme(self.settings.theme)
        self.theme_changed_signal.subscribe(self, self._on_theme_changed)
        for error in self.theme_set.errors:
            self.notify(error, title="Theme skipped", severity="warning")
        self.pump = EventPump(asyncio.get_running_loop(), self._queue.put_nowait)
        self._consume()
        self.main.status.update_info(model=self.settings.model or "",
                                     sub_model=self.settings.effective_sub_model or "",
                                     offline_default=self.offline_default)
        self.main.refresh_usage(self.settings.budget)
        if self.replay is None:  # a replay has no prompt to complete @paths in
            self._index_files()
        self.call_after_refresh(self._prewarm)
        self.call_after_refresh(self.quiet_gc.install)  # no full GC pass in the middle of a turn
        if self.replay is not None:
            self.main.status.update_info(state="replay", detail=str(self.replay.name))
            self.load_replay()
        elif self.resume_id is not None and (self.settings.model is None or self.offline_default):
            self.run_worker(self.model_choice.resume_with_saved_model(), group="session")
        elif self.settings.model is None:
            self.model_choice.ask()
        else:
            self.call_after_refresh(self.start_session, self.resume_id)

    def on_unmount(self) -> None:
        self.quiet_gc.uninstall()

    def _apply_keymap(self) -> None:
        if self.settings.keys:
            self.set_keymap(dict(self.settings.keys))

    @work(group="session", exclusive=True)
    async def start_session(self, resume: str | None = None) -> None:
        self._session_ready.clear()
        self.session_error = None
        status = self.main.status
        status.update_info(state="starting", detail="loading the engine…")
        try:
            if resume is not None:
                status.update_info(detail="restoring the session…")
                session = await self.backend.resume(resume or None, self.settings, self._on_event)
                await self._adopt_project(session)
                await self._show_history(session)
            else:
                await self._ask_trust()
                session = await asyncio.to_thread(self.backend.create, self.settings, self.project,
                                                  self._on_event)
                status.update_info(detail="starting the sandbox…")
                await session.start()
            status.update_info(detail="loading the LM client…")
            await asyncio.to_thread(self.backend.warm)
            self.session = session
        except Exception as e:  # the UI stays up; the error says what to fix
            self.session_error = f"{type(e).__name__}: {e}"
            status.update_info(state="error", detail=self.session_error)
            self.notify(self.session_error, title="Session failed to start", severity="error",
                        timeout=15)
            return
        finally:
            self._session_ready.set()
        self.quiet_gc.freeze_now()  # the engine's imports (litellm) stay out of every GC pass
        self.main.files.set_workspace(session.workspace)
        self.main.variables.show(list(session.variables))
        status.update_info(state="busy" if self.turn_running else "ready", detail="")

    async def _ask_trust(self) -> None:
        """A project whose skills carry host code asks first: trust it (recorded), or start
        without those host tools. Nothing of the project runs before the answer."""
        from rlm_tui import trust

        code = await asyncio.to_thread(trust.host_code, self.project)
        if code.too_large or await asyncio.to_thread(trust.is_trusted, code):
            return
        from rlm_tui.tui.screens.trust import TrustScreen

        self.main.status.update_info(state="waiting", detail="trust this project?")
        if await self.push_screen_wait(TrustScreen(code)):
            await asyncio.to_thread(trust.trust, code)
        self.main.status.update_info(state="starting", detail="loading the engine…")

    async def _adopt_project(self, session: ChatSessionAPI) -> None:
        project = session.project.resolve()
        if project != self.project:
            self.project = project
            self.main.files.set_project(self.project)
            self._index_files()

    async def _show_history(self, session: ChatSessionAPI) -> None:
        from rlm_tui.engine.trace import read_trace

        if session.trace_path.is_file():
            events = await asyncio.to_thread(read_trace, session.trace_path)
            await self.main.apply(events)

    @work(group="replay")
    async def load_replay(self) -> None:
        from rlm_tui.engine.replay import traced_project
        from rlm_tui.engine.trace import TraceError, read_trace

        assert self.replay is not None
        try:
            events = await asyncio.to_thread(read_trace, self.replay)
        except (TraceError, OSError) as e:
            self.main.status.update_info(state="error", detail=str(e))
            self.notify(str(e), title="Cannot replay", severity="error", timeout=15)
            self.main.files.show_note("the trace could not be read")
            return
        traced = await asyncio.to_thread(traced_project, events)
        self.main.show_traced_project(traced)  # the Files pane: the traced folder, or why not
        self.project = traced.path or self.project
        for start in range(0, len(events), 500):
            await self.main.apply(events[start:start + 500])
        self.main.status.update_info(detail=f"{self.replay.name} · {len(events)} events")

    @work(thread=True, group="prewarm")
    def _prewarm(self) -> None:
        """Import what the first answer and code cell need, off the event loop."""
        import rich.syntax  # noqa: F401
        from pygments.lexers.python import PythonLexer  # noqa: F401

        import rlm_tui.tui.widgets.answer  # noqa: F401 - Markdown and markdown-it

    @work(thread=True, group="index")
    def _index_files(self) -> None:
        from rlm_tui.tui.ignore import IgnoreFilter

        self.project_files = list(IgnoreFilter(self.project).walk())

    # ---- events --------------------------------------------------------------------------
    def _on_event(self, event: Any) -> None:
        """Given to the session: called on any thread."""
        if self.pump is not None:
            self.pump.push(event)

    @work(group="events")
    async def _consume(self) -> None:
        while True:
            batch = await self._queue.get()
            extra = 0
            while not self._queue.empty():  # coalesce batches that piled up
                batch = batch + self._queue.get_nowait()
                extra += 1
            try:
                await self.main.apply(batch)
            finally:
                for _ in range(extra + 1):
                    self._queue.task_done()
            if self.quiet_gc.busy():
                self.quiet_gc.collect()
            if self._gc_idle is not None:
                self._gc_idle.stop()
            self._gc_idle = self.set_timer(self.quiet_gc.idle_s, self.quiet_gc.collect)

    async def drain_events(self) -> None:
        """Deliver and apply every event pushed so far."""
        if self.pump is not None:
            self.pump.flush()
        await self._queue.join()

    # ---- commands ------------------------------------------------------------------------
    def run_slash(self, parsed: commands.ParsedCommand) -> None:
        """Run a slash command, typed in the prompt or picked in the palette."""
        self.slash.run(parsed)

    # ---- turns ---------------------------------------------------------------------------
    def on_prompt_input_submitted(self, message: PromptInput.Submitted) -> None:
        text = message.text
        parsed = commands.parse(text)
        if parsed is not None:
            self.run_slash(parsed)
            return
        if text.startswith("//"):
            text = text[1:]
        if self.turn_running:
            self.notify("A turn is running: wait for it, or press esc to cancel it.",
                        severity="warning")
            self.main.prompt_area.input.load_text(text)
            return
        self.turn_running = True
        self.ask(text)

    @work(group="turn")
    async def ask(self, text: str) -> None:
        context = [p for p in fuzzy.mentions(text) if (self.project / p).exists()]
        chat = self.main.chat
        await chat.query("#chat-welcome").remove()
        turn = await chat.add_user(text, context)
        status = self.main.status
        status.update_info(state="busy")
        try:
            if not self._session_ready.is_set():
                status.update_info(detail="waiting for the sandbox to start…")
            await self._session_ready.wait()
            if self.session is None or self.session_error:
                await turn.fail(f"No session: {self.session_error or 'not started'}", False)
                if turn in chat.pending:
                    chat.pending.remove(turn)
                return
            result: TurnResult | None
            error: str | None
            try:
                result = await self.session.ask(text, context_paths=context)
            except Exception as e:  # engine bug or transport error: keep the app alive
                result, error = None, f"{type(e).__name__}: {e}"
            else:
                error = result.error
            await self.drain_events()
            if turn in chat.pending:  # no RunStarted came: the engine failed before the run
                chat.pending.remove(turn)
            if not turn.done:
                await self._finish_from_result(turn, result, error)
        finally:
            self.turn_running = False
            status.update_info(state="ready" if self.session_error is None else "error",
                               detail="")
            self.main.refresh_usage()

    async def _finish_from_result(self, turn, result: TurnResult | None, error: str | None) -> None:
        if result is not None and result.cancelled:
            await turn.fail("cancelled", True)
        elif error or result is None:
            await turn.fail(error or "the turn ended without a result", False)
        else:
            await turn.finish(result.outputs or {"answer": result.answer}, result.partial, result.usage)

    def action_cancel_turn(self) -> None:
        if not self.turn_running:
            return
        if self.session is not None:
            self.session.cancel()
        else:
            self.workers.cancel_group(self, "turn")
        self.main.status.update_info(detail="cancelling…")
        self.notify("Cancelling the turn…", timeout=2)

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Notifications carry engine and user text: never parse them as markup."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    # ---- keys ----------------------------------------------------------------------------
    def action_ctrl_c(self) -> None:
        focused = self.focused
        if isinstance(focused, PromptInput) and focused.selected_text:
            self.copy_to_clipboard(focused.selected_text)
            return
        now = time.monotonic()
        if now - self._last_ctrl_c < QUIT_WINDOW_S:
            self.run_worker(self.action_quit())
            return
        self._last_ctrl_c = now
        self.notify("Press ctrl+c again to quit.", timeout=QUIT_WINDOW_S)

    async def action_quit(self) -> None:
        if self.pump is not None:
            self.pump.close()
        session, self.session = self.session, None
        if session is not None:
            if self.turn_running:
                session.cancel()
            try:
                await asyncio.wait_for(session.close(), timeout=5)
            except Exception:  # noqa: BLE001 - quitting anyway
                pass
        self.exit()

    def action_help(self) -> None:
        from rlm_tui.tui.screens.modals import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_copy_answer(self) -> None:
        turn = self.main.chat.last_turn
        if turn is None or not turn.answer_text:
            self.notify("No answer to copy yet.", severity="warning")
            return
        self.copy_to_clipboard(turn.answer_text)
        self.notify("Copied the last answer to the clipboard", timeout=2)

    # ---- themes --------------------------------------------------------------------------
    def _syntax_for(self, theme_name: str) -> str:
        theme = self.get_theme(theme_name)
        return syntax_style(theme_name, theme.dark if theme else True, self.theme_set.syntax)

    def _set_theme(self, name: str) -> None:
        if self.get_theme(name) is None:
            self.notify(f"Unknown theme {name!r}; using rlm-dark. Try /theme.", severity="warning")
        self.theme = name if self.get_theme(name) else "rlm-dark"

    def action_change_theme(self) -> None:
        """ctrl+p's Theme: the live-preview picker, whose choice is saved."""
        self.slash.cmd_theme("")

    def _on_theme_changed(self, theme: Any) -> None:
        style = self._syntax_for(theme.name)
        self.main.chat.syntax_theme = style
        for block in self.main.query(CodeBlock):
            block.set_syntax_theme(style)


def make_app(settings: Settings, project: Path, resume: str | None = None,
             replay: Path | None = None, backend: SessionBackend | None = None,
             offline_default: str | None = None, config_path: Path | None = None) -> RLMApp:
    """The one factory the CLI and the tests use. `offline_default`: the offline model the CLI
    picked because none was configured (the status line says so while it is in use)."""
    return RLMApp(settings, project, resume=resume, replay=replay, backend=backend,
                  offline_default=offline_default, config_path=config_path)
