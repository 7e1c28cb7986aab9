"""Modal screens: a preview (file, variable, call), a picker with live preview, and help."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown, OptionList, Static
from textual.widgets.option_list import Option

from rlm_tui.tui.help_text import help_markdown

MAX_PREVIEW_BYTES = 256 * 1024

MODAL_CSS = """
%s {
    align: center middle;
    background: $background 60%%;
    & > Vertical {
        width: 90%%; height: 85%%; max-width: 140;
        border: round $primary; background: $surface; padding: 0 1;
        border-title-color: $primary; border-title-style: bold;
        border-subtitle-color: $text-muted;
    }
    VerticalScroll { height: 1fr; scrollbar-size-vertical: 1; }
    Markdown { background: transparent; padding: 0; margin: 0; }
}
"""


class PreviewScreen(ModalScreen[None]):
    """Shows text, Markdown or highlighted code; `c` copies the raw text."""

    DEFAULT_CSS = MODAL_CSS % "PreviewScreen"
    BINDINGS = [Binding("escape,q", "dismiss", "Close"), Binding("c,y", "copy", "Copy")]

    def __init__(self, title: str, body: str, kind: str = "markdown", language: str | None = None,
                 syntax_theme: str = "one-dark", copy_text: str | None = None,
                 lines: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.title_text, self.body, self.kind = title, body, kind
        self.lines = lines  # code only: these lines (1-based, inclusive) highlighted, scrolled to
        self.language, self.syntax_theme = language, syntax_theme
        self.copy_source = body if copy_text is None else copy_text

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = self.title_text
            box.border_subtitle = "esc close · c copy"
            with VerticalScroll():
                if self.kind == "markdown":
                    yield Markdown(self.body)
                elif self.kind == "code":
                    marked = set(range(self.lines[0], self.lines[1] + 1)) if self.lines else None
                    yield Static(Syntax(self.body, self.language or "text", theme=self.syntax_theme,
                                        line_numbers=True, word_wrap=False, highlight_lines=marked,
                                        background_color="default"))
                else:
                    yield Static(Text(self.body))

    def on_mount(self) -> None:
        if self.lines:
            self.call_after_refresh(self.query_one(VerticalScroll).scroll_to, y=self.lines[0] - 1,
                                    animate=False)

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.copy_source)
        self.notify("Copied to the clipboard", timeout=2)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)


def file_preview(root: Path, path: Path, mount: str, syntax_theme: str,
                 lines: tuple[int, int] | None = None) -> PreviewScreen:
    """A PreviewScreen for the file `path` under the mount folder `root`: highlighted by its
    name (`lines` marked and scrolled to), truncated when huge, binary refused. No link is followed on the way (the guest
    makes links in /workspace): a link, or a folder on the way replaced by one, is refused."""
    import os

    from rlm_tui.engine.files import open_regular

    try:
        fd = open_regular(root, list(path.relative_to(root).parts))
    except (OSError, ValueError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        return PreviewScreen(mount, f"Cannot show {mount}: {why}", kind="text")
    try:
        size = os.fstat(fd).st_size
        with os.fdopen(fd, "rb", closefd=False) as f:
            raw = f.read(MAX_PREVIEW_BYTES + 1)
    except OSError as e:
        return PreviewScreen(mount, f"Cannot read {mount}: {e.strerror or e}", kind="text")
    finally:
        os.close(fd)
    if b"\0" in raw[:8192]:
        return PreviewScreen(mount, f"{mount} is a binary file ({size} bytes).", kind="text")
    text = raw[:MAX_PREVIEW_BYTES].decode("utf-8", errors="replace")
    if len(raw) > MAX_PREVIEW_BYTES:
        text += f"\n… (truncated at {MAX_PREVIEW_BYTES // 1024} KiB)"
    language = Syntax.guess_lexer(str(path), text[:4096])
    if path.suffix.lower() in (".md", ".markdown"):
        language = "markdown"
    title = f"{mount}:{lines[0]}-{lines[1]}" if lines and lines[1] != lines[0] else \
        f"{mount}:{lines[0]}" if lines else mount
    return PreviewScreen(title, text, kind="code", language=language, syntax_theme=syntax_theme,
                         lines=lines)


class PickerScreen(ModalScreen[str | None]):
    """Choose one option; `on_highlight` runs as the cursor moves (live theme preview)."""

    DEFAULT_CSS = """
    PickerScreen {
        align: center middle; background: $background 50%;
        & > Vertical {
            width: 64; height: auto; max-height: 80%; border: round $primary;
            background: $surface; padding: 0 1; border-title-color: $primary;
            border-subtitle-color: $text-muted;
        }
        OptionList { height: auto; max-height: 24; border: none; background: transparent; }
        OptionList:focus { border: none; }  /* one frame: the box's */
    }
    PickerScreen.-beside {  /* a live preview: the app it previews stays in sight */
        align: right top; background: transparent;
        & > Vertical { width: 34; max-height: 100%; }
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, options: Sequence[tuple[str, str | Text]], current: str | None = None,
                 on_highlight: Callable[[str], None] | None = None, width: int | None = None) -> None:
        super().__init__(classes="-beside" if on_highlight else "")
        self.width = width  # columns of the box, at most 90% of the screen (default 64)
        self.title_text = title
        self.options = options
        self.current = current
        self.on_highlight = on_highlight

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            if self.width:
                box.styles.width = self.width
                box.styles.max_width = "90%"
            box.border_title = self.title_text
            box.border_subtitle = "↑↓ choose · enter select · esc cancel"
            yield OptionList(*[Option(label, id=key) for key, label in self.options])

    def on_mount(self) -> None:
        option_list = self.query_one(OptionList)
        keys = [k for k, _ in self.options]
        if self.current in keys:
            option_list.highlighted = keys.index(self.current)
        option_list.focus()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if self.on_highlight and event.option.id:
            self.on_highlight(event.option.id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(PreviewScreen):
    DEFAULT_CSS = MODAL_CSS % "HelpScreen"
    BINDINGS = [Binding("escape,q,f1", "dismiss", "Close")]

    def __init__(self) -> None:
        super().__init__("Help", help_markdown())
