"""Sandbox benchmark: our WASM sandbox beside DSPy's own PythonInterpreter (Pyodide under
Deno), measured in one run on this machine. Prints figures and ratios, never pass/fail.

    python tests/bench/bench_sandbox.py [--quick]

Measured for both: start in a new process (cache warm), a trivial cell (`x = x + 1`), a host
tool round trip (guest code calling a host function, as `llm_query` is), and idle memory.
Ours only: the host-side file filter and disk quota on a cell that opens 1,000 files and one
that writes 64 MiB to /workspace in 64 KiB writes.
Child processes run with bytecode caching on (a private PYTHONPYCACHEPREFIX), as after a
normal install, even where PYTHONDONTWRITEBYTECODE is set.

Deno comes from the npm registry (`npm install --prefix <dir> deno`), or from RLM_BENCH_DENO
or PATH. DSPy's runner imports deno.land's std `readLines`, which is not a registry: an
import map sends it to a small local module instead. Without Deno, only ours is printed.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

QUICK = "--quick" in sys.argv
STARTS = 3 if QUICK else 5
CELLS = 300 if QUICK else 2000
PEER_CELLS = 50 if QUICK else 200
CALLS = 200
OPENS = 1000
WRITE_CELL = ("with open('/workspace/big.bin', 'wb') as f:\n    for _ in range(1024):\n        f.write(b'x' * 65536)\n"
              "os.remove('/workspace/big.bin')")
BENCH_DIR = Path(tempfile.gettempdir()) / "rlm-tui-bench"
STD_URL = "https://deno.land/std@0.186.0/io/mod.ts"
READLINES_JS = """\
// Stand-in for deno.land/std's io/mod.ts readLines (DSPy's runner.js needs only this).
export async function* readLines(reader) {
  const decoder = new TextDecoder();
  const chunk = new Uint8Array(1 << 16);
  let buffer = "";
  while (true) {
    const n = await reader.read(chunk);
    if (n === null) break;
    buffer += decoder.decode(chunk.subarray(0, n), { stream: true });
    let at;
    while ((at = buffer.indexOf("\\n")) >= 0) {
      let line = buffer.slice(0, at);
      if (line.endsWith("\\r")) line = line.slice(0, -1);
      yield line;
      buffer = buffer.slice(at + 1);
    }
  }
  buffer += decoder.decode();
  if (buffer.length > 0) yield buffer;
}
"""

OUR_START_CHILD = """
import time; t0 = time.perf_counter()
from rlm_tui.sandbox import Sandbox
import tempfile
with Sandbox(tempfile.gettempdir()) as s:
    r = s.run('print(1+1)')
assert r.stdout == '2\\n', r
print(json.dumps({'inside_ms': (time.perf_counter() - t0) * 1e3}) if (json := __import__('json')) else '')
"""

OUR_RSS_CHILD = """
import json
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS'):
            return int(line.split()[1]) / 1024
from rlm_tui.sandbox import Sandbox
from rlm_tui.sandbox.wasm_module import shared_module
import tempfile
shared_module()
before = rss()
boxes = [Sandbox(tempfile.gettempdir())]
boxes[0].run('x = 1')
one = rss()
for _ in range(4):
    boxes.append(Sandbox(tempfile.gettempdir()))
    boxes[-1].run('x = 1')
five = rss()
print(json.dumps({'process_mb': one, 'first_mb': one - before, 'each_more_mb': (five - one) / 4}))
"""

PEER_START_CHILD = """
import json, sys, time
import dspy
from dspy.primitives.python_interpreter import PythonInterpreter
command = json.loads(sys.argv[1])
t0 = time.perf_counter()
with PythonInterpreter(deno_command=command) as interp:
    out = interp.execute('print(1+1)')
    inside = (time.perf_counter() - t0) * 1e3
    status = open(f'/proc/{interp.deno_process.pid}/status').read()
