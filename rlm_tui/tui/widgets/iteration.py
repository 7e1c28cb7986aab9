"""One root-LM iteration in the chat: reasoning, code, output, and its sub-calls in brief."""

from __future__ import annotations

from collections import Counter

from rich.text import Text
from textual.widgets import Collapsible, Static

from rlm_tui.engine.calls import DONE, FAILED, RUNNING, CallGraph
from rlm_tui.tui import fmt
from rlm_tui.tui.widgets.blocks import CodeBlock, OutputBlock, QuietCollapsible

SUBCALL_LINES = 30  # the call tree has them all
NO_CODE_NOTE = "∅ no code cell in this reply: nothing ran (the model was asked for a ```python block)"
OFF_PROTOCOL_NOTE = ("The model is not following the protocol: {n} replies in a row had no code cell. "
                     "A larger model (/model) may do better.")


class IterationBlock(QuietCollapsible):
    DEFAULT_CSS = """
    IterationBlock {
        height: auto;
        margin: 0 0 0 0;
        padding: 0;
        border: none;
        background: transparent;
        & > CollapsibleTitle { color: $text-muted; padding: 0 1 0 0; }
        & > CollapsibleTitle:hover { color: $foreground; background: $boost; }
        & > CollapsibleTitle:focus { color: $foreground; background: $boost; }
        & > Contents { padding: 0 0 0 2; height: auto; }
        &.-failed > CollapsibleTitle { color: $error; }
        &.-no-code > CollapsibleTitle { color: $warning; }
        .live { color: $text-muted; text-style: italic; height: auto; max-height: 8; }
        .reasoning { color: $foreground 80%; height: auto; margin: 0 0 1 0; }
        .note { color: $warning; height: auto; }
    }
    """

    def __init__(self, call_id: str, number: int, syntax_theme: str) -> None:
        super().__init__(title=f"Iteration {number}", collapsed=False)
        self.call_id = call_id
        self.number = number
        self.syntax_theme = syntax_theme
        self.live_text = ""
        self.reasoning = ""
        self.code = ""
        self.output: OutputBlock | None = None
        self.subcalls: SubCallSummary | None = None
        self.meta = ""
        self.no_code = False

    def _body(self):
        return self.query_one(Collapsible.Contents)

    def set_meta(self, meta: str, failed: bool = False) -> None:
        self.meta = meta
        self.title = f"Iteration {self.number}" + (f"  ·  {meta}" if meta else "")
        self.set_class(failed, "-failed")

    async def stream(self, text: str) -> None:
        """Root-LM tokens as they arrive (replaced by the parsed cell)."""
        if self.code:
            return
        self.live_text += text
        tail = "\n".join(self.live_text.splitlines()[-6:])
        live = self.query(".live")
        if live:
            live.first(Static).update(Text(tail))
        else:
            await self._body().mount(Static(Text(tail), classes="live"))

    async def show_cell(self, reasoning: str, code: str) -> None:
        self.reasoning, self.code = reasoning, code
        await self.query(".live").remove()
        body = self._body()
        if reasoning.strip():
            await body.mount(Static(Text(reasoning.strip()), classes="reasoning"))
        await body.mount(CodeBlock(code, syntax_theme=self.syntax_theme))

    async def show_no_code(self) -> None:
        """The reply had no code cell: show what the model said instead, and that nothing ran."""
        self.no_code = True
        self.add_class("-no-code")
        await self.query(".live").remove()
        body = self._body()
        if self.live_text.strip():
            await body.mount(Static(Text(self.live_text.strip()), classes="reasoning"))
        await body.mount(Static(Text(NO_CODE_NOTE), classes="note"))

    async def show_output(self, stdout: str, stderr: str, error: str | None) -> None:
        text = stdout + (("\n" + stderr) if stderr.strip() else "")
        self.output = OutputBlock(text, error)
        body = self._body()
        if self.subcalls is not None:
            await body.mount(self.output, before=self.subcalls)
        else:
            await body.mount(self.output)

    async def note(self, text: str) -> None:
        await self._body().mount(Static(Text(text), classes="note"))

    async def update_subcalls(self, graph: CallGraph) -> None:
        node = graph.nodes.get(self.call_id)
        if node is None:
            return
        subs, stack = [], list(node.children)
        while stack:  # sub-calls of this iteration, batched children included, not child runs
            child = graph.nodes[stack.pop(0)]
            if child.kind == "sub":
                subs.append(child)
                stack.extend(child.children)
        if not subs:
            return
        if self.subcalls is None:
            self.subcalls = SubCallSummary()
            await self._body().mount(self.subcalls)
        self.subcalls.show(subs, graph)

    def export_markdown(self) -> str:
        parts = [f"#### Iteration {self.number}" + (f" ({self.meta})" if self.meta else "")]
        if self.reasoning.strip():
            parts.append(self.reasoning.strip())
        if self.code:
            parts.append(f"```python\n{self.code.rstrip()}\n```")
        elif self.no_code:
            parts.append(f"_{NO_CODE_NOTE}_")
        if self.output is not None:
            parts.append(f"```text\n{self.output.full}\n```")
        if self.subcalls is not None:
            parts.append(f"_{self.subcalls.summary}_")
        return "\n\n".join(parts)


