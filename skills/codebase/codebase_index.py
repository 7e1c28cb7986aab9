"""The file index of the `codebase` skill: which files count, their texts (cached), and selection.

Runs inside the sandbox (and on the host). Standard library only. See `codebase` for the API.
"""

from __future__ import annotations

import os
import time

from codebase_ignore import SKIP_DIRS, Glob, Rules, ignored, is_binary_name, normalize, read_rules, skip_dir

MAX_FILE_BYTES = 1_000_000
CACHE_CHARS = 200_000_000  # file texts kept in memory (the sandbox has ~1 GB)


class _Index:
    def __init__(self, root: str, max_bytes: int, skip: frozenset[str], use_gitignore: bool) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.files: list[str] = []
        self.huge: list[str] = []  # text files over max_bytes: not indexed, but `find` reads them
        self.sizes: dict[str, int] = {}
        self.dirs: set[str] = {""}
        self.skipped = {"ignored": 0, "vendored": 0, "binary": 0, "huge": 0, "unreadable": 0}
        self.examples: dict[str, list[str]] = {k: [] for k in self.skipped}
        self.texts: dict[str, str | None] = {}
        self.cached_chars = 0
        self.outlines: dict[str, list[dict]] = {}
        started = time.perf_counter()
        self._walk(skip, use_gitignore)
        self.seconds = time.perf_counter() - started

    def _skip(self, why: str, rel: str) -> None:
        self.skipped[why] += 1
        if len(self.examples[why]) < 5:
            self.examples[why].append(rel)

    def _walk(self, skip: frozenset[str], use_gitignore: bool) -> None:
        root = self.root
        base_rules: list[Rules] = []
        if use_gitignore:
            exclude = read_rules("", os.path.join(root, ".git", "info", "exclude"))
            if exclude is not None:
                base_rules.append(exclude)
        stack: list[tuple[str, list[Rules]]] = [("", base_rules)]
        while stack:
            rel_dir, rules = stack.pop()
            full_dir = os.path.join(root, rel_dir) if rel_dir else root
            try:
                with os.scandir(full_dir) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError:
                self._skip("unreadable", rel_dir or ".")
                continue
            if use_gitignore and any(e.name == ".gitignore" for e in entries):
                own = read_rules(rel_dir, os.path.join(full_dir, ".gitignore"))
                if own is not None:
                    rules = [*rules, own]
            subdirs = []
            for entry in entries:
                name = entry.name
                rel = f"{rel_dir}/{name}" if rel_dir else name
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    self._skip("unreadable", rel)
                    continue
                if is_dir:
                    if skip_dir(name, entry.path, skip):
                        self._skip("vendored", rel + "/")
                    elif rules and ignored(rules, rel, True):
                        self._skip("ignored", rel + "/")
                    else:
                        subdirs.append((rel, rules))
                    continue
                if rules and ignored(rules, rel, False):
                    self._skip("ignored", rel)
                    continue
                if is_binary_name(name):
                    self._skip("binary", rel)
                    continue
                try:
                    if not entry.is_file():
                        continue
                    size = entry.stat().st_size
                except OSError:
                    self._skip("unreadable", rel)
                    continue
                if size > self.max_bytes:
                    self._skip("huge", rel)
                    self.huge.append(rel)
                    continue
                self.files.append(rel)
                self.sizes[rel] = size
            for rel, _rules in subdirs:
                self.dirs.add(rel)
            stack.extend(reversed(subdirs))
        self.files.sort()
        self.huge.sort()

    def text(self, rel: str) -> str | None:
        """The file's text (cached), or None for a binary or unreadable file."""
        cached = self.texts.get(rel, False)
        if cached is not False:
            return cached  # type: ignore[return-value]
        try:
            data = _read_bytes(os.path.join(self.root, rel), self.max_bytes + 1)
        except OSError:
            self.texts[rel] = None
            return None
        if b"\0" in data[:8192]:
            value = None
        else:
            value = data.decode("utf-8", errors="replace")
        if value is None or self.cached_chars + len(value) <= CACHE_CHARS:
            self.texts[rel] = value
            self.cached_chars += len(value or "")
        return value


