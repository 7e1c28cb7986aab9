"""One wasmtime store and instance of the interpreter: mounts, limits, and the calls that
cross the boundary (the `turn` export, the `host.call` door, the clock and sleep, and the
shadowed file calls of `wasi_filter` and `wasi_writes`)."""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from rlm_tui.sandbox import clock
from rlm_tui.sandbox.disk_quota import DiskQuota, DiskUsage
from rlm_tui.sandbox.fastcall import MASK32, Context, RawFunc, RawHostFunc, RawMemory, export
from rlm_tui.sandbox.wasi_filter import FileFilter, Mount
from rlm_tui.sandbox.wasi_shim import SCRATCH_BYTES, WASI, WASI_PARAMS, RealWasi
from rlm_tui.sandbox.wasi_writes import WriteGuard
from rlm_tui.sandbox.wasm_module import SharedModule, ticks

_CONTINUE = 0  # WASMTIME_UPDATE_DEADLINE_CONTINUE
_DeadlineCallback = ctypes.CFUNCTYPE(
    ctypes.c_size_t,
    ctypes.POINTER(ffi.wasmtime_context_t),
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_uint64),
    ctypes.POINTER(ctypes.c_uint8),
)


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)
def _no_finalizer(_env: int) -> None:
    return None


class GuestStopped(Exception):
    """The running code was stopped from the host (time limit or cancel); the instance is gone."""


@dataclass
class Hooks:
    """What the instance asks of its owner while guest code runs."""

    door: Callable[[bytes], bytes]  # one `_host.call` request -> reply
    wait: Callable[[float], None]  # sleep for the guest; raises clock.Interrupted to stop it
    overdue: Callable[[], tuple[str | None, float]]  # (why to stop now, or None; seconds to next check)
    stdout: Callable[[bytes], None]
    stderr: Callable[[bytes], None]


