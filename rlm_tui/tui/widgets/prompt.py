"""The message box: multi-line, enter sends, history on up/down, `/command` and `@path` completion."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import OptionList, TextArea
from textual.widgets.option_list import Option

from rlm_tui.tui import commands, fuzzy

NEWLINE_KEYS = {"shift+enter", "ctrl+j", "alt+enter", "ctrl+enter"}
HISTORY_MAX = 500


class CompletionMenu(OptionList):
    DEFAULT_CSS = """
    CompletionMenu {
        display: none; height: auto; max-height: 10; margin: 0 1 0 1;
        border: round $primary 60%; background: $surface; padding: 0;
        &.-visible { display: block; }
    }
    """
    can_focus = False


@dataclass
class Completion:
    kind: str  # "command" or "path"
    start: int  # column where the replaced word starts (on the cursor's line)
    values: list[str]


class PromptInput(TextArea):
    DEFAULT_CSS = """
    PromptInput {
        height: auto; min-height: 3; max-height: 12;
        border: round $primary 50%; background: $surface; padding: 0 1;
        &:focus { border: round $primary; }
        & .text-area--cursor-line { background: transparent; }
    }
    """

    @dataclass
    class Submitted(Message):
        text: str

    def __init__(self, menu: CompletionMenu, files: Callable[[], list[str]],
                 history_file: Path | None = None, **kwargs) -> None:
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus",
                         highlight_cursor_line=False, **kwargs)
        self.menu = menu
        self.files = files
        self.past_file = history_file
        self.past: list[str] = self._load_history()
        self._hist_index = len(self.past)
        self._draft = ""
        self._browsing = False  # showing a recalled entry: up/down walk history, no menu opens
        self.completion: Completion | None = None
        self.placeholder = "Ask about the project…   / commands · @ files · f1 help"

    # ---- history -------------------------------------------------------------------------
    def _load_history(self) -> list[str]:
        if not self.past_file or not self.past_file.is_file():
            return []
        try:
            raw = self.past_file.read_text(encoding="utf-8").split("\x1e\n")
        except OSError:
            return []
        return [h for h in raw if h.strip()][-HISTORY_MAX:]

    def remember(self, text: str) -> None:
        if text.strip() and (not self.past or self.past[-1] != text):
            self.past.append(text)
            if self.past_file:
                try:
                    self.past_file.parent.mkdir(parents=True, exist_ok=True)
                    with self.past_file.open("a", encoding="utf-8") as f:
                        f.write(text + "\x1e\n")
                except OSError:
                    pass
        self._hist_index = len(self.past)
        self._draft = ""

    def _recall(self, step: int) -> None:
        if not self.past:
            return
        if self._hist_index == len(self.past):
            self._draft = self.text
        index = max(0, min(len(self.past), self._hist_index + step))
        if index == self._hist_index:
            return
        self._hist_index = index
        self._browsing = index != len(self.past)
        self.hide_completion()
        self.load_text(self._draft if index == len(self.past) else self.past[index])
        self.move_cursor(self.document.end)

    # ---- keys ----------------------------------------------------------------------------
    async def _on_key(self, event: events.Key) -> None:
        key = event.key
        handled = True
        if key not in ("up", "down"):
            self._browsing = False  # editing a recalled entry: completion is back
        menu_open = self.completion is not None
        if key in NEWLINE_KEYS:
            self.insert("\n")
        elif key == "enter":
            if menu_open and self._completion_changes_text():
                self.accept_completion()
            else:
                self.submit()
        elif key == "tab" and menu_open:
            self.accept_completion()
        elif key == "escape" and menu_open:
            self.hide_completion()
        elif key == "up" and menu_open:
            self.menu.action_cursor_up()
        elif key == "down" and menu_open:
            self.menu.action_cursor_down()
        elif key == "up" and self.cursor_location[0] == 0:
            self._recall(-1)
        elif key == "down" and self.cursor_location[0] == self.document.line_count - 1:
            self._recall(+1)
        else:
            handled = False
        if handled:
            event.stop()
            event.prevent_default()
            return
        await super()._on_key(event)

    def submit(self) -> None:
        text = self.text.rstrip()
        if not text.strip():
            return
        self.hide_completion()
        self.remember(text)
        self.clear()
        self.post_message(self.Submitted(text))

    # ---- completion ----------------------------------------------------------------------
    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self.update_completion()

    def on_text_area_selection_changed(self, event: TextArea.SelectionChanged) -> None:
        if self.completion is not None:
            self.update_completion()

    def update_completion(self) -> None:
        if self._browsing:
            self.hide_completion()
            return
        row, col = self.cursor_location
        line = self.document.get_line(row)
        before = line[:col]
        completion: Completion | None = None
        if row == 0 and before.startswith("/") and " " not in before and not before.startswith("//"):
            found = commands.complete(before)
            if found:
                completion = Completion("command", 0, [c.name for c in found])
                self._show([Option(_command_label(c), id=c.name) for c in found], completion)
                return
        mention = fuzzy.mention_at(line, col)
        if mention is not None:
            start, word = mention
            found_paths = fuzzy.rank(word, self.files(), limit=8)
            if found_paths:
                completion = Completion("path", start, found_paths)
                self._show([Option(Text(p), id=p) for p in found_paths], completion)
                return
        self.hide_completion()

    def _show(self, options: list[Option], completion: Completion) -> None:
        self.completion = completion
        self.menu.clear_options()
        self.menu.add_options(options)
        self.menu.highlighted = 0
        self.menu.add_class("-visible")

    def hide_completion(self) -> None:
        self.completion = None
        self.menu.remove_class("-visible")

    def _chosen(self) -> str | None:
        if self.completion is None or self.menu.highlighted is None:
            return None
        return self.completion.values[self.menu.highlighted]

    def _replacement(self) -> tuple[tuple[int, int], tuple[int, int], str] | None:
        chosen = self._chosen()
        if chosen is None or self.completion is None:
            return None
        row, col = self.cursor_location
        if self.completion.kind == "command":
            cmd = commands.BY_NAME[chosen]
            return (row, 0), (row, col), f"/{chosen}" + (" " if cmd.args else "")
        return (row, self.completion.start), (row, col), f"@{chosen} "

    def _completion_changes_text(self) -> bool:
        rep = self._replacement()
        if rep is None:
            return False
        (row, c0), (_, c1), new = rep
        return self.document.get_line(row)[c0:c1] != new.rstrip()

    def accept_completion(self) -> None:
        rep = self._replacement()
        self.hide_completion()
        if rep is not None:
            start, end, new = rep
            self.replace(new, start, end)
            self.hide_completion()


def _command_label(c: commands.SlashCommand) -> Text:
    return Text.assemble((f"/{c.name}", "bold"), (f" {c.args}" if c.args else "", ""),
                         (f"  {c.help}", "dim"))


class PromptArea(Vertical):
    DEFAULT_CSS = """
    PromptArea { height: auto; dock: bottom; padding: 0 0 0 0; }
    """

    def __init__(self, files: Callable[[], list[str]], history_file: Path | None = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.menu = CompletionMenu(id="completion")
        self.input = PromptInput(self.menu, files, history_file, id="prompt")

    def compose(self) -> ComposeResult:
        yield self.menu
        yield self.input

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.input.accept_completion()
        self.input.focus()
