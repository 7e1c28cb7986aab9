""".ci/quality.py's table and floor: RLM rows beside direct rows, the no-code rate, the verdict
(fast: summary rows as results.json holds them, no model)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "quality.py"


@pytest.fixture(scope="module")
def quality():
    spec = importlib.util.spec_from_file_location("ci_quality", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def row(family, size, mode, score, tasks=2, wall=30.0, iterations=0, no_code=0):
    return {"family": family, "size": size, "mode": mode, "tasks": tasks, "score": score,
            "wall_s_per_task": wall, "root_iterations": iterations, "no_code_iterations": no_code}


SUMMARIES = {
    "rlm": [row("needle", "8k", "rlm", 1.0, iterations=5), row("needle", "64k", "rlm", 0.5, iterations=7, no_code=1),
            row("codebase", "-", "rlm", 0.25, iterations=9), row("all", "all", "rlm", 0.6, tasks=6)],
    "direct": [row("needle", "8k", "direct", 0.75, wall=70.0), row("needle", "64k", "direct", 0.0, wall=71.0),
               row("all", "all", "direct", 0.375, tasks=4)],
}


def test_each_line_holds_both_modes_of_its_family_and_size(quality):
    table = quality.lines(SUMMARIES)
    got = {(line.family, line.size): (line.rlm and line.rlm["score"], line.direct and line.direct["score"])
           for line in table}
    assert got == {("needle", "8k"): (1.0, 0.75), ("needle", "64k"): (0.5, 0.0), ("codebase", "-"): (0.25, None),
                   ("all", "all"): (0.6, 0.375)}
    assert [line.family for line in table] == ["needle", "needle", "codebase", "all"]


def test_the_table_prints_scores_side_by_side_with_the_no_code_rate(quality):
    text = quality.render(quality.lines(SUMMARIES)).splitlines()
    assert "direct" in text[0] and "no-code rlm" in text[0]
    assert text[2].split() == ["needle", "64k", "2", "0.50", "0.00", "30", "71", "1/7"]
    assert text[3].split() == ["codebase", "-", "2", "0.25", "-", "30", "-", "0/9"]
    assert text[4].split()[-1] == "-"  # no iterations counted for that row


def test_below_the_floor_fails_and_at_it_passes(quality):
    table = quality.lines(SUMMARIES)
    assert quality.verdict(table, 0.6) is None
    assert "0.60 is below the floor 0.65" in quality.verdict(table, 0.65)


def test_a_summary_without_the_overall_rlm_row_is_an_error(quality):
    with pytest.raises(SystemExit, match="no RLM-mode row"):
        quality.verdict(quality.lines({"direct": SUMMARIES["direct"]}), 0.5)
