"""The call tree as plain data: events in, nodes with status and rolled-up totals out.

The one model of a run's call tree: the TUI's panes (the `CallTreeView` widget mirrors
`CallGraph.take_changes()` into a `Tree` on every flush), `rlm-tui replay --summary`, the
headless printer and the protocol servers' progress all fold events through it.

Node kinds shown in the tree: ``run`` (a turn, or an ``rlm_query`` child run), ``iteration``
(one root-LM step: its LM call and code cell are folded into it), ``sub`` (a sub-call) and
``lm`` (an LM call that has no iteration or sub-call to fold into, e.g. the extract step).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rlm_tui.engine import events as ev
from rlm_tui.usage import Usage

RUNNING, DONE, FAILED, CANCELLED = "running", "done", "failed", "cancelled"
NO_CODE = "no code"  # an iteration whose reply had no code cell: it ran nothing


@dataclass
class CallNode:
    call_id: str
    parent_id: str | None
    kind: str
    title: str
    started: float
    model: str = ""
    status: str = RUNNING
    finished: float | None = None
    prompt: str = ""
    response: str = ""
    code: str = ""
    reasoning: str = ""
    output: str = ""
    error: str | None = None
    depth: int = 0  # rlm nesting depth of the enclosing run
    iteration: int = 0  # an iteration's number in its run
    partial: bool = False  # a run that ended with outputs extracted after a budget ran out
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cost_known: bool = True
    children: list[str] = field(default_factory=list)
    failed_children: int = 0  # a batch's prompts that failed
    # own + all descendants
    total_tokens: int = 0
    total_cost: float = 0.0
    total_cost_known: bool = True

    @property
    def own_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def elapsed(self, now: float | None = None) -> float:
        end = self.finished if self.finished is not None else (now or time.time())
        return max(0.0, end - self.started)


@dataclass
class ModelUsage:
    """What one model did in a run: its LM calls, tokens and cost."""

    model: str
    calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    cost_known: bool = True


@dataclass
class Changes:
    added: list[str]
    updated: set[str]


class CallGraph:
    """Applies engine events; remembers which nodes were added or changed since last asked."""

    ROOT = "__root__"

    def __init__(self) -> None:
        self.nodes: dict[str, CallNode] = {}
        self._alias: dict[str, str] = {}  # folded LM-call / cell ids -> their iteration or sub-call
        self._added: list[str] = []
        self._updated: set[str] = set()
        self.turns = 0
        self.usage = Usage()  # of every LM call shown
        self.turn_usage: dict[str, Usage] = {}  # of each top-level node's LM calls (a turn's, by its run's id)

    # ---- queries -------------------------------------------------------------------------
    def get(self, call_id: str | None) -> CallNode | None:
        if call_id is None:
            return None
        return self.nodes.get(self._alias.get(call_id, call_id))

    def resolve(self, call_id: str | None) -> str | None:
        return None if call_id is None else self._alias.get(call_id, call_id)

    def ancestors(self, call_id: str) -> list[CallNode]:
        out, node = [], self.get(call_id)
        while node is not None and node.parent_id is not None:
            node = self.nodes.get(node.parent_id)
            if node is not None:
                out.append(node)
        return out

    def enclosing(self, call_id: str | None, kind: str) -> CallNode | None:
        node = self.get(call_id)
        while node is not None:
            if node.kind == kind:
                return node
            node = self.nodes.get(node.parent_id) if node.parent_id else None
        return None

    def is_root_run_event(self, event: ev.Event) -> bool:
        """True when the event belongs to a top-level run (depth 0), not an rlm_query child."""
        node = self.get(event.call_id) or self.get(event.parent_id)
        return node is not None and node.depth == 0

    def usage_by_model(self, call_id: str) -> list[ModelUsage]:
        """The LM calls under `call_id` (child runs included) by model, most tokens first."""
        node = self.get(call_id)
        by: dict[str, ModelUsage] = {}
        for n in self._subtree(node) if node is not None else []:
            if n.own_tokens or (n.kind == "sub" and not n.children):
                share = by.setdefault(n.model, ModelUsage(n.model))
                share.calls += 1
                share.tokens += n.own_tokens
                share.cost_usd += n.cost_usd
                share.cost_known = share.cost_known and n.cost_known
        return sorted(by.values(), key=lambda u: (-u.tokens, u.model))

    def take_changes(self) -> Changes:
        changes = Changes(self._added, self._updated - set(self._added))
        self._added, self._updated = [], set()
        return changes

    def clear(self) -> None:
        CallGraph.__init__(self)

    # ---- building ------------------------------------------------------------------------
    def _add(self, node: CallNode) -> CallNode:
        parent = self.nodes.get(node.parent_id) if node.parent_id else None
        if node.parent_id is not None and parent is None:
            node.parent_id = None  # orphan (a trace cut mid-way): attach at top level
        if parent is not None:
            parent.children.append(node.call_id)
        self.nodes[node.call_id] = node
        self._added.append(node.call_id)
        return node

    def _touch(self, node: CallNode) -> None:
        self._updated.add(node.call_id)

    def _charge(self, node: CallNode, prompt: int, completion: int, usd: float | None) -> None:
        """Add usage to `node` and roll it up through its ancestors."""
        node.prompt_tokens += prompt
        node.completion_tokens += completion
        unknown = usd is None and prompt + completion > 0
        call = Usage(prompt, completion, None if unknown else usd or 0.0, lm_calls=1)
        self.usage = self.usage + call
        usd = usd or 0.0
        if unknown:
            node.cost_known = False
        node.cost_usd += usd
        chain = [node, *self.ancestors(node.call_id)]
        top = chain[-1].call_id
        self.turn_usage[top] = self.turn_usage.get(top, Usage()) + call
        for n in chain:
            n.total_tokens += prompt + completion
            n.total_cost += usd
            if unknown:
                n.total_cost_known = False
            self._touch(n)

    def _finish(self, node: CallNode, ts: float, status: str, error: str | None = None) -> None:
        if node.status == RUNNING:
            node.status = status
            node.finished = ts
        if error:
            node.error = error
        self._touch(node)

    def _finish_open_iterations(self, run: CallNode, ts: float, status: str) -> None:
        for child_id in run.children:
            child = self.nodes[child_id]
            if child.status == RUNNING and child.kind in ("iteration", "lm"):
                self._finish(child, ts, status)

    def apply(self, e: ev.Event) -> None:
        handler = _HANDLERS.get(type(e))
        if handler is not None:
            handler(self, e)

    def _on_run_started(self, e: ev.RunStarted) -> None:
        if e.depth == 0 and e.parent_id is None:
            self.turns += 1
            title = f"Turn {self.turns}"
        else:
            title = "rlm_query run"
        question = e.inputs.get("question") if isinstance(e.inputs, dict) else None
        self._add(CallNode(e.call_id, self.resolve(e.parent_id), "run", title, e.ts,
                           model=e.model, prompt=str(question or e.task), depth=e.depth))

    def _on_iteration_started(self, e: ev.IterationStarted) -> None:
        run = self.get(e.parent_id)
        if run is not None:
            self._finish_open_iterations(run, e.ts, DONE)
        depth = run.depth if run else 0
        self._add(CallNode(e.call_id, self.resolve(e.parent_id), "iteration",
                           f"iter {e.iteration}", e.ts, depth=depth,
                           model=run.model if run else "", iteration=e.iteration))

    def _on_lm_call_started(self, e: ev.LMCallStarted) -> None:
        host = self.get(e.parent_id)
        if host is not None and host.kind in ("iteration", "sub") and not host.prompt:
            self._alias[e.call_id] = host.call_id
            host.prompt, host.model = e.prompt, e.model or host.model
            self._touch(host)
            return
        self._add(CallNode(e.call_id, self.resolve(e.parent_id), "lm", e.role or "lm call",
                           e.ts, model=e.model, prompt=e.prompt,
                           depth=host.depth if host else 0))

    def _on_lm_token(self, e: ev.LMToken) -> None:
        node = self.get(e.call_id)
        if node is not None:
            node.response += e.text
            self._touch(node)

    def _on_lm_call_finished(self, e: ev.LMCallFinished) -> None:
        node = self.get(e.call_id)
        if node is None:
            return
        node.response = e.response or node.response
        self._charge(node, e.prompt_tokens, e.completion_tokens, e.cost_usd)
        if e.error:
            self._finish(node, e.ts, FAILED, e.error)
        elif node.kind == "lm":
            self._finish(node, e.ts, DONE)

    def _on_code_cell(self, e: ev.CodeCell) -> None:
        node = self._cell_host(e)
        if node is not None:
            node.code, node.reasoning = e.code, e.reasoning
            self._touch(node)

    def _on_cell_output(self, e: ev.CellOutput) -> None:
        node = self._cell_host(e)
        if node is None:
            return
        node.output = e.stdout + (("\n" + e.stderr) if e.stderr else "")
        self._finish(node, e.ts, FAILED if e.error else DONE, e.error)

    def _cell_host(self, e: ev.Event) -> CallNode | None:
        node = self.get(e.call_id)
        if node is None or node.kind != "iteration":
            node = self.enclosing(e.parent_id, "iteration")
        if node is not None and e.call_id != node.call_id:
            self._alias[e.call_id] = node.call_id
        return node

    def _on_code_missing(self, e: ev.CodeMissing) -> None:
        node = self.get(e.call_id)
        if node is not None and node.kind == "iteration":
            self._finish(node, e.ts, NO_CODE)

    def _on_sub_call_started(self, e: ev.SubCallStarted) -> None:
        parent = self.get(e.parent_id)
        self._add(CallNode(e.call_id, self.resolve(e.parent_id), "sub", e.function, e.ts,
                           model=e.model, prompt=e.prompt, depth=parent.depth if parent else 0))

    def _on_sub_call_finished(self, e: ev.SubCallFinished) -> None:
        node = self.get(e.call_id)
        if node is None:
            return
        node.response = e.response or node.response
        # usage arrives once: from a folded LMCallFinished, from child runs, or from here
        has_lm_usage = node.own_tokens > 0 or any(
            self.nodes[c].kind == "run" for c in node.children)
        if not has_lm_usage:
            self._charge(node, e.prompt_tokens, e.completion_tokens, e.cost_usd)
        prompts = [self.nodes[c] for c in node.children if self.nodes[c].kind == "sub"]
        node.failed_children = sum(p.status == FAILED for p in prompts)
        error = e.error
        if error is None and prompts and node.failed_children == len(prompts):  # a batch that all failed
            error = f"all {len(prompts)} calls failed: {error_line(prompts[-1].error or '')}"
        self._finish(node, e.ts, FAILED if error else DONE, error)

    def _on_submitted(self, e: ev.Submitted) -> None:
        node = self.enclosing(e.parent_id, "iteration") or self.get(e.call_id)
        if node is not None:
            self._touch(node)

    def _on_run_finished(self, e: ev.RunFinished) -> None:
        run = self.get(e.call_id)
        if run is None:
            return
        self._finish_open_iterations(run, e.ts, DONE)
        run.response = _outputs_text(e.outputs)
        run.partial = e.partial
        self._finish(run, e.ts, DONE)

    def _on_run_failed(self, e: ev.RunFailed) -> None:
        run = self.get(e.call_id)
        if run is None:
            return
        status = CANCELLED if e.cancelled else FAILED
        for node in self._subtree(run):
            if node.status == RUNNING:
                self._finish(node, e.ts, status)
            elif e.cancelled and node.status == FAILED and CANCELLATION.match(error_line(node.error or "")):
                node.status = CANCELLED  # it failed because the turn was being cancelled
                self._touch(node)
        self._finish(run, e.ts, status, None if e.cancelled else e.error)

    def _subtree(self, node: CallNode) -> list[CallNode]:
        out, stack = [], list(node.children)
        while stack:
            child = self.nodes[stack.pop()]
            out.append(child)
            stack.extend(child.children)
        return out


_HANDLERS: dict[type[ev.Event], Callable[[CallGraph, Any], None]] = {
    ev.RunStarted: CallGraph._on_run_started,
    ev.IterationStarted: CallGraph._on_iteration_started,
    ev.LMCallStarted: CallGraph._on_lm_call_started,
    ev.LMToken: CallGraph._on_lm_token,
    ev.LMCallFinished: CallGraph._on_lm_call_finished,
    ev.CodeCell: CallGraph._on_code_cell,
    ev.CodeMissing: CallGraph._on_code_missing,
    ev.CellOutput: CallGraph._on_cell_output,
    ev.SubCallStarted: CallGraph._on_sub_call_started,
    ev.SubCallFinished: CallGraph._on_sub_call_finished,
    ev.Submitted: CallGraph._on_submitted,
    ev.RunFinished: CallGraph._on_run_finished,
    ev.RunFailed: CallGraph._on_run_failed,
}


def _outputs_text(outputs: dict) -> str:
    if len(outputs) == 1:
        return str(next(iter(outputs.values())))
    return "\n".join(f"{k}: {v}" for k, v in outputs.items())


CANCELLATION = re.compile(r"^(?:cancelled$|(?:asyncio\.)?Cancelled(?:Error)?\b|KeyboardInterrupt\b)")
"""The error of a call or cell that a cancel ended: an LM call's `cancelled`, a sub-call's
`Cancelled: …` or `CancelledError`, a cell's `KeyboardInterrupt: the cell was cancelled`."""

EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Exit|Interrupt|Warning|Refused|Exceeded)\b")


def error_line(error: str) -> str:
    """The part of an error that names the exception (`IndexError: list index out of range`,
    a message of several lines joined), not a traceback's "Traceback (most recent call last):"
    header; else its last non-empty line."""
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    named = [i for i, line in enumerate(lines) if EXCEPTION_LINE.match(line)]
    if named:
        return " ".join(lines[named[-1]:])
    return lines[-1] if lines else ""
