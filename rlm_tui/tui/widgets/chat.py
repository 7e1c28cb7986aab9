"""The chat pane: user messages and assistant turns, fed by batches of engine events."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.timer import Timer
from textual.widgets import Static

from rlm_tui.engine.calls import NO_CODE, CallGraph
from rlm_tui.engine.events import (
    OFF_PROTOCOL_AFTER,
    BudgetExhausted,
    CellOutput,
    CodeCell,
    CodeMissing,
    Event,
    IterationStarted,
    LMCallFinished,
    LMToken,
    RunFailed,
    RunFinished,
    RunStarted,
    SubCallFinished,
    SubCallStarted,
    SubmitRejected,
)
from rlm_tui.tui import fmt
from rlm_tui.tui.widgets.blocks import QuietCollapsible, TextBlock
from rlm_tui.tui.widgets.iteration import OFF_PROTOCOL_NOTE, IterationBlock
from rlm_tui.tui.widgets.run_summary import RunFigures, RunSummary
from rlm_tui.usage import Usage

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
LAZY_S = 0.5  # sub-call summaries and iteration totals refresh at most twice a second


class UserMessage(TextBlock):
    DEFAULT_CSS = """
    UserMessage {
        height: auto; margin: 1 0 1 0; padding: 0 1;
        background: $primary 12%; border-left: thick $primary;
        border-subtitle-color: $text-muted;
        &:focus { background: $primary 20%; }
    }
    """
    BINDINGS = [Binding("c,y", "copy", "Copy", show=False)]

    def __init__(self, text: str, context: list[str] | None = None) -> None:
        shown = text + (f"\n[context: {', '.join(context)}]" if context else "")
        super().__init__(shown)
        self.text = text


class AssistantTurn(Vertical):
    DEFAULT_CSS = """
    AssistantTurn {
        height: auto; margin: 0 0 1 0;
        #turn-steps { height: auto; border: none; padding: 0; background: transparent; }
        #turn-steps > CollapsibleTitle { color: $text-muted; padding: 0; }
        #turn-steps > CollapsibleTitle:hover, #turn-steps > CollapsibleTitle:focus {
            background: $boost; color: $foreground; }
        #turn-steps.-running > CollapsibleTitle { color: $foreground; text-style: bold; }
        #turn-steps > Contents { padding: 0 0 0 2; height: auto; }
        .turn-note { height: auto; color: $warning; margin: 0 0 0 2; }
        .turn-error { height: auto; color: $error; border-left: thick $error; padding: 0 1;
                      margin: 1 0 0 0; background: $error 8%; }
        .turn-cancelled { height: auto; color: $warning; margin: 1 0 0 0; padding: 0 1;
                          border-left: thick $warning; }
    }
    """

    def __init__(self, question: str, syntax_theme: str) -> None:
        super().__init__()
        self.question = question
        self.syntax_theme = syntax_theme
        self.run_id: str | None = None
        self.model = ""  # the root model, from the run's start
        self.iterations: dict[str, IterationBlock] = {}
        self.started = time.time()
        self.finished: float | None = None
        self.answer: Any = None  # an AnswerBlock once the turn has finished
        self.answer_text = ""
        self.partial = False
        self.error: str | None = None
        self.cancelled = False
        self.usage = Usage()
        self._frame = 0
        self.steps = QuietCollapsible(title="rlm", collapsed=False, id="turn-steps",
                                      classes="-running")

    def compose(self):
        yield self.steps

    def on_mount(self) -> None:
        self._head_timer = self.set_interval(0.12, self._tick)
        self._tick()

    @property
    def done(self) -> bool:
        return self.finished is not None

    def _tick(self) -> None:
        self._frame = (self._frame + 1) % len(SPINNER)
        n = len(self.iterations)
        elapsed = fmt.duration((self.finished or time.time()) - self.started)
        if self.done:
            self._head_timer.stop()
            tokens = self.usage.total_tokens
            bits = [f"{n} iteration{'s' if n != 1 else ''}", elapsed]
            if tokens:
                bits.append(f"{fmt.tokens(tokens)} tok")
            if tokens and fmt.is_local(self.model):
                bits.append(fmt.cost(0, local=True))
            elif self.usage.cost_usd:
                bits.append(fmt.cost(self.usage.cost_usd))
            self.steps.title = "rlm · " + " · ".join(bits)
            self.steps.remove_class("-running")
        else:
            what = f"iteration {n}" if n else "starting"
            self.steps.title = f"{SPINNER[self._frame]} rlm · {what} · {elapsed}"

    # ---- events (already routed to this turn) ----------------------------------------------
    async def iteration(self, e: IterationStarted) -> IterationBlock:
        for block in self.iterations.values():
            block.fold()
        block = IterationBlock(e.call_id, e.iteration, self.syntax_theme)
        self.iterations[e.call_id] = block
        await self.steps.query_one(QuietCollapsible.Contents).mount(block)
        return block

    async def note(self, text: str) -> None:
        await self.mount(Static(Text(text), classes="turn-note"))

    async def finish(self, outputs: dict[str, Any], partial: bool, usage: Usage,
                     ts: float | None = None) -> None:
        if self.done:
            return
        self.finished, self.partial, self.usage = ts or time.time(), partial, usage
        self.steps.fold()  # a finished turn is one line, then the answer
        from rlm_tui.tui.widgets.answer import AnswerBlock  # Markdown loads on first use

        self.answer_text = answer_markdown(outputs)
        self.answer = AnswerBlock(self.answer_text)
        if partial:
            self.answer.add_class("-partial")
            self.answer.border_title = "partial answer (budget ran out)"
        await self.mount(self.answer)
        self._tick()

    async def fail(self, error: str, cancelled: bool, ts: float | None = None) -> None:
        if self.done:
            return
        self.finished, self.error, self.cancelled = ts or time.time(), error, cancelled
        if cancelled:
            await self.mount(Static("Cancelled. The session and its variables are still here.",
                              classes="turn-cancelled"))
        else:
            await self.mount(Static(Text(f"{error}\n\nThe session is still open: ask again, or "
                                   "change the model with /model."), classes="turn-error"))
        self._tick()

    async def show_summary(self, figures: RunFigures | None) -> None:
        """The turn's figures and a bar per model, under the answer."""
        if figures is not None and not self.query(RunSummary):
            await self.mount(RunSummary(figures))

    def export_markdown(self) -> str:
        parts = [f"### You\n\n{self.question}", "### rlm"]
        parts += [b.export_markdown() for b in self.iterations.values()]
        if self.answer_text:
            parts.append(("**Partial answer**\n\n" if self.partial else "**Answer**\n\n")
                         + self.answer_text)
        if self.error:
            parts.append(f"**Error:** {self.error}")
        elif self.cancelled:
            parts.append("_cancelled_")
        for summary in self.query(RunSummary):
            parts.append(f"_{summary.headline()}_")
        return "\n\n".join(parts)


