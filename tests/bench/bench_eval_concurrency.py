"""Eval concurrency benchmark: how many RLM tasks one machine sustains at once.

    .venv/bin/python tests/bench/bench_eval_concurrency.py

The scripted LM server runs in its own process with 200 ms latency per call. Each task is a real
RLM eval task (needle, 1k tokens, rlm mode): one root call whose code makes 4 batched sub-calls
and SUBMITs, so about two round trips of LM latency plus a sandbox start and a cell. At 1, 4, 16
and 32 tasks at once it prints tasks/s, the speed-up over 1 at a time, the process's peak memory
above its baseline and that per running sandbox. Kept under 2 minutes on a 2-core machine.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from rlm_tui.config import Settings  # noqa: E402
from rlm_tui.eval.runner import EvalConfig, Runner  # noqa: E402

LATENCY = 0.2
LEVELS = (1, 4, 16, 32)
GUEST = "parts = llm_query_batched([f'part {i}' for i in range(4)])\\nSUBMIT(answer='1234567')"
SERVER = f"""
import sys, threading
sys.path.insert(0, {str(ROOT)!r})
from tests.support.scripted_server import ScriptedServer
server = ScriptedServer(latency_s={LATENCY})
server.default(lambda request: "```python\\n{GUEST}\\n```" if request["model"] == "root" else "ok")
server.start()
print(server.url, flush=True)
threading.Event().wait()
"""


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Peak:
    """The highest RSS seen while running, sampled every 20 ms."""

    def __init__(self) -> None:
        self.peak, self._stop = rss_mb(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb())

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run(url: str, concurrency: int, tasks: int) -> tuple[float, float]:
    """(seconds, peak MB above the baseline) for `tasks` tasks, `concurrency` at a time."""
    settings = Settings(model="openai/root", sub_model="openai/sub", api_base=url)
    with tempfile.TemporaryDirectory() as out:
        config = EvalConfig(model="openai/root", sub_model="openai/sub", families=["needle"], sizes=["1k"],
                            n=tasks // 2, modes=["rlm"], out=Path(out), concurrency=concurrency, traces=False,
                            context_window=50_000)
        runner = Runner(config, settings)
        base = rss_mb()
        started = time.monotonic()
        with Peak() as peak:
            results = asyncio.run(runner.run())
        elapsed = time.monotonic() - started
    errors = [r["error"] for r in results.records if r.get("error")]
    if errors or len(results.records) != tasks:
        raise SystemExit(f"benchmark tasks failed: {errors[:3]}")
    return elapsed, peak.peak - base


def main() -> None:
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip()
        run(url, 2, 2)  # warm: imports, the compiled module, litellm's first calls
        print(f"RLM eval tasks against the scripted server ({LATENCY * 1000:.0f} ms per LM call; each task: "
              f"1 root call + 4 batched sub-calls), {os.cpu_count()} cores")
        print(f"{'at once':>8} {'tasks':>6} {'seconds':>8} {'tasks/s':>8} {'speed-up':>9} {'peak MB':>8} {'MB/sandbox':>11}")
        first = None
        for level in LEVELS:
            tasks = max(8, 2 * level)
            seconds, peak = run(url, level, tasks)
            rate = tasks / seconds
            first = first or rate
            print(f"{level:>8} {tasks:>6} {seconds:>8.2f} {rate:>8.2f} {rate / first:>8.1f}x {peak:>8.0f} "
                  f"{peak / level:>11.1f}")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
