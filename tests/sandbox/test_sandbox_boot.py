"""Booting from cached prelude bytecode: made once, reused, rebuilt when corrupt, and out of
reach of guest code. Also: the cache folders match platformdirs without importing it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rlm_tui.sandbox import Sandbox
from rlm_tui.sandbox.boot import BootCode


def _reset() -> None:
    BootCode._sources = BootCode._code = BootCode._file = None


def test_the_prelude_bytecode_is_cached_and_reused(project: Path) -> None:
    BootCode.load()
    cache = BootCode._file
    assert cache is not None
    cache.unlink(missing_ok=True)
    _reset()
    with Sandbox(project) as sandbox:
        assert sandbox.run("1 + 1").stdout == "2\n"
    assert cache.is_file()
    stamp = cache.stat().st_mtime_ns
    _reset()  # as a new process would: read from disk
    with Sandbox(project) as sandbox:
        assert sandbox.run("1 + 1").stdout == "2\n"
    assert cache.stat().st_mtime_ns == stamp


def test_a_corrupt_bytecode_cache_is_rebuilt(project: Path) -> None:
    BootCode.load()
    cache = BootCode._file
    for blob in (b"garbage", bytes(32) + b"\xe3not marshal", cache.read_bytes()[:40]):
        cache.write_bytes(blob)
        _reset()
        with Sandbox(project) as sandbox:
            assert sandbox.run("print('ok')").stdout == "ok\n"
        assert BootCode._code and cache.read_bytes()[32:] == BootCode._code


def test_guest_code_cannot_reach_the_boot_cache(project: Path) -> None:
    BootCode.load()
    before = BootCode._file.read_bytes()
    with Sandbox(project) as sandbox:
        result = sandbox.run("import _host\nprint(_host.call(b'\\0keep' + b'evil'), _host.call(b'\\0source prelude'))")
        assert result.stdout == "b'' b''\n"
    assert BootCode._file.read_bytes() == before
    assert BootCode._code == before[32:]


def test_typed_helpers_load_from_the_cached_code(project: Path) -> None:
    with Sandbox(project) as sandbox:
        result = sandbox.run("import sys\nprint(sys.modules['_rlm_typed'].type_text(list[int]))")
        assert result.stdout == "list[int]\n", result.error


@pytest.mark.parametrize("env", [{}, {"XDG_CACHE_HOME": "/x/cache", "XDG_DATA_HOME": "relative"}, {"HOME": "/home/u/"}])
def test_cache_folders_match_platformdirs(env: dict[str, str]) -> None:
    code = (
        "import sys, platformdirs\n"
        "from rlm_tui import paths\n"
        "ours = [str(paths._base(k)) for k in ('cache', 'config', 'data')]\n"
        "assert 'platformdirs' in sys.modules\n"
        "print(ours == [getattr(platformdirs, f'user_{k}_dir')('rlm-tui') for k in ('cache', 'config', 'data')])"
    )
    import os

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "RLM_TUI_HOME", "RLM_TUI_CACHE", "RLM_TUI_CONFIG", "RLM_TUI_DATA"))}
    done = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, check=True)
    assert done.stdout == "True\n"


def test_importing_the_sandbox_loads_no_platformdirs_logging_or_openssl() -> None:
    code = ("import sys\nfrom rlm_tui.sandbox import Sandbox\n"
            "print(sorted(m for m in ('platformdirs', 'logging', '_hashlib', 'concurrent.futures') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "[]\n"


def test_cached_code_that_loads_but_cannot_boot_is_dropped(project: Path) -> None:
    BootCode.load()
    BootCode._code = b"i\x01\x00\x00\x00"  # marshal of the int 1: loads fine, boots nothing
    with Sandbox(project) as sandbox:
        assert sandbox.run("print('ok')").stdout == "ok\n"
    assert BootCode._code and BootCode._code != b"i\x01\x00\x00\x00"
    assert BootCode._file.read_bytes()[32:] == BootCode._code
