"""Skill packages: loose requirements resolved for the image, locked beside the skill, cached,
offline from a lock and a wheel folder, and clear refusals (compiled, missing, conflicting)."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import pytest

from rlm_tui import skill_packages
from rlm_tui.sandbox.image import image_dir
from rlm_tui.skill_packages import (
    GUEST_ENVIRONMENT,
    LOCK_NAME,
    PackageError,
    SkillPackages,
    install,
    lock_file,
    read_pylock,
)

IMAGE_ZIP = image_dir() / "lib" / "python315.zip"


def make_wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = (), tag: str = "py3-none-any",
               requires_python: str | None = None, module: str | None = None) -> Path:
    """A tiny wheel: one module `<name>.py` with VERSION, and METADATA naming its requirements."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = name.replace("-", "_")
    path = folder / f"{dist}-{version}-{tag}.whl"
    meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    meta += [f"Requires-Dist: {r}" for r in requires]
    if requires_python:
        meta.append(f"Requires-Python: {requires_python}")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{module or dist}.py", f"VERSION = {version!r}\n")
        archive.writestr(f"{dist}-{version}.dist-info/METADATA", "\n".join(meta) + "\n")
        archive.writestr(f"{dist}-{version}.dist-info/WHEEL", f"Wheel-Version: 1.0\nTag: {tag}\n")
        archive.writestr(f"{dist}-{version}.dist-info/RECORD", "")
    return path


@pytest.fixture
def offline(tmp_path, monkeypatch) -> Path:
    """No index; a private wheel cache; returns the wheel folder named by RLM_TUI_SKILL_WHEELS."""
    cache = tmp_path / "cache"
    monkeypatch.setattr(skill_packages, "cache_dir", lambda: cache)
    monkeypatch.setenv("RLM_TUI_OFFLINE", "1")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    monkeypatch.setenv("RLM_TUI_SKILL_WHEELS", str(wheels))
    return wheels


def skill(tmp_path: Path, name: str, *requirements: str) -> SkillPackages:
    folder = tmp_path / "skills" / name
    folder.mkdir(parents=True, exist_ok=True)
    return SkillPackages(name, requirements, folder)


def installed(target: Path) -> dict[str, str]:
    """module name -> VERSION for the tiny wheels unpacked into `target`."""
    out = {}
    for module in target.glob("*.py"):
        namespace: dict = {}
        exec(module.read_text(), namespace)
        out[module.stem] = namespace["VERSION"]
    return out


def test_guest_environment_matches_the_image():
    from rlm_tui.sandbox import Sandbox

    with Sandbox(project=".") as box:
        result = box.run("from packaging.markers import default_environment\nprint(default_environment())")
    assert result.error is None
    assert eval(result.stdout) == GUEST_ENVIRONMENT


def test_transitive_resolution_with_markers_image_packages_and_a_lock(offline, tmp_path):
    make_wheel(offline, "alpha", "1.0", requires=("beta>=2",))
    make_wheel(offline, "alpha", "1.4", requires=(
        "beta>=2", "gamma; sys_platform == 'wasi'", "delta; python_version < '3.12'", "lxml>=4",
        "epsilon; extra == 'fast'"))
    make_wheel(offline, "beta", "2.0")
    make_wheel(offline, "beta", "2.5", requires_python="<3.13")  # not for the image's 3.15
    make_wheel(offline, "gamma", "0.3")
    target = tmp_path / "site"
    target.mkdir()
    s = skill(tmp_path, "alpha-skill", "alpha>=1.1")
    pins = install([s], target, IMAGE_ZIP)
    assert [(p.name, p.version) for p in pins] == [("alpha", "1.4"), ("beta", "2.0"), ("gamma", "0.3")]
    assert installed(target) == {"alpha": "1.4", "beta": "2.0", "gamma": "0.3"}
    lock = read_pylock(s.folder / LOCK_NAME)
    assert lock.requirements == ("alpha>=1.1",) and lock.from_image == {"lxml": "6.1.3"}
    digest = hashlib.sha256((offline / "alpha-1.4-py3-none-any.whl").read_bytes()).hexdigest()
    assert [p.sha256 for p in lock.pins if p.name == "alpha"] == [digest]
    # the lock is reused: a newer alpha in the folder does not change what is installed
    make_wheel(offline, "alpha", "1.9", requires=("beta>=2",))
    again = tmp_path / "again"
    again.mkdir()
    install([s], again, IMAGE_ZIP)
    assert installed(again)["alpha"] == "1.4"


