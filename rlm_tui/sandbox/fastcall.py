"""Lean calls across the wasm boundary, for the few functions every cell goes through.

wasmtime-py's `Func.__call__`, its host-function trampoline and `Memory.read/write` build
type objects and `Val` wrappers on every call: about half of a trivial cell's cost. The
functions here use wasmtime's *unchecked* C entry points with i32 arguments only, read and
write linear memory with one `memmove`, and hand a host function's exception back to its
own sandbox (wasmtime-py keeps the last one in a process-wide global, which two sandboxes
on two threads could mix up). Types are checked once, when the export is wrapped.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import wasmtime
from wasmtime import _ffi as ffi

if TYPE_CHECKING:
    from wasmtime._instance import InstanceExports

MASK32 = 0xFFFFFFFF
_I32 = wasmtime.ValType.i32()
_I64 = wasmtime.ValType.i64()
_TrapPtr = ctypes.POINTER(ffi.wasm_trap_t)
_Vals = ctypes.POINTER(ffi.wasmtime_val_raw_t)

Context = Any  # ctypes pointer to wasmtime_context_t (a store's, or a caller's)


E = TypeVar("E", wasmtime.Func, wasmtime.Memory)


def export(exports: InstanceExports, name: str, kind: type[E]) -> E:
    """The instance's export `name`, checked to be a `kind` (a function or a memory)."""
    item = exports[name]
    if not isinstance(item, kind):
        raise TypeError(f"the guest's export {name!r} is not a {kind.__name__}")
    return item


class RawFunc:
    """A function of i32/i64 parameters and at most one i32 result, called unchecked.

    `params` ("i32"/"i64" each), when the caller knows the type already, spares reading it
    from the function (a few hundred microseconds per instance for a dozen functions)."""

    def __init__(self, store: wasmtime.Store, func: wasmtime.Func, params: tuple[str, ...] | None = None) -> None:
        results = 1
        if params is None:
            ty = func.type(store)
            params = tuple(str(t) for t in ty.params)
            results = len(ty.results)
            if results > 1 or any(t != _I32 for t in ty.results):
                raise TypeError("RawFunc needs an i32 result")
        if any(k not in ("i32", "i64") for k in params):
            raise TypeError("RawFunc needs i32/i64 parameters")
        self._func = func  # keeps the wasmtime_func_t alive
        self._ref = ctypes.byref(func._func)
        self._wide = [k == "i64" for k in params]
        self._size = max(1, len(params), results)

    def __call__(self, ctx: Context, *args: int) -> int:
        """Call it; a trap raises `wasmtime.Trap`, an error `wasmtime.WasmtimeError`."""
        vals = (ffi.wasmtime_val_raw_t * self._size)()
        for i, value in enumerate(args):
            if self._wide[i]:
                vals[i].i64 = value
            else:
                vals[i].i32 = value
        trap = _TrapPtr()
        error = ffi.wasmtime_func_call_unchecked(ctx, self._ref, vals, self._size, ctypes.byref(trap))
        if error:
            raise wasmtime.WasmtimeError._from_ptr(error)
        if trap:
            raise wasmtime.Trap._from_ptr(trap)
        return vals[0].i32


# wasmtime's own entry points with plain-int results: half the cost of wasmtime-py's wrappers
# (which add a Python frame and a pointer cast), paid on every guest memory access.
_memory_data = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.POINTER(ffi.wasmtime_context_t),
                                ctypes.POINTER(ffi.wasmtime_memory_t))(("wasmtime_memory_data", ffi.dll))
_memory_size = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.POINTER(ffi.wasmtime_context_t),
                                ctypes.POINTER(ffi.wasmtime_memory_t))(("wasmtime_memory_data_size", ffi.dll))


class RawMemory:
    """Bounds-checked reads and writes of an exported linear memory (`bind` it once the
    instance exists; imports made before instantiation can hold it already)."""

    def __init__(self, memory: wasmtime.Memory | None = None) -> None:
        self._memory: wasmtime.Memory | None = None
        self._ref: Any = None
        if memory is not None:
            self.bind(memory)

    def bind(self, memory: wasmtime.Memory) -> None:
        self._memory = memory
        self._ref = ctypes.byref(memory._memory)

    def _base(self, ctx: Context, start: int, length: int) -> int:
        size = _memory_size(ctx, self._ref)
        if start < 0 or length < 0 or start + length > size:
            raise IndexError(f"guest memory access out of bounds ({start}+{length} > {size})")
        return _memory_data(ctx, self._ref) or 0

    def read(self, ctx: Context, start: int, length: int) -> bytes:
        return ctypes.string_at(self._base(ctx, start, length) + start, length)

    def write(self, ctx: Context, start: int, data: bytes) -> None:
        ctypes.memmove(self._base(ctx, start, len(data)) + start, data, len(data))


HostImpl = Callable[[Context, "ctypes._Pointer[ffi.wasmtime_val_raw_t]"], int]


@functools.cache
def _host_type(params: tuple[str, ...]) -> wasmtime.FuncType:
    """The type of a host function of `params` returning i32 (engine-independent, kept)."""
    return wasmtime.FuncType([_I64 if k == "i64" else _I32 for k in params], [_I32])


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)
def _no_finalizer(_env: int) -> None:
    return None


class RawHostFunc:
    """A host function returning one i32, made in one store.

    `impl(ctx, vals)` reads its arguments as `vals[i].i32` (or `.i64`) and returns the result. An
    exception it raises becomes a trap in the guest and is kept in `on_error`'s hands, so
    the caller of the export can re-raise it.
    """

    def __init__(
        self,
        store: wasmtime.Store,
        params: tuple[str, ...],
        impl: HostImpl,
        on_error: Callable[[BaseException], None],
    ) -> None:
        def callback(_env: int, caller: Any, vals: Any, _n: int) -> int:
            try:
                vals[0].i32 = impl(ffi.wasmtime_caller_context(caller), vals)
                return 0
            except BaseException as e:  # noqa: BLE001 - every failure must become a trap
                on_error(e)
                trap = wasmtime.Trap(f"host function failed: {type(e).__name__}")._consume()
                return ctypes.cast(trap, ctypes.c_void_p).value or 0

        self._callback = ffi.wasmtime_func_unchecked_callback_t(callback)  # must outlive the store
        ty = _host_type(params)
        func = ffi.wasmtime_func_t()
        ffi.wasmtime_func_new_unchecked(store._context(), ty.ptr(), self._callback, None, _no_finalizer, ctypes.byref(func))
        self.func = wasmtime.Func._from_raw(func)

    def define(self, linker: wasmtime.Linker, store: wasmtime.Store, module: str, name: str) -> None:
        linker.define(store, module, name, self.func)
