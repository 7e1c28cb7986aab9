"""`Sandbox`: one persistent CPython-on-WASI session with the project mounted read-only."""

from __future__ import annotations

import atexit
import keyword
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import wasmtime

from rlm_tui.sandbox import clock
from rlm_tui.sandbox import protocol as p
from rlm_tui.sandbox.boot import BOOTSTRAP, BootCode
from rlm_tui.sandbox.checks import HostFunction, check_names, describe_trap, existing_dir, extra_mounts, workspace_dir
from rlm_tui.sandbox.checkpoint import GuestState, RestoreReport, input_encoder, json_bytes
from rlm_tui.sandbox.disk_quota import DiskQuota
from rlm_tui.sandbox.door import CANCEL_GRACE_S, CHECK_S, Cell, Door
from rlm_tui.sandbox.wasm_module import SharedModule, Ticker, shared_module, ticks
from rlm_tui.sandbox.folders import make_private, remove_tree, sweep_stale_once, warn
from rlm_tui.sandbox.image import MPL_DATA_GUEST, Progress
from rlm_tui.sandbox.instance import GuestStopped, Hooks, Instance, Mount
from rlm_tui.sandbox.output import OutputBuffer
from rlm_tui.sandbox.results import CellResult, SandboxError, SandboxRestarted, VarInfo
from rlm_tui.sandbox.tickets import HostCalls

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

T = TypeVar("T")

__all__ = ["CellResult", "DiskQuota", "HostFunction", "Sandbox", "SandboxError", "SandboxRestarted", "VarInfo"]

BOOT_TIMEOUT_S = 60.0
RESTORE_MIN_S = 5.0  # a restore gets the cell time limit, and at least this
# Put back, like host functions, when a cell replaces them. Not `Image`: `from PIL import Image`
# is a fair thing to write, and predict takes PIL images too.
GUEST_BUILTINS = ("SUBMIT", "SHOW_VARS")
_live: weakref.WeakSet[Sandbox] = weakref.WeakSet()


