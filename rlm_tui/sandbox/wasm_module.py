"""One wasmtime engine per process, the compiled interpreter module and its `.cwasm` cache,
and the epoch ticker that enforces wall-clock limits.

The `.cwasm` is native code that wasmtime loads without checking it, so its sha256 is recorded
when it is written and its file identity checked at every start (`stamps`); a changed file is
compiled again, never loaded."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import wasmtime

from rlm_tui.paths import cache_dir
from rlm_tui.sandbox import stamps
from rlm_tui.sandbox.image import Image, Progress, ensure_image, sha256

TICK_S = 0.005
WASM_STACK = 2 << 20  # the most wasmtime's public API allows
ENGINE_SETTINGS = f"exceptions=1;epoch=1;stack={WASM_STACK}"


@dataclass
class SharedModule:
    """What every sandbox in the process shares."""

    engine: wasmtime.Engine
    module: wasmtime.Module
    image: Image
    cache_file: Path
    compiled_now: bool


_lock = threading.Lock()
_shared: SharedModule | None = None


def shared_module(progress: Progress | None = None) -> SharedModule:
    """The shared engine and module, loading (or, the first time ever, compiling) it."""
    global _shared
    with _lock:
        if _shared is None:
            image = ensure_image(progress)
            engine = _make_engine()
            cache_file = module_cache_file(image)
            module, compiled = _load_module(engine, image, cache_file, progress)
            _shared = SharedModule(engine, module, image, cache_file, compiled)
            Ticker.engine = engine
        return _shared


def _make_engine() -> wasmtime.Engine:
    config = wasmtime.Config()
    config.wasm_exceptions = True
    config.epoch_interruption = True
    config.max_wasm_stack = WASM_STACK
    return wasmtime.Engine(config)


def wasmtime_version() -> str:
    """wasmtime-py's version, read off its dist-info folder (importlib.metadata costs ~15 ms
    of every start)."""
    global _version
    if _version is None:
        site = Path(wasmtime.__file__).resolve().parent.parent
        found = sorted(site.glob("wasmtime-*.dist-info"))
        if len(found) == 1:
            _version = found[0].name[len("wasmtime-"):-len(".dist-info")]
        else:
            import importlib.metadata

            _version = importlib.metadata.version("wasmtime")
    return _version


_version: str | None = None


def module_cache_file(image: Image) -> Path:
    key = sha256(f"{wasmtime_version()}|{image.sha256}|{ENGINE_SETTINGS}".encode()).hex()
    return cache_dir() / "modules" / f"python-{key[:24]}.cwasm"


def _load_module(
    engine: wasmtime.Engine, image: Image, cache_file: Path, progress: Progress | None
) -> tuple[wasmtime.Module, bool]:
    if cache_file.is_file():
        # Native code, loaded as it is: only if it is the file this process family wrote.
        if stamps.still_recorded(cache_file):
            try:
                return wasmtime.Module.deserialize_file(engine, str(cache_file)), False
            except wasmtime.WasmtimeError:
                pass  # stale or corrupt: rebuild below
        elif progress is not None:
            progress(f"The compiled sandbox {cache_file} changed on disk; compiling it again")
        cache_file.unlink(missing_ok=True)
    module = _compile_with_progress(engine, image, progress)
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    import uuid

    staged = cache_file.with_name(f".{cache_file.name}.{uuid.uuid4().hex}.tmp")
    try:
        data = module.serialize()
        with open(staged, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(staged, cache_file)  # atomic: concurrent first runs cannot leave half a file
        stamps.record(cache_file, sha256(data).hex())
    finally:
        staged.unlink(missing_ok=True)
    return module, True


def _compile_with_progress(
    engine: wasmtime.Engine, image: Image, progress: Progress | None
) -> wasmtime.Module:
    done = threading.Event()
    if progress is not None:
        started = time.monotonic()

        def tick() -> None:
            while not done.wait(1.0):
                progress(f"Compiling the Python sandbox (first run only, ~45 s)… {time.monotonic() - started:.0f} s")

        progress("Compiling the Python sandbox (first run only, ~45 s)…")
        threading.Thread(target=tick, daemon=True, name="rlm-compile-progress").start()
    try:
        return wasmtime.Module.from_file(engine, str(image.wasm))
    finally:
        done.set()


class Ticker:
    """Advances the engine's epoch every TICK_S while at least one cell is running."""

    engine: wasmtime.Engine | None = None
    _active = 0
    _cond = threading.Condition()
    _thread: threading.Thread | None = None

    @classmethod
    def enter(cls) -> None:
        with cls._cond:
            cls._active += 1
            if cls._thread is None:
                cls._thread = threading.Thread(target=cls._run, daemon=True, name="rlm-epoch-ticker")
                cls._thread.start()
            cls._cond.notify()

    @classmethod
    def leave(cls) -> None:
        with cls._cond:
            cls._active -= 1

    @classmethod
    def _run(cls) -> None:
        while True:
            with cls._cond:
                cls._cond.wait_for(lambda: cls._active > 0)
            time.sleep(TICK_S)
            if cls.engine is not None:
                cls.engine.increment_epoch()


def ticks(seconds: float) -> int:
    """Epoch ticks covering `seconds` (at least one)."""
    return max(1, int(seconds / TICK_S) + 1)

