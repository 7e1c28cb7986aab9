"""The Call tree pane: a `Tree` mirroring `CallGraph`, relabelled in batches."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from rlm_tui.engine.calls import CANCELLED, DONE, FAILED, NO_CODE, RUNNING, CallGraph, CallNode
from rlm_tui.tui import fmt

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
ICONS = {DONE: "✓", FAILED: "✗", CANCELLED: "⊘", NO_CODE: "∅"}
BIG_TREE = 300  # nodes; beyond this, new rows are added in bunches
ADD_EVERY_S = 0.3
MIN_PREVIEW = 8  # cells: a shorter prompt preview says nothing, so none is shown
DEFAULT_WIDTH = 60  # cells, before the pane has a size


class CallTreeView(Tree[str]):
    """Shows one `CallGraph`. Call `sync()` after applying events to the graph."""

    DEFAULT_CSS = """
    CallTreeView {
        background: transparent;
        padding: 0 0 0 0;
        scrollbar-size-vertical: 1;
        overflow-x: hidden;
        & > .tree--cursor { background: $boost; text-style: none; }
        &:focus > .tree--cursor { background: $primary 30%; }
    }
    """

    @dataclass
    class CallChosen(Message):
        call_id: str

    def __init__(self, graph: CallGraph, **kwargs) -> None:
        super().__init__("calls", **kwargs)
        self.graph = graph
        self.show_root = False
        self.guide_depth = 3
        self._tree_nodes_by_call: dict[str, TreeNode[str]] = {}
        self._frame = 0
        self._colors: dict[str, str] = {}
        self._live_calls: set[str] = set()
        self._ct_pending: list[str] = []
        self._last_add = 0.0
        self._flush_timer: Timer | None = None

    def on_mount(self) -> None:
        self.root.expand()
        self._spin = self.set_interval(0.15, self._tick)
        self.watch(self.app, "theme", self._on_theme, init=True)

    def _on_theme(self, _theme: str) -> None:
        t = self.app.current_theme
        self._colors = {
            RUNNING: t.accent or "yellow", DONE: t.success or "green", FAILED: t.error or "red",
            CANCELLED: t.warning or "yellow", NO_CODE: t.warning or "yellow", "muted": "dim", "title": t.foreground or "",
            "model": t.secondary or "cyan",
        }
        for call_id in self._tree_nodes_by_call:
            self._relabel(call_id)

    def clear_calls(self) -> None:
        self.clear()
        self._tree_nodes_by_call.clear()
        self._live_calls.clear()
        self._ct_pending.clear()

    def sync(self) -> None:
        """Add new nodes and relabel changed ones (called once per event batch)."""
        changes = self.graph.take_changes()
        self._ct_pending.extend(changes.added)
        now = time.monotonic()
        # Adding rows changes the tree's height, which costs a layout pass of the whole screen:
        # once the tree is big, add in bunches a few times a second (labels still update live).
        if self._ct_pending and (len(self._tree_nodes_by_call) < BIG_TREE
                              or now - self._last_add >= ADD_EVERY_S):
            for call_id in self._ct_pending:
                self._add(call_id)
            self._ct_pending.clear()
            self._last_add = now
        for call_id in changes.updated:
            self._relabel(call_id)
        if changes.updated:
            self.refresh()  # one repaint of the visible lines instead of one per label
        if self._ct_pending and self._flush_timer is None:
            self._flush_timer = self.set_timer(ADD_EVERY_S, self._flush_pending)

    def _flush_pending(self) -> None:
        self._flush_timer = None
        self._last_add = 0.0
        self.sync()

    def _add(self, call_id: str) -> None:
        node = self.graph.nodes[call_id]
        parent = self._tree_nodes_by_call.get(node.parent_id) if node.parent_id else self.root
        if parent is None:
            parent = self.root
        if node.kind in ("run", "iteration"):
            for earlier in parent.children:  # keep the newest turn/iteration open, fold older
                earlier.collapse()
        if parent is not self.root and not parent.allow_expand:
            parent.allow_expand = True
            parent.expand()  # first child: show it (parallel siblings run visibly at once)
        expand = node.kind in ("run", "iteration")
        tree_node = parent.add(self._label(node), data=call_id, expand=expand,
                               allow_expand=False)
        self._tree_nodes_by_call[call_id] = tree_node
        if node.status == RUNNING:
            self._live_calls.add(call_id)

    def _relabel(self, call_id: str) -> None:
        tree_node = self._tree_nodes_by_call.get(call_id)
        node = self.graph.nodes.get(call_id)
        if tree_node is not None and node is not None:
            self._set_label(tree_node, self._label(node))
            if node.status != RUNNING:
                self._live_calls.discard(call_id)

    def _set_label(self, tree_node: TreeNode[str], label: Text) -> None:
        """`TreeNode.set_label` without its per-node repaint request: the caller refreshes once.

        (The stock method queues a repaint per node; with hundreds of labels changing per
        batch those repaints cost more than the whole tree.)"""
        tree_node._label = self.process_label(label)
        tree_node._updates += 1

    def _tick(self) -> None:
        """Advance spinners and durations of running nodes that are on screen."""
        self._frame = (self._frame + 1) % len(SPINNER)
        top, bottom = self.scroll_offset.y, self.scroll_offset.y + self.size.height
        for call_id in self._live_calls:
            tree_node = self._tree_nodes_by_call[call_id]
            if top <= tree_node.line < bottom:
                self._set_label(tree_node, self._label(self.graph.nodes[call_id]))
        self.refresh()

    def _label(self, node: CallNode) -> Text:
        """`✓ title: prompt preview  meta  model  problem`, the preview squeezed to the pane so
        the figures after it are never cut (and parallel sub-calls tell apart by their prompt)."""
        c = self._colors or {}
        icon = SPINNER[self._frame] if node.status == RUNNING else ICONS.get(node.status, "·")
        text = Text()
        text.append(icon + " ", style=c.get(node.status, ""))
        text.append(node.title, style="bold" if node.kind == "run" else "")
        meta = [fmt.duration(node.elapsed(time.time()))]
        if node.total_tokens:
            meta.append(f"{fmt.tokens(node.total_tokens)} tok")
        if node.total_tokens and fmt.is_local(node.model):
            meta.append(fmt.cost(0, local=True))
        elif node.total_cost:  # unknown prices show no cost at all
            meta.append(fmt.cost(node.total_cost) + ("" if node.total_cost_known else "+?"))
        marks = Text()
        if node.status == NO_CODE:
            marks.append("  no code", style=c.get(NO_CODE, ""))
        if node.failed_children and node.status != FAILED:
            marks.append(f"  {node.failed_children}/{len(node.children)} failed", style=c.get(FAILED, ""))
        model = Text(f"  {short_model(node.model)}", style=c.get("model", "")) \
            if node.model and node.kind != "run" else Text()
        # the richest tail that fits (leaving a sub-call room for its prompt): figures and model,
        # figures, time only; a turn keeps its figures and squeezes its question instead
        tails = [Text("  " + " · ".join(m for m in meta if m), style="dim") + model + marks,
                 Text("  " + " · ".join(m for m in meta if m), style="dim") + marks,
                 Text("  " + meta[0], style="dim") + marks]
        turn = node.kind == "run" and node.parent_id is None
        preview = node.prompt if node.kind == "sub" or turn else ""
        need = MIN_PREVIEW if node.kind == "sub" else 0
        room = 0
        for tail in tails[:1] if turn else tails:
            room = self._label_room(node) - text.cell_len - tail.cell_len - 2
            if room >= need:
                break
        if preview:
            if room >= MIN_PREVIEW // 2:
                text.append((": " if node.kind == "run" else "  ") + fmt.one_line(preview, room),
                            style="bold" if node.kind == "run" else "")
        text.append_text(tail)
        if node.error and node.status == FAILED:
            text.append(f"  {fmt.error_line(node.error, 40)}", style=c.get(FAILED, ""))
        return text

    def _label_room(self, node: CallNode) -> int:
        """The cells a node's label has on its line: the pane less the guides before it."""
        width = self.size.width or DEFAULT_WIDTH
        depth = len(self.graph.ancestors(node.call_id))
        return width - self.guide_depth * depth - 3  # the fold arrow and the scrollbar

    def on_resize(self) -> None:
        for call_id in self._tree_nodes_by_call:
            self._relabel(call_id)
        self.refresh()

    def get_label_width(self, node: TreeNode[str]) -> int:
        """Cheap: the plain label's width (the stock one renders every label on every rebuild)."""
        return node._label.cell_len + 2

    def show_call(self, call_id: str) -> None:
        """Put the cursor on a call's row (as the detail view browses), opening the rows above it."""
        tree_node = self._tree_nodes_by_call.get(call_id)
        if tree_node is None:
            return
        parent = tree_node.parent
        while parent is not None:
            parent.expand()
            parent = parent.parent
        self.move_cursor(tree_node)

    def on_tree_node_selected(self, event: Tree.NodeSelected[str]) -> None:
        event.stop()
        if event.node.data:
            self.post_message(self.CallChosen(event.node.data))


