"""Shown instead of the chat when no model is configured: start with one now (the installed
offline model, or a model string with its api_base and key), or read how to set one for good."""

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
    api_key: str | None = None  # kept as the settings' SecretStr for this run, never written out


def offline_model() -> str | None:
    """The installed offline model's string (``embedded/<name>``) when it can run here."""
    from rlm_tui.local.catalog import installed_default
    from rlm_tui.local.commands import llama_available

    spec = installed_default()
    return spec.model_string if spec is not None and llama_available() else None


class NoModelScreen(Screen[ModelChoice]):
    DEFAULT_CSS = """
    NoModelScreen {
        align: center top;
        & > VerticalScroll { width: 100%; max-width: 96; height: 1fr; padding: 0 2;
                             scrollbar-size-vertical: 1; }
        #hint { dock: bottom; height: 1; background: $panel; color: $text-muted; padding: 0 1; }
        #title { text-style: bold; color: $primary; margin: 1 0 0 0; }
        Markdown { background: transparent; margin: 0; padding: 0; }
        MarkdownH2 { color: $primary; background: transparent; text-style: bold; }  /* not link-like */
        #try-now {
            height: auto; border: round $accent; padding: 0 1; margin: 1 0;
            border-title-color: $accent; border-title-style: bold;
        }
        #try-now Label { margin: 1 0 0 0; color: $text-muted; }
        #try-now Input { margin: 0; }
        #offline { margin: 1 0 0 0; width: auto; }
        #buttons { height: auto; margin: 1 0 0 0; }
        #buttons Button { margin: 0 2 0 0; }
    }
    """
    BINDINGS = [Binding("ctrl+q", "app.quit", "Quit", priority=True)]

    def __init__(self, offline: str | None = None) -> None:
        super().__init__()
        self.offline = offline  # the installed offline model to offer, if any

    def compose(self) -> ComposeResult:
        yield Static("type a model and press enter to start · tab next field · ctrl+q quits", id="hint")
        with VerticalScroll():
            yield Static("No model configured", id="title")
            with Vertical(id="try-now") as box:
                box.border_title = "Start with a model now (this run only)"
                if self.offline:
                    yield Button(f"Use the offline model {self.offline} (on this machine, no key)",
                                 variant="success", id="offline")
                yield Label("Model (litellm string)")
                yield Input(placeholder="openai/gpt-4o-mini", id="model")
                yield Label("API base (optional, for OpenAI-compatible servers)")
                yield Input(placeholder="http://localhost:8000/v1", id="api-base")
                yield Label("API key (optional; else the provider's env var; kept for this run only, never shown)")
                yield Input(placeholder="sk-…", password=True, id="api-key")
                with Horizontal(id="buttons"):
                    yield Button("Start", variant="primary", id="start")
                    yield Button("Quit", id="quit")
            yield Markdown(no_model_message(config_file()))

    def on_mount(self) -> None:
        self.query_one("#model", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._start()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "quit":
            self.app.exit()
        elif event.button.id == "offline" and self.offline:
            self.dismiss(ModelChoice(self.offline, None))
        else:
            self._start()

    def _start(self) -> None:
        model = self.query_one("#model", Input).value.strip()
        if not model:
            self.notify("Type a model first, e.g. openai/gpt-4o-mini", severity="warning")
            self.query_one("#model", Input).focus()
            return
        api_base = self.query_one("#api-base", Input).value.strip() or None
        api_key = self.query_one("#api-key", Input).value.strip() or None
        self.dismiss(ModelChoice(model, api_base, api_key))
