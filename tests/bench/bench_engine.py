"""Engine benchmark: batched sub-calls and per-iteration overhead, side by side with dspy.RLM.

    .venv/bin/python tests/bench/bench_engine.py

Prints, from one run:
1. 64 `llm_query_batched` prompts against the scripted server at 200 ms latency, concurrency 16
   (target ≤ 1.0 s), and the same batch through dspy.RLM's own `llm_query_batched`.
2. Engine overhead per iteration with an instant in-process LM and an empty cell (target ≤ 5 ms),
   and the same loop with the LM behind litellm's real HTTP path, for reference.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rlm_tui.config import Budget  # noqa: E402
from rlm_tui.engine.events import SubCallFinished  # noqa: E402
from rlm_tui.engine.rlm import RLM  # noqa: E402
from rlm_tui.lm.client import LM, Completion, Usage  # noqa: E402

SERVER = Path(__file__).resolve().parents[1] / "support" / "scripted_server.py"

PROMPTS = 64
LATENCY = 0.2
CONCURRENCY = 16
ITERATIONS = 60


def cell(body: str) -> str:
    return f"```python\n{body}\n```"


@contextlib.contextmanager
def server(script: dict) -> Iterator[str]:
    """The scripted server in its own process (its CPU must not count as ours); yields its URL."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(script, f)
    process = subprocess.Popen([sys.executable, str(SERVER), "--script", f.name], stdout=subprocess.PIPE, text=True)
    try:
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(10)
        os.unlink(f.name)


def ours_batch(project: Path) -> float:
    script = {"root": [cell(f"r = llm_query_batched([f'prompt {{i}}' for i in range({PROMPTS})])"),
                       cell("SUBMIT(answer=str(len(r)))")],
              "default": {"text": "an answer", "latency_s": LATENCY}}
    durations: list[float] = []

    def on_event(event: object) -> None:
        if isinstance(event, SubCallFinished) and event.function == "llm_query_batched":
            durations.append(event.duration_s)

    with server(script) as url:
        rlm = RLM(lm="openai/root", sub_lm="openai/sub", api_base=url, project=project,
                  concurrency=CONCURRENCY, on_event=on_event)
        assert rlm(question="batch").answer == str(PROMPTS)
    return durations[0]


def dspy_batch() -> float:
    import dspy

    with server({"default": {"text": "an answer", "latency_s": LATENCY}}) as url:
        sub_lm = dspy.LM("openai/sub", api_base=url, api_key="none", cache=False)
        tools = dspy.RLM("question -> answer", sub_lm=sub_lm, max_llm_calls=PROMPTS + 10)._make_llm_tools()
        started = time.perf_counter()
        answers = tools["llm_query_batched"]([f"prompt {i}" for i in range(PROMPTS)])
        elapsed = time.perf_counter() - started
    assert len(answers) == PROMPTS
    return elapsed


class InstantLM(LM):
    """An in-process LM that answers at once: empty cells, then SUBMIT."""

    def __init__(self, iterations: int) -> None:
        super().__init__("openai/instant")
        self.left = iterations

    async def acomplete(self, messages, *, on_token=None) -> Completion:
        self.left -= 1
        text = cell("pass") if self.left > 0 else cell("SUBMIT(answer='done')")
        if on_token is not None:
            on_token(text)
        return Completion(text, self.model, Usage(10, 5, 0.0, 0.0, 1))


def overhead_instant(project: Path) -> float:
    rlm = RLM(lm=InstantLM(ITERATIONS), project=project, budget=Budget(max_iterations=ITERATIONS + 1))
    started = time.perf_counter()
    prediction = rlm(question="loop")
    elapsed = time.perf_counter() - started
    assert prediction.answer == "done" and len(prediction.trajectory) == ITERATIONS
    return elapsed / ITERATIONS


def overhead_http(project: Path) -> float:
    script = {"root": [{"text": cell("pass"), "times": ITERATIONS - 1}, cell("SUBMIT(answer='done')")]}
    with server(script) as url:
        rlm = RLM(lm="openai/root", api_base=url, project=project, budget=Budget(max_iterations=ITERATIONS + 1))
        started = time.perf_counter()
        assert rlm(question="loop").answer == "done"
        return (time.perf_counter() - started) / ITERATIONS


def main() -> None:
    project = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    (project / "README.md").write_text("bench\n")
    ours_batch(project)  # warm: imports, sandbox module
    ours = statistics.median(ours_batch(project) for _ in range(3))
    theirs = statistics.median(dspy_batch() for _ in range(3))
    overhead_instant(project)
    instant = statistics.median(overhead_instant(project) for _ in range(3))
    http = statistics.median(overhead_http(project) for _ in range(3))
    print(f"{PROMPTS} batched prompts at {LATENCY * 1000:.0f} ms latency, concurrency {CONCURRENCY}:")
    print(f"  rlm-tui llm_query_batched   {ours:6.3f} s   (target <= 1.0 s)")
    print(f"  dspy.RLM llm_query_batched  {theirs:6.3f} s   (its default 8 workers)")
    print(f"  ratio dspy / rlm-tui        {theirs / ours:6.1f}x")
    print("Engine overhead per iteration (empty cell):")
    print(f"  instant in-process LM       {instant * 1000:6.2f} ms  (target <= 5 ms)")
    print(f"  through litellm HTTP        {http * 1000:6.2f} ms  (scripted server, 0 ms latency)")


if __name__ == "__main__":
    main()
