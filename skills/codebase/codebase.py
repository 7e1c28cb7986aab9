"""Codebase helpers for questions over a project: index, search, outline, read, references.

Part of the `codebase` skill. It runs inside the sandbox, where the project is the current folder
(`/project`), and on the host too (`index("/some/path")`). Standard library only; every result is
plain data (lists of dicts) to slice, count, or hand to `llm_query_batched`.

    from codebase import *
    find("timeout", "retries")           # prints (and returns) the lines holding each term: path:line: text
    index()                              # {'files': 812, 'by_extension': {...}, 'skipped': {...}}
    files("*.py")                        # ['src/app.py', ...]
    hits = search(r"def handle_\\w+", "src", context=2)
    show(hits)                           # grep-style lines: path:line: text
    outline("src/app.py")                # [{'path', 'line', 'end', 'kind', 'name', 'qualname', 'params', ...}]
    definitions("Router")                # where a name is defined
    references("Router")                 # every whole-word use, with kind: definition/import/call/reference
    callers("dispatch")                  # who calls it: [{'path', 'line', 'caller', 'text'}]
    print(read("src/app.py", 40, 80))    # numbered lines
    cite(hit)                            # 'src/app.py:42'
"""

from __future__ import annotations

import ast
import re

from codebase_index import _idx, _lines, _rel, files, index, stats, text, tree, whole_text
from codebase_outline import language, outline_text

__all__ = ["find", "index", "files", "stats", "tree", "search", "show", "outline", "definitions", "references",
           "callers", "read", "text", "cite"]

_DEF_WORDS = r"(?:def|class|function|func|fn|struct|interface|enum|trait|type|impl|record|object|module|mod|macro|const|let|var|val)"


def search(pattern: str, paths: str | list[str] | None = None, *, context: int = 0,
           ignore_case: bool = False, fixed: bool = False, max_results: int = 2000,
           must_contain: str | None = None) -> list[dict]:
    """Regex search (multiline mode: `^`/`$` match at line ends), one hit per matching line:
    `{'path', 'line', 'text', 'context'}`; `context` is a list of `(line_number, text)` for the
    `context` lines around the hit (the hit included), empty when `context=0`. `fixed=True`
    searches a literal string; `must_contain` skips files without that literal text (a fast
    prefilter for patterns that start with a lookaround). At most `max_results` hits (a note is
    printed when cut)."""
    flags = re.MULTILINE | (re.IGNORECASE if ignore_case else 0)
    if fixed and not ignore_case and must_contain is None:
        must_contain = pattern
    regex = re.compile(re.escape(pattern) if fixed else pattern, flags)
    ix = _idx()
    hits: list[dict] = []
    for path in files(paths):
        body = ix.text(path)
        if body is None or (must_contain is not None and must_contain not in body) or regex.search(body) is None:
            continue
        lines = _lines(body) if context else None
        line, pos, last = 1, 0, 0
        for m in regex.finditer(body):
            start = m.start()
            line += body.count("\n", pos, start)
            pos = start
            if line == last:
                continue
            last = line
            begin = body.rfind("\n", 0, start) + 1
            stop = body.find("\n", start)
            row = body[begin:stop if stop >= 0 else len(body)].rstrip("\r")
            around = []
            if lines is not None:
                around = [(n, lines[n - 1]) for n in range(max(1, line - context), min(len(lines), line + context) + 1)]
            hits.append({"path": path, "line": line, "text": row, "context": around})
            if len(hits) >= max_results:
                print(f"[search: stopped at max_results={max_results}; narrow the pattern or paths]")
                return hits
    return hits


def find(*terms: str, path: str | list[str] | None = None, limit: int = 20, width: int = 240) -> list[str]:
    """Print, and return, the lines that hold each term (literal, case-insensitive), grouped by term
    in the order given, as `path:line: text`; a long line is cut to about `width` characters around
    the match. One string with commas counts as several terms. A term of several words with no exact
    hit falls back to the lines holding all its words. Every text file is searched, large ones too
    (`path`: a folder, file or glob, as in `files`). At most `limit` lines are printed per term.
    Returns the printed `path:line: text` strings, every hit (shown as a count, since they were
    just printed)."""
    terms = tuple(part.strip() for term in terms for part in str(term).split(",") if part.strip())
    if not terms:
        raise ValueError("find() needs at least one term, e.g. find('timeout')")
    bodies = []
    for rel in files(path, huge=True):
        body = whole_text(rel)
        if body:
            bodies.append((rel, body, body.lower()))
    found = Found()
    for term in terms:
        key = " ".join(term.lower().split())
        hits = [h for rel, body, low in bodies for h in _term_lines(rel, body, low, [key], width)]
        words = key.split()
        note = ""
        if not hits and len(words) > 1:
            hits = [h for rel, body, low in bodies for h in _term_lines(rel, body, low, words, width)]
            note = f" (no line holds the exact phrase; these hold all of: {', '.join(words)})"
        print(f"find({term!r}): {len(hits)} line{'s' * (len(hits) != 1)}{note}")
        rows = [f"{hit['path']}:{hit['line']}: {hit['text']}" for hit in hits]
        for row in rows[:limit]:
            print(row)
        if len(rows) > limit:
            print(f"... {len(rows) - limit} more (find(..., limit={len(rows)}) prints them all)")
        found.extend(rows)
    return found


