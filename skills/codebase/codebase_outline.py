"""Outlines of definitions: Python through `ast`, other languages through line patterns.

Part of the `codebase` skill; runs inside the sandbox (and on the host). Standard library only.
Every entry is a plain dict: path, line, end (last line, or None when unknown), kind, name,
qualname, params (list of parameter names; functions only), signature (the definition line).
"""

from __future__ import annotations

import ast
import re

LANGUAGES = {
    ".py": "python", ".pyi": "python", ".pyw": "python",
    ".js": "javascript", ".jsx": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".ts": "typescript", ".tsx": "typescript", ".mts": "typescript", ".cts": "typescript",
    ".go": "go", ".rs": "rust", ".java": "java", ".kt": "kotlin", ".scala": "java", ".cs": "java",
    ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp", ".hxx": "cpp",
}

_ID = r"[A-Za-z_$][\w$]*"
_JS_METHOD_SKIP = {"if", "for", "while", "switch", "catch", "function", "return", "with", "else", "do", "super", "constructor_"}
_C_SKIP = {"if", "for", "while", "switch", "return", "else", "do", "sizeof", "case", "defined", "typedef"}

# (regex, kind, name group, braces: whether the body is a {...} block to measure)
PATTERNS: dict[str, list[tuple[re.Pattern[str], str]]] = {
    "javascript": [
        (re.compile(rf"^[ \t]*(?:export[ \t]+(?:default[ \t]+)?)?(?:async[ \t]+)?function[ \t]*\*?[ \t]*(?P<name>{_ID})[ \t]*(?:<[^>\n]*>)?[ \t]*\((?P<params>[^)]*)", re.M), "function"),
        (re.compile(rf"^[ \t]*(?:export[ \t]+(?:default[ \t]+)?)?(?:abstract[ \t]+)?class[ \t]+(?P<name>{_ID})", re.M), "class"),
        (re.compile(rf"^[ \t]*(?:export[ \t]+)?(?:const|let|var)[ \t]+(?P<name>{_ID})[ \t]*(?::[^=\n]+)?=[ \t]*(?:async[ \t]+)?(?:function\b[^(\n]*\((?P<params>[^)]*)|\((?P<params2>[^)]*)\)[ \t]*(?::[^=\n]+)?=>|(?P<params3>{_ID})[ \t]*=>)", re.M), "function"),
        (re.compile(rf"^[ \t]*(?:export[ \t]+)?(?:declare[ \t]+)?(?P<kind>interface|type|enum)[ \t]+(?P<name>{_ID})", re.M), None),
        (re.compile(rf"^[ \t]+(?:(?:public|private|protected|static|async|readonly|override|abstract|get|set)[ \t]+)*\*?(?P<name>{_ID})[ \t]*(?:<[^>\n]*>)?[ \t]*\((?P<params>.*)\)[ \t]*(?::[^{{\n;]+)?\{{[ \t]*$", re.M), "method"),
    ],
    "go": [
        (re.compile(r"^func[ \t]*\([ \t]*\w*[ \t]*\*?[ \t]*(?P<owner>\w+)[^)]*\)[ \t]*(?P<name>\w+)[ \t]*(?:\[[^\]]*\])?\((?P<params>[^)]*)", re.M), "method"),
        (re.compile(r"^func[ \t]+(?P<name>\w+)[ \t]*(?:\[[^\]]*\])?\((?P<params>[^)]*)", re.M), "function"),
        (re.compile(r"^type[ \t]+(?P<name>\w+)(?:\[[^\]]*\])?[ \t]+(?P<kind>struct|interface)\b", re.M), None),
        (re.compile(r"^type[ \t]+(?P<name>\w+)[ \t]+(?!struct\b|interface\b)\S", re.M), "type"),
    ],
    "rust": [
        (re.compile(r"^[ \t]*(?:pub(?:\([^)]*\))?[ \t]+)?(?:default[ \t]+)?(?:const[ \t]+)?(?:async[ \t]+)?(?:unsafe[ \t]+)?(?:extern[ \t]+\"[^\"]*\"[ \t]+)?fn[ \t]+(?P<name>\w+)[ \t]*(?:<[^>\n]*>)?[ \t]*\((?P<params>[^)]*)", re.M), "function"),
        (re.compile(r"^[ \t]*(?:pub(?:\([^)]*\))?[ \t]+)?(?P<kind>struct|enum|trait|union|mod|type)[ \t]+(?P<name>\w+)", re.M), None),
        (re.compile(r"^[ \t]*(?:unsafe[ \t]+)?impl(?:[ \t]*<[^>\n]*>)?[ \t]+(?:(?P<trait>[\w:]+(?:<[^>\n]*>)?)[ \t]+for[ \t]+)?(?P<name>[\w:]+)", re.M), "impl"),
    ],
    "java": [
        (re.compile(r"^[ \t]*(?:@\w+(?:\([^)]*\))?[ \t]+)*(?:(?:public|protected|private|internal|abstract|static|final|sealed|non-sealed|strictfp|open|data|partial)[ \t]+)*(?P<kind>class|interface|enum|record|object|struct)[ \t]+(?P<name>\w+)", re.M), None),
        (re.compile(r"^[ \t]*(?:@\w+(?:\([^)]*\))?[ \t]+)*(?:(?:public|protected|private|internal|static|final|abstract|synchronized|native|default|override|virtual|async|open|suspend)[ \t]+)+(?:<[^>\n]+>[ \t]+)?(?:fun[ \t]+)?(?:[\w<>\[\],.?]+[ \t]+)?(?P<name>\w+)[ \t]*\((?P<params>[^)\n]*)\)?[^;\n]*$", re.M), "method"),
        (re.compile(r"^[ \t]*fun[ \t]+(?:<[^>\n]+>[ \t]+)?(?:\w+\.)?(?P<name>\w+)[ \t]*\((?P<params>[^)\n]*)", re.M), "function"),
    ],
    "c": [
        (re.compile(r"^(?![ \t])(?!(?:return|else|case|typedef|struct|union|enum|class|namespace|using|template|extern|static_assert|#)\b)(?:[\w*&:<>,~]+[ \t]+)*\**&?(?P<name>[A-Za-z_~][\w:~]*)[ \t]*\((?P<params>[^;{]*?)\)?[ \t]*(?:const[ \t]*)?(?:noexcept[ \t]*)?(?:override[ \t]*)?\{?[ \t]*$", re.M), "function"),
        (re.compile(r"^[ \t]*(?:typedef[ \t]+)?(?:template[ \t]*<[^>\n]*>[ \t]*)?(?P<kind>struct|class|union|enum(?:[ \t]+class)?)[ \t]+(?:\w+[ \t]+)?(?P<name>\w+)[ \t]*(?::[^{;\n]*)?\{?[ \t]*$", re.M), None),
        (re.compile(r"^[ \t]*#[ \t]*define[ \t]+(?P<name>\w+)", re.M), "macro"),
        (re.compile(r"^[ \t]*namespace[ \t]+(?P<name>[\w:]+)", re.M), "namespace"),
    ],
}
PATTERNS["typescript"] = PATTERNS["javascript"]
PATTERNS["cpp"] = PATTERNS["c"]
PATTERNS["kotlin"] = PATTERNS["java"]

