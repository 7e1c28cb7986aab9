"""A root model when none is configured: the no-model screen, and `--resume` with the model a
session was saved with. The app holds one `ModelChoiceFlow`; it reaches the app through
`ModelHost`, so this module never imports the app."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from rlm_tui import redact
from rlm_tui.chat_api import SessionBackend
from rlm_tui.config import Settings
from rlm_tui.tui.screens.main import MainScreen


class ModelHost(Protocol):
    """What choosing a model uses of the app; `RLMApp` is the one implementation."""

    settings: Settings
    backend: SessionBackend
    main: MainScreen
    resume_id: str | None
    offline_default: str

    def push_screen(self, screen: Any, callback: Any = None) -> Any: ...

    def start_session(self, resume: str | None = None) -> Any: ...


class ModelChoiceFlow:
    def __init__(self, app: ModelHost) -> None:
        self.app = app

    def ask(self) -> None:
        """The no-model screen; the choice starts (or, with `--resume`, resumes) the session."""
        from rlm_tui.tui.screens.no_model import NoModelScreen, offline_model

        self.app.main.status.update_info(state="no model")
        self.app.push_screen(NoModelScreen(offline_model()), self.chosen)  # a stat and a find_spec

    async def resume_with_saved_model(self) -> None:
        """`--resume` naming no model: the saved session runs with the model (and api_base) it
        was saved with; one saved without a model asks for one, then resumes."""
        app = self.app
        saved = await asyncio.to_thread(app.backend.list_saved)
        match = next((s for s in saved if s.id == app.resume_id), None) if app.resume_id \
            else (saved[0] if saved else None)
        if match is not None and match.model:
            app.settings = app.settings.with_overrides(
                model=match.model, sub_model=match.sub_model, api_base=match.api_base)
            app.offline_default = ""
            app.main.status.update_info(model=match.model, offline_default="",
                                        sub_model=app.settings.effective_sub_model or "")
        elif app.settings.model is None:
            self.ask()
            return
        app.start_session(app.resume_id)

    def chosen(self, choice: Any) -> None:
        if choice is None:
            return
        app = self.app
        if choice.api_key:
            redact.register(choice.api_key)  # scrubbed from /export and everything written out
        app.settings = app.settings.with_overrides(model=choice.model, api_base=choice.api_base,
                                                   api_key=choice.api_key)
        app.main.status.update_info(model=choice.model, sub_model=app.settings.effective_sub_model)
        app.main.prompt_area.input.focus()
        app.start_session(app.resume_id)  # `--resume` still resumes once a model is chosen
