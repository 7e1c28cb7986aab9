"""Skill packages are hash-checked: a pinned --hash must match; an unhashed pin records the
wheel's hash on first use (with a warning) and every later fetch must match it."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from rlm_tui import skill_packages
from rlm_tui.runtime.skill_setup import prepare_skills
from rlm_tui.skill_packages import PackageError, fetch_package, lock_file, parse_pin
from rlm_tui.skills import SkillError


class FakeIndex:
    """Stands in for `pip download`: serves a wheel whose module holds `content`."""

    def __init__(self) -> None:
        self.content = "VALUE = 1\n"
        self.downloads = 0

    def wheel(self, folder: Path, name: str = "tinypkg", version: str = "1.0") -> Path:
        path = folder / f"{name}-{version}-py3-none-any.whl"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(zipfile.ZipInfo(f"{name}/__init__.py", (2020, 1, 1, 0, 0, 0)), self.content)
        return path

    def download(self, pin, folder: Path) -> Path:
        self.downloads += 1
        return self.wheel(folder, pin.name, pin.version)

    def sha256(self, tmp_path: Path) -> str:
        folder = tmp_path / f"probe-{self.downloads}-{len(self.content)}"
        folder.mkdir()
        return hashlib.sha256(self.wheel(folder).read_bytes()).hexdigest()


@pytest.fixture
def index(monkeypatch, tmp_path) -> FakeIndex:
    monkeypatch.setenv("RLM_TUI_CACHE_DIR", str(tmp_path / "cache"))  # never the shared package cache
    fake = FakeIndex()
    monkeypatch.setattr(skill_packages, "_download", fake.download)
    return fake


def test_pins_parse_with_and_without_hashes():
    digest = "ab" * 32
    assert parse_pin("six==1.16.0") == skill_packages.Pin("six", "1.16.0")
    assert parse_pin(f"six==1.16.0 --hash=sha256:{digest} --hash=sha256:{'CD' * 32}").hashes == (digest, "cd" * 32)
    for bad in ("six", "six>=1", f"six==1 --hash=md5:{digest}", "six==1 --hash=sha256:abc"):
        with pytest.raises(PackageError):
            parse_pin(bad)


def test_a_pinned_hash_must_match(index, tmp_path):
    good = index.sha256(tmp_path)
    site = fetch_package(f"tinypkg==1.0 --hash=sha256:{good}")
    assert (site / "tinypkg" / "__init__.py").read_text() == "VALUE = 1\n"
    index.content = "VALUE = 'tampered'\n"
    with pytest.raises(PackageError, match="not the --hash the skill pins"):
        fetch_package(f"tinypkg==2.0 --hash=sha256:{good}")


def test_unhashed_pin_is_recorded_on_first_use_and_later_fetches_must_match(index, tmp_path):
    warnings: list[str] = []
    fetch_package("tinypkg==1.0", warnings.append)
    assert len(warnings) == 1 and "recorded sha256" in warnings[0] and str(lock_file()) in warnings[0]
    assert f"tinypkg==1.0 --hash=sha256:{index.sha256(tmp_path)}" in lock_file().read_text()
    fetch_package("tinypkg==1.0", warnings.append)
    assert index.downloads == 1 and len(warnings) == 1  # the checked copy in the cache is reused
    cache = next((tmp_path / "cache" / "packages").glob("tinypkg-1.0"))
    (cache / ".complete").unlink()  # the cache is lost: fetch again...
    index.content = "VALUE = 'tampered upload'\n"
    with pytest.raises(PackageError, match="recorded sha256"):  # ...and the index now serves other bytes
        fetch_package("tinypkg==1.0", warnings.append)


def test_a_cached_copy_of_another_wheel_is_not_used(index, tmp_path):
    fetch_package("tinypkg==1.0")
    index.content = "VALUE = 2\n"
    new = index.sha256(tmp_path)
    site = fetch_package(f"tinypkg==1.0 --hash=sha256:{new}")  # the pin names another wheel: refetch
    assert index.downloads == 2 and "VALUE = 2" in (site / "tinypkg" / "__init__.py").read_text()


def test_skills_report_first_use_and_refuse_mismatches(index, tmp_path):
    project = tmp_path / "proj"
    folder = project / ".rlm" / "skills" / "pkg"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: pkg\npackages: ['tinypkg==1.0']\n---\nx\n")
    prepared = prepare_skills(project, ["pkg"], {})
    assert any("has no --hash" in note for note in prepared.notes)
    (folder / "SKILL.md").write_text(f"---\nname: pkg\npackages: ['tinypkg==3.0 --hash=sha256:{'0' * 64}']\n---\nx\n")
    with pytest.raises(SkillError, match="refusing package tinypkg==3.0"):
        prepare_skills(project, ["pkg"], {})