class Sandbox:
    """A live WASM Python session: `run(code)` cells share state until `close()`.

    `project` is mounted read-only at /project, `workspace` writable at /workspace (a fresh
    temporary folder when None), `skills` read-only at /skills; /tmp is private scratch.
    `mounts` adds read-only folders at other guest paths (`{"/inputs": host_dir}`).
    `host_functions` become guest builtins that block until the host answers; their time
    does not count against the cell's `timeout_s`; whatever a cell does to them (or to
    `SUBMIT`, `SHOW_VARS`), they are put back before and after it. Called from async code in a cell that
    uses `await`, they return awaitables instead and run on worker threads, at the same time
    as each other (`await asyncio.gather(*[f(x) for x in xs])`): host functions must be
    thread-safe. `output_fields` orders `SUBMIT`'s
    positional values and names the fields it requires. `disk_quota` bounds what /workspace
    and /tmp may hold together (default 1 GiB in 20,000 entries; enforced on the host).

    After each cell that changed them, the user's variables are checkpointed on the host (as
    the guest serialised them, bounded in size). A trap (time limit, stack overflow, hard
    cancel) restarts the instance and restores them; the cell's error says which were
    restored and which were lost.
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
        mounts: Mapping[str, str | Path] | None = None,
        disk_quota: DiskQuota | None = None,
    ) -> None:
        self.project = existing_dir(project, "project")
        self.skills = existing_dir(skills, "skills") if skills is not None else None
        self.mounts = extra_mounts(mounts or {})
        self.host_functions: dict[str, HostFunction] = {}
        self._global_functions: set[str] = set()
        check_names(host_functions or {})
        self.host_functions.update(host_functions or {})
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.output_limit = output_limit
        self.output_fields = list(output_fields)
        self.disk_quota = disk_quota if disk_quota is not None else DiskQuota()
        self.cancel_requested = threading.Event()
        self.restarts = 0
        self._lock = threading.Lock()
        self._owner: int | None = None  # thread holding the lock, to refuse re-entry from a host call
        self._instance: Instance | None = None
        self._closed = self._closing = False
        self._worker: ThreadPoolExecutor | None = None  # `in_thread`'s one thread
        self._stdout = OutputBuffer(output_limit)
        self._stderr = OutputBuffer(output_limit)
        self._calls = HostCalls()
        self._shared: SharedModule = shared_module(progress)
        self._state = GuestState()
        self._checkpoint = self._state.checkpoint
        self._door = Door(self.host_functions, self._calls, self._state, self.cancel_requested)
        sweep_stale_once()
        self._own_workspace = workspace is None
        self.workspace = make_private("workspace") if workspace is None else workspace_dir(workspace)
        self._scratch = make_private("tmp")
        try:
            self._start()
        except BaseException:
            self._remove_folders()
            raise
        _live.add(self)

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the instance and remove the temporary folders this sandbox made.

        Cleanup problems (a folder that cannot be removed) are logged, never raised: closing
        must not cost the caller the result it is about to return."""
        if self._owner == threading.get_ident() or self._calls.in_worker():
            raise SandboxError("a host function cannot close the sandbox that is calling it")
        self._closing = True
        self.cancel(grace_s=0.5)
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._worker is not None:
                self._worker.shutdown(wait=False)
            self._calls.close()
            self._drop_instance()
            self._remove_folders()

    @property
    def closed(self) -> bool:
        return self._closed

    def _remove_folders(self) -> None:
        for folder in (self._scratch, self.workspace if self._own_workspace else None):
            if folder is None:
                continue
            try:
                remove_tree(folder)
            except OSError as e:
                warn("could not remove the sandbox folder %s: %s", folder, e)

    def _mounts(self) -> list[Mount]:
        mounts = [
            Mount(self._shared.image.lib, "/usr/local/lib", False),
            Mount(self.project, "/project", False),
            Mount(self.workspace, "/workspace", True),
            Mount(self._scratch, "/tmp", True),
        ]
        if self.skills is not None:
            mounts.append(Mount(self.skills, "/skills", False))
        if self._shared.image.mpl_data is not None:  # inside the zip's path: the longest prefix wins
            mounts.append(Mount(self._shared.image.mpl_data, MPL_DATA_GUEST, False))
        mounts += [Mount(host, guest, False) for guest, host in self.mounts.items()]
        return mounts

    def _start(self) -> None:
        hooks = Hooks(self._door, self._wait, self._overdue, self._stdout.write, self._stderr.write)
        env = [("HOME", "/workspace"), ("TMPDIR", "/tmp"), ("PYTHONHASHSEED", "0"),
               ("MPLCONFIGDIR", "/tmp/matplotlib"), ("MPLBACKEND", "Agg")]
        self._instance = Instance(self._shared, self._mounts(), env, self.memory_mb << 20, hooks, self.disk_quota)
        setup = p.setup_source(self._function_docs(), self.output_fields, sorted(self._global_functions),
                               self._checkpoint.max_value)
        boot = f"exec({BOOTSTRAP!r}, {{'__builtins__': __builtins__}}) or " + setup
        self._door.booting = True
        try:
            try:
                self._guest_setup(boot, "the sandbox prelude failed to start")
            except SandboxError:
                if BootCode._code is None:
                    raise
                BootCode.forget()  # bad cached bytecode: compile from source in a fresh instance
                self._drop_instance()
                self._instance = Instance(self._shared, self._mounts(), env, self.memory_mb << 20, hooks, self.disk_quota)
                self._guest_setup(boot, "the sandbox prelude failed to start")
        finally:
            self._door.booting = False

    def _function_docs(self, names: Sequence[str] | None = None) -> dict[str, str]:
        chosen = self.host_functions if names is None else {n: self.host_functions[n] for n in names}
        return {name: (getattr(fn, "__doc__", None) or "") for name, fn in chosen.items()}

    def _guest_setup(self, source: str, what: str) -> Cell:
        """Run host-made code in the guest (no user cell); a failure is a SandboxError, and a
        trap after the boot restarts the instance and raises SandboxRestarted."""
        cell = Cell(timeout_s=BOOT_TIMEOUT_S)
        status, trap = self._turn(source, cell, CHECK_S)
        stderr = self._stderr.take()
        self._stdout.take()
        if trap is not None:
            if self._door.booting:
                raise SandboxError(f"{what}: {trap}")
            report, _ = self._restart()
            raise SandboxRestarted(f"{what}: {trap}; {report.describe()}")
        if status != 0:
            raise SandboxError(f"{what}:\n{stderr}")
        return cell

    def _turn(self, source: str, cell: Cell, first_check_s: float) -> tuple[int, str | None]:
        """Run host-made source in the guest as `cell`: (status, why the instance is gone or None)."""
        self._door.cell = cell
        Ticker.enter()
        try:
            return self._instance.turn(source.encode(), ticks(first_check_s)), None
        except (GuestStopped, clock.Interrupted) as e:
            return 1, str(e)
        except wasmtime.ExitTrap as e:
            return 1, f"the guest exited the interpreter (exit code {e.code})"
        except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
            return 1, describe_trap(e)
        except MemoryError as e:
            return 1, str(e)
        finally:
            Ticker.leave()
            self._calls.abandon()  # tickets never awaited die with their cell
            self._door.cell = None

    def _drop_instance(self) -> None:
        if self._instance is not None:
            self._instance.close()
            self._instance = None

    def _restart(self) -> tuple[RestoreReport, list[VarInfo]]:
        """A fresh instance with the checkpointed variables restored into it. A variable whose
        restore stops the instance too is dropped, and the rest are restored in another one,
        all within twice the cell limit (a cancel or close gives up on the rest at once)."""
        self.restarts += 1
        lost = dict(self._checkpoint.lost)
        restored: list[str] = []
        variables: list[VarInfo] = []
        limit = max(RESTORE_MIN_S, self.timeout_s)
        deadline = time.monotonic() + 2 * limit
        attempts = 0
        while True:
            self._drop_instance()
            self._start()
            names = self._checkpoint.names()
            if not names:
                break
            left = deadline - time.monotonic()
            if left <= 0 or self._closing or (attempts and self.cancel_requested.is_set()):
                lost.update(dict.fromkeys(names, "there was no time left to restore it"))
                self._checkpoint.forget(names)
                continue
            attempts += 1
            self._state.restoring = None
            cell = Cell(timeout_s=min(limit, left))
            status, trap = self._turn(p.restore_source(names), cell, CHECK_S)
            stderr = self._stderr.take()
            self._stdout.take()
            if trap is None and status == 0 and cell.restored is not None:
                restored, failed = cell.restored
                lost.update(failed)
                variables = cell.variables or []
                break
            bad = self._state.restoring if trap is not None and self._state.restoring in self._checkpoint.entries else None
            if bad is None:  # not one variable's fault: restore none of them
                why = trap or (stderr.strip().splitlines() or ["the restore failed"])[-1]
                lost.update(dict.fromkeys(names, f"the restore failed: {why}"))
                self._checkpoint.forget(names)
                continue
            lost[bad] = f"restoring it stopped the sandbox ({trap})"
            self._checkpoint.forget([bad])
        self._checkpoint.forget(list(lost))  # gone from the guest now
        return RestoreReport(restored, lost), variables

    # -- configuration after start ---------------------------------------------------------

    def add_host_functions(self, functions: Mapping[str, HostFunction], as_globals: bool = False) -> None:
        """Expose more host functions (or replace some) in the live guest and after restarts.

        With `as_globals` they are also bound in the guest's `__main__` (DSPy's sandbox shim
        looks tools up there); they are never listed among the user's variables.
        """
        check_names(functions)
        with self._locked():
            self.host_functions.update(functions)
            if as_globals:
                self._global_functions.update(functions)
            source = p.setup_source(self._function_docs(list(functions)), None, sorted(functions) if as_globals else [])
            self._guest_setup(source, "could not install host functions")

    def set_output_fields(self, fields: Sequence[str]) -> None:
        """Name (and order) the fields `SUBMIT` takes, in the live guest and after restarts."""
        with self._locked():
            self.output_fields = [str(f) for f in fields]
            self._guest_setup(p.setup_source({}, self.output_fields, []), "could not set SUBMIT's fields")

    def _locked(self) -> _SessionLock:
        return _SessionLock(self)

    # -- running cells ---------------------------------------------------------------------

    def run(self, code: str, timeout_s: float | None = None) -> CellResult:
        """Run one cell; state persists across calls. Never raises for guest errors."""
        if not isinstance(code, str):
            raise TypeError(f"code must be str, not {type(code).__name__}")
        with self._locked():
            self.cancel_requested.clear()
            cell = Cell(timeout_s=timeout_s or self.timeout_s)
            self._stdout.reset()
            self._stderr.reset()
            protect = sorted({*self.host_functions, *GUEST_BUILTINS})
            source = p.run_cell_source(code, protect, sorted(self._global_functions))
            status, trap = self._turn(source, cell, min(cell.timeout_s, CHECK_S))
            if trap is None and (status != 0 or cell.variables is None):  # the cell broke the runner itself
                trap = "the cell damaged the sandbox's own machinery (its result never came back)"
            duration = time.monotonic() - cell.started
            stdout, stderr = self._stdout.take(), self._stderr.take()
            if trap is not None and self._closing:
                self._drop_instance()
                return CellResult(stdout, stderr, f"SandboxClosed: the sandbox was closed while the cell ran ({trap})",
                                  duration, [], False, "SandboxClosed")
            if trap is not None:
                report, variables = self._restart()
                message = f"SandboxRestarted: {trap}; {report.describe()}"
                return CellResult(stdout, stderr, message, duration, variables, True, "SandboxRestarted",
                                  cell.submitted)
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

    async def in_thread(self, fn: Callable[..., T], /, *args: Any) -> T:
        """`fn(*args)` on this sandbox's own worker thread, made on first use.

        A cell blocks its thread while the guest waits on host calls, and serving those calls takes
        threads of the loop's default pool (name lookups, file writes, a child run's sandbox): cells
        on that pool would starve it once as many runs wait at once as it has threads. One thread
        per sandbox also keeps its calls in order."""
        import asyncio

        if self._worker is None:
            from concurrent.futures import ThreadPoolExecutor  # first use: it imports logging

            self._worker = ThreadPoolExecutor(1, thread_name_prefix="rlm-sandbox")
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)

    async def arun(self, code: str, timeout_s: float | None = None) -> CellResult:
        """`run` on the sandbox's thread; cancelling the awaiting task cancels the cell."""
        import asyncio

        task = asyncio.ensure_future(self.in_thread(self.run, code, timeout_s))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            self.cancel()
            await asyncio.wait([task])
            raise

    def cancel(self, grace_s: float = CANCEL_GRACE_S) -> None:
        """Stop the running cell, from any thread.

        Soft first: its next host call or `time.sleep` raises KeyboardInterrupt in the guest
        (state is kept). If it is still running `grace_s` later, the instance is stopped and
        restarted (`restarted` is True, state is lost).
        """
        self.cancel_requested.set()
        self._calls.wake()
        cell = self._door.cell
        if cell is not None and cell.hard_stop_at is None:
            cell.cancel_grace_s = grace_s
            cell.hard_stop_at = time.monotonic() + grace_s

    def variables(self) -> list[VarInfo]:
        """A fresh snapshot of the user's variables."""
        return self.run("pass").variables

    def set_variables(self, values: Mapping[str, Any], encode: Callable[[Any], bytes | tuple[str, bytes]] | None = None) -> list[VarInfo]:
        """Bind `values` as variables in the guest, of any size its memory allows: each value
        crosses over the door, never inside source code: a str as UTF-8, anything else as
        JSON (`encode(value)`, default `json.dumps`). A value sent before (the same object) is
        sent again only if the guest no longer holds it unchanged. Inputs survive restarts
        (they are sent again). Returns the variables after; raises SandboxError
        (SandboxRestarted when it stopped the instance)."""
        encoder = input_encoder(encode or json_bytes)
        for name in values:
            if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
                raise SandboxError(f"variable name {name!r} must be a Python identifier")
        with self._locked():
            check = self._state.stage_inputs(dict(values), encoder)
            self.cancel_requested.clear()
            self._stdout.reset()
            self._stderr.reset()
            cell = Cell(timeout_s=max(self.timeout_s, BOOT_TIMEOUT_S))
            try:
                status, trap = self._turn(p.load_variables_source(check), cell, CHECK_S)
            finally:
                self._state.pending = {}
            stderr = self._stderr.take()
            self._stdout.take()
            if trap is not None:
                report, _ = self._restart()
                raise SandboxRestarted(f"the variables could not be loaded: {trap}; {report.describe()}")
            if status != 0 or cell.variables is None:
                raise SandboxError(f"the variables could not be loaded:\n{stderr.strip()}")
            self._state.loaded(dict(values), encoder)
            return cell.variables

    # -- what the instance asks of us while guest code runs --------------------------------

    def _overdue(self) -> tuple[str | None, float]:
        cell, now = self._door.cell, time.monotonic()
        if cell is None:
            return None, CHECK_S
        if cell.hard_stop_at is not None and now >= cell.hard_stop_at:
            return "the cell was cancelled and did not stop by itself", 0.0
        remaining = cell.stop_at - now
        if remaining <= 0:
            return f"the cell ran past its {cell.timeout_s:g} s time limit", 0.0
        return None, min(remaining, CHECK_S)

    def _wait(self, seconds: float) -> None:
        """Sleep for the guest (WASI poll_oneoff): up to the deadline or a hard cancel."""
        cell = self._door.cell
        end = time.monotonic() + seconds
        while True:
            reason, _ = self._overdue()
            if reason is not None:
                raise clock.Interrupted(reason + " (while sleeping)")
            now = time.monotonic()
            if now >= end:
                return
            limit = end if cell is None else min(end, cell.stop_at)
            time.sleep(min(CHECK_S, max(0.0, limit - now)))


class _SessionLock:
    """The sandbox's lock, refusing use of a closed sandbox and re-entry from its own host call."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def __enter__(self) -> None:
        sandbox = self.sandbox
        if sandbox._owner == threading.get_ident() or sandbox._calls.in_worker():
            raise SandboxError("a host function cannot run code in the sandbox that is calling it")
        sandbox._lock.acquire()
        if sandbox._closed:
            sandbox._lock.release()
            raise SandboxError("this sandbox is closed")
        sandbox._owner = threading.get_ident()

    def __exit__(self, *exc: object) -> None:
        self.sandbox._owner = None
        self.sandbox._lock.release()


@atexit.register
def _close_all() -> None:
    """Close live stores before interpreter teardown (wasmtime panics if finalised late)."""
    for sandbox in list(_live):
        sandbox.close()
