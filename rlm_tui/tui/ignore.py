"""Which project paths the Files pane and `@path` completion skip.

Always skipped: VCS folders, virtualenvs (by name or by their `pyvenv.cfg`), node_modules,
caches. Plus the patterns of the
project's top-level `.gitignore` (a practical subset of gitignore: `*`/`?` globs, a leading `/`
anchors, a trailing `/` means directories only, `!` re-includes, `**/` matches any depth).
Links are never followed: a link is not a folder here, and `walk` does not list links.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ALWAYS = frozenset({
    ".git", ".hg", ".svn", ".venv", "venv", ".env", "node_modules", "__pycache__",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".nox", ".idea", ".DS_Store",
    ".cache", ".eggs", "site-packages",
})


@dataclass(frozen=True)
class _Rule:
    pattern: str
    negate: bool
    dir_only: bool
    anchored: bool


class IgnoreFilter:
    def __init__(self, root: Path, extra: frozenset[str] = ALWAYS) -> None:
        self.root = Path(root)
        self.extra = extra
        self.rules = self._read(self.root / ".gitignore")

    @staticmethod
    def _read(path: Path) -> list[_Rule]:
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return []
        rules = []
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            line = line.lstrip("!")
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            anchored = line.startswith("/") or "/" in line.lstrip("*/")
            line = line.lstrip("/")
            if line.startswith("**/"):
                line, anchored = line[3:], False
            if line:
                rules.append(_Rule(line, negate, dir_only, anchored))
        return rules

    def ignored(self, rel: str, is_dir: bool) -> bool:
        """`rel` is a POSIX path relative to the root."""
        name = rel.rsplit("/", 1)[-1]
        if name in self.extra or name.endswith(".egg-info"):
            return True
        if is_dir and os.path.lexists(self.root / rel / "pyvenv.cfg"):
            return True
        result = False
        for rule in self.rules:
            if rule.dir_only and not is_dir:
                continue
            target = rel if rule.anchored else name
            if fnmatch.fnmatchcase(target, rule.pattern) or (
                    rule.anchored and fnmatch.fnmatchcase(rel, rule.pattern + "/**")):
                result = not rule.negate
        return result

    def ignored_path(self, path: Path) -> bool:
        """For watcher events: is `path` (absolute) or any folder above it ignored?"""
        try:
            rel = Path(path).relative_to(self.root)
        except ValueError:
            return False
        parts = rel.parts
        try:
            last_is_dir = stat.S_ISDIR(os.lstat(path).st_mode)
        except OSError:
            last_is_dir = False
        for i in range(len(parts)):
            sub = "/".join(parts[: i + 1])
            if self.ignored(sub, is_dir=i < len(parts) - 1 or last_is_dir):
                return True
        return False

    def walk(self, limit: int = 50_000) -> Iterator[str]:
        """Relative POSIX paths of the root's files, ignored ones skipped, at most `limit`."""
        count = 0
        stack = [""]
        while stack:
            rel_dir = stack.pop()
            try:
                entries = sorted(os.scandir(self.root / rel_dir), key=lambda d: d.name)
            except OSError:
                continue
            subdirs = []
            for entry in entries:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                is_dir = entry.is_dir(follow_symlinks=False)
                if self.ignored(rel, is_dir):
                    continue
                if is_dir:
                    subdirs.append(rel)
                elif entry.is_file(follow_symlinks=False):
                    yield rel
                    count += 1
                    if count >= limit:
                        return
            stack.extend(reversed(subdirs))