def _read_bytes(path: str, limit: int) -> bytes:
    """Up to `limit` bytes; plain os.read is about twice as fast as open() in the sandbox."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        total = 0
        while total < limit:
            chunk = os.read(fd, min(limit - total, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


_current: _Index | None = None


def index(root: str = ".", *, refresh: bool = False, max_bytes: int = MAX_FILE_BYTES,
          skip_dirs: frozenset[str] | set[str] = SKIP_DIRS, gitignore: bool = True) -> dict:
    """Index the project (once; `refresh=True` rebuilds) and return `stats()`. Honours every
    `.gitignore`; skips vendored folders (`skip_dirs`), binary files and files over `max_bytes`."""
    global _current
    root = os.path.normpath(str(root))
    if refresh or _current is None or _current.root != root:
        _current = _Index(root, max_bytes, frozenset(skip_dirs), gitignore)
    return stats()


def _idx() -> _Index:
    if _current is None:
        index()
    assert _current is not None
    return _current


def stats() -> dict:
    """File count, counts by extension, what was skipped (with examples) and the index time."""
    ix = _idx()
    by_ext: dict[str, int] = {}
    for path in ix.files:
        name = path.rsplit("/", 1)[-1]
        ext = name[name.rfind("."):].lower() if "." in name[1:] else "(none)"
        by_ext[ext] = by_ext.get(ext, 0) + 1
    return {"root": ix.root, "files": len(ix.files), "bytes": sum(ix.sizes.values()),
            "by_extension": dict(sorted(by_ext.items(), key=lambda kv: -kv[1])),
            "skipped": dict(ix.skipped), "skipped_examples": {k: v for k, v in ix.examples.items() if v},
            "seconds": round(ix.seconds, 3)}


def _rel(path: str) -> str:
    ix = _idx()
    path = str(path)
    if os.path.isabs(path) and not path.startswith("/project"):
        root = os.path.abspath(ix.root)
        if path == root or path.startswith(root + os.sep):
            path = os.path.relpath(path, root)
    return normalize(path)


def files(paths: str | list[str] | None = None, *, huge: bool = False) -> list[str]:
    """Indexed file paths (relative to the project root), optionally only those matching `paths`:
    a folder ('src'), a file, or a glob ('*.py' at any depth, 'src/*.py', 'src/**/test_*.py').
    `huge=True` adds the text files skipped for their size (sorted in with the others)."""
    ix = _idx()
    every = sorted([*ix.files, *ix.huge]) if huge else ix.files
    if paths is None:
        return list(every)
    if isinstance(paths, str):
        paths = [paths]
    paths = [_rel(p) for p in paths]
    match = Glob(paths)
    return [f for f in every if match(f)]


def whole_text(path: str) -> str | None:
    """A file's whole text, however large (a huge file is read each time, not cached); None for a
    binary or unreadable file."""
    ix = _idx()
    rel = _rel(path)
    if rel not in ix.huge:
        return ix.text(rel)
    try:
        data = _read_bytes(os.path.join(ix.root, rel), 1 << 40)
    except OSError:
        return None
    return None if b"\0" in data[:8192] else data.decode("utf-8", errors="replace")


def tree(path: str = ".", depth: int = 2) -> str:
    """Folders (to `depth`) with how many indexed files each holds, as indented text."""
    base = _rel(path)
    base = "" if base == "." else base
    counts: dict[str, int] = {}
    for f in _idx().files:
        if base and not f.startswith(base + "/"):
            continue
        parts = f[len(base) + 1 if base else 0:].split("/")[:-1]
        for i in range(min(len(parts), depth) + 1):
            key = "/".join(parts[:i])
            counts[key] = counts.get(key, 0) + 1
    lines = []
    for key in sorted(counts):
        level = 0 if key == "" else key.count("/") + 1
        label = (base or ".") if key == "" else key.rsplit("/", 1)[-1] + "/"
        lines.append(f"{'  ' * level}{label} ({counts[key]} files)")
    return "\n".join(lines)


def text(path: str) -> str:
    """A file's whole text (raises for a missing, binary, or unreadable file)."""
    rel = _rel(path)
    value = _idx().text(rel)
    if value is None:
        if not os.path.isfile(os.path.join(_idx().root, rel)):
            raise FileNotFoundError(f"no file {rel!r} in the project")
        raise ValueError(f"{rel!r} is binary or unreadable")
    return value


def _lines(value: str) -> list[str]:
    lines = value.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]
