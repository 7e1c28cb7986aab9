"""Asked before a session starts on a project whose skills carry host code: trust it, or not now.

Answers True (trust: record it, and the skills' tools.py may run) or False (not now: the
session starts with those host tools off; the question comes back next time).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from rlm_tui.terminal import printable
from rlm_tui.trust import HostCode


class TrustScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    TrustScreen {
        align: center middle; background: $background 60%;
        & > Vertical {
            width: 90%; max-width: 100; height: auto; max-height: 85%;
            border: round $warning; background: $surface; padding: 0 1;
            border-title-color: $warning; border-title-style: bold;
            border-subtitle-color: $text-muted;
        }
        VerticalScroll { height: auto; max-height: 20; }
        #trust-buttons { height: auto; margin: 1 0 0 0; }
        #trust-buttons Button { margin: 0 2 0 0; }
    }
    """
    BINDINGS = [Binding("t", "answer(True)", "Trust"), Binding("n,escape", "answer(False)", "Not now")]

    def __init__(self, code: HostCode) -> None:
        super().__init__()
        self.code = code

    def compose(self) -> ComposeResult:
        code = self.code
        others = len(code.files) - len(code.tools)
        listing = "\n".join(f"  • {printable(code.relative(path))}" for path in code.tools)
        more = f"\n  (and {others} other file(s) in those folders, which they can import)" if others > 0 else ""
        body = Text.assemble(
            (f"{printable(str(code.project))}\n\n", "bold"),
            "Skills in this project carry host code. If you trust the project, these files run on this "
            "machine, as you, with your API keys in the environment, when the session starts:\n\n",
            (listing + more, "bold"),
            "\n\nNot now: the session starts without those host tools (their instructions and sandbox "
            "modules still load). A changed file asks again. `rlm-tui trust --untrust` forgets the answer.",
        )
        with Vertical() as box:
            box.border_title = "Trust this project?"
            box.border_subtitle = "t trust · n / esc not now"
            with VerticalScroll():
                yield Static(body, id="trust-files")
            with Horizontal(id="trust-buttons"):
                yield Button("Trust", variant="warning", id="trust")
                yield Button("Not now", variant="primary", id="not-now")

    def on_mount(self) -> None:
        self.query_one("#not-now", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "trust")

    def action_answer(self, trusted: bool) -> None:
        self.dismiss(trusted)