def test_extras_are_followed(offline, tmp_path):
    make_wheel(offline, "alpha", "1.0", requires=("epsilon; extra == 'fast'",))
    make_wheel(offline, "epsilon", "3.0")
    target = tmp_path / "site"
    target.mkdir()
    install([skill(tmp_path, "x", "alpha[fast]")], target, IMAGE_ZIP)
    assert installed(target) == {"alpha": "1.0", "epsilon": "3.0"}


def test_offline_install_from_a_lock_and_a_wheel_folder(offline, tmp_path, monkeypatch):
    make_wheel(offline, "alpha", "1.0")
    s = skill(tmp_path, "x", "alpha")
    first = tmp_path / "first"
    first.mkdir()
    install([s], first, IMAGE_ZIP)
    # a fresh machine: no cache, only the lock beside the skill and a folder with the wheel
    monkeypatch.setattr(skill_packages, "cache_dir", lambda: tmp_path / "fresh-cache")
    carried = tmp_path / "carried"
    carried.mkdir()
    (offline / "alpha-1.0-py3-none-any.whl").rename(carried / "alpha-1.0-py3-none-any.whl")
    monkeypatch.setenv("RLM_TUI_SKILL_WHEELS", str(carried))
    second = tmp_path / "second"
    second.mkdir()
    install([s], second, IMAGE_ZIP)
    assert installed(second) == {"alpha": "1.0"}
    monkeypatch.setenv("RLM_TUI_SKILL_WHEELS", str(tmp_path / "empty"))
    monkeypatch.setattr(skill_packages, "cache_dir", lambda: tmp_path / "fresh-cache-2")
    with pytest.raises(PackageError, match=r"alpha-1.0-py3-none-any.whl is not in the wheel folders.*offline"):
        install([s], second, IMAGE_ZIP)


def test_a_wheel_that_does_not_match_its_locked_sha256_is_refused(offline, tmp_path, monkeypatch):
    make_wheel(offline, "alpha", "1.0")
    s = skill(tmp_path, "x", "alpha")
    install([s], tmp_path, IMAGE_ZIP)
    monkeypatch.setattr(skill_packages, "cache_dir", lambda: tmp_path / "fresh-cache")
    make_wheel(offline, "alpha", "1.0", module="evil")  # same file name, other bytes
    with pytest.raises(PackageError, match="alpha-1.0-py3-none-any.whl is not in the wheel folders"):
        install([s], tmp_path / "out", IMAGE_ZIP)


def test_compiled_only_package_is_refused_naming_it_and_suggesting_a_host_tool(offline, tmp_path):
    make_wheel(offline, "fastthing", "2.0", tag="cp315-cp315-manylinux_2_28_x86_64")
    with pytest.raises(PackageError, match=r"fastthing>=1 \(asked for by skill 'speedy'\) has compiled code.*host tool"):
        install([skill(tmp_path, "speedy", "fastthing>=1")], tmp_path, IMAGE_ZIP)


def test_missing_package_is_named(offline, tmp_path):
    with pytest.raises(PackageError, match=r"no-such-package-xyz \(asked for by skill 'typo'\) was not found"):
        install([skill(tmp_path, "typo", "no-such-package-xyz")], tmp_path, IMAGE_ZIP)


def test_conflicting_requirements_between_two_skills(offline, tmp_path):
    make_wheel(offline, "shared", "1.0")
    make_wheel(offline, "shared", "2.0")
    a, b = skill(tmp_path, "a", "shared<2"), skill(tmp_path, "b", "shared>=2")
    with pytest.raises(PackageError, match=r"package shared: shared<2 \(asked for by skill 'a'\); "
                                           r"shared>=2 \(asked for by skill 'b'\)"):
        install([a, b], tmp_path, IMAGE_ZIP)