class Instance:
    """A live interpreter. Not thread-safe: one caller at a time (the `Sandbox` lock)."""

    def __init__(self, rt: SharedModule, mounts: list[Mount], env: list[tuple[str, str]], memory_bytes: int, hooks: Hooks,
                 quota: DiskQuota) -> None:
        self.hooks = hooks
        self._host_error: BaseException | None = None
        self._stop_reason: str | None = None
        store = wasmtime.Store(rt.engine)
        wasi = wasmtime.WasiConfig()
        wasi.argv = ["python"]
        wasi.env = env
        for mount in mounts:
            wasi.preopen_dir(str(mount.host), mount.guest, mount.writable)
        wasi.stdout_custom = hooks.stdout
        wasi.stderr_custom = hooks.stderr
        store.set_wasi(wasi)
        store.set_limits(memory_size=memory_bytes)
        self._deadline_cb = _DeadlineCallback(self._on_deadline)  # must outlive the store
        ffi.wasmtime_store_epoch_deadline_callback(store.ptr(), self._deadline_cb, None, _no_finalizer)
        store.set_epoch_deadline(ticks(1.0))
        self.store = store
        self._ctx = store._context()

        # Imports are made before the instance exists; the memory and `host_alloc` they use
        # are bound right after instantiation.
        self._memory = RawMemory()
        linker = wasmtime.Linker(rt.engine)
        linker.define_wasi()
        self.usage = DiskUsage(quota, [m.host for m in mounts if m.writable], hooks.stderr)
        real = RealWasi(store, linker, {*FileFilter.NEEDS, *WriteGuard.NEEDS})
        self.files = FileFilter(real, self._memory, mounts, self.usage, {1: hooks.stdout, 2: hooks.stderr})
        writes = WriteGuard(real, self._memory, self.usage, self.files)
        linker.allow_shadowing = True
        imports = [
            (WASI, "poll_oneoff", ("i32",) * 4, clock.make_poll_oneoff(self._memory, hooks.wait)),
            (WASI, "clock_time_get", ("i32", "i64", "i32"), clock.make_clock_time_get(self._memory)),
            ("host", "call", ("i32",) * 4, self._door),
        ]
        imports += [(WASI, name, WASI_PARAMS[name], impl)
                    for name, impl in {**self.files.shadows(), **writes.shadows()}.items()]
        self._host_funcs = []  # keep the callbacks alive as long as the store
        for module, name, params, impl in imports:
            func = RawHostFunc(store, params, impl, self._keep_error)
            func.define(linker, store, module, name)
            self._host_funcs.append(func)
        instance = linker.instantiate(store, rt.module)
        exports = instance.exports(store)
        self._memory.bind(export(exports, "memory", wasmtime.Memory))
        self._alloc = alloc = RawFunc(store, export(exports, "host_alloc", wasmtime.Func))
        self._turn = RawFunc(store, export(exports, "turn", wasmtime.Func))
        scratch = alloc(self._ctx, SCRATCH_BYTES) & MASK32
        if not scratch:
            raise MemoryError("the guest has no memory for the host's scratch space")
        real.bind(store, export(exports, "memory", wasmtime.Memory), scratch)
        self.files.bind(self._ctx)

    # -- calls into the guest --------------------------------------------------------------

    def turn(self, source: bytes, timeout_ticks: int | None = None) -> int:
        """Run `source` in the guest's `__main__`: 0 ok, 1 raised (traceback on stderr).

        Raises `GuestStopped` when the epoch callback stopped it, the host function's own
        exception when one failed (e.g. `clock.Interrupted`), `wasmtime.ExitTrap`, or
        `wasmtime.Trap`/`WasmtimeError` for any other trap.
        """
        self._host_error = self._stop_reason = None
        if timeout_ticks is not None:
            ffi.wasmtime_context_set_epoch_deadline(self._ctx, timeout_ticks)
        try:
            pointer = self._alloc(self._ctx, len(source)) & MASK32
            if not pointer:
                raise MemoryError("the guest has no memory left for the cell's source")
            self._memory.write(self._ctx, pointer, source)
            return self._turn(self._ctx, pointer, len(source))
        except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
            if self._stop_reason is not None:  # also when it stopped a nested call in a host function
                raise GuestStopped(self._stop_reason) from None
            if self._host_error is not None:
                error, self._host_error = self._host_error, None
                raise error from None
            raise e

    def close(self) -> None:
        self.store.close()

    # -- the guest's calls to us -----------------------------------------------------------

    def _keep_error(self, error: BaseException) -> None:
        self._host_error = error

    def _on_deadline(self, _ctx: Any, _env: Any, delta: Any, kind: Any) -> int:
        try:
            reason, next_check = self.hooks.overdue()
        except BaseException as e:  # noqa: BLE001 - never let an exception out of a C callback
            reason, next_check = f"internal error while checking the deadline: {e!r}", 0.0
        if reason is not None:
            self._stop_reason = reason
            error = ffi.wasmtime_error_new(reason.encode())
            return ctypes.cast(error, ctypes.c_void_p).value or 0
        delta[0] = ticks(next_check)
        kind[0] = _CONTINUE
        return 0

    def _door(self, ctx: Context, vals: Any) -> int:
        req, req_len, out_ptr, out_len = (vals[i].i32 & MASK32 for i in range(4))
        memory = self._memory
        reply = self.hooks.door(memory.read(ctx, req, req_len))
        pointer = self._alloc(ctx, len(reply)) & MASK32
        if not pointer:
            reply = b'{"error": {"type": "MemoryError", "message": "no guest memory for the host reply"}}'
            pointer = self._alloc(ctx, len(reply)) & MASK32
            if not pointer:
                return 1
        memory.write(ctx, pointer, reply)
        memory.write(ctx, out_ptr, pointer.to_bytes(4, "little"))
        memory.write(ctx, out_len, len(reply).to_bytes(4, "little"))
        return 0