rss = {line.split(':')[0]: int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith(('VmRSS', 'VmHWM'))}
assert out.strip() == '2', out
print(json.dumps({'inside_ms': inside, 'deno_rss_mb': rss['VmRSS'], 'deno_peak_mb': rss['VmHWM']}))
"""


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(BENCH_DIR / "pycache")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env["DENO_NO_PACKAGE_JSON"] = "1"
    return env


def run_child(code: str, *args: str, timeout: float = 300) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=child_env(), timeout=timeout, cwd=tempfile.gettempdir())
    wall = (time.perf_counter() - started) * 1e3
    if done.returncode != 0:
        raise RuntimeError((done.stderr or done.stdout).strip()[-2000:])
    return wall, json.loads(done.stdout.strip().splitlines()[-1])


def median_range(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def per_op(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"median": statistics.median(ordered), "p95": ordered[int(len(ordered) * 0.95) - 1], "mean": statistics.fmean(ordered)}


# -- ours ------------------------------------------------------------------------------------


def cells_and_calls(run: Callable[[str], object], *, warmup: int, cells: int, rounds: int) -> dict:
    """Per-cell time of a trivial cell, and per-call time of a host function called from a loop."""
    run("x = 0")
    for _ in range(warmup):
        run("x = x + 1")
    times = []
    for _ in range(cells):
        t = time.perf_counter()
        run("x = x + 1")
        times.append((time.perf_counter() - t) * 1e3)
    run(f"def calls():\n    for i in range({CALLS}):\n        f(x=i)")
    run("calls()")
    per_call = []
    for _ in range(rounds):
        t = time.perf_counter()
        run("calls()")
        per_call.append((time.perf_counter() - t) * 1e3 / CALLS)
    return {"cell": per_op(times), "call": per_op(per_call)}


def bench_ours() -> dict:
    from rlm_tui.sandbox import Sandbox
    from rlm_tui.sandbox.wasm_module import shared_module

    shared_module()  # make sure the cache is warm (compiles once if it is not)
    run_child(OUR_START_CHILD)  # warm the page cache and the bytecode cache
    walls, insides = [], []
    for _ in range(STARTS):
        wall, data = run_child(OUR_START_CHILD)
        walls.append(wall)
        insides.append(data["inside_ms"])
    result: dict = {"start_wall": walls, "start_inside": insides}

    with Sandbox(tempfile.gettempdir(), host_functions={"f": lambda x: x}) as sandbox:
        result.update(cells_and_calls(sandbox.run, warmup=100, cells=CELLS, rounds=20))
    project = BENCH_DIR / "opens"
    project.mkdir(parents=True, exist_ok=True)
    for i in range(OPENS):
        (project / f"f{i}.txt").write_text("x")
    with Sandbox(project) as sandbox:
        sandbox.run("import os")
        opens, writes = [], []
        for _ in range(5 if QUICK else 15):
            t = time.perf_counter()
            assert sandbox.run(f"for i in range({OPENS}):\n    open(f'f{{i}}.txt').close()").ok
            opens.append((time.perf_counter() - t) * 1e3)
            t = time.perf_counter()
            assert sandbox.run(WRITE_CELL).ok
            writes.append((time.perf_counter() - t) * 1e3)
        result["opens"], result["writes"] = per_op(opens), per_op(writes)
    _, result["rss"] = run_child(OUR_RSS_CHILD)
    return result


# -- the peer: DSPy's PythonInterpreter ------------------------------------------------------


def find_deno() -> str | None:
    given = os.environ.get("RLM_BENCH_DENO") or shutil.which("deno")
    if given:
        return given
    local = BENCH_DIR / "deno" / "node_modules" / ".bin" / "deno"
    if local.exists():
        return str(local)
    npm = shutil.which("npm")
    if npm is None:
        return None
    print("  installing Deno from the npm registry (npm install deno)…", flush=True)
    done = subprocess.run([npm, "install", "--prefix", str(BENCH_DIR / "deno"), "deno"],
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0 or not local.exists():
        print(f"  npm install deno failed: {(done.stderr or done.stdout).strip()[-500:]}")
        return None
    return str(local)


def deno_command(deno: str) -> list[str]:
    """DSPy's default command, plus an import map for the std module it imports."""
    shim_dir = BENCH_DIR / "deno-std"
    shim_dir.mkdir(parents=True, exist_ok=True)
    (shim_dir / "readlines.js").write_text(READLINES_JS)
    import_map = shim_dir / "import_map.json"
    import_map.write_text(json.dumps({"imports": {STD_URL: (shim_dir / "readlines.js").as_uri()}}))
    path = os.environ.get("PATH", "")
    os.environ["PATH"] = f"{Path(deno).parent}{os.pathsep}{path}"
    from dspy.primitives.python_interpreter import PythonInterpreter

    command = list(PythonInterpreter().deno_command)
    read = next(i for i, a in enumerate(command) if a.startswith("--allow-read="))
    command[read] += f",{shim_dir}"
    command.insert(read, f"--import-map={import_map}")
    return command