class SubCallSummary(QuietCollapsible):
    """`⠋ 12 sub-calls: llm_query ×12 · 10 done · 2 running · 3.1k tok` + the first few."""

    DEFAULT_CSS = """
    SubCallSummary {
        height: auto; border: none; padding: 0; margin: 0 0 1 0; background: transparent;
        & > CollapsibleTitle { color: $secondary; padding: 0; }
        & > CollapsibleTitle:hover, & > CollapsibleTitle:focus { background: $boost; }
        & > Contents { padding: 0 0 0 2; height: auto; }
        #subcall-list { height: auto; color: $text-muted; }
    }
    """

    def __init__(self) -> None:
        super().__init__(Static("", id="subcall-list"), title="sub-calls", collapsed=True)
        self.summary = ""

    def show(self, subs: list, graph: CallGraph) -> None:
        parents = {s.parent_id for s in subs}
        leaves = [s for s in subs if s.call_id not in parents]  # a batch counts by its prompts
        batches = len(subs) - len(leaves)
        top = [s for s in subs if graph.nodes.get(s.parent_id) is None
               or graph.nodes[s.parent_id].kind != "sub"]
        kinds = Counter(s.title for s in leaves)
        status = Counter(s.status for s in leaves)
        tokens = sum(s.total_tokens for s in top)
        cost = sum(s.total_cost for s in top)
        what = ", ".join(f"{k} ×{n}" for k, n in kinds.most_common())
        bits = [f"{len(leaves)} sub-call{'s' if len(leaves) != 1 else ''}: {what}"
                + (f" in {batches} batch{'es' if batches > 1 else ''}" if batches else "")]
        if status[RUNNING]:
            bits.append(f"{status[RUNNING]} running")
        if status[DONE] and status[RUNNING]:
            bits.append(f"{status[DONE]} done")
        if status[FAILED]:
            bits.append(f"{status[FAILED]} failed")
        if tokens:
            bits.append(f"{fmt.tokens(tokens)} tok")
        if cost:
            bits.append(fmt.cost(cost))
        self.summary = " · ".join(bits)
        self.title = ("⋯ " if status[RUNNING] else "↳ ") + self.summary
        if not self.collapsed:
            self.render_list(leaves)
        self._subs = leaves

    def render_list(self, subs: list) -> None:
        rows = []
        for s in subs[:SUBCALL_LINES]:
            lines = Text()
            mark = {RUNNING: "…", DONE: "✓", FAILED: "✗"}.get(s.status, "·")
            lines.append(f"{mark} {s.title} ", style="bold")
            lines.append(fmt.one_line(s.prompt, 50), style="")
            if s.response:
                lines.append(f"  → {fmt.one_line(s.response, 40)}", style="italic")
            if s.error:
                lines.append(f"  {fmt.error_line(s.error, 40)}", style="red")
            rows.append(lines)
        if len(subs) > SUBCALL_LINES:
            rows.append(Text(f"… {len(subs) - SUBCALL_LINES} more in the Calls pane", style="dim"))
        self.query_one("#subcall-list", Static).update(Text("\n").join(rows))

    def _watch_collapsed(self, collapsed: bool) -> None:
        super()._watch_collapsed(collapsed)
        if not collapsed and getattr(self, "_subs", None):
            self.render_list(self._subs)
