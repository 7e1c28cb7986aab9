"""The real offline model (Qwen2.5-Coder 0.5B in llama.cpp) driving the real engine.

Marked ``local_model``; skipped with the reason when llama-cpp-python is missing or the model is not
pulled. CI installs the extra and pulls the model, so there they run. They assert on the protocol
(iterations, cells, events, trace, budget, usage), never on the wording of a 0.5B model's answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.local.helpers import require_small_model

pytestmark = pytest.mark.local_model

MAX_ITERATIONS = 3
MAX_SECONDS = 240

# The CLI in a fresh process, with the provider registered first (harmless once rlm_tui.lm.client does it).
BOOT = (
    "import sys; from rlm_tui.local.provider import register; register(); "
    "from rlm_tui.cli import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.fixture
def tiny_project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "calc.py").write_text(
        "def add(a, b):\n    return a + b\n\n\ndef main():\n    print(add(2, 3))\n"
    )
    (root / "README.md").write_text("# calc\nA tiny calculator.\n")
    return root


def test_the_small_model_drives_rlm_tui_ask_end_to_end(tiny_project: Path, tmp_path: Path):
    spec = require_small_model()
    trace = tmp_path / "trace.jsonl"
    argv = [
        "ask",
        "Which functions are defined in calc.py?",
        "--project",
        str(tiny_project),
        "--model",
        spec.model_string,
        "--max-iterations",
        str(MAX_ITERATIONS),
        "--max-seconds",
        str(MAX_SECONDS),
        "--trace",
        str(trace),
        "--json",
    ]
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", BOOT, *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=MAX_SECONDS + 240,
    )
    elapsed = time.monotonic() - start
    assert result.returncode in (0, 3), f"exit {result.returncode}\n{result.stderr[-3000:]}"

    # stdout: the --json answer, consistent with the exit code
    data = json.loads(result.stdout)
    assert set(data["outputs"]) == {"answer"}
    assert data["partial"] is (result.returncode == 3)
    usage = data["usage"]
    assert 1 <= usage["iterations"] <= MAX_ITERATIONS
    assert usage["lm_calls"] >= usage["iterations"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["cost_usd"] == 0.0

    # the trace: one complete run, in order, every call closed, the call tree connected
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    assert kinds.count("RunStarted") == 1 and "RunFailed" not in kinds
    assert events[0]["model"] == spec.model_string
    iterations = [e for e in events if e["type"] == "IterationStarted"]
    assert [e["iteration"] for e in iterations] == list(range(1, len(iterations) + 1))
    assert 1 <= len(iterations) <= MAX_ITERATIONS
    started = {e["call_id"] for e in events if e["type"] == "LMCallStarted"}
    finished = [e for e in events if e["type"] == "LMCallFinished"]
    assert started and started == {e["call_id"] for e in finished}
    for call in finished:
        assert call["error"] is None
        assert call["model"] == spec.model_string
        assert call["prompt_tokens"] > 0 and call["cost_usd"] == 0.0
    cells = [e for e in events if e["type"] == "CodeCell"]
    outputs = [e for e in events if e["type"] == "CellOutput"]
    assert cells, "the model never wrote a code cell"
    assert [c["iteration"] for c in cells] == [o["iteration"] for o in outputs]  # every cell ran
    ids = {e["call_id"] for e in events}
    assert all(e["parent_id"] is None or e["parent_id"] in ids for e in events)
    final = events[-1]
    assert final["partial"] is data["partial"] and final["usage"] == usage
    if data["partial"]:
        assert "BudgetExhausted" in kinds
    else:
        assert "Submitted" in kinds

    # the budget held: no iteration started after the time ran out, and the run ended soon after
    run_start = events[0]["ts"]
    assert all(e["ts"] - run_start <= MAX_SECONDS for e in iterations)
    assert elapsed < MAX_SECONDS + 180


def test_prompt_prefixes_are_reused_across_calls():
    """Growing the conversation re-processes only the new tokens, even after an unrelated call."""
    spec = require_small_model()
    from rlm_tui.local.llama import LocalModel

    model = LocalModel(spec.path(), name=spec.name, prefix_cache=True, max_tokens=8)
    try:
        messages = [
            {"role": "system", "content": "You write Python. " * 80},
            {"role": "user", "content": "Print 1."},
        ]
        first = model.generate(messages).stats
        assert first.reused_tokens == 0 and first.prompt_tokens > 256
        messages += [
            {"role": "assistant", "content": "```python\nprint(1)\n```"},
            {"role": "user", "content": "Output:\n1"},
        ]
        second = model.generate(messages).stats
        assert second.reused_tokens >= first.prompt_tokens - 1
        other = model.generate(
            [{"role": "user", "content": "Say hi."}]
        ).stats  # a sub-call in between
        assert other.prompt_tokens < 50
        messages += [
            {"role": "assistant", "content": "Done."},
            {"role": "user", "content": "Thanks."},
        ]
        third = model.generate(messages).stats
        assert third.restored_tokens >= second.prompt_tokens - 1  # came back from the stash
        assert third.evaluated_tokens < 40
    finally:
        model.close()
