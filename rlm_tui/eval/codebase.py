"""Codebase questions over a real pinned codebase (click 8.1.8's sdist), answered by code.

Variants: `defines` (which file defines class/function X; exact), `params` (how many functions
and methods take a parameter named Y; exact), `callers` (which functions and methods call Z;
F1 over qualified names). Ground truth comes from Python's `ast` over the package folder.
"""

from __future__ import annotations

import ast
import builtins
import random
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from rlm_tui.eval import scoring
from rlm_tui.eval.sdist import CLICK, Pinned, fetch
from rlm_tui.eval.tasks import Instance, Task, grid

TEXT_SUFFIXES = {".py", ".pyi", ".rst", ".md", ".txt", ".toml", ".cfg", ".ini", ".in", ".bat", ".typed", ".yml",
                 ".yaml", ".json", ".html", ".css", ".js", ""}
BUILTINS = set(dir(builtins))


@dataclass
class Analysis:
    """Definitions, parameters and calls in the package folder, plus names defined anywhere."""

    definitions: list[dict] = field(default_factory=list)  # {path, name, qualname, kind, params, top}
    calls: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # callee -> caller qualnames
    names_everywhere: Counter = field(default_factory=Counter)


class _Visitor(ast.NodeVisitor):
    def __init__(self, path: str, analysis: Analysis, in_package: bool) -> None:
        self.path, self.analysis, self.in_package = path, analysis, in_package
        self.scope: list[tuple[str, str]] = []  # (name, "class" | "function")

    def _define(self, node, kind: str) -> None:
        self.analysis.names_everywhere[node.name] += 1
        if self.in_package:
            params = None
            if kind != "class":
                a = node.args
                params = [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
                params += [p.arg for p in (a.vararg, a.kwarg) if p is not None]
            self.analysis.definitions.append({
                "path": self.path, "name": node.name, "kind": kind, "params": params, "top": not self.scope,
                "qualname": ".".join([*(n for n, _ in self.scope), node.name]),
            })
        for d in node.decorator_list:
            self.visit(d)
        if kind == "class":
            for b in (*node.bases, *node.keywords):
                self.visit(b)
        else:
            self.visit(node.args)
        self.scope.append((node.name, "class" if kind == "class" else "function"))
        for stmt in node.body:
            self.visit(stmt)
        self.scope.pop()

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._define(node, "class")

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._define(node, "function")

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._define(node, "function")

    def visit_Call(self, node: ast.Call) -> None:
        f = node.func
        callee = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
        if self.in_package and callee and self.scope and self.scope[-1][1] == "function":
            self.analysis.calls[callee].add(".".join(n for n, _ in self.scope))
        self.generic_visit(node)


@lru_cache(maxsize=4)
def analyse(root: Path, package_dir: str) -> Analysis:
    analysis = Analysis()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        _Visitor(rel, analysis, rel.startswith(package_dir + "/")).visit(tree)
    return analysis


@lru_cache(maxsize=4)
def direct_text(root: Path) -> str:
    """Every text file of the codebase, each under a `===== path =====` header."""
    parts = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix.lower() not in TEXT_SUFFIXES:
            continue
        try:
            body = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        parts.append(f"===== {path.relative_to(root).as_posix()} =====\n{body}")
    return "\n".join(parts)


class CodebaseFamily:
    name = "codebase"
    variants = ("defines", "params", "callers")

    def __init__(self, pin: Pinned = CLICK) -> None:
        self.pin = pin

    def tasks(self, sizes: list[str] | None, n: int, seed: int) -> list[Task]:
        return grid(self.name, self.variants, [(self.pin.label, 0)], n, seed)  # the codebase fixes the size

    def root(self) -> Path:
        return fetch(self.pin)

    _lock = threading.Lock()  # one fetch at a time; and ast.parse in parallel threads trips CPython 3.11

    def build(self, task: Task) -> Instance:
        with self._lock:
            root = self.root()
            analysis = analyse(root, self.pin.package_dir)
            context = direct_text(root)
        # Seeded per variant, not per index, so that indexes 0, 1, 2, ... ask distinct questions.
        rng = random.Random(f"{task.seed}:{task.family}/{task.variant}")
        question, expected, scorer, scoring_name = getattr(self, f"_{task.variant}")(rng, analysis, task.index)
        return Instance(
            task=task, question=question, expected=expected, scoring=scoring_name,
            rlm_preamble=f"The project is the source distribution of {self.pin.name} {self.pin.version}. ",
            direct_context=context, project=root, skills=("codebase",), score=scorer,
        )

    @staticmethod
    def _pick(rng: random.Random, candidates: list, index: int):
        candidates = list(candidates)
        rng.shuffle(candidates)
        return candidates[index % len(candidates)]

    def _defines(self, rng: random.Random, analysis: Analysis, index: int):
        candidates = sorted(
            (d for d in analysis.definitions
             if d["top"] and not d["name"].startswith("__") and analysis.names_everywhere[d["name"]] == 1),
            key=lambda d: (d["path"], d["qualname"]))
        public = [d for d in candidates if not d["name"].startswith("_")]
        d = self._pick(rng, public or candidates, index)
        what = "class" if d["kind"] == "class" else "function"
        question = (f"Which file defines the {what} `{d['name']}`? "
                    "Answer with the file's path relative to the project root.")
        return question, d["path"], scoring.exact_path, "exact"

    def _params(self, rng: random.Random, analysis: Analysis, index: int):
        counts = Counter(p for d in analysis.definitions if d["params"] for p in set(d["params"]))
        names = sorted(n for n, c in counts.items() if 3 <= c <= 40 and n not in ("self", "cls"))
        name = self._pick(rng, names, index)
        question = (f"How many functions and methods defined under `{self.pin.package_dir}/` take a parameter "
                    f"named `{name}`? Count every `def` (nested ones too). Answer with the number only.")
        return question, counts[name], scoring.exact_int, "exact"

    def _callers(self, rng: random.Random, analysis: Analysis, index: int):
        defined = {d["name"] for d in analysis.definitions}
        names = sorted(n for n, callers in analysis.calls.items()
                       if 2 <= len(callers) <= 6 and n in defined and n not in BUILTINS and not n.startswith("__"))
        name = self._pick(rng, names, index)
        expected = sorted(analysis.calls[name])
        question = (f"Which functions and methods defined under `{self.pin.package_dir}/` call `{name}` "
                    f"(as `{name}(...)` or `something.{name}(...)`)? List their qualified names "
                    "(like `Class.method`, or `function`), comma-separated.")
        return question, expected, scoring.names_f1, "f1"
