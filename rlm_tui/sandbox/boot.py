"""Booting the guest modules from cached bytecode.

The guest half of the sandbox is a handful of modules in the top-level `sandbox/` folder
(`GUEST_MODULES`, in load order: each imports only those before it, or lazy ones). Compiling
them inside the guest costs ~10 ms of every sandbox start, most of it. The first boot compiles
them in the guest and hands the marshalled code objects back; they are kept in memory and in
the user cache, keyed by the interpreter image and every source, and later boots load them
with `marshal.loads` instead. A lazy module is registered at boot and runs on the first use
of one of its names (`_rlm_typed`, `_rlm_state`: most cells never need them).

The exchange uses the boot requests of `rlm_tui.sandbox.protocol` (they start with a NUL
byte, which a JSON request never does), answered only while a sandbox is booting: no user
code has run yet, so nothing a cell does can reach the cache that other sandboxes boot from.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from rlm_tui.paths import cache_dir, package_data
from rlm_tui.sandbox import protocol as p
from rlm_tui.sandbox.image import WASM_SHA256, sha256

# source file -> (module name, lazy); in load order
GUEST_MODULES: dict[str, tuple[str, bool]] = {
    "door": ("_rlm_door", False),
    "variables": ("_rlm_variables", False),
    "loop": ("_rlm_loop", False),
    "images": ("_rlm_images", False),
    "typed": (p.GUEST_TYPED, True),
    "state": (p.GUEST_STATE, True),
    "functions": ("_rlm_functions", False),
    "prelude": (p.GUEST_ENTRY, False),
}
_NAMES = tuple(GUEST_MODULES)
_DIGEST = 32

BOOTSTRAP = f"""\
import marshal, sys, types, _host
code = None
data = _host.call({p.BOOT_CODE!r})
if data:
    try:
        code = marshal.loads(data)
    except Exception:
        code = None
if code is None:
    code = tuple(compile(_host.call({p.BOOT_SOURCE!r} + name.encode()).decode(), '<rlm-' + name + '>', 'exec')
                 for name in {_NAMES!r})
    _host.call({p.BOOT_KEEP!r} + marshal.dumps(code))
def lazy(module, code):
    def __getattr__(name):
        del module.__getattr__
        try:
            exec(code, module.__dict__)
        except BaseException:
            module.__getattr__ = __getattr__
            raise
        return getattr(module, name)
    module.__getattr__ = __getattr__
modules = [(types.ModuleType(name), is_lazy) for name, is_lazy in {tuple(GUEST_MODULES.values())!r}]
sys.modules.update((module.__name__, module) for module, _ in modules)
for (module, is_lazy), one in zip(modules, code, strict=True):
    lazy(module, one) if is_lazy else exec(one, module.__dict__)
"""


class BootCode:
    """The guest sources and, once a guest compiled them, their marshalled code (per process)."""

    _lock = threading.Lock()
    _sources: dict[str, bytes] | None = None
    _code: bytes | None = None
    _file: Path | None = None

    @classmethod
    def load(cls) -> None:
        with cls._lock:
            if cls._sources is not None:
                return
            folder = package_data("guest")
            sources = {name: (folder / f"{name}.py").read_bytes() for name in _NAMES}
            key = sha256(WASM_SHA256.encode() + b"\0" + b"\0".join(sources[n] for n in _NAMES)).hex()
            cls._file = cache_dir() / "prelude" / f"prelude-{key[:24]}.marshal"
            cls._code = _read(cls._file)
            cls._sources = sources

    @classmethod
    def answer(cls, request: p.BootRequest) -> bytes:
        """The reply to a boot request (`BOOT_CODE`, `BOOT_SOURCE` NAME, `BOOT_KEEP` DATA)."""
        cls.load()
        if request.what == p.BOOT_CODE and not request.data:
            return cls._code or b""
        if request.what == p.BOOT_SOURCE:
            return cls._sources.get(request.data.decode("utf-8", "replace"), b"")  # type: ignore[union-attr]
        if request.what == p.BOOT_KEEP:
            data = request.data
            with cls._lock:
                cls._code = data
            _write(cls._file, data)  # type: ignore[arg-type]
            return b"{}"
        return b""

    @classmethod
    def forget(cls) -> None:
        """Drop the cached code (after a boot that failed with it)."""
        with cls._lock:
            cls._code = None
            if cls._file is not None:
                cls._file.unlink(missing_ok=True)


def _read(path: Path) -> bytes | None:
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    digest, data = blob[:_DIGEST], blob[_DIGEST:]
    return data if data and sha256(data) == digest else None


def _write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staged = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        staged.write_bytes(sha256(data) + data)
        os.replace(staged, path)
    except OSError:
        pass  # a read-only cache only costs the compile at each start
