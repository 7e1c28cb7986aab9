"""Supply chain: the build backend is pinned with hashes like everything else, and the
compromised litellm releases can never resolve."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\$")


def pins(lock: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a pip lock file."""
    found: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in lock.read_text().splitlines():
        if match := PIN.match(line):
            current = match.group(1).lower()
            found[current] = (match.group(2), [])
        elif current and (h := re.search(r"--hash=sha256:([0-9a-f]{64})", line)):
            found[current][1].append(h.group(1))
    return found


def test_build_requirements_are_hashed_and_agree_with_the_lock():
    build = pins(ROOT / ".ci" / "build-requirements.lock")
    assert {"hatchling", "editables", "packaging", "pluggy", "pathspec", "tomlkit", "trove-classifiers"} <= set(build)
    assert all(hashes for _, hashes in build.values())
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    assert [f"hatchling=={build['hatchling'][0]}"] == declared
    runtime = pins(ROOT / ".ci" / "requirements.lock")
    for name in set(build) & set(runtime):
        assert build[name][0] == runtime[name][0], f"{name}: two versions in one environment"


def test_ci_installs_the_build_backend_from_the_lock_without_isolation():
    script = (ROOT / ".ci" / "test").read_text()
    assert "--require-hashes -r .ci/build-requirements.lock" in script
    assert "--no-build-isolation --no-deps -e ." in script
    readme = (ROOT / "README.md").read_text()
    assert "--require-hashes -r .ci/build-requirements.lock" in readme and "--no-build-isolation" in readme


def test_compromised_litellm_releases_never_resolve():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    litellm = next(Requirement(d) for d in deps if d.startswith("litellm"))
    for bad in ("1.82.7", "1.82.8", "1.107.0"):
        assert not litellm.specifier.contains(bad)
    locked = pins(ROOT / ".ci" / "requirements.lock")["litellm"][0]
    assert litellm.specifier.contains(locked)
