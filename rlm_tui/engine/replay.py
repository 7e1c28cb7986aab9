"""A readable account of a run from its trace: the call tree (`CallGraph`), outputs, usage."""

from __future__ import annotations

from rlm_tui.engine.calls import DONE, FAILED, RUNNING, CallGraph, CallNode
from rlm_tui.engine.events import (
    CallsRefused,
    CellOutput,
    Event,
    LMCallFinished,
    RunFailed,
    RunFinished,
    SubCallFinished,
    TraceCapped,
)


BATCHES = ("llm_query_batched", "rlm_query_batched")  # a batch's calls are counted, not the batch


def summarize(events: list[Event]) -> str:
    """The tree, one line per run, iteration, sub-call and unfolded LM call; then the totals."""
    graph = CallGraph()
    for e in events:
        graph.apply(e)
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
    for e in events:
        if isinstance(e, RunFinished) and e.parent_id is None:
            lines.append(f"outputs{' (partial)' if e.partial else ''}: {e.outputs}")
            lines.append(f"usage: {e.usage.summary()}, {e.duration_s:.1f} s")
        elif isinstance(e, RunFailed) and e.parent_id is None:
            lines.append(f"{'cancelled' if e.cancelled else 'failed'}: {e.error_type}: {e.error}")
    return "\n".join(lines)


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
