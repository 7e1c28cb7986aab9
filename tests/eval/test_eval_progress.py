"""The eval progress display (rich.progress): a live bar on a terminal, plain lines otherwise;
the runner itself never imports rich."""

from __future__ import annotations

import io
import re
import subprocess
import sys

from rich.console import Console

from rlm_tui.eval.progress import EvalProgress


def _record(mode: str, score: float, error: str | None = None) -> dict:
    return {"mode": mode, "score": score, "cost_usd": 0.01, "wall_s": 0.5, "error": error}


def test_plain_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    progress = EvalProgress(Console(file=out, force_terminal=False, width=40))
    progress.begin(3, 1)
    progress.started_unit("needle-1 [rlm]")
    progress.finished_unit("needle-1 [rlm]", _record("rlm", 1.0))
    progress.finished_unit("needle-2 [direct]", _record("direct", 0.0, "x" * 200))
    progress.note("stopped: --max-cost $1 reached (a line longer than the console is wide)")
    progress.close()
    assert out.getvalue().splitlines() == [
        "resuming: 1 of 3 already done",
        "[2/3] needle-1 [rlm]: score 1.00 (0.5 s)",
        f"[3/3] needle-2 [direct]: error: {'x' * 80} (0.5 s)",
        "stopped: --max-cost $1 reached (a line longer than the console is wide)",
    ]


def test_a_bar_with_scores_cost_and_errors_on_a_terminal() -> None:
    out = io.StringIO()
    progress = EvalProgress(Console(file=out, force_terminal=True, width=140, color_system=None))
    progress.begin(4, 0)
    progress.started_unit("a [rlm]")
    progress.started_unit("b [rlm]")
    progress.finished_unit("a [rlm]", _record("rlm", 1.0))
    progress.finished_unit("c [direct]", _record("direct", 0.5, "boom"))
    progress.close()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    assert "[2/4]" not in text  # no per-task lines on a terminal
    last = [line for line in re.split(r"[\r\n]", text) if line.strip()][-1]
    assert "2/4" in last and "direct 0.50  rlm 1.00" in last and "$0.0200" in last
    assert "running 1  errors 1" in last


def test_the_runner_does_not_import_rich() -> None:
    code = "import sys, rlm_tui.eval.runner\nprint(sorted(m for m in sys.modules if m == 'rich' or m.startswith('rich.')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "[]\n"
