"""A call's prompt and answer in a view beside the Calls pane; browse a batch prompt by prompt."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from rlm_tui.engine.calls import CallGraph, CallNode
from rlm_tui.tui.widgets.call_tree import describe


class CallDetailScreen(ModalScreen[None]):
    """The detail of one call, on the right, the chat still in sight. `n`/`]` and `p`/`[` move
    to the next/previous call beside it (the prompts of a batch, a turn's iterations)."""

    DEFAULT_CSS = """
    CallDetailScreen {
        align: right top; background: transparent;
        & > Vertical {
            width: 60%; min-width: 40; height: 100%;
            border: round $primary; background: $surface; padding: 0 1;
            border-title-color: $primary; border-title-style: bold;
            border-subtitle-color: $text-muted;
        }
        VerticalScroll { height: 1fr; scrollbar-size-vertical: 1; }
        Markdown { background: transparent; padding: 0; margin: 0; }
        MarkdownH2 { color: $foreground; background: transparent; text-style: bold; margin: 0 0 1 0; }
    }
    """
    BINDINGS = [
        Binding("escape,q", "dismiss", "Close"),
        Binding("n,right_square_bracket,right", "browse(1)", "Next call"),
        Binding("p,left_square_bracket,left", "browse(-1)", "Previous call"),
        Binding("c,y", "copy", "Copy"),
    ]

    def __init__(self, graph: CallGraph, call_id: str,
                 on_browse: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self.graph = graph
        self.call_id = call_id
        self.on_browse = on_browse

    @property
    def node(self) -> CallNode:
        return self.graph.nodes[self.call_id]

    def neighbour_ids(self) -> list[str]:
        """The calls beside this one: its parent's children of the same kind."""
        node = self.node
        parent = self.graph.nodes.get(node.parent_id) if node.parent_id else None
        ids = parent.children if parent else [n.call_id for n in self.graph.nodes.values()
                                               if n.parent_id is None]
        return [c for c in ids if self.graph.nodes[c].kind == node.kind]

    def compose(self) -> ComposeResult:
        with Vertical():
            with VerticalScroll():
                yield Markdown()

    def on_mount(self) -> None:
        self._show()

    def _show(self) -> None:
        node, siblings = self.node, self.neighbour_ids()
        box = self.query_one(Vertical)
        where = f" {siblings.index(node.call_id) + 1}/{len(siblings)}" if len(siblings) > 1 else ""
        box.border_title = f"{node.title}{where}"
        box.border_subtitle = "esc close · c copy" + (" · n/p next/previous" if where else "")
        self.query_one(Markdown).update(describe(node))
        self.query_one(VerticalScroll).scroll_home(animate=False)

    def action_browse(self, step: int) -> None:
        siblings = self.neighbour_ids()
        if len(siblings) < 2:
            return
        at = siblings.index(self.call_id)
        self.call_id = siblings[(at + step) % len(siblings)]
        self._show()
        if self.on_browse is not None:
            self.on_browse(self.call_id)

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(describe(self.node))
        self.notify("Copied to the clipboard", timeout=2)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
