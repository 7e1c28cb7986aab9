"""TUI benchmark: event-stream smoothness, memory with a big call tree, and start-up time.

    .venv/bin/python tests/bench/bench_tui.py [--seconds 10] [--rate 1000] [--per-iteration 500]

Prints, from one run:
1. Sub-call events fed into the running app (headless, 120x35) from a worker thread at RATE
   events/s for SECONDS, as one turn whose root iterations each run PER_ITERATION llm_query
   sub-calls (40 in flight): the longest event-loop stall (target <= 100 ms) in wall time and in
   the loop thread's own CPU time (robust to other processes on a busy machine), the p99 stall,
   the slowest UI batch, and the RSS when the call tree reaches 1,000 nodes (target <= 200 MB)
   and at the end.
2. Time to an interactive prompt: `make_app(...).run_test()` until the prompt has focus and the
   first frame is drawn, next to the same for a bare Textual app with one TextArea (ratio), and
   the real `rlm-tui` command in a pseudo-terminal until the prompt is on screen.
3. Import time of `rlm_tui.tui.app` in a fresh interpreter, and proof that litellm, dspy and
   wasmtime are not imported by it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pty
import re
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ---- 1. event stream ---------------------------------------------------------------------------
def produce(push, seconds: float, rate: int, stop: threading.Event, running: int = 40,
            per_iteration: int = 500) -> int:
    """Emit one turn at `rate` events/s: iterations of `per_iteration` sub-calls each, with up to
    `running` in flight at once (start and finish events interleaved, like a batched call)."""
    from rlm_tui.engine import events as ev

    e = dict(run_id="run")
    state = {"iteration": 0, "started": 0, "in_flight": []}

    def events():
        yield ev.RunStarted(**e, call_id="run", task="bench", inputs={"question": "bench"},
                            model="m/root", sub_model="m/sub", project="/p")
        while True:
            state["iteration"] += 1
            n, it = state["iteration"], f"it{state['iteration']}"
            yield ev.IterationStarted(**e, call_id=it, parent_id="run", iteration=n)
            yield ev.CodeCell(**e, call_id=it, parent_id="run", iteration=n, reasoning="",
                              code="answers = llm_query_batched(chunks)")
            started, in_flight = 0, []
            while started < per_iteration or in_flight:
                if started < per_iteration and len(in_flight) < running:
                    sid = f"s{n}-{started}"
                    started += 1
                    in_flight.append(sid)
                    yield ev.SubCallStarted(**e, call_id=sid, parent_id=it, function="llm_query",
                                            model="m/sub", prompt=f"chunk {started}")
                else:
                    sid = in_flight.pop(0)
                    yield ev.SubCallFinished(**e, call_id=sid, parent_id=it, function="llm_query",
                                             model="m/sub", response="ok", prompt_tokens=200,
                                             completion_tokens=10, cost_usd=0.0001)
            yield ev.CellOutput(**e, call_id=it, parent_id="run", iteration=n, stdout="done\n",
                                stderr="", error=None, duration_s=0.1)

    source = events()
    sent = 0
    t0 = time.perf_counter()
    while not stop.is_set() and time.perf_counter() - t0 < seconds:
        due = int((time.perf_counter() - t0) * rate)
        while sent < due:
            push(next(source))
            sent += 1
        time.sleep(0.002)
    return sent


async def bench_stream(seconds: float, rate: int, per_iteration: int = 500) -> None:
    from rlm_tui.config import Settings
    from rlm_tui.tui.app import make_app
    from tests.tui.fakes import FakeBackend

    tmp = Path(tempfile.mkdtemp(prefix="rlm-bench-"))
    os.environ["RLM_TUI_HOME"] = str(tmp / "home")
    project = tmp / "proj"
    project.mkdir()
    (project / "README.md").write_text("bench\n")
    app = make_app(Settings(model="m/root"), project, backend=FakeBackend(tmp / "engine"))
    async with app.run_test(size=(120, 35)) as pilot:
        while app.session is None:
            await pilot.pause(0.05)
        # time every UI batch
        batch_times: list[float] = []
        real_apply = app.main.apply

        async def timed_apply(batch):
            t = time.perf_counter()
            await real_apply(batch)
            batch_times.append(time.perf_counter() - t)

        app.main.apply = timed_apply
        stalls: list[float] = []
        rss_at_1000: list[float] = []
        stop = threading.Event()

        cpu_stalls: list[float] = []

        async def probe() -> None:
            interval = 0.01
            last, last_cpu = time.perf_counter(), time.thread_time()
            while not stop.is_set():
                await asyncio.sleep(interval)
                now, cpu = time.perf_counter(), time.thread_time()
                stalls.append(max(0.0, now - last - interval))
                cpu_stalls.append(cpu - last_cpu)  # the loop thread's own CPU: load-independent
                last, last_cpu = now, cpu
                if not rss_at_1000 and len(app.main.graph.nodes) >= 1000:
                    rss_at_1000.append(rss_mb())

        probe_task = asyncio.create_task(probe())
        rss_before = rss_mb()
        counted: list[int] = []
        producer = threading.Thread(
            target=lambda: counted.append(produce(app._on_event, seconds, rate, stop,
                                                  per_iteration=per_iteration)))
        t0 = time.perf_counter()
        producer.start()
        while producer.is_alive():
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - t0
        await app.drain_events()
        await pilot.pause(0.3)
        stop.set()
        await probe_task
        nodes = len(app.main.graph.nodes)
        tree_lines = len(app.main.calls._tree_nodes_by_call)
        print("1. event stream (headless app, 120x35)")
        print(f"   events sent           {counted[0]} in {elapsed:.1f} s = {counted[0] / elapsed:.0f}/s")
        print(f"   UI batches            {app.pump.flushes} (mean {app.pump.events / max(1, app.pump.flushes):.0f} events each)")
        iterations = sum(1 for n in app.main.graph.nodes.values() if n.kind == "iteration")
        print(f"   shape                 one turn, {iterations} iterations of {per_iteration} "
              f"llm_query sub-calls (40 in flight)")
        print(f"   longest loop stall    {max(stalls) * 1000:.1f} ms wall   (target <= 100 ms)")
        print(f"   ... in loop-thread CPU {max(cpu_stalls) * 1000:.1f} ms  "
              f"(what the stall costs without other processes competing; load now "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
        print(f"   p99 loop stall        {statistics.quantiles(stalls, n=100)[98] * 1000:.1f} ms")
        print(f"   slowest UI batch      {max(batch_times) * 1000:.1f} ms, median "
              f"{statistics.median(batch_times) * 1000:.1f} ms")
        print(f"   call-tree nodes       {nodes} (Tree widget nodes {tree_lines})")
        at_1000 = f"{rss_at_1000[0]:.0f} MB" if rss_at_1000 else "n/a"
        print(f"   RSS                   {rss_before:.0f} MB idle -> {at_1000} at 1,000 nodes "
              f"(target <= 200 MB) -> {rss_mb():.0f} MB at {nodes} nodes")


# ---- 2. time to an interactive prompt ----------------------------------------------------------
FIRST_PAINT = r"""
import time, sys, os, asyncio
t0 = time.perf_counter()
sys.path.insert(0, {root!r})
os.environ["RLM_TUI_HOME"] = {home!r}
if {bare!r}:
    from textual.app import App
    from textual.widgets import TextArea
    class Bare(App):
        def compose(self):
            yield TextArea()
    app = Bare()
    ready = lambda: isinstance(app.focused, TextArea)