def short_model(model: str) -> str:
    """`openai/gpt-4o-mini` -> `gpt-4o-mini`."""
    return model.rsplit("/", 1)[-1]


def describe(node: CallNode) -> str:
    """Markdown detail for the preview of one call."""
    head = f"## {node.title}" + (f" · `{node.model}`" if node.model else "")
    facts = [f"status **{node.status}**", fmt.duration(node.elapsed())]
    if node.total_tokens:
        facts.append(f"{node.prompt_tokens}+{node.completion_tokens} tokens "
                     f"({node.total_tokens} with children)")
    if node.total_cost:
        facts.append(fmt.cost(node.total_cost))
    parts = [head, " · ".join(f for f in facts if f)]
    if node.error:
        parts += ["### Error", fence(node.error)]
    if node.prompt:
        parts += ["### Prompt" if node.kind != "run" else "### Task", fence(node.prompt)]
    if node.reasoning:
        parts += ["### Reasoning", node.reasoning]
    if node.code:
        parts += ["### Code", fence(node.code, "python")]
    if node.output:
        parts += ["### Output", fence(node.output)]
    if node.response and node.kind != "iteration":
        parts += ["### Response" if node.kind != "run" else "### Answer", fence(node.response)]
    elif node.response:
        parts += ["### LM response", fence(node.response)]
    return "\n\n".join(parts)


def fence(text: str, lang: str = "text") -> str:
    """`text` as a fenced block; plain `text` unless a language is named (prompts are English:
    guessing a lexer for them paints words as code)."""
    ticks = "````" if "```" in text else "```"
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"