_BRACES = re.compile(r"[{};]")
_BRACE = re.compile(r"[{}]")
_BLANK_LINE = re.compile(r"\n[ \t\r]*\n")
_SPLIT_PARAMS = re.compile(r",(?![^<>()\[\]]*[>)\]])")


def language(path: str) -> str | None:
    dot = path.rfind(".")
    return LANGUAGES.get(path[dot:].lower()) if dot >= 0 else None


def outline_text(path: str, text: str) -> list[dict]:
    """The definitions in one file's text (an empty list for unsupported languages)."""
    lang = language(path)
    if lang == "python":
        try:
            return python_outline(path, text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return pattern_outline(path, text, "python-fallback")
    if lang is None:
        return []
    return pattern_outline(path, text, lang)


def python_outline(path: str, text: str) -> list[dict]:
    tree = ast.parse(text)
    lines = text.split("\n")
    out: list[dict] = []

    def visit(body: list[ast.stmt], scope: list[str], in_class: bool) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                params = [p.arg for p in (*a.posonlyargs, *a.args)]
                if a.vararg:
                    params.append(a.vararg.arg)
                params += [p.arg for p in a.kwonlyargs]
                if a.kwarg:
                    params.append(a.kwarg.arg)
                kind = "method" if in_class else "function"
                if isinstance(node, ast.AsyncFunctionDef):
                    kind = "async " + kind
                out.append(_entry(path, node, kind, scope, lines, params,
                                  [_unparse(d) for d in node.decorator_list], ast.get_docstring(node)))
                visit(node.body, [*scope, node.name], False)
            elif isinstance(node, ast.ClassDef):
                out.append(_entry(path, node, "class", scope, lines, None,
                                  [_unparse(d) for d in node.decorator_list], ast.get_docstring(node),
                                  bases=[_unparse(b) for b in node.bases]))
                visit(node.body, [*scope, node.name], True)
            else:
                for block in _blocks(node):  # definitions under if/try/with/for at any depth
                    visit(block, scope, in_class)

    visit(tree.body, [], False)
    return out


def _blocks(node: ast.stmt) -> list[list[ast.stmt]]:
    blocks = [getattr(node, f, None) for f in ("body", "orelse", "finalbody")]
    blocks += [h.body for h in getattr(node, "handlers", None) or ()]
    blocks += [c.body for c in getattr(node, "cases", None) or ()]
    return [b for b in blocks if isinstance(b, list) and b and isinstance(b[0], ast.stmt)]


def _entry(path: str, node, kind: str, scope: list[str], lines: list[str], params, decorators, doc,
           bases=None) -> dict:
    entry = {
        "path": path, "line": node.lineno, "end": getattr(node, "end_lineno", None), "kind": kind,
        "name": node.name, "qualname": ".".join([*scope, node.name]),
        "params": params, "signature": lines[node.lineno - 1].strip() if node.lineno <= len(lines) else "",
        "decorators": decorators, "doc": (doc or "").strip().split("\n")[0][:200],
    }
    if bases is not None:
        entry["bases"] = bases
    return entry


def _unparse(node) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # noqa: BLE001 - best effort text for display
        return "?"


def pattern_outline(path: str, text: str, lang: str) -> list[dict]:
    """Definitions found by line patterns; `end` comes from brace matching where there is a body."""
    if lang == "python-fallback":
        patterns = [
            (re.compile(r"^(?P<indent>[ \t]*)(?:async[ \t]+)?def[ \t]+(?P<name>\w+)[ \t]*\((?P<params>[^)]*)", re.M), "function"),
            (re.compile(r"^(?P<indent>[ \t]*)class[ \t]+(?P<name>\w+)", re.M), "class"),
        ]
    else:
        patterns = PATTERNS[lang]
    found: dict[int, dict] = {}
    for regex, kind in patterns:
        for m in regex.finditer(text):
            name = m.group("name")
            groups = m.groupdict()
            k = kind or groups.get("kind") or "definition"
            if lang in ("c", "cpp") and k == "function" and name.split("::")[-1] in _C_SKIP:
                continue
            if k == "method" and name in _JS_METHOD_SKIP:
                continue
            start = m.start("name")
            if start in found:
                continue
            params_text = next((groups[g] for g in ("params", "params2", "params3") if groups.get(g) is not None), None)
            found[start] = {"kind": k.replace("  ", " "), "name": name, "owner": groups.get("owner"),
                            "params_text": params_text, "name_end": m.end("name"), "lang": lang}
    entries = []
    line, pos = 1, 0
    for start in sorted(found):
        info = found[start]
        line += text.count("\n", pos, start)
        pos = start
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", start)
        signature = text[line_start:line_end if line_end >= 0 else len(text)].strip()
        if lang == "python-fallback":
            end = None
        elif info["kind"] == "macro":
            end = line
        else:
            end = _block_end(text, info["name_end"], start, line)
        if end is False:  # no body: a C prototype is not a definition; other things end on their line
            if lang in ("c", "cpp") and info["kind"] == "function":
                continue
            end = line
        name = info["name"]
        owner = info["owner"]
        params = _params(info["params_text"], lang) if info["params_text"] is not None else None
        entries.append({"path": path, "line": line, "end": end, "kind": info["kind"], "name": name.split("::")[-1],
                        "qualname": f"{owner}.{name}" if owner else name.replace("::", "."),
                        "params": params, "signature": signature[:300]})
    _nest(entries)
    return entries


def _block_end(text: str, pos: int, start: int, line: int) -> int | bool | None:
    """The line of the `}` closing the block that opens after `pos` (the definition's name is at
    `start`, on `line`); False when no block follows (a `;`, or a blank line, comes first)."""
    first = _BRACES.search(text, pos)
    if first is None or first.group() != "{" or _BLANK_LINE.search(text, pos, first.start()):
        return False
    depth = 0
    for m in _BRACE.finditer(text, first.start()):
        depth += 1 if m.group() == "{" else -1
        if depth == 0:
            return line + text.count("\n", start, m.start())
    return None


def _params(params_text: str, lang: str) -> list[str]:
    names = []
    for part in _SPLIT_PARAMS.split(params_text):
        part = part.split("=")[0].strip()
        if not part or part in ("void", "self", "&self", "&mut self", "mut self"):
            continue
        if lang in ("rust", "typescript", "javascript", "kotlin", "python-fallback") and ":" in part:
            part = part.split(":")[0].strip()
        elif lang == "go":
            part = part.split()[0] if part.split() else part
        else:
            words = re.findall(r"[A-Za-z_$][\w$]*", part)
            part = words[-1] if words else part
        part = part.lstrip("*&.").removeprefix("mut ").strip()
        m = re.match(r"[A-Za-z_$][\w$]*", part)
        if m:
            names.append(m.group())
    return names


def _nest(entries: list[dict]) -> None:
    """Qualify methods and nested definitions with the enclosing class/impl/struct (by line range)."""
    containers: list[dict] = []
    for e in entries:
        while containers and containers[-1]["end"] is not None and containers[-1]["end"] < e["line"]:
            containers.pop()
        parent = containers[-1] if containers else None
        if parent is not None and parent["end"] is not None and e["qualname"] == e["name"]:
            e["qualname"] = f"{parent['name']}.{e['name']}"
            if e["kind"] == "function" and parent["kind"] in ("class", "impl", "struct", "interface", "trait", "object", "record"):
                e["kind"] = "method"
        if e["kind"] in ("class", "impl", "struct", "interface", "trait", "object", "record", "enum", "namespace", "mod") and e["end"]:
            containers.append(e)