def answer_markdown(outputs: dict[str, Any]) -> str:
    if not outputs:
        return "_(no answer)_"
    if len(outputs) == 1:
        return str(next(iter(outputs.values())))
    if "answer" in outputs:
        rest = {k: v for k, v in outputs.items() if k != "answer"}
        return str(outputs["answer"]) + "\n\n" + "\n".join(f"- **{k}**: {v}" for k, v in rest.items())
    return "\n".join(f"- **{k}**: {v}" for k, v in outputs.items())


class ChatView(VerticalScroll):
    """Routes root-run events to the right turn; rlm_query child runs stay in the Calls pane."""

    DEFAULT_CSS = """
    ChatView { padding: 0 1 0 1; scrollbar-size-vertical: 1; }
    ChatView > #chat-welcome { color: $text-muted; height: auto; margin: 1 0; }
    ChatView > .chat-note { color: $text-muted; height: auto; margin: 0 0 1 0; }
    /* answer headings: bold text, not link-blue underlines, and no blank rows above them */
    ChatView AnswerBlock MarkdownH1 { color: $foreground; background: transparent; margin: 0 0 1 0;
                                      text-style: bold; content-align: left middle; }
    ChatView AnswerBlock MarkdownH2 { color: $foreground; background: transparent; margin: 0 0 1 0;
                                      text-style: bold; }
    ChatView AnswerBlock MarkdownH3 { color: $foreground 85%; background: transparent; text-style: bold italic; }
    """

    def __init__(self, graph: CallGraph, syntax_theme: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.graph = graph
        self.syntax_theme = syntax_theme
        self.turns: dict[str, AssistantTurn] = {}  # by root run call_id
        self.pending: list[AssistantTurn] = []
        self._lazy: set[IterationBlock] = set()
        self._lazy_at = 0.0
        self._lazy_timer: Timer | None = None

    def on_mount(self) -> None:
        self.anchor()

    async def add_user(self, text: str, context: list[str] | None = None) -> AssistantTurn:
        turn = AssistantTurn(text, self.syntax_theme)
        self.pending.append(turn)
        await self.mount_all([UserMessage(text, context), turn])
        self.anchor()
        return turn

    async def add_note(self, text: str) -> None:
        """A line from the app itself, between turns (where /export wrote, ...)."""
        await self.mount(Static(Text(text), classes="chat-note"))
        self.anchor()

    async def clear_chat(self) -> None:
        await self.query("UserMessage, AssistantTurn, #chat-welcome, .chat-note").remove()
        self.turns.clear()
        self.pending.clear()

    @property
    def last_turn(self) -> AssistantTurn | None:
        turns = list(self.query(AssistantTurn))
        return turns[-1] if turns else None

    def _turn_for(self, call_id: str | None) -> AssistantTurn | None:
        run = self.graph.enclosing(call_id, "run")
        if run is None or run.depth != 0 or run.parent_id is not None:
            return None
        return self.turns.get(run.call_id)

    async def apply(self, batch: list[Event]) -> None:
        """Called after the graph has applied `batch`."""
        streamed: dict[IterationBlock, list[str]] = {}
        touched: set[IterationBlock] = set()
        for e in batch:
            if isinstance(e, RunStarted):
                if e.depth == 0 and e.parent_id is None:
                    await self._bind_run(e)
                continue
            turn = self._turn_for(e.call_id) or self._turn_for(e.parent_id)
            if turn is None:
                continue
            if isinstance(e, IterationStarted):
                await turn.iteration(e)
                continue
            block = self._block_for(turn, e)
            match e:
                case LMToken() if block is not None:
                    streamed.setdefault(block, []).append(e.text)
                case LMCallFinished() if block is not None:
                    touched.add(block)
                case CodeCell() if block is not None:
                    streamed.pop(block, None)
                    await block.show_cell(e.reasoning, e.code)
                case CodeMissing() if block is not None:
                    block.live_text += "".join(streamed.pop(block, []))
                    await block.show_no_code()
                    touched.add(block)
                    if e.in_a_row == OFF_PROTOCOL_AFTER:
                        await turn.note(OFF_PROTOCOL_NOTE.format(n=e.in_a_row))
                case CellOutput() if block is not None:
                    await block.show_output(e.stdout, e.stderr, e.error)
                    touched.add(block)
                case SubCallStarted() | SubCallFinished() if block is not None:
                    self._lazy.add(block)  # many per second: refreshed at most every LAZY_S
                case SubmitRejected():
                    await (block.note if block else turn.note)(f"SUBMIT rejected: {e.error}")
                case BudgetExhausted():
                    await turn.note(f"Budget exhausted: {e.budget} ({e.used:g} of {e.limit:g}); "
                                    "writing the best answer so far.")
                case RunFinished() if e.call_id == turn.run_id:
                    touched.update(turn.iterations.values())
                    await self._refresh_blocks(touched)
                    touched.clear()
                    await turn.finish(e.outputs, e.partial, e.usage, e.ts)
                    await turn.show_summary(RunFigures.of(self.graph, e.call_id))
                case RunFailed() if e.call_id == turn.run_id:
                    touched.update(turn.iterations.values())
                    await turn.fail(e.error, e.cancelled, e.ts)
                    await turn.show_summary(RunFigures.of(self.graph, e.call_id))
        for block, texts in streamed.items():
            await block.stream("".join(texts))
        now = time.monotonic()
        if self._lazy and (touched or now - self._lazy_at >= LAZY_S):
            touched |= self._lazy
            self._lazy.clear()
        if self._lazy and self._lazy_timer is None:
            self._lazy_timer = self.set_timer(LAZY_S, self._flush_lazy)
        if touched:
            self._lazy_at = now
            await self._refresh_blocks(touched)

    async def _flush_lazy(self) -> None:
        self._lazy_timer = None
        blocks, self._lazy = set(self._lazy), set()
        self._lazy_at = time.monotonic()
        await self._refresh_blocks(blocks)

    async def _refresh_blocks(self, blocks: set[IterationBlock]) -> None:
        for block in blocks:
            node = self.graph.nodes.get(block.call_id)
            if node is None:
                continue
            bits = [fmt.duration(node.elapsed())]
            if node.status == NO_CODE:
                bits.insert(0, "∅ no code")
            if node.total_tokens:
                bits.append(f"{fmt.tokens(node.total_tokens)} tok")
            if node.total_tokens and fmt.is_local(node.model):
                bits.append(fmt.cost(0, local=True))
            elif node.total_cost:
                bits.append(fmt.cost(node.total_cost))
            if node.error:
                bits.append(fmt.error_line(node.error, 48))
            block.set_meta(" · ".join(bits), failed=node.status == "failed")
            await block.update_subcalls(self.graph)

    def _block_for(self, turn: AssistantTurn, e: Event) -> IterationBlock | None:
        it = self.graph.enclosing(e.call_id, "iteration") or self.graph.enclosing(e.parent_id, "iteration")
        return turn.iterations.get(it.call_id) if it else None

    async def _bind_run(self, e: RunStarted) -> None:
        turn = self.pending.pop(0) if self.pending else None
        if turn is None:  # replay / resume: the question comes from the trace
            question = e.inputs.get("question") or e.task
            turn = AssistantTurn(str(question), self.syntax_theme)
            turn.started = e.ts
            await self.mount_all([UserMessage(str(question)), turn])
        turn.run_id = e.call_id
        turn.model = e.model
        self.turns[e.call_id] = turn
