"""Calling wasmtime's own WASI functions from host code, on the guest's memory.

A host function that shadows a WASI import (see `wasi_filter`) often needs the real one too,
but wasmtime's WASI functions read their pointers from the *calling instance's* exported
`memory`, so Python cannot call them directly. The shim is a tiny module instantiated in the
same store (WASI's descriptor table is per store) right after the guest: it imports the real
WASI functions and the guest's memory, re-exports that memory, and exports one wrapper per
function. A wrapper called with guest pointers therefore works on guest memory, with no copy.

The module is compiled once (kept in the user cache) and loaded once per wasmtime engine.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable

import wasmtime

from rlm_tui.paths import cache_dir
from rlm_tui.sandbox.wasm_module import ENGINE_SETTINGS, wasmtime_version
from rlm_tui.sandbox.fastcall import RawFunc
from rlm_tui.sandbox.image import sha256

WASI = "wasi_snapshot_preview1"
# The host's scratch space in guest memory (allocated once per instance), for the results of
# its own calls: a filestat, a u64, a path.
SCRATCH_STAT = 0
SCRATCH_U64 = 64
SCRATCH_PATH = 128
SCRATCH_BYTES = 8192
_lock = threading.Lock()
_compiled: dict[tuple[int, tuple[str, ...]], tuple[wasmtime.Engine, wasmtime.Module]] = {}


_I, _L = "i32", "i64"
# WASI preview 1's parameter kinds (fixed by the ABI) of the functions the host shadows or calls.
# Reading them off the guest module would cost ms per process; a mismatch fails loudly anyway
# (wasmtime refuses to link an import or a shim wrapper of the wrong type).
WASI_PARAMS: dict[str, tuple[str, ...]] = {
    "fd_close": (_I,),
    "fd_filestat_get": (_I, _I),
    "fd_filestat_set_size": (_I, _L),
    "fd_prestat_dir_name": (_I, _I, _I),
    "fd_prestat_get": (_I, _I),
    "fd_pwrite": (_I, _I, _I, _L, _I),
    "fd_readdir": (_I, _I, _I, _L, _I),
    "fd_tell": (_I, _I),
    "fd_write": (_I, _I, _I, _I),
    "path_create_directory": (_I, _I, _I),
    "path_filestat_get": (_I, _I, _I, _I, _I),
    "path_link": (_I, _I, _I, _I, _I, _I, _I),
    "path_open": (_I, _I, _I, _I, _I, _L, _L, _I, _I),
    "path_remove_directory": (_I, _I, _I),
    "path_rename": (_I, _I, _I, _I, _I, _I),
    "path_symlink": (_I, _I, _I, _I, _I),
    "path_unlink_file": (_I, _I, _I),
}


def _wat(names: tuple[str, ...]) -> str:
    params = WASI_PARAMS
    lines = ["(module"]
    for name in names:
        lines.append(f'  (import "{WASI}" "{name}" (func ${name} (param {" ".join(params[name])}) (result i32)))')
    lines.append('  (import "guest" "memory" (memory $m 0))')
    lines.append('  (export "memory" (memory $m))')
    for name in names:
        args = " ".join(f"(local.get {i})" for i in range(len(params[name])))
        lines.append(f'  (func (export "{name}") (param {" ".join(params[name])}) (result i32) (call ${name} {args}))')
    lines.append(")")
    return "\n".join(lines)


def shim_module(engine: wasmtime.Engine, names: Iterable[str]) -> wasmtime.Module:
    """The compiled shim for `names`: cached per engine, and on disk beside the interpreter's
    compiled module (compiling it costs ~30 ms and ~7 MB of compiler memory in a process that
    otherwise only loads compiled code)."""
    wanted = tuple(sorted(names))
    key = (id(engine), wanted)
    with _lock:
        hit = _compiled.get(key)
        if hit is None or hit[0] is not engine:
            hit = (engine, _load(engine, _wat(wanted)))
            _compiled[key] = hit
        return hit[1]


def _load(engine: wasmtime.Engine, wat: str) -> wasmtime.Module:
    digest = sha256(f"{wasmtime_version()}|{ENGINE_SETTINGS}|{wat}".encode()).hex()
    cached = cache_dir() / "modules" / f"wasi-shim-{digest[:24]}.cwasm"
    if cached.is_file():
        try:
            return wasmtime.Module.deserialize_file(engine, str(cached))
        except wasmtime.WasmtimeError:
            cached.unlink(missing_ok=True)  # stale or corrupt: rebuild below
    module = wasmtime.Module(engine, wat)
    cached.parent.mkdir(parents=True, exist_ok=True)
    staged = cached.with_name(f".{cached.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        staged.write_bytes(module.serialize())
        os.replace(staged, cached)  # atomic: concurrent first runs cannot leave half a file
    except OSError:
        pass  # an unwritable cache only costs the compile next time
    finally:
        staged.unlink(missing_ok=True)
    return module


class RealWasi:
    """The real WASI functions named at construction, callable as `real.fd_write(ctx, ...)`
    once `bind` has instantiated the shim on the guest's memory.

    Call them only from a host function the guest called (with its caller context), as the
    guest's own import would have been."""

    def __init__(self, store: wasmtime.Store, linker: wasmtime.Linker, names: Iterable[str]) -> None:
        """`linker` has WASI defined and nothing shadowing it yet."""
        self._names = tuple(sorted(names))
        self._imports = [linker.get(store, WASI, name) for name in self._names]
        self._module = shim_module(store.engine, self._names)
        self.scratch = 0

    def __getattr__(self, name: str) -> RawFunc:  # only reached before `bind`, or for a name not asked for
        raise AttributeError(f"the real WASI {name!r} is not bound (not asked for, or before bind)")

    def bind(self, store: wasmtime.Store, memory: wasmtime.Memory, scratch: int) -> None:
        """Instantiate the shim on the guest's `memory`; `scratch` is SCRATCH_BYTES of it."""
        self.scratch = scratch
        instance = wasmtime.Instance(store, self._module, [*self._imports, memory])
        exports = instance.exports(store)
        for name in self._names:
            setattr(self, name, RawFunc(store, exports[name], WASI_PARAMS[name]))
