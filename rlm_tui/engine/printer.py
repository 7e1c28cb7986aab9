"""The headless printer: one short progress line per interesting event, on stderr (keys
scrubbed and control sequences dropped: the lines quote guest output and LM text). Lines are
indented by the rlm_query depth of the run they belong to, from the call tree (`CallGraph`)."""

from __future__ import annotations

import sys
from typing import TextIO

from rlm_tui.engine import events as ev
from rlm_tui.engine import narration
from rlm_tui.engine.calls import CallGraph, error_line
from rlm_tui.terminal import say
from rlm_tui.usage import usd_text


class ProgressPrinter:
    """Event sink that narrates a run for a terminal or a log."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet
        self.graph = CallGraph()
        self.free = False  # the top-level run's LMs are local models: no price to say

    def __call__(self, event: ev.Event) -> None:
        if self.quiet:
            return
        line = self.describe(event)
        if line:
            say(line, self.stream or sys.stderr)

    def describe(self, event: ev.Event) -> str | None:
        self.graph.apply(event)
        if isinstance(event, ev.RunStarted):
            if event.depth:
                return f"{'  ' * event.depth}↳ child RLM (depth {event.depth}): {narration.one_line(event.task)}"
            self.free = narration.runs_free(event)
            return f"▶ {event.model} over {event.project}"
        node = self.graph.get(event.call_id) or self.graph.get(event.parent_id)
        indent = "  " * (node.depth if node is not None else 0)
        if isinstance(event, ev.Status):
            return f"· {event.message}"
        if isinstance(event, ev.IterationStarted):
            return f"{indent}─ iteration {event.iteration}"
        if isinstance(event, ev.LMCallFinished) and event.error is None:
            cost = "" if event.cost_usd is None else f", {usd_text(event.cost_usd)}"
            return f"{indent}  {event.role}: {event.prompt_tokens}+{event.completion_tokens} tokens{cost}, {event.latency_s:.1f} s"
        if isinstance(event, ev.CodeCell):
            return f"{indent}  ▸ {narration.code_preview(event.code)}"
        if isinstance(event, ev.CodeMissing):
            return f"{indent}  ∅ {narration.no_code(event)}"
        if isinstance(event, ev.CellOutput):
            if event.error:
                return f"{indent}  ✗ {narration.one_line(error_line(event.error))}"
            return f"{indent}  ✓ {event.duration_s * 1000:.0f} ms, {len(event.stdout):,} chars out"
        if isinstance(event, ev.SubCallFinished) and event.function != "llm_query":
            mark = "✗" if event.error else "✓"
            return f"{indent}  {mark} {event.function} ({event.model}) {event.duration_s:.1f} s"
        if isinstance(event, ev.SubmitRejected):
            return f"{indent}  ✗ {narration.one_line(event.error)}"
        if isinstance(event, ev.CallsRefused):
            return f"{indent}  ! {narration.refused(event)}"
        if isinstance(event, ev.RunFinished) and event.parent_id is None:
            return f"■ {event.usage.summary(free=self.free)}, {event.duration_s:.1f} s"
        if isinstance(event, ev.BudgetExhausted) and event.parent_id is None:  # a child's run ends in its sub-call
            return f"! {narration.budget_ran_out(event)}"
        if isinstance(event, ev.RunFailed):
            return f"✗ {narration.run_failed(event)}"
        return None
