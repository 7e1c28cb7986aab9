"""Shown instead of the chat when no model is configured: how to set one, or set one now."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Input, Label, Markdown, Static

from rlm_tui.config import config_file
from rlm_tui.tui.help_text import no_model_message


@dataclass
class ModelChoice:
    model: str
    api_base: str | None


class NoModelScreen(Screen[ModelChoice]):
    DEFAULT_CSS = """
    NoModelScreen {
        align: center top;
        & > VerticalScroll { width: 100%; max-width: 96; height: 1fr; padding: 1 2;
                             scrollbar-size-vertical: 1; }
        #hint { dock: bottom; height: 1; background: $panel; color: $text-muted; padding: 0 1; }
        Markdown { background: transparent; margin: 0; padding: 0; }
        #try-now {
            height: auto; border: round $accent; padding: 0 1; margin: 1 0;
            border-title-color: $accent; border-title-style: bold;
        }
        #try-now Label { margin: 1 0 0 0; color: $text-muted; }
        #try-now Input { margin: 0; }
        #buttons { height: auto; margin: 1 0 0 0; }
        #buttons Button { margin: 0 2 0 0; }
    }
    """
    BINDINGS = [Binding("ctrl+q", "app.quit", "Quit", priority=True)]

    def compose(self) -> ComposeResult:
        yield Static("type a model below and press enter to start · ctrl+q quits", id="hint")
        with VerticalScroll():
            yield Markdown(no_model_message(config_file()))
            with Vertical(id="try-now") as box:
                box.border_title = "Or try a model now (this run only)"
                yield Label("Model (litellm string)")
                yield Input(placeholder="openai/gpt-4o-mini", id="model")
                yield Label("API base (optional, for OpenAI-compatible servers)")
                yield Input(placeholder="http://localhost:8000/v1", id="api-base")
                with Horizontal(id="buttons"):
                    yield Button("Start", variant="primary", id="start")
                    yield Button("Quit", id="quit")

    def on_mount(self) -> None:
        self.query_one("#model", Input).focus(scroll_visible=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._start()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "quit":
            self.app.exit()
        else:
            self._start()

    def _start(self) -> None:
        model = self.query_one("#model", Input).value.strip()
        if not model:
            self.notify("Type a model first, e.g. openai/gpt-4o-mini", severity="warning")
            self.query_one("#model", Input).focus()
            return
        api_base = self.query_one("#api-base", Input).value.strip() or None
        self.dismiss(ModelChoice(model, api_base))