else:
    from pathlib import Path
    from rlm_tui.config import Settings
    from rlm_tui.tui.app import make_app
    from tests.tui.fakes import FakeBackend
    app = make_app(Settings(model="m/root"), Path({proj!r}), backend=FakeBackend(Path({home!r})))
    ready = lambda: app.focused is app.main.prompt_area.input
async def main():
    async with app.run_test(size=(120, 35)) as pilot:
        while not ready():
            await pilot.pause(0.001)
        await pilot.pause()
        print(time.perf_counter() - t0)
asyncio.run(main())
"""


def child_env(**extra: str) -> dict[str, str]:
    """Like an installed wheel: bytecode cached (in a private folder, even when this shell sets
    PYTHONDONTWRITEBYTECODE, which would make every start compile every module from source)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "rlm-tui-bench-pycache")
    return {**env, **extra}


def first_paint(bare: bool, home: str, proj: str) -> float:
    code = FIRST_PAINT.format(root=str(ROOT), home=home, proj=proj, bare=bare)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=child_env())
    return float(out.stdout.strip().splitlines()[-1])


def rlm_tui_in_pty(home: str, proj: str, timeout: float = 20.0) -> float:
    """Start the real `rlm-tui` command in a pseudo-terminal; seconds until the prompt shows."""
    exe = Path(sys.executable).parent / "rlm-tui"
    cmd = [str(exe), proj] if exe.exists() else [sys.executable, "-m", "rlm_tui", proj]
    env = child_env(RLM_TUI_HOME=home, RLM_TUI_MODEL="openai/bench", TERM="xterm-256color",
                    COLUMNS="120", LINES="35")
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(cmd[0], cmd, env)
    t0 = time.perf_counter()
    seen = b""
    try:
        while time.perf_counter() - t0 < timeout:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    seen += os.read(fd, 65536)
                except OSError:
                    break
                plain = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", seen)
                if b"Ask about the project" in plain:
                    return time.perf_counter() - t0
        return float("nan")
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)


