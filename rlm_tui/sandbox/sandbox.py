"""`Sandbox`: one persistent CPython-on-WASI session with the project mounted read-only."""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import wasmtime

from rlm_tui.paths import package_data
from rlm_tui.sandbox import clock
from rlm_tui.sandbox.engine import Runtime, Ticker, runtime, ticks
from rlm_tui.sandbox.image import Progress
from rlm_tui.sandbox.output import OutputBuffer

_I32 = wasmtime.ValType.i32()
_I64 = wasmtime.ValType.i64()
_live: weakref.WeakSet[Sandbox] = weakref.WeakSet()


class SandboxError(RuntimeError):
    """The sandbox cannot be set up or used (bad mount, closed session, broken image)."""


@dataclass(frozen=True)
class VarInfo:
    """One user variable as the UI and prompts see it."""

    name: str
    type: str
    size: int | None
    preview: str


@dataclass(frozen=True)
class CellResult:
    """What running one cell produced."""

    stdout: str
    stderr: str
    error: str | None
    duration_s: float
    variables: list[VarInfo] = field(default_factory=list)
    restarted: bool = False
    error_type: str | None = None
    submitted: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


HostFunction = Callable[..., Any]


@dataclass
class _Cell:
    """Book-keeping for the cell that is running."""

    code: str
    timeout_s: float
    started: float = field(default_factory=time.monotonic)
    host_time: float = 0.0
    error: dict[str, str] | None = None
    variables: list[VarInfo] | None = None
    submitted: dict[str, Any] | None = None

    @property
    def deadline(self) -> float:
        return self.started + self.host_time + self.timeout_s