class Found(list):
    """`find`'s lines: a plain list of strings whose repr is a count (they were printed already)."""

    def __repr__(self) -> str:
        return f"[{len(self)} line{'s' * (len(self) != 1)} found: path:line: text strings]"


def _term_lines(rel: str, body: str, low: str, words: list[str], width: int) -> list[dict]:
    """Lines of `body` holding every word (`low` is `body` lowercased), each clipped around the
    first match of the longest word."""
    anchor = max(words, key=len)
    others = [w for w in words if w != anchor]
    out: list[dict] = []
    pos = low.find(anchor)
    line, counted = 1, 0
    while pos >= 0:
        begin = low.rfind("\n", 0, pos) + 1
        end = low.find("\n", pos)
        end = len(low) if end < 0 else end
        if all(w in low[begin:end] for w in others):
            line += body.count("\n", counted, begin)
            counted = begin
            row = body[begin:end].rstrip("\r")
            col = pos - begin
            if len(row) > width:
                start = max(0, col - width // 2)
                row = ("…" if start else "") + row[start:start + width].strip() + ("…" if start + width < len(row) else "")
            out.append({"path": rel, "line": line, "text": row})
        pos = low.find(anchor, end)  # the next line
    return out


def show(hits: list[dict], limit: int = 100) -> None:
    """Print hits grep-style (`path:line: text`; context lines as `path-line- text`)."""
    for hit in hits[:limit]:
        if hit.get("context"):
            for n, row in hit["context"]:
                sep = ":" if n == hit["line"] else "-"
                print(f"{hit['path']}{sep}{n}{sep} {row}")
            print("--")
        else:
            extra = f" [{hit['kind']}]" if "kind" in hit else ""
            extra += f" (in {hit['caller']})" if "caller" in hit else ""
            print(f"{hit['path']}:{hit['line']}:{extra} {hit.get('text', hit.get('signature', ''))}")
    if len(hits) > limit:
        print(f"... {len(hits) - limit} more")


def outline(paths: str | list[str] | None = None, kinds: str | list[str] | None = None) -> list[dict]:
    """Definitions in the selected files (all supported source files when `paths` is None):
    `{'path', 'line', 'end', 'kind', 'name', 'qualname', 'params', 'signature', ...}`. Python is
    parsed with `ast` (kinds class/function/method/async ..., plus decorators, doc, bases); JS/TS,
    Go, Rust, Java/Kotlin/C#, C/C++ use line patterns (`end` from brace matching)."""
    ix = _idx()
    wanted = {kinds} if isinstance(kinds, str) else set(kinds or ())
    out: list[dict] = []
    for path in files(paths):
        if language(path) is None:
            continue
        entries = ix.outlines.get(path)
        if entries is None:
            body = ix.text(path)
            entries = outline_text(path, body) if body is not None else []
            ix.outlines[path] = entries
        out.extend(e for e in entries if not wanted or e["kind"] in wanted)
    return out


def definitions(name: str, paths: str | list[str] | None = None) -> list[dict]:
    """Outline entries whose name (or dotted qualname) is `name`, across the project."""
    simple = name.rsplit(".", 1)[-1]
    candidates = sorted({h["path"] for h in search(rf"\b{re.escape(simple)}\b", paths, max_results=1_000_000,
                                                   must_contain=simple)})
    if not candidates:
        return []
    return [e for e in outline(candidates) if e["name"] == name or e["qualname"] == name
            or e["qualname"].endswith("." + name)]


_IMPORT = re.compile(r"^\s*(?:import\b|from\s+\S+\s+import\b|using\b|use\b|#\s*include\b|require\b)|\brequire\s*\(")


def references(name: str, paths: str | list[str] | None = None, *, context: int = 0) -> list[dict]:
    """Every whole-word occurrence of `name`, each hit with a `kind`: 'definition', 'import',
    'call' (`name(`), or 'reference'. Text-based: mentions in comments and strings count too."""
    simple = name.rsplit(".", 1)[-1]
    word = re.escape(simple)
    defn = re.compile(rf"\b{_DEF_WORDS}\s+(?:\*\s*)?{word}\b|^\s*{word}\s*=\s*(?:function\b|\(|async\b)|\b{word}\s*:\s*function\b")
    call = re.compile(rf"(?<![\w$]){word}\s*\(")
    hits = search(rf"(?<![\w$]){word}(?![\w$])", paths, context=context, max_results=1_000_000,
                  must_contain=simple)
    for hit in hits:
        row = hit["text"]
        if defn.search(row):
            hit["kind"] = "definition"
        elif _IMPORT.search(row):
            hit["kind"] = "import"
        elif call.search(row):
            hit["kind"] = "call"
        else:
            hit["kind"] = "reference"
    return hits


def callers(name: str, paths: str | list[str] | None = None) -> list[dict]:
    """Calls of `name` (as `name(...)` or `obj.name(...)`) with the enclosing definition:
    `{'path', 'line', 'caller', 'text'}`; `caller` is a qualname like 'Class.method', or
    '<module>'. Python files use `ast` (exact calls only); other languages use text and the outline."""
    simple = name.rsplit(".", 1)[-1]
    hits = search(rf"(?<![\w$]){re.escape(simple)}\s*\(", paths, max_results=1_000_000, must_contain=simple)
    by_path: dict[str, list[dict]] = {}
    for hit in hits:
        by_path.setdefault(hit["path"], []).append(hit)
    ix = _idx()
    out: list[dict] = []
    for path, file_hits in by_path.items():
        body = ix.text(path) or ""
        if language(path) == "python":
            try:
                out.extend(_python_callers(path, body, simple))
                continue
            except SyntaxError:
                pass
        entries = outline(path)
        for hit in file_hits:
            if any(e["line"] == hit["line"] and e["name"] == simple for e in entries):
                continue  # the definition itself
            enclosing = [e for e in entries if e["line"] <= hit["line"] <= (e["end"] or e["line"])
                         and e["kind"] not in ("class", "struct", "interface", "namespace", "impl", "mod")]
            caller = enclosing[-1]["qualname"] if enclosing else "<module>"
            out.append({"path": path, "line": hit["line"], "caller": caller, "text": hit["text"]})
    return out


def _python_callers(path: str, body: str, name: str) -> list[dict]:
    finder = _CallFinder(name, _lines(body), path)
    finder.visit(ast.parse(body))
    return sorted(finder.found, key=lambda h: h["line"])


class _CallFinder(ast.NodeVisitor):
    """Calls of `name` with the qualname of the definition they sit in."""

    def __init__(self, name: str, lines: list[str], path: str) -> None:
        self.name, self.lines, self.path = name, lines, path
        self.scope: list[str] = []
        self.found: list[dict] = []

    def _definition(self, node) -> None:
        for d in node.decorator_list:
            self.visit(d)
        if isinstance(node, ast.ClassDef):
            for b in (*node.bases, *node.keywords):
                self.visit(b)
        else:
            self.visit(node.args)
            if node.returns is not None:
                self.visit(node.returns)
        self.scope.append(node.name)
        for stmt in node.body:
            self.visit(stmt)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _definition

    def visit_Call(self, node: ast.Call) -> None:
        f = node.func
        if (isinstance(f, ast.Name) and f.id == self.name) or (isinstance(f, ast.Attribute) and f.attr == self.name):
            line = node.lineno
            self.found.append({"path": self.path, "line": line, "caller": ".".join(self.scope) or "<module>",
                               "text": self.lines[line - 1] if line <= len(self.lines) else ""})
        self.generic_visit(node)


def read(path: str, start: int = 1, end: int | None = None, *, max_lines: int = 300) -> str:
    """Lines `start`..`end` (1-based, inclusive) of a file, numbered like `  42| text`. Without
    `end`, up to `max_lines` lines from `start`."""
    rel = _rel(path)
    lines = _lines(text(rel))
    start = max(1, int(start))
    stop = min(len(lines), int(end) if end is not None else start + max_lines - 1)
    width = len(str(stop))
    out = [f"{n:>{width}}| {lines[n - 1]}" for n in range(start, stop + 1)]
    if end is None and stop < len(lines):
        out.append(f"... ({len(lines) - stop} more lines; read('{rel}', {stop + 1}) for the next part)")
    return f"{rel} ({len(lines)} lines)\n" + "\n".join(out)


def cite(path_or_hit, start: int | None = None, end: int | None = None) -> str:
    """A citation string: `cite(hit)` -> 'src/app.py:42'; `cite('src/app.py', 10, 20)` -> 'src/app.py:10-20'.
    For an outline entry, cites its whole range."""
    if isinstance(path_or_hit, dict):
        hit = path_or_hit
        path, start = hit["path"], hit["line"]
        end = hit.get("end") if end is None else end
    else:
        path = _rel(path_or_hit)
    if start is None:
        return path
    if end is None or end == start:
        return f"{path}:{start}"
    return f"{path}:{start}-{end}"