def bench_startup(runs: int = 5) -> None:
    tmp = tempfile.mkdtemp(prefix="rlm-bench-start-")
    proj = Path(tmp) / "proj"
    proj.mkdir()
    (proj / "README.md").write_text("x\n")
    first_paint(False, tmp, str(proj))  # warm the bytecode cache and the OS file cache
    first_paint(True, tmp, str(proj))
    rlm_tui_in_pty(tmp, str(proj))
    ours = [first_paint(False, tmp, str(proj)) for _ in range(runs)]
    bare = [first_paint(True, tmp, str(proj)) for _ in range(runs)]
    real = [rlm_tui_in_pty(tmp, str(proj)) for _ in range(runs)]
    m_ours, m_bare, m_real = statistics.median(ours), statistics.median(bare), statistics.median(real)
    print("2. time to an interactive prompt (median of", runs, "runs, including Python start-up)")
    print(f"   rlm-tui app (run_test)     {m_ours * 1000:.0f} ms")
    print(f"   bare Textual + TextArea    {m_bare * 1000:.0f} ms   ratio {m_ours / m_bare:.2f}x")
    print(f"   `rlm-tui` command in a pty {m_real * 1000:.0f} ms   (target <= 500 ms on a warm machine)")


def bench_imports(runs: int = 5) -> None:
    def wall(code: str) -> float:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                       env=child_env())
        return time.perf_counter() - t

    wall("import rlm_tui.tui.app")  # warm the bytecode cache

    app = statistics.median(wall("import rlm_tui.tui.app") for _ in range(runs))
    textual = statistics.median(wall("import textual.app") for _ in range(runs))
    empty = statistics.median(wall("pass") for _ in range(runs))
    heavy = subprocess.run(
        [sys.executable, "-c", "import sys, rlm_tui.tui.app; print([m for m in "
         "('litellm', 'dspy', 'wasmtime') if m in sys.modules])"],
        capture_output=True, text=True, check=True).stdout.strip()
    print("3. imports in a fresh interpreter (median wall time)")
    print(f"   python -c pass             {empty * 1000:.0f} ms")
    print(f"   import textual.app         {textual * 1000:.0f} ms")
    print(f"   import rlm_tui.tui.app     {app * 1000:.0f} ms   ratio to textual.app {app / textual:.2f}x")
    print(f"   heavy modules it imports   {heavy}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--per-iteration", type=int, default=500,
                        help="sub-calls per root iteration (10 s at 1,000 events/s = 5,000 calls)")
    parser.add_argument("--skip-startup", action="store_true")
    args = parser.parse_args()
    asyncio.run(bench_stream(args.seconds, args.rate, args.per_iteration))
    if not args.skip_startup:
        bench_startup()
        bench_imports()


if __name__ == "__main__":
    main()
