"""The final answer of a turn, streamed into a Markdown widget (imported on first use)."""

from __future__ import annotations

import asyncio

from textual.binding import Binding
from textual.widgets import Markdown

from rlm_tui.tui.widgets.blocks import Copyable


class AnswerBlock(Markdown, Copyable):  # Markdown first, or its inline styles (strong, em, code) are lost
    DEFAULT_CSS = """
    AnswerBlock {
        height: auto; margin: 1 0 0 0; padding: 0 1; background: transparent;
        border-left: thick $success;
        border-subtitle-color: $text-muted;
        &.-partial { border-left: thick $warning; }
        &:focus { background: $success 6%; }
    }
    """
    BINDINGS = [Binding("c,y", "copy", "Copy", show=False)]
    can_focus = True

    def __init__(self, text: str) -> None:
        super().__init__("")
        self.text = text

    def copy_text(self) -> str:
        return self.text

    def on_mount(self) -> None:
        if self.text:
            self.run_worker(self._stream_in(self.text), group="answer")

    async def _stream_in(self, text: str) -> None:
        """Append `text` in pieces so a long answer appears progressively."""
        stream = Markdown.get_stream(self)
        try:
            for piece in _pieces(text):
                await stream.write(piece)
                await asyncio.sleep(0.01)
        finally:
            await stream.stop()


def _pieces(text: str, size: int = 400) -> list[str]:
    out, buf = [], ""
    for line in text.splitlines(keepends=True):
        buf += line
        if len(buf) >= size:
            out.append(buf)
            buf = ""
    return out + ([buf] if buf else [])
