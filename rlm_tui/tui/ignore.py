"""Which project paths the Files pane and `@path` completion skip.

Always skipped: VCS folders, virtualenvs (by name or by their `pyvenv.cfg`), node_modules,
caches (`ALWAYS`). Plus every `.gitignore` of the project, nested ones included, and
`.git/info/exclude`, read with the rules of the `codebase` skill (skills/codebase/
codebase_ignore.py, loaded from the installed skill): so the Files pane, `@` completion and
the model's codebase index agree on what is ignored. A `.gitignore` is read once per folder
per filter. Links are never followed: a link is not a folder here, a linked `.gitignore` is
not read, and `walk` does not list links.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from rlm_tui.paths import package_data

ALWAYS = frozenset({
    ".git", ".hg", ".svn", ".venv", "venv", ".env", "node_modules", "__pycache__",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".nox", ".idea", ".DS_Store",
    ".cache", ".eggs", "site-packages",
})


@functools.cache
def rules_module() -> ModuleType:
    """The codebase skill's ignore rules (standard library only, shipped with rlm-tui)."""
    path = package_data("skills") / "codebase" / "codebase_ignore.py"
    spec = importlib.util.spec_from_file_location("rlm_tui._codebase_ignore", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the ignore rules from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class IgnoreFilter:
    def __init__(self, root: Path, extra: frozenset[str] = ALWAYS) -> None:
        self.root = Path(root)
        self.extra = extra
        self._rules = rules_module()
        exclude = self._read("", self.root / ".git" / "info" / "exclude")
        self._stacks: dict[str, list[Any]] = {"": self._with("", [exclude] if exclude is not None else [])}

    def _read(self, base: str, path: Path) -> Any:
        if path.is_symlink():
            return None
        return self._rules.read_rules(base, str(path))

    def _with(self, rel_dir: str, above: list[Any]) -> list[Any]:
        own = self._read(rel_dir, self.root / rel_dir / ".gitignore")
        return [*above, own] if own is not None else above

    def _stack(self, rel_dir: str) -> list[Any]:
        """The rules that apply inside folder `rel_dir` ('' for the root), root first."""
        stack = self._stacks.get(rel_dir)
        if stack is None:
            stack = self._stacks[rel_dir] = self._with(rel_dir, self._stack(rel_dir.rpartition("/")[0]))
        return stack

    def ignored(self, rel: str, is_dir: bool) -> bool:
        """`rel` is a POSIX path relative to the root (its folders are not ignored)."""
        name = rel.rsplit("/", 1)[-1]
        if name in self.extra or name.endswith(".egg-info"):
            return True
        if is_dir and os.path.lexists(self.root / rel / "pyvenv.cfg"):
            return True
        stack = self._stack(rel.rpartition("/")[0])
        return bool(stack) and bool(self._rules.ignored(stack, rel, is_dir))

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