def test_locks_that_disagree_are_resolved_together(offline, tmp_path):
    make_wheel(offline, "shared", "1.0")
    a = skill(tmp_path, "a", "shared>=1")
    install([a], tmp_path / "one", IMAGE_ZIP)  # a's lock: shared 1.0
    make_wheel(offline, "shared", "1.1")
    b = skill(tmp_path, "b", "shared>=1.1")
    target = tmp_path / "both"
    target.mkdir()
    install([a, b], target, IMAGE_ZIP)
    assert installed(target) == {"shared": "1.1"}


def test_a_requirement_against_the_images_own_package_is_refused(offline, tmp_path):
    with pytest.raises(PackageError, match=r"typing-extensions.*typing_extensions==4.12.2 \(asked for by skill 'old'\)"
                                           r".*image carries typing-extensions 4.16.0"):
        install([skill(tmp_path, "old", "typing_extensions==4.12.2")], tmp_path, IMAGE_ZIP)


def test_a_file_index_in_pep_503_html(tmp_path, monkeypatch):
    monkeypatch.setattr(skill_packages, "cache_dir", lambda: tmp_path / "cache")
    monkeypatch.delenv("RLM_TUI_OFFLINE", raising=False)
    monkeypatch.setenv("RLM_TUI_SKILL_WHEELS", "")
    files = tmp_path / "files"
    wheel = make_wheel(files, "alpha", "1.0")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    page = tmp_path / "simple" / "alpha"
    page.mkdir(parents=True)
    (page / "index.html").write_text(f'<a href="../../files/{wheel.name}#sha256={digest}">{wheel.name}</a>')
    monkeypatch.setenv("RLM_TUI_INDEX_URL", (tmp_path / "simple").as_uri())
    s = skill(tmp_path, "x", "alpha")
    target = tmp_path / "site"
    target.mkdir()
    install([s], target, IMAGE_ZIP)
    assert installed(target) == {"alpha": "1.0"}
    assert read_pylock(s.folder / LOCK_NAME).pins[0].url == wheel.as_uri()


def test_bad_requirement_text_names_the_skill_file(tmp_path):
    from rlm_tui.skills import SkillError, load_skill_dir

    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "SKILL.md").write_text("---\nname: bad\npackages: ['not a requirement!!']\n---\nbody\n")
    with pytest.raises(SkillError, match=r"SKILL.md: package 'not a requirement!!' is not a requirement"):
        load_skill_dir(folder)


# -- hashes: a --hash in the skill must match; without one, the first use is recorded -------------

class FileIndex:
    """A PEP 503 index on disk serving one wheel `tinypkg` whose module holds `content`."""

    def __init__(self, root: Path) -> None:
        self.root, self.content, self.serial = root, "VALUE = 1\n", 0
        self.links: dict[str, str] = {}  # file name -> anchor (a re-published version replaces it)

    def publish(self, version: str = "1.0") -> str:
        self.serial += 1
        files = self.root / "files" / str(self.serial)
        files.mkdir(parents=True)
        wheel = files / f"tinypkg-{version}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(zipfile.ZipInfo("tinypkg.py", (2020, 1, 1, 0, 0, 0)), self.content)
            archive.writestr(f"tinypkg-{version}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: tinypkg\nVersion: {version}\n")
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        page = self.root / "simple" / "tinypkg"
        page.mkdir(parents=True, exist_ok=True)
        self.links[wheel.name] = f'<a href="{wheel.as_uri()}#sha256={digest}">{wheel.name}</a>'
        (page / "index.html").write_text("\n".join(self.links.values()))
        return digest


@pytest.fixture
def index(tmp_path, monkeypatch) -> FileIndex:
    monkeypatch.setattr(skill_packages, "cache_dir", lambda: tmp_path / "cache")  # never the shared cache
    monkeypatch.delenv("RLM_TUI_OFFLINE", raising=False)
    monkeypatch.setenv("RLM_TUI_SKILL_WHEELS", "")
    fake = FileIndex(tmp_path / "index")
    monkeypatch.setenv("RLM_TUI_INDEX_URL", (fake.root / "simple").as_uri())
    return fake