def bench_peer(command: list[str]) -> dict:
    from dspy.primitives.python_interpreter import PythonInterpreter

    run_child(PEER_START_CHILD, json.dumps(command))  # fetch pyodide from npm once, warm caches
    walls, insides, rss = [], [], []
    for _ in range(STARTS):
        wall, data = run_child(PEER_START_CHILD, json.dumps(command))
        walls.append(wall)
        insides.append(data["inside_ms"])
        rss.append(data)
    result: dict = {"start_wall": walls, "start_inside": insides, "rss": rss[-1]}
    with PythonInterpreter(deno_command=command, tools={"f": lambda x: x}) as interp:
        result.update(cells_and_calls(interp.execute, warmup=20, cells=PEER_CELLS, rounds=5))
    return result


# -- report ----------------------------------------------------------------------------------


def main() -> None:
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    import wasmtime  # noqa: F401 - only to name its version

    from rlm_tui.sandbox.wasm_module import wasmtime_version

    print(f"rlm-tui sandbox benchmark  ({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, "
          f"Python {sys.version.split()[0]}, wasmtime {wasmtime_version()})")
    print("measuring ours…", flush=True)
    ours = bench_ours()
    peer, why = None, None
    print("measuring DSPy's PythonInterpreter (Pyodide under Deno)…", flush=True)
    try:
        deno = find_deno()
        if deno is None:
            why = "Deno is not available (no RLM_BENCH_DENO, no deno on PATH, no npm to install it)"
        else:
            peer = bench_peer(deno_command(deno))
    except Exception as e:  # noqa: BLE001 - report and go on with ours
        why = f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
    print(f"load after: {os.getloadavg()[0]:.2f}\n")

    def ratio(theirs: float, mine: float) -> str:
        return f"{theirs / mine:6.1f}x" if peer else ""

    rows = [
        ("start, new process, wall (ms)", median_range(ours["start_wall"]), peer and median_range(peer["start_wall"]),
         peer and ratio(statistics.median(peer["start_wall"]), statistics.median(ours["start_wall"]))),
        ("start, inside the process (ms)", median_range(ours["start_inside"]), peer and median_range(peer["start_inside"]),
         peer and ratio(statistics.median(peer["start_inside"]), statistics.median(ours["start_inside"]))),
        ("trivial cell, median (ms)", f"{ours['cell']['median']:.3f} (p95 {ours['cell']['p95']:.3f})",
         peer and f"{peer['cell']['median']:.3f} (p95 {peer['cell']['p95']:.3f})",
         peer and ratio(peer["cell"]["median"], ours["cell"]["median"])),
        ("host tool round trip (ms)", f"{ours['call']['median']:.4f}", peer and f"{peer['call']['median']:.4f}",
         peer and ratio(peer["call"]["median"], ours["call"]["median"])),
        ("idle memory (MB)", f"{ours['rss']['process_mb']:.0f} process RSS, +{ours['rss']['each_more_mb']:.1f} per extra sandbox",
         peer and f"{peer['rss']['deno_rss_mb']:.0f} Deno RSS (peak {peer['rss']['deno_peak_mb']:.0f})",
         peer and ratio(peer["rss"]["deno_rss_mb"], ours["rss"]["process_mb"])),
    ]
    rows += [
        (f"cell opening {OPENS:,} files (ms)", f"{ours['opens']['median']:.1f} (p95 {ours['opens']['p95']:.1f})", None, None),
        ("cell writing 64 MiB, 64 KiB writes (ms)", f"{ours['writes']['median']:.1f} (p95 {ours['writes']['p95']:.1f})", None, None),
    ]
    width = max(len(r[1]) for r in rows)
    print(f"{'':40} {'ours (wasmtime + CPython/WASI)':{width}}   {'DSPy PythonInterpreter':34} {'theirs/ours'}")
    for name, mine, theirs, r in rows:
        print(f"{name:40} {mine:{width}}   {(theirs or '-'):34} {r or ''}")
    print(f"\nours: first sandbox in a process adds {ours['rss']['first_mb']:.1f} MB "
          "(mostly pages of the mapped, shared .cwasm code)")
    if peer is None:
        print(f"\nDSPy's PythonInterpreter was NOT measured: {why}")
    print("targets (issue #2): start <= 100 ms, cell <= 0.5 ms, host call <= 0.2 ms, idle <= 50 MB")


if __name__ == "__main__":
    main()
