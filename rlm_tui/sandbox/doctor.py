"""`rlm-tui doctor`: is the sandbox image there and intact, is the compiled module cached,
and how fast does a sandbox start and run a cell here."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rlm_tui.sandbox.image import (
    WHEEL_REQUIREMENT,
    WHEEL_SHA256,
    ImageError,
    Progress,
    image_dir,
    verify,
)

START_RUNS = 3
CELL_RUNS = 200
_CHILD = (
    "import time; t0 = time.perf_counter()\n"
    "from rlm_tui.sandbox import Sandbox\n"
    "import tempfile\n"
    "with Sandbox(tempfile.gettempdir()) as s:\n"
    "    r = s.run('print(1+1)')\n"
    "assert r.stdout == '2\\n', r\n"
    "print(f'{(time.perf_counter() - t0) * 1e3:.1f}')\n"
)


@dataclass
class DoctorReport:
    """What `doctor` found; `problems` is empty when all is well."""

    image_folder: Path
    wheel: str = WHEEL_REQUIREMENT
    wheel_sha256: str = WHEEL_SHA256
    image_ok: bool = False
    cache_file: Path | None = None
    cache_size: int | None = None
    mpl_data: Path | None = None  # matplotlib's data folder, extracted from the stdlib zip
    compiled_now: bool = False
    wasmtime_version: str = ""
    python: str = sys.version.split()[0]
    start_ms: float | None = None  # a new process: import, load the cached module, start, run print(1+1)
    start_inside_ms: float | None = None  # the same, measured inside that process (no interpreter startup)
    cell_ms: float | None = None  # a trivial cell in a live sandbox
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def format(self) -> str:
        def ms(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.1f} ms" if value >= 1 else f"{value * 1e3:.0f} µs"

        cache = "missing"
        if self.cache_file is not None:
            size = f"{self.cache_size / 2**20:.0f} MB" if self.cache_size else "?"
            cache = f"{self.cache_file} ({size}{', compiled just now' if self.compiled_now else ''})"
        lines = [
            "rlm-tui sandbox doctor",
            f"  image        {self.wheel} in {self.image_folder}",
            f"  wheel sha256 {self.wheel_sha256}",
            f"  verified     {'yes' if self.image_ok else 'NO'}",
            f"  module cache {cache}",
            f"  matplotlib   {self.mpl_data or 'data folder missing: matplotlib cannot be imported in the sandbox'}",
            f"  wasmtime     {self.wasmtime_version or '?'} (Python {self.python})",
            f"  start        {ms(self.start_ms)} in a new process ({ms(self.start_inside_ms)} after interpreter startup)",
            f"  trivial cell {ms(self.cell_ms)}",
        ]
        if sys.flags.dont_write_bytecode:
            lines.append("  note         PYTHONDONTWRITEBYTECODE is set: without cached bytecode every start "
                         "compiles wasmtime's bindings and rlm-tui from source (~0.3 s more)")
        if self.problems:
            lines.append("problems:")
            lines += [f"  - {p}" for p in self.problems]
        else:
            lines.append("all good")
        return "\n".join(lines)


def doctor_report(progress: Progress | None = None) -> DoctorReport:
    """Check the image (fetching and compiling it if needed), then measure a start and a cell."""
    report = DoctorReport(image_folder=image_dir())
    try:
        from rlm_tui.sandbox.wasm_module import shared_module, wasmtime_version

        report.wasmtime_version = wasmtime_version()
        rt = shared_module(progress)
    except (ImageError, OSError, RuntimeError) as e:
        report.problems.append(str(e))
        return report
    report.image_folder = rt.image.folder
    report.cache_file, report.compiled_now = rt.cache_file, rt.compiled_now
    report.mpl_data = rt.image.mpl_data
    report.cache_size = rt.cache_file.stat().st_size if rt.cache_file.is_file() else None
    try:
        verify(rt.image)
        report.image_ok = True
    except (ImageError, OSError) as e:
        report.problems.append(str(e))
    if report.cache_size is None:
        report.problems.append(f"the compiled module was not cached at {rt.cache_file}")
    _measure_start(report)
    _measure_cell(report)
    return report


def _measure_start(report: DoctorReport) -> None:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    walls, insides = [], []
    for _ in range(START_RUNS):
        started = time.perf_counter()
        try:
            done = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True,
                                  timeout=120, env=env, cwd=tempfile.gettempdir())
        except (OSError, subprocess.TimeoutExpired) as e:
            report.problems.append(f"a sandbox could not start in a new process: {e}")
            return
        wall = (time.perf_counter() - started) * 1e3
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            report.problems.append("a sandbox could not start in a new process: " + " / ".join(tail))
            return
        walls.append(wall)
        insides.append(float(done.stdout.strip().splitlines()[-1]))
    report.start_ms, report.start_inside_ms = min(walls), min(insides)


def _measure_cell(report: DoctorReport) -> None:
    from rlm_tui.sandbox import Sandbox, SandboxError

    try:
        with Sandbox(tempfile.gettempdir()) as sandbox:
            sandbox.run("x = 0")
            for _ in range(20):
                sandbox.run("x = x + 1")
            started = time.perf_counter()
            for _ in range(CELL_RUNS):
                sandbox.run("x = x + 1")
            report.cell_ms = (time.perf_counter() - started) * 1e3 / CELL_RUNS
    except SandboxError as e:
        report.problems.append(f"a sandbox could not run a cell: {e}")