def test_requirements_parse_with_and_without_hashes():
    from rlm_tui.skill_packages import pinned_hashes, split_hashes

    digest = "ab" * 32
    assert split_hashes("six==1.16.0") == ("six==1.16.0", ())
    assert split_hashes(f"six>=1 --hash=sha256:{digest} --hash=sha256:{'CD' * 32}") == ("six>=1", (digest, "cd" * 32))
    assert pinned_hashes([f"Six==1 --hash=sha256:{digest}", "other"]) == {"six": {digest}}
    for bad in (f"six==1 --hash=md5:{digest}", "six==1 --hash=sha256:abc", "six >= one two"):
        with pytest.raises(PackageError):
            skill_packages.parse_requirements([bad], "SKILL.md")


def test_a_pinned_hash_must_match(index, tmp_path):
    good = index.publish("1.0")
    target = tmp_path / "site"
    target.mkdir()
    install([skill(tmp_path, "a", f"tinypkg==1.0 --hash=sha256:{good}")], target, IMAGE_ZIP)
    assert (target / "tinypkg.py").read_text() == "VALUE = 1\n"
    index.content = "VALUE = 'tampered'\n"
    index.publish("2.0")
    with pytest.raises(PackageError, match="refusing package tinypkg==2.0: .* not the --hash the skill pins"):
        install([skill(tmp_path, "b", f"tinypkg==2.0 --hash=sha256:{good}")], tmp_path / "other", IMAGE_ZIP)


def test_unhashed_first_use_is_recorded_and_later_resolutions_must_match(index, tmp_path):
    digest = index.publish("1.0")
    warnings: list[str] = []
    s = skill(tmp_path, "a", "tinypkg==1.0")
    install([s], tmp_path / "one", IMAGE_ZIP, warnings.append)
    assert len(warnings) == 1 and "has no --hash: recorded sha256" in warnings[0] and str(lock_file()) in warnings[0]
    assert f"tinypkg==1.0 --hash=sha256:{digest}" in lock_file().read_text()
    install([s], tmp_path / "two", IMAGE_ZIP, warnings.append)
    assert len(warnings) == 1  # the lock and the checked wheel are reused, nothing new to report
    # the lock and the cache are lost, and the index now serves other bytes for tinypkg 1.0
    (s.folder / LOCK_NAME).unlink()
    shutil.rmtree(tmp_path / "cache")
    index.content = "VALUE = 'tampered upload'\n"
    index.publish("1.0")
    with pytest.raises(PackageError, match="refusing package tinypkg==1.0: .* recorded sha256"):
        install([s], tmp_path / "three", IMAGE_ZIP, warnings.append)


def test_a_cached_copy_of_another_wheel_is_not_used(index, tmp_path):
    index.publish("1.0")
    install([skill(tmp_path, "a", "tinypkg==1.0")], tmp_path / "one", IMAGE_ZIP)
    index.content = "VALUE = 2\n"
    new = index.publish("1.0")
    target = tmp_path / "two"
    target.mkdir()
    install([skill(tmp_path, "b", f"tinypkg==1.0 --hash=sha256:{new}")], target, IMAGE_ZIP)  # names another wheel
    assert (target / "tinypkg.py").read_text() == "VALUE = 2\n"


def test_skills_report_first_use_and_refuse_mismatches(index, tmp_path):
    from rlm_tui.engine.skill_setup import prepare_skills
    from rlm_tui.skills import SkillError

    index.publish("1.0")
    index.publish("3.0")
    project = tmp_path / "proj"
    folder = project / ".rlm" / "skills" / "pkg"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: pkg\npackages: ['tinypkg==1.0']\n---\nx\n")
    prepared = prepare_skills(project, ["pkg"], {})
    assert any("has no --hash" in note for note in prepared.notes)
    (folder / "SKILL.md").write_text(f"---\nname: pkg\npackages: ['tinypkg==3.0 --hash=sha256:{'0' * 64}']\n---\nx\n")
    with pytest.raises(SkillError, match="refusing package tinypkg==3.0"):
        prepare_skills(project, ["pkg"], {})
