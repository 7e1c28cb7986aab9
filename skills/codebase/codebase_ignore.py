"""Which files a codebase index keeps: `.gitignore` rules, vendored folders, binary and huge files.

Part of the `codebase` skill; runs inside the sandbox (and on the host). Standard library only.

Gitignore rules (per folder, deeper files win, the last matching rule wins): `*` and `?` do not
cross `/`, `**` does, `[...]` classes, a leading or inner `/` anchors to the `.gitignore`'s folder,
a trailing `/` matches folders only, `!` re-includes, `\\` escapes. A file inside an ignored
folder stays ignored (as in git). `.git/info/exclude` counts as a root `.gitignore`.
"""

from __future__ import annotations

import os
import re

SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", ".bzr", "node_modules", "bower_components", "jspm_packages",
    "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".hypothesis", ".tox", ".nox",
    ".venv", "venv", ".eggs", "site-packages", "dist", "build", ".next", ".nuxt", ".svelte-kit",
    ".gradle", ".idea", ".vscode", ".cache", ".terraform", "target", "vendor", "third_party",
    ".direnv", ".pixi", ".yarn",
})
"""Vendored, generated and tool folders skipped by default (plus `*.egg-info` and any folder
holding a `pyvenv.cfg`, i.e. a virtualenv under another name)."""

BINARY_EXTENSIONS = frozenset("""
png jpg jpeg gif bmp ico icns tif tiff webp avif psd svgz heic
pdf doc docx xls xlsx ppt pptx odt ods odp epub
zip gz tgz bz2 xz zst 7z rar tar jar war ear whl egg apk dmg iso lz4 br
so dll dylib exe bin o a lib obj pyc pyo pyd class wasm cwasm node
woff woff2 ttf otf eot
mp3 mp4 m4a wav ogg flac aac mov avi mkv webm wmv
sqlite sqlite3 db mdb parquet feather arrow npy npz pkl pickle h5 hdf5 pt pth onnx safetensors ckpt
""".split())
"""Extensions never read as text (other files are sniffed for NUL bytes when read)."""


class Rules:
    """The rules of one `.gitignore`, relative to its folder `base` ('' for the root)."""

    def __init__(self, base: str, lines: list[str]) -> None:
        self.base = base
        self.rules: list[tuple[re.Pattern[str], bool, bool]] = []  # (regex, negate, dir_only)
        for raw in lines:
            parsed = parse_line(raw)
            if parsed is not None:
                self.rules.append(parsed)
        # One alternation of every pattern rejects most paths with a single regex call.
        self.any = re.compile("|".join(f"(?:{r.pattern})" for r, _, _ in self.rules)) if self.rules else None

    def match(self, rel: str, is_dir: bool) -> bool | None:
        """True: ignored; False: re-included by a `!` rule; None: no rule speaks about `rel`."""
        if self.any is None or not self.any.match(rel):
            return None
        for regex, negate, dir_only in reversed(self.rules):
            if dir_only and not is_dir:
                continue
            if regex.match(rel):
                return not negate
        return None


def parse_line(raw: str) -> tuple[re.Pattern[str], bool, bool] | None:
    """One `.gitignore` line as (regex over the path relative to the file's folder, negate, dir_only)."""
    line = raw.rstrip("\n").rstrip("\r")
    if not line or line.startswith("#"):
        return None
    # Trailing spaces are ignored unless escaped with a backslash.
    stripped = line.rstrip(" ")
    if stripped.endswith("\\") and len(stripped) < len(line):
        stripped += " "
    line = stripped
    negate = line.startswith("!")
    if negate:
        line = line[1:]
    elif line.startswith("\\!") or line.startswith("\\#"):
        line = line[1:]
    dir_only = line.endswith("/") and not line.endswith("\\/")
    line = line.rstrip("/")
    if not line:
        return None
    anchored = "/" in line
    line = line.lstrip("/")
    if not line:
        return None
    body = translate(line)
    prefix = "" if anchored else "(?:.*/)?"
    return re.compile(f"{prefix}{body}\\Z", re.DOTALL), negate, dir_only


def translate(pattern: str) -> str:
    """A gitignore/glob pattern as a regex body (`*` stays inside one path segment, `**` crosses)."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == n:
            out.append("/.*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = i + 1
            if j < n and pattern[j] in "!^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:
                out.append("\\[")
                i += 1
            else:
                inner = pattern[i + 1:j]
                if inner[:1] in ("!", "^"):
                    inner = "^" + inner[1:]
                out.append("[" + inner.replace("\\", "\\\\") + "]")
                i = j + 1
        elif c == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def read_rules(base: str, path: str) -> Rules | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().split("\n")
    except OSError:
        return None
    rules = Rules(base, lines)
    return rules if rules.rules else None


def ignored(stack: list[Rules], rel: str, is_dir: bool) -> bool:
    """Whether `rel` (relative to the root) is ignored by the `.gitignore` files in `stack`
    (root first); a deeper file's verdict overrides a shallower one's."""
    verdict = False
    for rules in stack:
        if rules.base:
            if not rel.startswith(rules.base + "/"):
                continue
            sub = rel[len(rules.base) + 1:]
        else:
            sub = rel
        said = rules.match(sub, is_dir)
        if said is not None:
            verdict = said
    return verdict


def skip_dir(name: str, path: str, skip_dirs: frozenset[str]) -> bool:
    if name in skip_dirs or name.endswith(".egg-info"):
        return True
    return os.path.exists(os.path.join(path, "pyvenv.cfg"))


def is_binary_name(name: str) -> bool:
    dot = name.rfind(".")
    return dot > 0 and name[dot + 1:].lower() in BINARY_EXTENSIONS


class Glob:
    """Select paths: a folder ('src', 'src/'), a file, or a glob ('*.py' at any depth;
    'src/*.py' anchored; '**' crosses folders). Several may be given in a list."""

    def __init__(self, patterns: str | list[str] | tuple[str, ...] | None) -> None:
        if isinstance(patterns, str):
            patterns = [patterns]
        self.patterns = [normalize(p) for p in (patterns or [])]
        regexes = []
        for p in self.patterns:
            if not p or p == ".":
                regexes.append(".*")
                continue
            anchored = "/" in p
            body = translate(p)
            # a folder name selects everything beneath it
            regexes.append(("" if anchored else "(?:.*/)?") + body + "(?:/.*)?")
        self.regex = re.compile("|".join(f"(?:{r})" for r in regexes) + "\\Z", re.DOTALL) if regexes else None

    def __call__(self, path: str) -> bool:
        return self.regex is None or self.regex.match(path) is not None


def normalize(path: str) -> str:
    """A path relative to the project root: '/project/a/b.py', './a/b.py' and 'a/b.py/' -> 'a/b.py'."""
    path = str(path).replace("\\", "/").strip()
    if path.startswith("/project/"):
        path = path[len("/project/"):]
    elif path == "/project":
        return "."
    while path.startswith("./"):
        path = path[2:]
    return path.rstrip("/") or "."
