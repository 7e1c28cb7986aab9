"""Small chat building blocks: copyable text, highlighted code, folded output."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Collapsible, Static
from textual.widgets._collapsible import CollapsibleTitle

FOLD_LINES = 12


class Copyable(Widget):
    """Base for focusable blocks: `c` copies `copy_text()`; focus shows the hint."""

    BINDINGS = [Binding("c,y", "copy", "Copy", show=False)]
    can_focus = True

    def copy_text(self) -> str:  # pragma: no cover - overridden
        return ""

    def action_copy(self) -> None:
        text = self.copy_text()
        self.app.copy_to_clipboard(text)
        lines = len(text.splitlines()) or 1
        self.app.notify(f"Copied {lines} line{'s' if lines > 1 else ''} to the clipboard", timeout=2)

    def on_focus(self) -> None:
        self.border_subtitle = "c copy"

    def on_blur(self) -> None:
        self.border_subtitle = ""


class CodeBlock(Copyable, Static):
    DEFAULT_CSS = """
    CodeBlock {
        height: auto;
        padding: 0 1;
        margin: 0 0 1 0;
        background: $surface;
        border-left: tall $secondary 60%;
        border-subtitle-color: $text-muted;
        &:focus { border-left: tall $secondary; background-tint: $foreground 4%; }
    }
    """

    def __init__(self, code: str, language: str = "python", syntax_theme: str = "one-dark") -> None:
        super().__init__()
        self.code = code
        self.language = language
        self.syntax_theme = syntax_theme

    def render(self) -> Text:
        from rich.syntax import Syntax

        code = self.code.rstrip("\n")
        return without_backgrounds(Syntax(code, self.language, theme=self.syntax_theme).highlight(code))

    def set_syntax_theme(self, name: str) -> None:
        self.syntax_theme = name
        self.refresh(layout=True)

    def copy_text(self) -> str:
        return self.code


def without_backgrounds(text: Text) -> Text:
    """`text` with its spans' background colours dropped, so the block's own shading shows
    behind every cell of every line (a syntax theme paints only under the characters)."""
    plain = Text(text.plain, end="", no_wrap=False)
    for span in text.spans:
        style = Style.parse(span.style) if isinstance(span.style, str) else span.style
        plain.stylize(Style(color=style.color, bold=style.bold, italic=style.italic,
                            underline=style.underline), span.start, span.end)
    plain.rstrip()
    return plain


class OutputBlock(Copyable, Vertical):
    """Cell output; long output shows its first lines and a "show more" toggle."""

    DEFAULT_CSS = """
    OutputBlock {
        height: auto;
        margin: 0 0 1 0;
        padding: 0 1;
        border-left: tall $foreground 20%;
        border-subtitle-color: $text-muted;
        &.-error { border-left: tall $error; }
        &:focus { border-left: tall $foreground 50%; }
        #out-text { height: auto; color: $text-muted; }
        #out-more { height: 1; color: $primary; text-style: underline; }
        #out-more:hover { color: $accent; }
    }
    """
    BINDINGS = [Binding("enter,space", "toggle_fold", "Show more/less", show=False)]

    def __init__(self, text: str, error: str | None = None) -> None:
        super().__init__(classes="-error" if error else "")
        self.text = text.rstrip("\n")
        self.error = error
        self.expanded = False

    @property
    def full(self) -> str:
        parts = [self.text] if self.text else []
        if self.error:
            parts.append(self.error.rstrip())
        return "\n".join(parts) or "(no output)"

    def compose(self) -> ComposeResult:
        yield Static(id="out-text", markup=False)
        yield Static(id="out-more", markup=False)

    def on_mount(self) -> None:
        self._show()

    def _show(self) -> None:
        lines = self.full.splitlines()
        folded = len(lines) > FOLD_LINES and not self.expanded
        shown = "\n".join(lines[:FOLD_LINES]) if folded else self.full
        text = Text(shown)
        if self.error and not folded:
            text.highlight_regex(r"(?m)^\w*(Error|Exception)\b.*$", "bold red")
        self.query_one("#out-text", Static).update(text)
        more = self.query_one("#out-more", Static)
        more.display = len(lines) > FOLD_LINES
        more.update(f"▾ show {len(lines) - FOLD_LINES} more lines" if folded else "▴ show less")

    def action_toggle_fold(self) -> None:
        self.expanded = not self.expanded
        self._show()

    def on_click(self, event) -> None:
        if getattr(event.widget, "id", None) == "out-more":
            self.action_toggle_fold()

    def copy_text(self) -> str:
        return self.full


class TextBlock(Copyable, Static):
    """Plain text the user can copy (user messages, reasoning)."""

    def __init__(self, text: str, **kwargs) -> None:
        super().__init__(Text(text), **kwargs)
        self.text = text

    def copy_text(self) -> str:
        return self.text


class FastTitle(CollapsibleTitle):
    """A collapsible's title that fills its line, so retitling needs no layout pass."""

    DEFAULT_CSS = "FastTitle { width: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }"

    def _update_label(self) -> None:
        symbol = self.collapsed_symbol if self.collapsed else self.expanded_symbol
        label = Content.from_rich_text(self.label) if isinstance(self.label, Text) else self.label
        self.update(Content.assemble(symbol, " ", label), layout=False)


class QuietCollapsible(Collapsible):
    """A Collapsible that retitles cheaply and can be folded without scrolling to itself."""

    def __init__(self, *children: Widget, title: str = "", collapsed: bool = True, **kwargs) -> None:
        super().__init__(*children, title=title, collapsed=collapsed, **kwargs)
        self._title = FastTitle(label=title, collapsed_symbol="▶", expanded_symbol="▼",
                                collapsed=collapsed)
        self._quiet = False

    def fold(self, collapsed: bool = True) -> None:
        """Collapse (or expand) from code: unlike a click, this does not scroll the chat."""
        if self.collapsed == collapsed:
            return
        self._quiet = True
        try:
            self.collapsed = collapsed
        finally:
            self._quiet = False

    def _watch_collapsed(self, collapsed: bool) -> None:
        self._update_collapsed(collapsed)
        self.post_message(self.Collapsed(self) if collapsed else self.Expanded(self))
        if self.is_mounted and not getattr(self, "_quiet", False):
            self.call_after_refresh(self.scroll_visible)
