"""The final answer of a turn, streamed into a Markdown widget (imported on first use).

Citations of project files in it (`path:12-20`, see `rlm_tui.engine.citations`) become links;
clicking one posts `AnswerBlock.CitationChosen`, which opens the file at those lines."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Markdown

from rlm_tui.engine.citations import CITATION, Citation, extract_citations
from rlm_tui.tui.widgets.blocks import Copyable

CITE_SCHEME = "cite:"
_FENCE = re.compile(r"^(?:```|~~~).*?^(?:```|~~~)[ \t]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+)(?P<body>[^`]+?)\1")
# A file name or path in prose (`pkg/__init__.py`, `__main__.py`): its underscores are not emphasis.
_NOT_AFTER = r"(?<![\w\\/:.\-])"  # not mid-word, mid-path or mid-URL
_PATHLIKE = re.compile(rf"{_NOT_AFTER}(?:[\w.\-]+/)+[\w.\-]+|{_NOT_AFTER}[\w\-]+\.[A-Za-z]\w*")


class AnswerBlock(Markdown, Copyable):  # Markdown first, or its inline styles (strong, em, code) are lost
    DEFAULT_CSS = """
    AnswerBlock {
        height: auto; margin: 1 0 0 0; padding: 0 1; background: transparent;
        border-left: thick $success;
        border-subtitle-color: $text-muted;
        &.-partial { border-left: thick $warning; }
        &:focus { background: $success 6%; }
        & > *:last-child { margin-bottom: 0; }  /* no blank row closing the answer's bar */
    }
    """
    BINDINGS = [Binding("c,y", "copy", "Copy", show=False)]
    can_focus = True

    @dataclass
    class CitationChosen(Message):
        citation: Citation

    def __init__(self, text: str) -> None:
        super().__init__("", open_links=False)
        self.text = text
        self.citations: list[Citation] = []

    def copy_text(self) -> str:
        return self.text

    def on_mount(self) -> None:
        if self.text:
            shown = self.text
            project: Path | None = getattr(self.screen, "citations_root", None)  # the project the answer cites
            if project is not None:
                shown, self.citations = link_citations(self.text, project)
            self.run_worker(self._stream_in(shown), group="answer")

    def on_markdown_link_clicked(self, event: Markdown.LinkClicked) -> None:
        event.stop()
        href = event.href
        if href.startswith(CITE_SCHEME):
            index = int(href.removeprefix(CITE_SCHEME))
            if 0 <= index < len(self.citations):
                self.post_message(self.CitationChosen(self.citations[index]))
        elif href.startswith(("http://", "https://")):
            self.app.open_url(href)

    async def _stream_in(self, text: str) -> None:
        """Append `text` in pieces so a long answer appears progressively."""
        stream = Markdown.get_stream(self)
        try:
            for piece in _pieces(text):
                await stream.write(piece)
                await asyncio.sleep(0.01)
        finally:
            await stream.stop()


def link_citations(text: str, project: Path) -> tuple[str, list[Citation]]:
    """`text` with each citation of a file in `project` (bare or as inline code) made a
    `cite:N` link, and the citations by N. Fenced code blocks and links are left alone; the
    underscores of paths in prose are escaped (they are names, not emphasis)."""
    citations: list[Citation] = []

    def link(label: str, cited: str) -> str | None:
        found = extract_citations(cited, project)
        if not found:
            return None
        citations.append(found[0])
        return f"[{label}]({CITE_SCHEME}{len(citations) - 1})"

    def in_prose(prose: str) -> str:
        out, last = [], 0
        for span in _CODE_SPAN.finditer(prose):
            out.append(_plain_paths(_link_bare(prose[last:span.start()], link)))
            body = span.group("body").strip()
            whole = CITATION.fullmatch(body)
            linked = link(span.group(0), body) if whole and not _after_link(prose, span.start()) else None
            out.append(linked or span.group(0))
            last = span.end()
        out.append(_plain_paths(_link_bare(prose[last:], link)))
        return "".join(out)

    out, last = [], 0
    for fence in _FENCE.finditer(text):
        out.append(in_prose(text[last:fence.start()]))
        out.append(fence.group(0))
        last = fence.end()
    out.append(in_prose(text[last:]))
    return "".join(out), citations


def _link_bare(prose: str, link: Callable[[str, str], str | None]) -> str:
    out, last = [], 0
    for match in CITATION.finditer(prose):
        if _after_link(prose, match.start()):
            continue
        linked = link(match.group(0), match.group(0))
        if linked is not None:
            out.append(prose[last:match.start()] + linked)
            last = match.end()
    return "".join(out) + prose[last:]


def _plain_paths(prose: str) -> str:
    """`prose` with the underscores of file names and paths escaped, so Markdown shows
    `rlm_tui/__init__.py` as written rather than "rlm_tui/" and a bold "init"."""
    return _PATHLIKE.sub(lambda m: m.group(0).replace("_", "\\_"), prose)


def _after_link(prose: str, start: int) -> bool:
    """True inside an existing Markdown link's label or target (`[x](`, `](`)."""
    before = prose[:start]
    return before.endswith(("](", "[")) or before.rfind("[") > before.rfind("]")


def _pieces(text: str, size: int = 400) -> list[str]:
    out, buf = [], ""
    for line in text.splitlines(keepends=True):
        buf += line
        if len(buf) >= size:
            out.append(buf)
            buf = ""
    return out + ([buf] if buf else [])
