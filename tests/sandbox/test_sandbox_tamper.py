"""A cache file changed after it was checked is caught at the next start without hashing it
every time: a same-size tampered stdlib or wasm is refused, a changed compiled module is
compiled again instead of loaded. Never touches the shared cache: small stand-in files."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from rlm_tui.sandbox import image, stamps, wasm_module
from rlm_tui.sandbox.image import ImageError, ensure_image


@pytest.fixture
def small_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An extracted 'image' of two small files, pinned like the real ones, in a private cache."""
    monkeypatch.setenv("RLM_TUI_CACHE_DIR", str(tmp_path / "cache"))
    files = {"python-snapshot.wasm": b"\0asm" + b"w" * 1000, "lib/python315.zip": b"z" * 2000}
    monkeypatch.setattr(image, "ARTEFACTS", {f"m/{name}": (name, hashlib.sha256(data).hexdigest())
                                             for name, data in files.items()})
    folder = image.image_dir()
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    (folder / image.MANIFEST).write_text(json.dumps({"sizes": {n: len(d) for n, d in files.items()}}))
    return folder


def hashes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    seen: list[Path] = []
    real = image.sha256_file
    monkeypatch.setattr(image, "sha256_file", lambda p: seen.append(p) or real(p))
    return seen


def test_a_same_size_tampered_stdlib_is_refused_at_start(small_image, monkeypatch):
    ensure_image()
    seen = hashes(monkeypatch)
    ensure_image()
    assert seen == [], "an unchanged image is not hashed at every start"
    stdlib = small_image / "lib" / "python315.zip"
    before = stdlib.stat()
    stdlib.write_bytes(b"Z" * 2000)  # same size
    os.utime(stdlib, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the old mtime
    with pytest.raises(ImageError, match="corrupt or was modified"):
        ensure_image()


def test_a_replaced_wasm_is_refused(small_image):
    ensure_image()
    wasm = small_image / "python-snapshot.wasm"
    staged = wasm.with_name("x")
    staged.write_bytes(b"\0asm" + b"W" * 1000)
    os.replace(staged, wasm)
    with pytest.raises(ImageError, match="python-snapshot.wasm is corrupt or was modified"):
        ensure_image()


def test_the_image_is_rehashed_once_a_day_and_after_a_benign_change(small_image, monkeypatch):
    ensure_image()
    seen = hashes(monkeypatch)
    manifest = json.loads((small_image / image.MANIFEST).read_text())
    manifest["verified"] = time.time() - image.VERIFY_EVERY_S - 1
    (small_image / image.MANIFEST).write_text(json.dumps(manifest))
    ensure_image()
    assert len(seen) == 2
    ensure_image()
    assert len(seen) == 2, "checked today: not hashed again"
    os.link(small_image / "python-snapshot.wasm", small_image.parent / "a-hard-link")  # ctime moves, bytes do not
    ensure_image()
    assert len(seen) == 4


def test_a_compiled_module_changed_on_disk_is_compiled_again_not_loaded(tmp_path, monkeypatch):
    cache = tmp_path / "python-x.cwasm"
    cache.write_bytes(b"native code" * 100)
    stamps.record(cache, hashlib.sha256(cache.read_bytes()).hexdigest())
    loaded: list[str] = []
    monkeypatch.setattr(wasm_module.wasmtime.Module, "deserialize_file", lambda _e, p: loaded.append(p) or "module")

    class Compiled:
        def serialize(self) -> bytes:
            return b"fresh native code"

    monkeypatch.setattr(wasm_module, "_compile_with_progress", lambda *_a: Compiled())
    assert wasm_module._load_module(None, None, cache, None) == ("module", False)  # unchanged: loaded
    cache.write_bytes(b"evil native!" * 100)
    said: list[str] = []
    module, compiled = wasm_module._load_module(None, None, cache, said.append)
    assert compiled and isinstance(module, Compiled) and len(loaded) == 1
    assert "changed on disk" in said[0]
    assert cache.read_bytes() == b"fresh native code" and stamps.still_recorded(cache)


def test_stamps_adopt_an_unrecorded_file_and_follow_a_benign_copy(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert stamps.still_recorded(path)  # made before sidecars existed: adopted
    copy = tmp_path / "g"
    copy.write_bytes(b"abc")
    os.replace(copy, path)  # another inode, same bytes
    assert stamps.still_recorded(path)
    path.write_bytes(b"abd")
    assert not stamps.still_recorded(path)
