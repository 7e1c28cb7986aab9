"""The one fetch helper: pip download errors carry pip's words, sha256 by hashlib.file_digest,
and moves into place that never leave half an entry (and keep a racing fetch's finished one)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from rlm_tui.download import (
    DownloadError,
    ExactPin,
    move_into_place,
    parse_exact_pin,
    pip_download,
    sha256_file,
)
from rlm_tui.local.catalog import ChunkPin


def test_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"x" * (3 << 20) + b"tail")
    assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_failed_pip_download_says_what_pip_said(tmp_path: Path) -> None:
    with pytest.raises(DownloadError) as caught:
        pip_download(["--no-index", "--find-links", str(tmp_path), "no-such-package-rlm==1.0"], tmp_path, timeout=120)
    assert "no-such-package-rlm" in " ".join(caught.value.tail)
    assert "pip exited with" in str(caught.value)
    assert not list(tmp_path.iterdir())


def test_move_into_place_replaces_folders_and_files(tmp_path: Path) -> None:
    target = tmp_path / "entry"
    (target / "old").mkdir(parents=True)
    staged = tmp_path / "staged"
    (staged / "new").mkdir(parents=True)
    move_into_place(staged, target)
    assert [p.name for p in target.iterdir()] == ["new"] and not staged.exists()
    (tmp_path / "partial").write_text("2")
    (tmp_path / "final").write_text("1")
    move_into_place(tmp_path / "partial", tmp_path / "final")
    assert (tmp_path / "final").read_text() == "2" and not (tmp_path / "partial").exists()


def test_a_finished_entry_from_a_racing_fetch_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "entry"
    (target / "done").mkdir(parents=True)
    staged = tmp_path / "staged"
    (staged / "mine").mkdir(parents=True)
    move_into_place(staged, target, intact=lambda p: (p / "done").is_dir())
    assert [p.name for p in target.iterdir()] == ["done"] and not staged.exists()


HEX = "AB" * 32


def test_exact_pins_are_read_by_packaging() -> None:
    assert parse_exact_pin(f"Six == 1.16.0 --hash=sha256:{HEX}") == ExactPin("Six", "1.16.0", (HEX.lower(),))
    assert parse_exact_pin("zope.interface==6.0") == ExactPin("zope.interface", "6.0")


@pytest.mark.parametrize("text", [
    "six>=1.0", "six==1.*", "six[extra]==1.0", "six==1.0 ; python_version < '3'", "pkg==>=1", "six",
    f"six==1.0 --hash=md5:{HEX}", f"--hash=sha256:{HEX} six==1.0", "six==1.0 --hash=sha256:abc", "six @ https://x/y.whl",
])
def test_anything_but_one_exact_version_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_exact_pin(text)


def test_chunk_wheels_are_matched_by_normalised_name_and_version() -> None:
    pin = ChunkPin("My.Chunk-Pkg", "1.0", HEX)
    assert pin.is_wheel("my_chunk_pkg-1.0.0-py3-none-any.whl")
    assert not pin.is_wheel("my_chunk_pkg-1.0.1-py3-none-any.whl")
    assert not pin.is_wheel("my_chunk_pkg_extra-1.0-py3-none-any.whl") and not pin.is_wheel("garbage.whl")
