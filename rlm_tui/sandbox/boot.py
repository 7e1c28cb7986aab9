"""Booting the guest prelude from cached bytecode.

Compiling `sandbox/prelude.py` inside the guest costs ~10 ms of every sandbox start, most of
it. The first boot compiles it (and `typed.py`) in the guest and hands the marshalled code
objects back; they are kept in memory and in the user cache, keyed by the interpreter image
and both sources, and later boots load them with `marshal.loads` instead.

The exchange uses raw door requests that start with a NUL byte (a JSON request never does),
answered only while a sandbox is booting: no user code has run yet, so nothing a cell does
can reach the cache that other sandboxes boot from.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from rlm_tui.paths import cache_dir, package_data
from rlm_tui.sandbox.image import WASM_SHA256, sha256

_NAMES = ("prelude", "typed", "state")
_DIGEST = 32

BOOTSTRAP = """\
import marshal, sys, types, _host
module = sys.modules['_rlm'] = types.ModuleType('_rlm')
code = None
data = _host.call(b'\\0code')
if data:
    try:
        code = marshal.loads(data)
    except Exception:
        code = None
if code is None:
    code = tuple(compile(_host.call(b'\\0source ' + name).decode(), '<rlm-' + name.decode() + '>', 'exec')
                 for name in (b'prelude', b'typed', b'state'))
    _host.call(b'\\0keep' + marshal.dumps(code))
exec(code[0], module.__dict__)
module._TYPED_CODE, module._STATE_CODE = code[1], code[2]
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
            folder = package_data("sandbox")
            sources = {name: (folder / f"{name}.py").read_bytes() for name in _NAMES}
            key = sha256(WASM_SHA256.encode() + b"\0" + b"\0".join(sources[n] for n in _NAMES)).hex()
            cls._file = cache_dir() / "prelude" / f"prelude-{key[:24]}.marshal"
            cls._code = _read(cls._file)
            cls._sources = sources

    @classmethod
    def answer(cls, request: bytes) -> bytes:
        """The reply to a boot request (`\\0code`, `\\0source NAME`, `\\0keep DATA`)."""
        cls.load()
        if request == b"\0code":
            return cls._code or b""
        if request.startswith(b"\0source "):
            return cls._sources.get(request[8:].decode(), b"")  # type: ignore[union-attr]
        if request.startswith(b"\0keep"):
            data = request[5:]
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
