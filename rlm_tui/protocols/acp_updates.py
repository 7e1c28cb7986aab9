"""Engine events → ACP `session/update`s for one prompt turn.

- the root LM's reasoning before each cell, budget and SUBMIT notes → agent thought chunks;
- each code cell → a tool call (`execute`): in progress with its code, then completed or failed
  with its output; a reply with no code cell → a thought saying so (and, after several in a
  row, that the model is not following the protocol);
- each sub-call (`llm_query`, `llm_query_batched`, `predict`, `rlm_query`, host tools) → a tool
  call (`think`, tools `other`) with its prompt, then its answer or error; the prompts of one
  batch share their batch's tool call;
- the call tree (`CallGraph`, the model the TUI draws) → the plan, resent whole whenever a node
  starts or ends: runs, iterations and sub-calls as entries, in tree order, indented by depth;
  the many prompts of one `llm_query_batched` fold into their batch's entry.

The answer itself is not an event: the agent sends it as message chunks when the turn ends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from acp import (
    plan_entry,
    start_tool_call,
    text_block,
    tool_content,
    update_agent_thought_text,
    update_plan,
    update_tool_call,
)
from acp.schema import PlanEntry, PlanEntryPriority, PlanEntryStatus, ToolKind

from rlm_tui.engine import narration
from rlm_tui.engine.calls import CANCELLED, FAILED, NO_CODE, RUNNING, CallGraph, CallNode
from rlm_tui.engine.events import (
    BudgetExhausted,
    CellOutput,
    CodeCell,
    CodeMissing,
    Event,
    IterationStarted,
    RunFailed,
    RunFinished,
    RunStarted,
    Status,
    SubCallFinished,
    SubCallStarted,
    SubmitRejected,
)

Send = Callable[[Any], Awaitable[None]]

SHOWN = 4000
"""Characters of a cell's code or output, or a sub-call's prompt or answer, put in a tool call."""

RESHAPES_PLAN = (RunStarted, IterationStarted, CodeCell, CodeMissing, CellOutput, SubCallStarted,
                 SubCallFinished, RunFinished, RunFailed)
WIDTH = 72  # characters of a plan entry's or tool call's one-line title


class SessionUpdates:
    """Folds one turn's events and sends what the client should see through `send(update)`."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.graph = CallGraph()
        self._plan: list[PlanEntry] = []

    async def apply(self, event: Event) -> None:
        self.graph.apply(event)
        for update in self._updates(event):
            await self._send(update)
        if isinstance(event, RESHAPES_PLAN):
            plan = self.plan()
            if plan != self._plan:
                self._plan = plan
                await self._send(update_plan(plan))

    def _updates(self, event: Event) -> list[Any]:
        if isinstance(event, (SubCallStarted, SubCallFinished)) and self._in_batch(event):
            return []  # one tool call for the batch, not one per prompt
        match event:
            case CodeCell(reasoning=reasoning, code=code):
                cell = start_tool_call(_cell_id(event), _title("Run", code), kind="execute", status="in_progress",
                                       content=[_text(_fenced(code))], raw_input={"code": code})
                thought = [update_agent_thought_text(reasoning.strip() + "\n")] if reasoning.strip() else []
                return [*thought, cell]
            case CellOutput(stdout=stdout, stderr=stderr, error=error):
                host = self.graph.get(event.call_id)
                shown = "\n".join(part for part in (stdout, stderr, error or "") if part.strip()) or "(no output)"
                return [update_tool_call(
                    _cell_id(event), status="failed" if error else "completed",
                    content=[_text(_fenced(host.code if host else "")), _text(_fenced(shown, ""))],
                    raw_output={"stdout": stdout, "stderr": stderr, "error": error})]
            case SubCallStarted(function=function, prompt=prompt, model=model):
                kind: ToolKind = "other" if function == "tool" else "think"
                name = model if function == "tool" else function
                return [start_tool_call(_sub_id(event), _title(name, prompt), kind=kind, status="in_progress",
                                        content=[_text(prompt[:SHOWN])], raw_input={"prompt": prompt, "model": model})]
            case SubCallFinished(response=response, error=error):
                return [update_tool_call(_sub_id(event), status="failed" if error else "completed",
                                         content=[_text((error or response)[:SHOWN] or "(empty)")],
                                         raw_output={"response": response, "error": error})]
            case Status(message=message):
                return [update_agent_thought_text(f"{message}\n")]
            case SubmitRejected(error=error):
                return [update_agent_thought_text(f"SUBMIT rejected: {error}\n")]
            case CodeMissing():
                return [update_agent_thought_text(f"Iteration {event.iteration}: {narration.no_code(event)}.\n")]
            case BudgetExhausted(budget=budget, used=used, limit=limit):
                return [update_agent_thought_text(
                    f"The {budget} budget ran out ({used:g} of {limit:g}); extracting a partial answer.\n")]
        return []

    def _in_batch(self, event: Event) -> bool:
        parent = self.graph.get(event.parent_id)
        return parent is not None and parent.kind == "sub" and parent.title == "llm_query_batched"

    def plan(self) -> list[PlanEntry]:
        entries: list[PlanEntry] = []
        roots = [n for n in self.graph.nodes.values() if n.parent_id is None]
        for node in roots:
            self._entries(node, 0, entries)
        return entries

    def _entries(self, node: CallNode, depth: int, out: list[PlanEntry]) -> None:
        status: PlanEntryStatus = "in_progress" if node.status == RUNNING else "completed"
        priority: PlanEntryPriority = "high" if node.kind == "run" else "medium" if node.kind == "iteration" else "low"
        out.append(plan_entry("  " * depth + _label(self.graph, node), priority=priority, status=status))
        if node.kind == "sub" and node.title == "llm_query_batched":
            return  # its prompts are counted in its label
        for child_id in node.children:
            self._entries(self.graph.nodes[child_id], depth + 1, out)


def _label(graph: CallGraph, node: CallNode) -> str:
    mark = {FAILED: " ✗", CANCELLED: " (cancelled)"}.get(node.status, "")
    if node.kind == "run" and node.depth == 0:
        return f"{narration.one_line(node.prompt, WIDTH)}{mark}"
    if node.kind == "run":
        return f"child RLM: {narration.one_line(node.prompt, WIDTH)}{mark}"
    if node.kind == "iteration":
        first = node.code.strip().splitlines()[0] if node.code.strip() else "thinking"
        if node.status == NO_CODE:
            first = "no code cell in the reply"
        return f"{node.title}: {narration.one_line(first, WIDTH)}{mark}"
    if node.kind == "sub" and node.title == "llm_query_batched":
        prompts = [graph.nodes[c] for c in node.children]
        running = sum(p.status == RUNNING for p in prompts)
        return f"llm_query_batched: {len(prompts) - running} of {len(prompts)} prompts done{mark}"
    return f"{node.title}: {narration.one_line(node.prompt, WIDTH)}{mark}"


def _cell_id(event: Event) -> str:
    return f"cell-{event.call_id}"


def _sub_id(event: Event) -> str:
    return f"sub-{event.call_id}"


def _title(verb: str, text: str) -> str:
    lines = text.strip().splitlines()
    return f"{verb}: {narration.one_line(lines[0] if lines else '', WIDTH)}"


def _fenced(text: str, language: str = "python") -> str:
    text = text if len(text) <= SHOWN else text[:SHOWN] + "\n… (cut)"
    return f"```{language}\n{text}\n```"


def _text(text: str) -> Any:
    return tool_content(text_block(text))
