"""The headless printer: one short progress line per interesting event, on stderr (keys
scrubbed and control sequences dropped: the lines quote guest output and LM text). Lines are
indented by the rlm_query depth of the run they belong to, from the call tree (`CallGraph`)."""

from __future__ import annotations

import sys
from typing import TextIO

from rlm_tui.engine.calls import CallGraph, error_line
from rlm_tui.engine.events import (
    BudgetExhausted,
    CallsRefused,
    CellOutput,
    CodeCell,
    CodeMissing,
    Event,
    IterationStarted,
    LMCallFinished,
    RunFailed,
    RunFinished,
    RunStarted,
    Status,
    SubCallFinished,
    SubmitRejected,
)
from rlm_tui.terminal import say
from rlm_tui.usage import usd_text


class ProgressPrinter:
    """Event sink that narrates a run for a terminal or a log."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet
        self.graph = CallGraph()

    def __call__(self, event: Event) -> None:
        if self.quiet:
            return
        line = self.describe(event)
        if line:
            say(line, self.stream or sys.stderr)

    def describe(self, event: Event) -> str | None:
        self.graph.apply(event)
        if isinstance(event, RunStarted):
            if event.depth:
                return f"{'  ' * event.depth}↳ child RLM (depth {event.depth}): {_one_line(event.task)}"
            return f"▶ {event.model} over {event.project}"
        node = self.graph.get(event.call_id) or self.graph.get(event.parent_id)
        indent = "  " * (node.depth if node is not None else 0)
        if isinstance(event, Status):
            return f"· {event.message}"
        if isinstance(event, IterationStarted):
            return f"{indent}─ iteration {event.iteration}"
        if isinstance(event, LMCallFinished) and event.error is None:
            cost = "" if event.cost_usd is None else f", {usd_text(event.cost_usd)}"
            return f"{indent}  {event.role}: {event.prompt_tokens}+{event.completion_tokens} tokens{cost}, {event.latency_s:.1f} s"
        if isinstance(event, CodeCell):
            lines = event.code.strip().splitlines()
            more = f"  (+{len(lines) - 1} lines)" if len(lines) > 1 else ""
            return f"{indent}  ▸ {_one_line(lines[0] if lines else '')}{more}"
        if isinstance(event, CodeMissing):
            line = f"{indent}  ∅ no code cell in the reply"
            if event.off_protocol:
                line += f"; the model is not following the protocol ({event.in_a_row} replies in a row)"
            return line
        if isinstance(event, CellOutput):
            if event.error:
                return f"{indent}  ✗ {_one_line(error_line(event.error))}"
            return f"{indent}  ✓ {event.duration_s * 1000:.0f} ms, {len(event.stdout):,} chars out"
        if isinstance(event, SubCallFinished) and event.function != "llm_query":
            mark = "✗" if event.error else "✓"
            return f"{indent}  {mark} {event.function} ({event.model}) {event.duration_s:.1f} s"
        if isinstance(event, SubmitRejected):
            return f"{indent}  ✗ {_one_line(event.error)}"
        if isinstance(event, CallsRefused):
            plural = "s" if event.count != 1 else ""
            return f"{indent}  ! {event.count} {event.function} call{plural} not sent ({event.budget} budget exhausted)"
        if isinstance(event, RunFinished) and event.parent_id is None:
            return f"■ {event.usage.summary()}, {event.duration_s:.1f} s"
        if isinstance(event, BudgetExhausted) and event.parent_id is None:  # a child's run ends in its sub-call
            return f"! {event.budget} budget exhausted ({event.used:g} of {event.limit:g}); extracting a partial answer"
        if isinstance(event, RunFailed):
            return f"✗ {'cancelled' if event.cancelled else event.error_type + ': ' + _one_line(event.error)}"
        return None


def _one_line(text: str, width: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
