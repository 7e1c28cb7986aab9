"""One call-tree model (`runtime.calls.CallGraph`) under the TUI, `replay --summary` and the
headless printer; events dispatched by type."""

from __future__ import annotations

import io

from rlm_tui.engine.printer import ProgressPrinter
from rlm_tui.engine.replay import summarize
from tests.tui.traces import sample_events


def test_the_replay_summary_is_the_call_graph_as_text():
    lines = summarize(sample_events()).splitlines()
    assert lines[0].startswith("run (depth 0): What does this project do? — finished")
    assert lines[1] == "  iteration 1 — import os"
    assert "    llm_query_batched [openai/gpt-4o-mini] — done in " in lines[3]
    assert lines[4].startswith("      llm_query [openai/gpt-4o-mini] — done in ")
    rlm_query = next(i for i, line in enumerate(lines) if line.startswith("    rlm_query ["))
    assert lines[rlm_query + 1] == "      run (depth 1): How is src/ organised? — finished"  # the child under its call
    assert lines[rlm_query + 2] == "        iteration 1 — SUBMIT(answer='one module')"


def test_the_headless_printer_indents_a_child_runs_lines_by_its_depth():
    out = io.StringIO()
    printer = ProgressPrinter(stream=out)
    for event in sample_events():
        printer(event)
    lines = out.getvalue().splitlines()
    child = lines.index(next(line for line in lines if "child RLM (depth 1)" in line))
    assert lines[child + 1] == "  ─ iteration 1"
    assert lines[child + 2].startswith("    root@1: 400+30 tokens")  # the child's LM call, at its depth

