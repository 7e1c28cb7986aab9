"""The headless printer: one short progress line per interesting event, on stderr (keys
scrubbed and control sequences dropped: the lines quote guest output and LM text)."""

from __future__ import annotations

import sys
from typing import TextIO

from rlm_tui.lm import Usage
from rlm_tui.runtime.events import (
    BudgetExhausted,
    CallsRefused,
    CellOutput,
    CodeCell,
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


class ProgressPrinter:
    """Event sink that narrates a run for a terminal or a log."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet
        self._depth: dict[str, int] = {}

    def __call__(self, event: Event) -> None:
        if self.quiet:
            return
        line = self.describe(event)
        if line:
            say(line, self.stream or sys.stderr)

    def describe(self, event: Event) -> str | None:
        if isinstance(event, RunStarted):
            self._depth[event.call_id] = event.depth
            if event.depth:
                return f"{'  ' * event.depth}↳ child RLM (depth {event.depth}): {_one_line(event.task)}"
            return f"▶ {event.model} over {event.project}"
        indent = "  " * self._depth.get(event.parent_id or "", 0)
        if isinstance(event, Status):
            return f"· {event.message}"
        if isinstance(event, IterationStarted):
            return f"{indent}─ iteration {event.iteration}"
        if isinstance(event, LMCallFinished) and event.error is None:
            cost = "" if event.cost_usd is None else f", ${event.cost_usd:.4f}"
            return f"{indent}  {event.role}: {event.prompt_tokens}+{event.completion_tokens} tokens{cost}, {event.latency_s:.1f} s"
        if isinstance(event, CodeCell):
            lines = event.code.strip().splitlines()
            more = f"  (+{len(lines) - 1} lines)" if len(lines) > 1 else ""
            return f"{indent}  ▸ {_one_line(lines[0] if lines else '')}{more}"
        if isinstance(event, CellOutput):
            if event.error:
                return f"{indent}  ✗ {_one_line(event.error.strip().splitlines()[-1])}"
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
            return f"■ {_usage_line(event.usage)}, {event.duration_s:.1f} s"
        if isinstance(event, BudgetExhausted) and event.parent_id is None:  # a child's run ends in its sub-call
            return f"! {event.budget} budget exhausted ({event.used:g} of {event.limit:g}); extracting a partial answer"
        if isinstance(event, RunFailed):
            return f"✗ {'cancelled' if event.cancelled else event.error_type + ': ' + _one_line(event.error)}"
        return None


def _usage_line(usage: dict) -> str:
    """`12 LM calls, 3,456 tokens, $0.0123 + 2 calls of unknown price` from a run's usage dict."""
    calls = int(usage.get("lm_calls") or 0)
    tokens = int(usage.get("prompt_tokens") or 0) + int(usage.get("completion_tokens") or 0)
    cost = Usage(cost_usd=usage.get("cost_usd"), calls=calls,
                 unpriced_calls=int(usage.get("unpriced_calls") or 0)).cost_text()
    return f"{calls} LM call{'s' * (calls != 1)}, {tokens:,} tokens, {cost}"


def _one_line(text: str, width: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
