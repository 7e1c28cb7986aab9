"""What each slash command does. `SlashCommands` works on the app through `SlashHost`, the
part of `RLMApp` it uses, so this module never imports the app (the app holds a `SlashCommands`)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError
from rich.text import Text
from textual.markup import escape

from rlm_tui.chat_api import ChatSessionAPI, SavedSession, SessionBackend
from rlm_tui.config import Budget, ConfigError, Settings, save_setting
from rlm_tui.redact import scrub
from rlm_tui.tui import commands, fmt
from rlm_tui.tui.commands import ParsedCommand

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel
    from textual.screen import Screen
    from textual.theme import Theme
    from textual.worker import Worker

    from rlm_tui.tui.screens.main import MainScreen


class SlashHost(Protocol):
    """What the slash commands use of the app; `RLMApp` is the one implementation."""

    settings: Settings
    session: ChatSessionAPI | None
    backend: SessionBackend
    main: MainScreen
    project: Path
    config_path: Path
    replay: Path | None
    turn_running: bool
    theme: str

    @property
    def available_themes(self) -> dict[str, Theme]: ...

    def get_theme(self, theme_name: str) -> Theme | None: ...

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None: ...

    def push_screen(self, screen: Screen[Any], callback: Callable[[Any], None] | None = None) -> Any: ...

    def run_worker(self, work: Any, *, group: str = "default") -> Worker[Any]: ...

    def copy_to_clipboard(self, text: str) -> None: ...

    def start_session(self, resume: str | None = None) -> Any: ...

    def action_help(self) -> None: ...

    def action_quit(self) -> Awaitable[None]: ...


class SlashCommands:
    """`run` dispatches a parsed command to `cmd_<name>`; the palette runs the same commands."""

    def __init__(self, app: SlashHost) -> None:
        self.app = app

    def run(self, parsed: ParsedCommand) -> None:
        if parsed.command is None:
            near = ", ".join(f"/{c.name}" for c in commands.complete(parsed.name[:2])[:4])
            self.app.notify(f"Unknown command /{escape(parsed.name)}." + (f" Did you mean {near}?" if near else
                        " Type / to see the commands."), severity="warning")
            return
        if parsed.command.needs_session and self.app.session is None:
            self.app.notify("The session is not ready yet.", severity="warning")
            return
        handler = getattr(self, "cmd_" + parsed.command.name.replace("-", "_"))
        result = handler(parsed.arg)
        if hasattr(result, "__await__"):
            self.app.run_worker(result, group="slash")

    def _replay_only(self, what: str) -> bool:
        if self.app.replay is not None:
            self.app.notify(f"{what} is not available in a replay.", severity="warning")
            return True
        return False

    # ---- models and budget ---------------------------------------------------------------
    async def cmd_model(self, arg: str) -> None:
        await self._set_model("model", arg)

    async def cmd_sub_model(self, arg: str) -> None:
        await self._set_model("sub_model", arg)

    async def _set_model(self, field: str, arg: str) -> None:
        from rlm_tui.lm.model_check import model_problem

        label = "Root model" if field == "model" else "Sub-model"
        if not arg:
            current = getattr(self.app.settings, field) or (self.app.settings.effective_sub_model
                                                         if field == "sub_model" else None)
            self.app.notify(f"{label}: {current or 'not set'}. Change it with /{field.replace('_', '-')} NAME.")
            return
        problem = await asyncio.to_thread(model_problem, arg, self.app.settings)
        if problem is not None:
            self.app.notify(f"{label} not changed: {problem}", severity="error", timeout=10)
            return
        self.app.settings = self.app.settings.with_overrides(**{field: arg})
        if self.app.session is not None:
            self.app.session.set_models(**{field: arg})
        self.app.main.status.update_info(model=self.app.settings.model or "",
                                     sub_model=self.app.settings.effective_sub_model or "")
        self.app.notify(f"{label} set to {arg} for this session.")

    def cmd_budget(self, arg: str) -> None:
        budget = self.app.settings.budget
        if not arg:
            rows = "\n".join(f"| `{name}` | {getattr(budget, name)} | {f.description or ''} |"
                             for name, f in Budget.model_fields.items())
            from rlm_tui.tui.screens.modals import PreviewScreen

            self.app.push_screen(PreviewScreen("Budget", "Limits per turn (`none` = unlimited). Set one "
                                           "with `/budget FIELD VALUE`.\n\n| field | value | meaning |"
                                           f"\n|---|---|---|\n{rows}"))
            return
        name, _, value = arg.partition(" ")
        name = name.strip().replace("-", "_")
        value = value.strip()
        if name not in Budget.model_fields or not value:
            fields = ", ".join(Budget.model_fields)
            self.app.notify(f"Usage: /budget FIELD VALUE, FIELD one of {fields}", severity="warning")
            return
        parsed: Any = None if value.lower() in ("none", "off", "unlimited") else value
        try:
            new = Budget.model_validate({**budget.model_dump(), name: parsed})
        except ValidationError as e:
            self.app.notify(f"Invalid value for {name}: {e.errors()[0]['msg']}", severity="error")
            return
        self.app.settings = self.app.settings.model_copy(update={"budget": new})
        if self.app.session is not None:  # the running session's next turns (a new one starts with it)
            self.app.session.budget = new
        self.app.main.refresh_usage(new)
        self.app.notify(f"Budget {name} = {getattr(new, name)}")

    async def cmd_skills(self, arg: str) -> None:
        """`/skills` lists them with on/off marks; `/skills NAME` switches one from the next turn."""
        try:
            from rlm_tui import skills as skills_mod

            # listing them runs no tools.py
            found = list(skills_mod.discover(self.app.project, host_tools=False).skills.values())
            problem = ""
        except Exception as e:  # noqa: BLE001 - a malformed user skill must not break the UI
            found, problem = [], f"\n\n**Could not load skills:** {e}"
        if arg:
            await self._toggle_skill(arg, sorted(s.name for s in found))
            return
        from rlm_tui.tui.screens.modals import PreviewScreen

        enabled = set(self.app.settings.skills)
        lines = [f"| {'**on**' if s.name in enabled else 'off'} | **{s.name}** | {s.description} | "
                 f"{s.source} |" for s in found]
        table = ("| | skill | what it does | from |\n|---|---|---|---|\n" + "\n".join(lines)
                 if lines else "_No skills found._")
        body = (f"{table}{problem}\n\nSwitch one on or off with `/skills NAME` (from the next turn, "
                "for this session). Skills that are on are in every prompt; the model can load the "
                "others with `load_skill(name)`. Turn one on at every start with `skills = [\"name\"]` "
                "in config.toml; add your own under `<config dir>/skills/` or `.rlm/skills/`.")
        self.app.push_screen(PreviewScreen("Skills", body))

    async def _toggle_skill(self, name: str, known: list[str]) -> None:
        if name not in known:
            self.app.notify(f"No skill {name!r}. Available: {', '.join(known) or 'none'}.",
                            severity="error", timeout=10)
            return
        if self._replay_only("/skills NAME"):
            return
        if self.app.session is None or self.app.turn_running:
            why = "the session is not ready yet" if self.app.session is None else "a turn is running"
            self.app.notify(f"Skills not changed: {why}; try again once it is.", severity="warning")
            return
        enabled = list(self.app.settings.skills)
        on = name not in enabled
        wanted = [*enabled, name] if on else [n for n in enabled if n != name]
        try:
            await asyncio.to_thread(self.app.session.set_skills, wanted)
        except ValueError as e:
            self.app.notify(f"Skill {name} not switched {'on' if on else 'off'}: {e}", severity="error",
                            timeout=10)
            return
        self.app.settings = self.app.settings.model_copy(update={"skills": wanted})
        self.app.notify(f"Skill {name} is {'on' if on else 'off'} from the next turn "
                        f"(skills on: {', '.join(wanted) or 'none'}).", timeout=6)

    # ---- sessions ------------------------------------------------------------------------
    async def cmd_new(self, arg: str) -> None:
        if self._replay_only("/new"):
            return
        await self._close_session()
        await self.app.main.reset()
        self.app.notify("New session.")
        self.app.start_session(None)

    async def cmd_clear(self, arg: str) -> None:
        await self.app.main.chat.clear_chat()
        self.app.notify("Chat cleared; the session and its variables are kept.", timeout=3)

    def cmd_save(self, arg: str) -> None:
        if self._replay_only("/save"):
            return
        if self.app.session is None:
            self.app.notify("No session to save yet.", severity="warning")
            return
        try:
            self.app.session.save()
        except OSError as e:
            self.app.notify(f"Cannot save the session: {e.strerror or e}", severity="error")
            return
        sid = self.app.session.session_id
        self.app.notify(f"Session {sid} is saved (it saves after every turn). "
                    f"Reopen it with `rlm-tui --resume {sid}` or /resume.", timeout=8)

    def cmd_resume(self, arg: str) -> None:
        if self._replay_only("/resume"):
            return
        if arg:
            self.app.run_worker(self._resume(arg), group="slash")
            return
        try:
            saved = self.app.backend.list_saved()
        except Exception as e:  # noqa: BLE001
            self.app.notify(f"Cannot list sessions: {e}", severity="error")
            return
        current = self.app.session.session_id if self.app.session is not None else None
        saved = [s for s in saved if s.id != current]
        if not saved:
            self.app.notify("No other saved sessions yet.", severity="warning")
            return
        from rlm_tui.tui.screens.modals import PickerScreen

        options = [(s.id, saved_label(s)) for s in saved]

        def chosen(sid: str | None) -> None:
            if sid:
                self.app.run_worker(self._resume(sid), group="slash")

        self.app.push_screen(PickerScreen("Resume a session", options, width=96), chosen)

    async def _resume(self, session_id: str) -> None:
        await self._close_session()
        await self.app.main.reset()
        self.app.start_session(session_id)

    async def _close_session(self) -> None:
        session, self.app.session = self.app.session, None
        if session is None:
            return
        if self.app.turn_running:
            session.cancel()
        try:
            await session.close()
        except Exception as e:  # noqa: BLE001
            self.app.notify(f"Closing the session: {e}", severity="warning")

    async def cmd_export(self, arg: str) -> None:
        from rlm_tui.tui.export import ExportRefused, export_target, write_new
        from rlm_tui.tui.widgets.chat import AssistantTurn

        sid = self.app.session.session_id if self.app.session is not None else "chat"
        try:
            target = export_target(arg, self.app.project, sid)
        except ExportRefused as e:
            self.app.notify(str(e), severity="error", timeout=10)
            return
        turns = list(self.app.main.chat.query(AssistantTurn))
        text = f"# rlm-tui session {sid}\n\nProject: `{self.app.project}`\n\n"
        text += "\n\n---\n\n".join(t.export_markdown() for t in turns) + "\n"
        try:
            written = write_new(target, scrub(text))
        except OSError as e:
            self.app.notify(f"Cannot write {target}: {e.strerror or e}", severity="error")
            return
        await self.app.main.chat.add_note(f"Exported {len(turns)} turn(s) to {written}")

    def cmd_trace(self, arg: str) -> None:
        path = self.app.replay or (self.app.session.trace_path if self.app.session is not None else None)
        if path is None:
            self.app.notify("No trace yet: the session has not started.", severity="warning")
            return
        self.app.copy_to_clipboard(str(path))
        self.app.notify(f"Trace: {path} (path copied). Replay it with `rlm-tui replay {path}`.",
                    timeout=8)

    # ---- look and help -------------------------------------------------------------------
    def cmd_theme(self, arg: str) -> None:
        if arg:
            if self.app.get_theme(arg) is None:
                self.app.notify(f"No theme {arg!r}. /theme lists them.", severity="warning")
                return
            self._keep_theme(arg)
            return
        from rlm_tui.tui.screens.modals import PickerScreen

        original = self.app.theme
        names = sorted(self.app.available_themes, key=lambda n: (not n.startswith("rlm-"), n))

        def preview(name: str) -> None:
            self.app.theme = name

        def chosen(name: str | None) -> None:
            if name:
                self._keep_theme(name)
            else:
                self.app.theme = original

        self.app.push_screen(PickerScreen("Theme (previews live)", [(n, n) for n in names],
                                      current=original, on_highlight=preview), chosen)

    def _keep_theme(self, name: str) -> None:
        """Use theme `name` and save it in config.toml for the next start."""
        self.app.theme = name
        self.app.settings = self.app.settings.model_copy(update={"theme": name})
        try:
            path = save_setting("theme", name, self.app.config_path)
        except (OSError, ConfigError) as e:
            self.app.notify(f"Theme {name}, for this session only: {e}", severity="warning", timeout=10)
            return
        shadow = " (RLM_TUI_THEME is set: it wins at start)" if os.environ.get("RLM_TUI_THEME") else ""
        self.app.notify(f"Theme {name}, saved in {path}{shadow}.", timeout=5)

    def cmd_help(self, arg: str) -> None:
        self.app.action_help()

    async def cmd_quit(self, arg: str) -> None:
        await self.app.action_quit()


def saved_label(saved: SavedSession) -> Text:
    """`today 14:05  What does this do?` over a dim `~/src/project` line."""
    title = fmt.one_line(saved.title or saved.id, 72)
    label = Text.assemble((f"{saved_when(saved.updated):<15}  ", "dim"), (title, "bold"))
    if saved.project:
        label.append(f"\n{'':15}  {fmt.home_short(saved.project)}", style="dim")
    return label


def saved_when(updated: float, now: float | None = None) -> str:
    """When, for a person: `just now`, `12 min ago`, `today 14:05`, `yesterday 09:30`,
    `Mon 14:05` (this week), `2 Dec 14:05` (this year), `2 Dec 2025`."""
    now = time.time() if now is None else now
    ago = now - updated
    if 0 <= ago < 60:
        return "just now"
    if 0 <= ago < 3600:
        return f"{int(ago // 60)} min ago"
    then, today = time.localtime(updated), time.localtime(now)
    days = (time.mktime(today[:3] + (0, 0, 0, 0, 0, -1)) - time.mktime(then[:3] + (0, 0, 0, 0, 0, -1))) / 86400
    clock = time.strftime("%H:%M", then)
    if round(days) == 0:
        return f"today {clock}"
    if round(days) == 1:
        return f"yesterday {clock}"
    if 1 < days < 7:
        return time.strftime("%a ", then) + clock
    if then.tm_year == today.tm_year:
        return f"{then.tm_mday} {time.strftime('%b', then)} {clock}"
    return f"{then.tm_mday} {time.strftime('%b %Y', then)}"
