"""What each slash command does (mixed into `RLMApp`)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from rich.text import Text
from textual.markup import escape

from rlm_tui.chat_api import SavedSession
from rlm_tui.config import Budget
from rlm_tui.redact import scrub
from rlm_tui.tui import commands, fmt
from rlm_tui.tui.commands import ParsedCommand

if TYPE_CHECKING:
    from rlm_tui.tui.app import RLMApp


class SlashCommands:
    """`run_slash` dispatches to `cmd_<name>`; the palette calls the same methods."""

    def run_slash(self: RLMApp, parsed: ParsedCommand) -> None:
        if parsed.command is None:
            near = ", ".join(f"/{c.name}" for c in commands.complete(parsed.name[:2])[:4])
            self.notify(f"Unknown command /{escape(parsed.name)}." + (f" Did you mean {near}?" if near else
                        " Type / to see the commands."), severity="warning")
            return
        if parsed.command.needs_session and self.session is None:
            self.notify("The session is not ready yet.", severity="warning")
            return
        handler = getattr(self, "cmd_" + parsed.command.name.replace("-", "_"))
        result = handler(parsed.arg)
        if hasattr(result, "__await__"):
            self.run_worker(result, group="slash")

    def _replay_only(self: RLMApp, what: str) -> bool:
        if self.replay is not None:
            self.notify(f"{what} is not available in a replay.", severity="warning")
            return True
        return False

    # ---- models and budget ---------------------------------------------------------------
    async def cmd_model(self: RLMApp, arg: str) -> None:
        await self._set_model("model", arg)

    async def cmd_sub_model(self: RLMApp, arg: str) -> None:
        await self._set_model("sub_model", arg)

    async def _set_model(self: RLMApp, field: str, arg: str) -> None:
        from rlm_tui.tui.model_check import model_problem

        label = "Root model" if field == "model" else "Sub-model"
        if not arg:
            current = getattr(self.settings, field) or (self.settings.effective_sub_model
                                                         if field == "sub_model" else None)
            self.notify(f"{label}: {current or 'not set'}. Change it with /{field.replace('_', '-')} NAME.")
            return
        problem = await asyncio.to_thread(model_problem, arg, self.settings)
        if problem is not None:
            self.notify(f"{label} not changed: {problem}", severity="error", timeout=10)
            return
        self.settings = self.settings.with_overrides(**{field: arg})
        if self.session is not None:
            self.session.set_models(**{field: arg})
        self.main.status.update_info(model=self.settings.model or "",
                                     sub_model=self.settings.effective_sub_model or "")
        self.notify(f"{label} set to {arg} for this session.")

    def cmd_budget(self: RLMApp, arg: str) -> None:
        budget = self.settings.budget
        if not arg:
            rows = "\n".join(f"| `{name}` | {getattr(budget, name)} | {f.description or ''} |"
                             for name, f in Budget.model_fields.items())
            from rlm_tui.tui.screens.modals import PreviewScreen

            self.push_screen(PreviewScreen("Budget", "Limits per turn (`none` = unlimited). Set one "
                                           "with `/budget FIELD VALUE`.\n\n| field | value | meaning |"
                                           f"\n|---|---|---|\n{rows}"))
            return
        name, _, value = arg.partition(" ")
        name = name.strip().replace("-", "_")
        value = value.strip()
        if name not in Budget.model_fields or not value:
            fields = ", ".join(Budget.model_fields)
            self.notify(f"Usage: /budget FIELD VALUE, FIELD one of {fields}", severity="warning")
            return
        parsed: Any = None if value.lower() in ("none", "off", "unlimited") else value
        try:
            new = Budget.model_validate({**budget.model_dump(), name: parsed})
        except ValidationError as e:
            self.notify(f"Invalid value for {name}: {e.errors()[0]['msg']}", severity="error")
            return
        self.settings = self.settings.model_copy(update={"budget": new})
        if self.session is not None:  # the running session's next turns (a new one starts with it)
            self.session.budget = new
        self.main.refresh_usage(new)
        self.notify(f"Budget {name} = {getattr(new, name)}")

    def cmd_skills(self: RLMApp, arg: str) -> None:
        from rlm_tui.tui.screens.modals import PreviewScreen

        try:
            from rlm_tui import skills as skills_mod

            # listing them runs no tools.py
            found = list(skills_mod.discover(self.project, host_tools=False).skills.values())
            problem = ""
        except Exception as e:  # noqa: BLE001 - a malformed user skill must not break the UI
            found, problem = [], f"\n\n**Could not load skills:** {e}"
        enabled = set(self.settings.skills)
        lines = [f"| {'✓' if s.name in enabled else ''} | **{s.name}** | {s.description} | "
                 f"{s.source} |" for s in found]
        table = ("| on | skill | what it does | from |\n|---|---|---|---|\n" + "\n".join(lines)
                 if lines else "_No skills found._")
        body = (f"{table}{problem}\n\nEnabled skills are in every prompt; the model can load the "
                "others with `load_skill(name)`. Enable one by default with `skills = [\"name\"]` "
                "in config.toml; add your own under `<config dir>/skills/` or `.rlm/skills/`.")
        self.push_screen(PreviewScreen("Skills", body))

    # ---- sessions ------------------------------------------------------------------------
    async def cmd_new(self: RLMApp, arg: str) -> None:
        if self._replay_only("/new"):
            return
        await self._close_session()
        await self.main.reset()
        self.notify("New session.")
        self.start_session(None)

    async def cmd_clear(self: RLMApp, arg: str) -> None:
        await self.main.chat.clear_chat()
        self.notify("Chat cleared; the session and its variables are kept.", timeout=3)

    def cmd_save(self: RLMApp, arg: str) -> None:
        if self._replay_only("/save"):
            return
        if self.session is None:
            self.notify("No session to save yet.", severity="warning")
            return
        try:
            self.session.save()
        except OSError as e:
            self.notify(f"Cannot save the session: {e.strerror or e}", severity="error")
            return
        sid = self.session.session_id
        self.notify(f"Session {sid} is saved (it saves after every turn). "
                    f"Reopen it with `rlm-tui --resume {sid}` or /resume.", timeout=8)

    def cmd_resume(self: RLMApp, arg: str) -> None:
        if self._replay_only("/resume"):
            return
        if arg:
            self.run_worker(self._resume(arg), group="slash")
            return
        try:
            saved = self.backend.list_saved()
        except Exception as e:  # noqa: BLE001
            self.notify(f"Cannot list sessions: {e}", severity="error")
            return
        current = self.session.session_id if self.session is not None else None
        saved = [s for s in saved if s.id != current]
        if not saved:
            self.notify("No other saved sessions yet.", severity="warning")
            return
        from rlm_tui.tui.screens.modals import PickerScreen

        options = [(s.id, saved_label(s)) for s in saved]

        def chosen(sid: str | None) -> None:
            if sid:
                self.run_worker(self._resume(sid), group="slash")

        self.push_screen(PickerScreen("Resume a session", options, width=96), chosen)

    async def _resume(self: RLMApp, session_id: str) -> None:
        await self._close_session()
        await self.main.reset()
        self.start_session(session_id)

    async def _close_session(self: RLMApp) -> None:
        session, self.session = self.session, None
        if session is None:
            return
        if self.turn_running:
            session.cancel()
        try:
            await session.close()
        except Exception as e:  # noqa: BLE001
            self.notify(f"Closing the session: {e}", severity="warning")

    def cmd_export(self: RLMApp, arg: str) -> None:
        sid = self.session.session_id if self.session is not None else "chat"
        path = Path(arg).expanduser() if arg else Path.cwd() / f"rlm-tui-{sid}.md"
        from rlm_tui.tui.widgets.chat import AssistantTurn

        turns = list(self.main.chat.query(AssistantTurn))
        text = f"# rlm-tui session {sid}\n\nProject: `{self.project}`\n\n"
        text += "\n\n---\n\n".join(t.export_markdown() for t in turns) + "\n"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(scrub(text), encoding="utf-8")
        except OSError as e:
            self.notify(f"Cannot write {path}: {e.strerror or e}", severity="error")
            return
        self.notify(f"Exported {len(turns)} turn(s) to {path}", timeout=6)

    def cmd_trace(self: RLMApp, arg: str) -> None:
        path = self.replay or (self.session.trace_path if self.session is not None else None)
        if path is None:
            self.notify("No trace yet: the session has not started.", severity="warning")
            return
        self.copy_to_clipboard(str(path))
        self.notify(f"Trace: {path} (path copied). Replay it with `rlm-tui replay {path}`.",
                    timeout=8)

    # ---- look and help -------------------------------------------------------------------
    def cmd_theme(self: RLMApp, arg: str) -> None:
        if arg:
            if self.get_theme(arg) is None:
                self.notify(f"No theme {arg!r}. /theme lists them.", severity="warning")
                return
            self.theme = arg
            return
        from rlm_tui.tui.screens.modals import PickerScreen

        original = self.theme
        names = sorted(self.available_themes, key=lambda n: (not n.startswith("rlm-"), n))

        def preview(name: str) -> None:
            self.theme = name

        def chosen(name: str | None) -> None:
            self.theme = name or original
            if name:
                self.notify(f"Theme {name}. Set `theme = \"{name}\"` in config.toml to keep it.",
                            timeout=5)

        self.push_screen(PickerScreen("Theme (previews live)", [(n, n) for n in names],
                                      current=original, on_highlight=preview), chosen)

    def cmd_help(self: RLMApp, arg: str) -> None:
        self.action_help()

    async def cmd_quit(self: RLMApp, arg: str) -> None:
        await self.action_quit()

    def show_variable(self: RLMApp, row: Any) -> None:
        from rlm_tui.tui.screens.modals import PreviewScreen
        from rlm_tui.tui.widgets.variables import describe

        self.push_screen(PreviewScreen(f"Variable {row.name}", describe(row), copy_text=row.preview))


def saved_label(saved: SavedSession) -> Text:
    """`today 14:05  What does this do?` over a dim `~/src/project` line."""
    title = fmt.one_line(saved.title or saved.id, 72)
    label = Text.assemble((f"{saved_when(saved.updated):<15}  ", "dim"), (title, "bold"))
    if saved.project:
        label.append(f"\n{'':15}  {_home_short(saved.project)}", style="dim")
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


def _home_short(path: str) -> str:
    home = str(Path.home())
    return "~" + path[len(home):] if path == home or path.startswith(home + "/") else path
