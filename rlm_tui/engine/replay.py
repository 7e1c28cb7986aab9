"""A readable account of a run from its trace: the call tree (`CallGraph`), then each turn's
outcome (finished, partial after a budget ran out, cancelled, failed) and usage, and the total
over all turns; and the project the trace was recorded on, for the replay view's Files pane."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rlm_tui.engine import narration
from rlm_tui.engine.calls import DONE, FAILED, RUNNING, CallGraph, CallNode
from rlm_tui.engine.events import (
    BudgetExhausted,
    CallsRefused,
    CellOutput,
    Event,
    LMCallFinished,
    RunFailed,
    RunFinished,
    RunStarted,
    SubCallFinished,
    TraceCapped,
)
from rlm_tui.usage import Usage

BATCHES = ("llm_query_batched", "rlm_query_batched")  # a batch's calls are counted, not the batch


@dataclass
class Turn:
    """One top-level run of the trace and how it ended."""

    started: RunStarted
    budget: BudgetExhausted | None = None
    ended: RunFinished | RunFailed | None = None
    last_ts: float = field(default=0.0)

    def outcome(self) -> str:
        """`finished — outputs: {...}`, `partial: the iterations budget ran out (12 of 12) — outputs: {...}`,
        `cancelled`, `failed: ValueError: …`, or that the trace stops inside the turn."""
        ran_out = (f"the {self.budget.budget} budget ran out ({self.budget.used:g} of {self.budget.limit:g})"
                   if self.budget else "")
        match self.ended:
            case RunFinished(partial=True, outputs=outputs):
                return f"partial: {ran_out or 'partial answer'} — outputs: {outputs}"
            case RunFinished(outputs=outputs):
                return f"finished — outputs: {outputs}"
            case RunFailed(cancelled=False) if ran_out:
                return f"{ran_out}, then {narration.run_failed(self.ended)}"
            case RunFailed():
                return narration.run_failed(self.ended)
        return "did not end: the trace stops inside this turn"


@dataclass(frozen=True)
class TracedProject:
    """The project a trace was recorded on, as a replay can show it: its folder, or why not."""

    path: Path | None
    note: str = ""  # when `path` is None: not recorded, or no longer on disk


def traced_project(events: list[Event]) -> TracedProject:
    """The folder the trace's first turn ran over (its `RunStarted.project`), if it is still there."""
    recorded = next((e.project for e in events if isinstance(e, RunStarted) and e.parent_id is None), "")
    if not recorded or not Path(recorded).is_absolute():  # an older trace, or one of no project (eval's direct mode)
        return TracedProject(None, "project not recorded in this trace")
    if not Path(recorded).is_dir():
        return TracedProject(None, f"the traced project {recorded} is no longer on disk")
    return TracedProject(Path(recorded))


def summarize(events: list[Event]) -> str:
    """The tree, one line per run, iteration, sub-call and unfolded LM call; the counts; then
    per turn its outcome and usage, and the usage over all turns."""
    graph = CallGraph()
    turns: dict[str, Turn] = {}
    for e in events:
        graph.apply(e)
        if isinstance(e, RunStarted) and e.parent_id is None:
            turns[e.call_id] = Turn(e)
        turn = turns.get(e.call_id)
        if turn is not None and e.parent_id is None:
            if isinstance(e, BudgetExhausted):
                turn.budget = e
            elif isinstance(e, (RunFinished, RunFailed)):
                turn.ended = e
        for open_turn in turns.values():
            if open_turn.ended is None:
                open_turn.last_ts = e.ts
    lines: list[str] = []

    def walk(node: CallNode, depth: int) -> None:
        label, detail = _line(node)
        lines.append(f"{'  ' * depth}{label}{f' — {detail}' if detail else ''}")
        for child in node.children:
            walk(graph.nodes[child], depth + 1)

    for node in graph.nodes.values():
        if node.parent_id is None:
            walk(node, 0)
    cells = sum(isinstance(e, CellOutput) for e in events)
    lm_calls = sum(isinstance(e, LMCallFinished) for e in events)
    subs = sum(isinstance(e, SubCallFinished) and e.function not in BATCHES for e in events)
    lines.append(f"\n{cells} cells, {lm_calls} root LM calls, {subs} sub-calls")
    refused = sum(e.count for e in events if isinstance(e, CallsRefused))
    if refused:
        lines.append(f"{refused} sub-calls not sent: the budget refused them")
    for e in events:
        if isinstance(e, TraceCapped):
            lines.append(f"trace capped at {e.limit_bytes:,} bytes in a run: later long texts kept as size and hash")
    lines.extend(_turn_lines(graph, list(turns.values())))
    return "\n".join(lines)


def _turn_lines(graph: CallGraph, turns: list[Turn]) -> list[str]:
    """Per turn: its outcome, then its LM calls, tokens, cost and time; then the sum of them all."""
    lines: list[str] = []
    total, seconds = Usage(), 0.0
    for number, turn in enumerate(turns, 1):
        node = graph.nodes[turn.started.call_id]
        usage = graph.turn_usage.get(node.call_id, Usage())
        took = (node.finished if node.finished is not None else turn.last_ts) - node.started
        total, seconds = total + usage, seconds + took
        lines.append(f"turn {number} ({narration.one_line(node.prompt, 60)}) {turn.outcome()}")
        lines.append(f"  usage: {usage.summary(free=narration.runs_free(turn.started))}, {took:.1f} s")
    if turns:
        free = all(narration.runs_free(t.started) for t in turns)
        plural = "s" if len(turns) != 1 else ""
        lines.append(f"total over {len(turns)} turn{plural}: {total.summary(free=free)}, {seconds:.1f} s")
    return lines


def _line(node: CallNode) -> tuple[str, str]:
    """A node's label and what became of it."""
    if node.kind == "run":
        ended = {RUNNING: "", DONE: "partial" if node.partial else "finished"}.get(node.status, node.status)
        return f"run (depth {node.depth}): {node.prompt[:80]}", ended
    if node.kind == "iteration":
        code = node.code.strip()
        return f"iteration {node.iteration}", code.splitlines()[0][:80] if code else ""
    if node.kind == "sub":
        done = "" if node.status == RUNNING else f"{node.status} in {node.elapsed():.2f} s"
        return f"{node.title} [{node.model}]", done
    return f"{node.title} [{node.model}]", node.status if node.status == FAILED else ""
