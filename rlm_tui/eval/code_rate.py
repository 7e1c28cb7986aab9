"""How often the root model replied without a code cell, read off an RLM task's trace.

A root iteration is an `IterationStarted` of the top-level run (depth 0) whose root LM call
finished (one cut short by a budget is no reply); it wrote code when a `CodeCell` of that
iteration follows. The no-code rate of a group of tasks is its iterations with
no code cell over all its root iterations: the figure the constrained replies of offline models
(rlm_tui/local/reply_grammar.py) bring to 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CodeCount:
    """Root iterations of one run, and how many of them wrote no code cell."""

    iterations: int
    no_code: int


def count_code_cells(trace: Path) -> CodeCount:
    """Root iterations and the ones with no code cell in a JSONL trace (0, 0 when unreadable)."""
    root: str | None = None
    started: set[str] = set()
    iterations: set[str] = set()
    with_code: set[str] = set()
    try:
        lines = trace.read_text(encoding="utf-8").splitlines()
    except OSError:
        return CodeCount(0, 0)
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line cut by an interruption
        kind = event.get("type")
        if kind == "RunStarted" and root is None and not event.get("depth"):
            root = event.get("call_id")
        elif kind == "IterationStarted" and root is not None and event.get("parent_id") == root:
            started.add(event["call_id"])
        elif kind == "LMCallFinished" and event.get("parent_id") in started and not event.get("error"):
            iterations.add(event["parent_id"])  # the root replied (a call cut by the budget is no reply)
        elif kind == "CodeCell" and event.get("call_id") in iterations:
            with_code.add(event["call_id"])
    return CodeCount(len(iterations), len(iterations - with_code))
