"""Rebuild a run from its trace: the call tree, and a readable summary."""

from __future__ import annotations

from dataclasses import dataclass, field

from rlm_tui.runtime.events import (
    CallsRefused,
    CellOutput,
    CodeCell,
    Event,
    IterationStarted,
    LMCallFinished,
    RunFailed,
    RunFinished,
    RunStarted,
    SubCallFinished,
    SubCallStarted,
    TraceCapped,
)


@dataclass
class Node:
    """One node of the call tree, as rebuilt from `parent_id` links."""

    call_id: str
    label: str
    children: list[Node] = field(default_factory=list)
    detail: str = ""


def build_tree(events: list[Event]) -> list[Node]:
    """Roots of the call tree (one per run started at depth 0)."""
    nodes: dict[str, Node] = {}
    roots: list[Node] = []

    def attach(node: Node, parent_id: str | None) -> None:
        nodes[node.call_id] = node
        parent = nodes.get(parent_id or "")
        (parent.children if parent else roots).append(node)

    for e in events:
        if isinstance(e, RunStarted):
            attach(Node(e.call_id, f"run (depth {e.depth}): {e.task[:80]}"), e.parent_id)
        elif isinstance(e, IterationStarted):
            attach(Node(e.call_id, f"iteration {e.iteration}"), e.parent_id)
        elif isinstance(e, SubCallStarted):
            attach(Node(e.call_id, f"{e.function} [{e.model}]"), e.parent_id)
        elif isinstance(e, SubCallFinished) and e.call_id in nodes:
            node = nodes[e.call_id]
            node.detail = f"{'failed' if e.error else 'done'} in {e.duration_s:.2f} s"
        elif isinstance(e, CodeCell) and e.call_id in nodes:
            nodes[e.call_id].detail = e.code.strip().splitlines()[0][:80] if e.code.strip() else ""
        elif isinstance(e, (RunFinished, RunFailed)) and e.call_id in nodes:
            nodes[e.call_id].detail = "failed" if isinstance(e, RunFailed) else (
                "partial" if e.partial else "finished")
    return roots


def summarize(events: list[Event]) -> str:
    """A readable account of a trace: tree, outputs and usage."""
    lines: list[str] = []

    def walk(node: Node, depth: int) -> None:
        detail = f" — {node.detail}" if node.detail else ""
        lines.append(f"{'  ' * depth}{node.label}{detail}")
        for child in node.children:
            walk(child, depth + 1)

    for root in build_tree(events):
        walk(root, 0)
    cells = sum(isinstance(e, CellOutput) for e in events)
    lm_calls = [e for e in events if isinstance(e, LMCallFinished)]
    subs = sum(isinstance(e, SubCallFinished) and e.function != "llm_query_batched" for e in events)
    lines.append(f"\n{cells} cells, {len(lm_calls)} root LM calls, {subs} sub-calls")
    refused = sum(e.count for e in events if isinstance(e, CallsRefused))
    if refused:
        lines.append(f"{refused} sub-calls not sent: the budget refused them")
    for e in events:
        if isinstance(e, TraceCapped):
            lines.append(f"trace capped at {e.limit_bytes:,} bytes in a run: later long texts kept as size and hash")
    for e in events:
        if isinstance(e, RunFinished) and e.parent_id is None:
            lines.append(f"outputs{' (partial)' if e.partial else ''}: {e.outputs}")
            lines.append(f"usage: {e.usage}, {e.duration_s:.1f} s")
        elif isinstance(e, RunFailed) and e.parent_id is None:
            lines.append(f"{'cancelled' if e.cancelled else 'failed'}: {e.error_type}: {e.error}")
    return "\n".join(lines)