class Sandbox:
    """A live WASM Python session: `run(code)` cells share state until `close()`.

    `project` is mounted read-only at /project, `workspace` writable at /workspace (a fresh
    temporary folder when None), `skills` read-only at /skills; /tmp is private scratch.
    `host_functions` become guest builtins that block until the host answers.
    """

    def __init__(
        self,
        project: str | Path,
        workspace: str | Path | None = None,
        skills: str | Path | None = None,
        host_functions: Mapping[str, HostFunction] | None = None,
        timeout_s: float = 30.0,
        memory_mb: int = 1024,
        output_limit: int = 64_000,
        output_fields: Sequence[str] = (),
        progress: Progress | None = None,
    ) -> None:
        self.project = _existing_dir(project, "project")
        self.skills = _existing_dir(skills, "skills") if skills is not None else None
        self._own_workspace = workspace is None
        self.workspace = Path(tempfile.mkdtemp(prefix="rlm-workspace-")) if workspace is None else _workspace(workspace)
        self._scratch = Path(tempfile.mkdtemp(prefix="rlm-tmp-"))
        self.host_functions = dict(host_functions or {})
        for name in self.host_functions:
            if not name.isidentifier() or name.startswith("_"):
                raise SandboxError(f"host function name {name!r} must be a public Python identifier")
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.output_limit = output_limit
        self.output_fields = list(output_fields)
        self.cancel_requested = threading.Event()
        self._lock = threading.Lock()
        self._runtime: Runtime = runtime(progress)
        self._cell: _Cell | None = None
        self._store: wasmtime.Store | None = None
        self._closed = False
        self._stdout = OutputBuffer(output_limit)
        self._stderr = OutputBuffer(output_limit)
        self.restarts = 0
        self._start()
        _live.add(self)

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the instance and remove the temporary folders this sandbox made."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._drop_instance()
            shutil.rmtree(self._scratch, ignore_errors=True)
            if self._own_workspace:
                shutil.rmtree(self.workspace, ignore_errors=True)

    @property
    def closed(self) -> bool:
        return self._closed

    def _start(self) -> None:
        rt = self._runtime
        store = wasmtime.Store(rt.engine)
        wasi = wasmtime.WasiConfig()
        wasi.argv = ["python"]
        wasi.env = [("HOME", "/workspace"), ("TMPDIR", "/tmp"), ("PYTHONHASHSEED", "0")]
        wasi.preopen_dir(str(rt.image.lib), "/usr/local/lib", False)
        wasi.preopen_dir(str(self.project), "/project", False)
        wasi.preopen_dir(str(self.workspace), "/workspace", True)
        wasi.preopen_dir(str(self._scratch), "/tmp", True)
        if self.skills is not None:
            wasi.preopen_dir(str(self.skills), "/skills", False)
        wasi.stdout_custom = self._stdout.write
        wasi.stderr_custom = self._stderr.write
        store.set_wasi(wasi)
        store.set_limits(memory_size=self.memory_mb << 20)
        store.set_epoch_deadline(ticks(60.0))
        instance = self._linker(rt.engine).instantiate(store, rt.module)
        exports = instance.exports(store)
        self._store = store
        self._memory: wasmtime.Memory = exports["memory"]
        self._alloc: wasmtime.Func = exports["host_alloc"]
        self._turn: wasmtime.Func = exports["turn"]
        self._boot()

    def _linker(self, engine: wasmtime.Engine) -> wasmtime.Linker:
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        linker.allow_shadowing = True
        linker.define_func(
            "wasi_snapshot_preview1", "poll_oneoff", wasmtime.FuncType([_I32] * 4, [_I32]),
            clock.make_poll_oneoff(self._wait), access_caller=True,
        )
        linker.define_func(
            "wasi_snapshot_preview1", "clock_time_get", wasmtime.FuncType([_I32, _I64, _I32], [_I32]),
            clock.clock_time_get, access_caller=True,
        )
        linker.define_func("host", "call", wasmtime.FuncType([_I32] * 4, [_I32]), self._door, access_caller=True)
        return linker

    def _boot(self) -> None:
        source = (package_data("sandbox") / "prelude.py").read_text()
        functions = {name: (fn.__doc__ or "") for name, fn in self.host_functions.items()}
        boot = (
            "__import__('sys').modules.__setitem__('_rlm', __import__('types').ModuleType('_rlm')) or "
            f"exec(compile({source!r}, '<rlm-prelude>', 'exec'), __import__('sys').modules['_rlm'].__dict__) or "
            f"__import__('_rlm').setup({functions!r}, {self.output_fields!r})"
        )
        self._cell = _Cell(code="", timeout_s=60.0)
        try:
            status = self._call_turn(boot)
        finally:
            self._cell = None
        if status != 0:
            raise SandboxError(f"the sandbox prelude failed to start:\n{self._stderr.take()}")
        self._stdout.take()
        self._stderr.take()

    def _drop_instance(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def _restart(self) -> None:
        self._drop_instance()
        self.restarts += 1
        self._start()

    # -- running cells ---------------------------------------------------------------------

    def run(self, code: str, timeout_s: float | None = None) -> CellResult:
        """Run one cell; state persists across calls. Never raises for guest errors."""
        if not isinstance(code, str):
            raise TypeError(f"code must be str, not {type(code).__name__}")
        with self._lock:
            if self._closed:
                raise SandboxError("this sandbox is closed")
            self.cancel_requested.clear()
            cell = self._cell = _Cell(code=code, timeout_s=timeout_s or self.timeout_s)
            self._stdout.reset()
            self._stderr.reset()
            trap: str | None = None
            try:
                self._store.set_epoch_deadline(ticks(cell.timeout_s))
                Ticker.enter()
                try:
                    self._call_turn("__import__('_rlm').run_cell()")
                finally:
                    Ticker.leave()
            except clock.Interrupted as e:
                trap = str(e)
            except wasmtime.ExitTrap as e:
                trap = f"the guest exited the interpreter (exit code {e.code})"
            except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
                trap = _describe_trap(e, cell)
            finally:
                self._cell = None
            duration = time.monotonic() - cell.started
            stdout, stderr = self._stdout.take(), self._stderr.take()
            if trap is not None:
                self._restart()
                message = f"SandboxRestarted: {trap}; the sandbox was restarted and all variables were lost"
                return CellResult(stdout, stderr, message, duration, [], True, "SandboxRestarted")
            error = cell.error
            return CellResult(
                stdout, stderr,
                None if error is None else error["text"],
                duration,
                cell.variables or [],
                False,
                None if error is None else error["type"],
                cell.submitted,
            )

    def cancel(self) -> None:
        """Ask the running cell to stop: at its next host call or sleep, or at once after 2 s."""
        self.cancel_requested.set()
        cell, store = self._cell, self._store
        if cell is not None and store is not None:
            def force() -> None:
                if self._cell is cell:
                    store.set_epoch_deadline(1)
            threading.Timer(2.0, force).start()

    def variables(self) -> list[VarInfo]:
        """A fresh snapshot of the user's variables."""
        return self.run("pass").variables

    def _call_turn(self, source: str) -> int:
        data = source.encode()
        pointer = self._alloc(self._store, len(data))
        self._memory.write(self._store, data, pointer)
        return self._turn(self._store, pointer, len(data))

    # -- host side of the guest's door -----------------------------------------------------

    def _wait(self, seconds: float) -> None:
        """Sleep for the guest, stopping at the cell's deadline or a cancel."""
        cell = self._cell
        end = time.monotonic() + seconds
        while True:
            now = time.monotonic()
            if cell is not None and now >= cell.deadline:
                raise clock.Interrupted(f"the cell ran past its {cell.timeout_s:g} s time limit (while sleeping)")
            if self.cancel_requested.is_set():
                raise clock.Interrupted("the cell was cancelled")
            if now >= end:
                return
            limit = end if cell is None else min(end, cell.deadline)
            time.sleep(min(0.05, max(0.0, limit - now)))

    def _door(self, caller: wasmtime.Caller, req: int, req_len: int, out_ptr: int, out_len: int) -> int:
        memory = caller["memory"]
        request = json.loads(bytes(memory.read(caller, req, req + req_len)))
        reply = self._answer(request)
        data = json.dumps(reply, ensure_ascii=False, default=_unjsonable).encode()
        pointer = caller["host_alloc"](caller, len(data))
        if not pointer:
            data = b'{"error": {"type": "MemoryError", "message": "no guest memory for the host reply"}}'
            pointer = caller["host_alloc"](caller, len(data))
        memory.write(caller, data, pointer)
        memory.write(caller, pointer.to_bytes(4, "little"), out_ptr)
        memory.write(caller, len(data).to_bytes(4, "little"), out_len)
        return 0

    def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        cell, op = self._cell, request.get("op")
        if op == "cell":
            return {"ok": cell.code if cell else ""}
        if op == "result" and cell is not None:
            cell.error = request["error"]
            cell.variables = [VarInfo(**row) for row in request["variables"]]
            return {"ok": None}
        if op == "submit" and cell is not None:
            cell.submitted = request["outputs"]
            return {"ok": None}
        if op == "call":
            return self._call_host(cell, request)
        return {"error": {"type": "RuntimeError", "message": f"unknown host request {op!r}"}}

    def _call_host(self, cell: _Cell | None, request: dict[str, Any]) -> dict[str, Any]:
        if self.cancel_requested.is_set():
            return {"error": {"type": "KeyboardInterrupt", "message": "the cell was cancelled"}}
        name = request["name"]
        fn = self.host_functions.get(name)
        if fn is None:
            return {"error": {"type": "NameError", "message": f"no host function {name!r}"}}
        started = time.monotonic()
        try:
            value = fn(*request.get("args", ()), **request.get("kwargs", {}))
            reply = {"ok": value}
        except Exception as e:  # every host failure reaches the guest as an exception
            reply = {"error": {"type": type(e).__name__, "message": str(e)}}
        finally:
            if cell is not None:
                cell.host_time += time.monotonic() - started
                remaining = cell.deadline - time.monotonic()
                if self._store is not None:
                    self._store.set_epoch_deadline(ticks(max(remaining, 0.0)))
        if self.cancel_requested.is_set():
            return {"error": {"type": "KeyboardInterrupt", "message": "the cell was cancelled"}}
        return reply


def _unjsonable(value: object) -> object:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"host function returned {type(value).__name__}, which cannot cross into the sandbox")


def _describe_trap(error: Exception, cell: _Cell) -> str:
    text = str(error)
    if "interrupt" in text:
        if time.monotonic() >= cell.deadline - 0.01:
            return f"the cell ran past its {cell.timeout_s:g} s time limit"
        return "the cell was cancelled"
    if "stack overflow" in text or "call stack exhausted" in text:
        return "the guest overflowed its stack (recursion too deep)"
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return f"the guest trapped ({first})"


def _existing_dir(path: str | Path, what: str) -> Path:
    resolved = Path(path).expanduser()
    if not resolved.exists():
        raise SandboxError(f"{what} path {str(path)!r} does not exist")
    if not resolved.is_dir():
        raise SandboxError(f"{what} path {str(path)!r} is not a directory")
    return resolved.resolve()


def _workspace(path: str | Path) -> Path:
    resolved = Path(path).expanduser()
    if resolved.exists() and not resolved.is_dir():
        raise SandboxError(f"workspace path {str(path)!r} is not a directory")
    resolved.mkdir(parents=True, exist_ok=True)
    return resolved.resolve()


@atexit.register
def _close_all() -> None:
    """Close live stores before interpreter teardown (wasmtime panics if finalised late)."""
    for sandbox in list(_live):
        sandbox.close()
