"""Trust: a project's skill host code runs only after the user has trusted that project.

A project skill's `tools.py` is imported on the host, as the user, with their API keys in the
environment: a cloned repository must not run by being opened. Its SKILL.md (text) and its
other modules (they run only inside the sandbox) need no trust; its host tools do.

What is checked is the host code of the project: every file in each `.rlm/skills/<name>/`
folder that has both SKILL.md and tools.py, recursively (tools.py can import its neighbours;
a link is hashed as its target text, plus the file's bytes when it points at a file). A
trust record, kept in the user's data folder, holds the project's resolved path and the
sha256 of all of that, so a changed, added or removed file asks again. Built-in skills and
the user's own (`~/.config/rlm-tui/skills`) are trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rlm_tui.paths import data_dir

MAX_BYTES = 64 << 20  # host code bigger than this is never trusted (hashing it would stall the start)
MAX_FILES = 5_000
PACKAGE_LOCK = "pylock.toml"  # skill_packages.LOCK_NAME
TOOLS = "tools.py"


class TrustError(ValueError):
    """The project cannot be trusted (its host code is too large to check)."""


@dataclass(frozen=True)
class HostCode:
    """A project's skill host code, as read once: what would run, everything hashed, the digest."""

    project: Path
    tools: tuple[Path, ...] = ()        # the tools.py files that would be imported
    files: tuple[Path, ...] = ()        # every file the digest covers
    digest: str | None = None           # None: nothing to trust, or too large to check
    sources: Mapping[str, bytes] = field(default_factory=dict)  # skill folder name -> its tools.py, as hashed
    too_large: bool = False

    @property
    def empty(self) -> bool:
        return not self.tools

    def relative(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.project))
        except ValueError:
            return str(path)


def skill_folders(project: Path) -> list[Path]:
    """The project's skill folders that carry host code (SKILL.md and tools.py)."""
    root = project / ".rlm" / "skills"
    if not root.is_dir():
        return []
    return [d for d in sorted(root.iterdir()) if (d / "SKILL.md").is_file() and (d / TOOLS).is_file()]


def host_code(project: Path) -> HostCode:
    """Read and hash the project's skill host code (nothing is imported)."""
    project = Path(project).resolve()
    folders = skill_folders(project)
    if not folders:
        return HostCode(project)
    digest = hashlib.sha256()
    files: list[Path] = []
    sources: dict[str, bytes] = {}
    total = 0
    for folder in folders:
        for path in _walk(folder):
            if path == folder / PACKAGE_LOCK:
                continue  # rlm-tui writes it; it only decides what runs in the sandbox
            files.append(path)
            kind, link, content = _read(path)
            total += len(content)
            if total > MAX_BYTES or len(files) > MAX_FILES:
                return HostCode(project, tuple(f / TOOLS for f in folders), tuple(files), None, {}, True)
            name = str(path.relative_to(project)).encode("utf-8", "surrogateescape")
            digest.update(b"%s\0%s\0%s\0%d\0" % (kind.encode(), name, link, len(content)))
            digest.update(content)
            if path == folder / TOOLS:
                sources[folder.name] = content
    tools = tuple(folder / TOOLS for folder in folders)
    return HostCode(project, tools, tuple(files), digest.hexdigest(), sources)


def _walk(folder: Path) -> list[Path]:
    """Every entry under `folder` but folders themselves, sorted; links to folders are not
    entered."""
    found: list[Path] = []
    pending = [folder]
    while pending:
        current = pending.pop()
        try:
            with os.scandir(current) as entries:
                listed = sorted(entries, key=lambda e: e.name)
        except OSError:
            continue
        for entry in listed:
            if entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
            else:
                found.append(Path(entry.path))
    return sorted(found)


def _read(path: Path) -> tuple[str, bytes, bytes]:
    """(kind, link target, content) of an entry: a regular file's bytes (through a link too);
    special and unreadable files by kind only, never opened in a way that could block."""
    link = b""
    if path.is_symlink():
        try:
            link = os.fsencode(os.readlink(path))
        except OSError:
            return "unreadable", b"", b""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return "unreadable", link, b""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "special", link, b""
        chunks, size = [], 0
        while size <= MAX_BYTES and (chunk := os.read(fd, 1 << 20)):
            chunks.append(chunk)
            size += len(chunk)
        return "file", link, b"".join(chunks)
    finally:
        os.close(fd)


# -- the records ---------------------------------------------------------------------------

def store_file() -> Path:
    return data_dir() / "trusted-projects.json"


def records() -> dict[str, dict]:
    """Trusted projects: resolved path -> {"sha256", "tools", "trusted_at"}."""
    try:
        data = json.loads(store_file().read_text(encoding="utf-8"))
        projects = data.get("projects", {}) if isinstance(data, dict) else {}
        return {k: v for k, v in projects.items() if isinstance(v, dict)}
    except (OSError, ValueError):
        return {}


def is_trusted(code: HostCode) -> bool:
    """True when the project has no host code, or a record matches its current digest."""
    if code.empty:
        return True
    if code.digest is None:
        return False
    return records().get(str(code.project), {}).get("sha256") == code.digest


def trust(code: HostCode) -> None:
    """Record that the user trusts this project's host code as it is now."""
    if code.too_large:
        raise TrustError(f"the skill host code of {code.project} is too large to check "
                         f"(over {MAX_BYTES >> 20} MiB or {MAX_FILES} files); it cannot be trusted")
    if code.empty:
        return
    projects = records()
    projects[str(code.project)] = {"sha256": code.digest, "tools": [code.relative(t) for t in code.tools],
                                   "trusted_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    _write(projects)


def untrust(project: Path) -> bool:
    """Forget the project's record; False when there was none."""
    projects = records()
    if projects.pop(str(Path(project).resolve()), None) is None:
        return False
    _write(projects)
    return True


def _write(projects: dict[str, dict]) -> None:
    target = store_file()
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        staged.write_text(json.dumps({"projects": projects}, indent=1), encoding="utf-8")
        os.replace(staged, target)
    finally:
        staged.unlink(missing_ok=True)
