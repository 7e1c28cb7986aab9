"""The words for what happened in a run, shared by every text view of its events: the headless
printer, `rlm-tui replay --summary` and the protocol servers' progress (MCP messages, ACP
updates). Plain strings, no markup: each view adds its own marks, indents and totals."""

from __future__ import annotations

from rlm_tui.engine.calls import error_line
from rlm_tui.engine.events import BudgetExhausted, CallsRefused, CodeMissing, RunFailed, RunStarted
from rlm_tui.lm.facts import is_local


def one_line(text: str, width: int = 100) -> str:
    """`text` on one line (whitespace squeezed), cut to `width` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def code_preview(code: str, width: int = 100) -> str:
    """A cell's first line, and how many more it has: `import os  (+2 lines)`."""
    lines = code.strip().splitlines()
    more = f" (+{len(lines) - 1} lines)" if len(lines) > 1 else ""
    return one_line(lines[0] if lines else "", width) + more


def no_code(event: CodeMissing) -> str:
    """An iteration whose reply had no code cell; after enough in a row, that the model is not
    following the protocol."""
    text = "no code cell in the reply"
    if event.off_protocol:
        text += f"; the model is not following the protocol ({event.in_a_row} replies in a row)"
    return text


def budget_ran_out(event: BudgetExhausted) -> str:
    return f"{event.budget} budget exhausted ({event.used:g} of {event.limit:g}); extracting a partial answer"


def refused(event: CallsRefused) -> str:
    plural = "s" if event.count != 1 else ""
    return f"{event.count} {event.function} call{plural} not sent ({event.budget} budget exhausted)"


def run_failed(event: RunFailed, width: int = 100) -> str:
    """`cancelled`, or the exception line of what ended the run."""
    if event.cancelled:
        return "cancelled"
    return f"failed: {event.error_type}: {one_line(error_line(event.error), width)}"


def runs_free(started: RunStarted) -> bool:
    """The run's LMs are both local (offline) models: its calls cost nothing."""
    return is_local(started.model) and is_local(started.sub_model)

