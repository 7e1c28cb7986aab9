"""The `codebase` skill: its guest module on the host and in the sandbox, an engine run that uses
it, and the citations of answers (`rlm_tui.engine.citations`, `ask --json`)."""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

import pytest

from rlm_tui.cli import EXIT_OK, main
from rlm_tui.engine.citations import Citation, extract_citations
from rlm_tui.skills import discover
from tests.engine.test_engine import code, make_rlm

SKILL = Path(__file__).resolve().parents[2] / "skills" / "codebase"

APP_PY = '''\
"""The app."""
import os


def route(path):
    return path


class Router:
    """Routes requests."""

    prefix = route("/api")

    def __init__(self, handlers):
        self.handlers = handlers

    @staticmethod
    def dispatch(request, timeout=None, *extra, retries, **options):
        return handle(request)

    async def fetch(self, url):
        def inner(request):
            return Router.dispatch(request, retries=1)
        return inner(url)


def handle(request):
    return route(request)


if os.environ.get("X"):
    def maybe(request):
        return handle(request)
'''

UTIL_PY = '''\
from app import Router


def helper(request, timeout):
    r = Router({})
    return r.dispatch(request, timeout, retries=2)
'''

TS = '''\
export function handle(req: Request, res: Response): void {
  dispatch(req);
}

export class Widget extends Base {
  render(target: string): string {
    return handle(target, null);
  }
}

export const format = (value: number) => value.toFixed(2);
interface Options { debug: boolean }
'''

GO = '''\
package main

type Server struct {
	addr string
}

func (s *Server) Start(port int, host string) error {
	return nil
}

func main() {
	s := &Server{}
	s.Start(80, "x")
}
'''

RUST = '''\
pub struct Point { x: i32 }
pub trait Area {
    fn area(&self) -> f64;
}
impl Area for Point {
    fn area(&self) -> f64 {
        0.0
    }
}
pub async fn run(cfg: &Config) -> Result<()> {
    Ok(())
}
'''

JAVA = '''\
public class Main extends Base {
    public Main(int x) {
        this.x = x;
    }
    private static List<String> helper(int n, String s) {
        return null;
    }
}
enum Level { LOW, HIGH }
'''

C = '''\
#include <stdio.h>
#define MAX 10
struct node {
    int v;
};
static int helper(int a, char *b);
static int helper(int a, char *b)
{
    return a;
}
int
main(int argc, char **argv)
{
    return helper(1, argv[0]);
}
'''

KEPT = {
    ".gitignore", "app.py", "lib/util.py", "lib/.gitignore", "important.log", "sub/build_out/y.py",
    "docs/a/final.md", "web/app.ts", "go/main.go", "rs/lib.rs", "java/Main.java", "c/main.c", "blob.dat",
    "notes/readme.txt",
}


def write(root: Path, rel: str, text: str | bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("codebase") / "proj"
    files = {
        ".gitignore": "# comment\n*.log\n!important.log\n/build_out/\nsecret/\ndocs/**/draft*.md\n",
        "app.py": APP_PY, "lib/util.py": UTIL_PY,
        "lib/.gitignore": "generated.py\n", "lib/generated.py": "x = 1\n",
        "important.log": "keep me\n", "debug.log": "drop me\n",
        "build_out/x.py": "ignored = True\n", "sub/build_out/y.py": "kept = True\n",
        "secret/key.txt": "hidden\n", "docs/a/draft1.md": "draft\n", "docs/a/final.md": "final\n",
        "node_modules/pkg/index.js": "module.exports = 1;\n", ".venv/lib/site.py": "x = 1\n",
        "env2/pyvenv.cfg": "home = /usr\n", "env2/lib/x.py": "x = 1\n", "dist/out.js": "x\n",
        "__pycache__/app.cpython-311.pyc": b"\x00\x01", "image.png": b"\x89PNG\x00\x00",
        "blob.dat": b"text\x00with a NUL\n", "web/app.ts": TS, "go/main.go": GO, "rs/lib.rs": RUST,
        "java/Main.java": JAVA, "c/main.c": C, "notes/readme.txt": "Router notes\n" * 5,
    }
    for rel, text in files.items():
        write(root, rel, text)
    return root


@pytest.fixture(scope="module")
def cb():
    sys.path.insert(0, str(SKILL))
    try:
        module = importlib.import_module("codebase")
        yield module
    finally:
        sys.path.remove(str(SKILL))
        for name in ("codebase", "codebase_index", "codebase_ignore", "codebase_outline"):
            sys.modules.pop(name, None)


@pytest.fixture
def indexed(cb, tree):
    cb.index(str(tree), refresh=True)
    return cb


# --- the index ------------------------------------------------------------------------------------

def test_index_honours_gitignore_and_skips_vendored_binary_and_huge(indexed, tree):
    cb = indexed
    assert set(cb.files()) == KEPT
    stats = cb.stats()
    assert stats["files"] == len(KEPT)
    assert stats["skipped"]["binary"] == 1  # image.png by extension (blob.dat is sniffed on read)
    assert stats["skipped"]["vendored"] == 5  # node_modules, .venv, env2 (pyvenv.cfg), dist, __pycache__
    assert "debug.log" in stats["skipped_examples"]["ignored"]
    small = cb.index(str(tree), refresh=True, max_bytes=30)
    assert small["skipped"]["huge"] >= 5 and "app.py" not in cb.files()


def test_files_select_by_folder_file_and_glob(indexed):
    cb = indexed
    assert cb.files("lib") == ["lib/.gitignore", "lib/util.py"]
    assert cb.files("*.py") == ["app.py", "lib/util.py", "sub/build_out/y.py"]
    assert cb.files("lib/*.py") == ["lib/util.py"]
    assert cb.files("**/y.py") == ["sub/build_out/y.py"]
    assert cb.files("/project/app.py") == ["app.py"]
    assert cb.files(["web", "go"]) == ["go/main.go", "web/app.ts"]
    assert "go/ (1 files)" in cb.tree(depth=1)


@pytest.mark.parametrize(("lines", "path", "is_dir", "ignored"), [
    (["*.log"], "a/b/c.log", False, True),
    (["*.log", "!keep.log"], "x/keep.log", False, False),
    (["/build"], "build", True, True),
    (["/build"], "src/build", True, False),
    (["build/"], "src/build", True, True),
    (["build/"], "src/build", False, False),  # a file named build is not a folder
    (["docs/*.md"], "docs/a.md", False, True),
    (["docs/*.md"], "docs/x/a.md", False, False),  # * does not cross /
    (["docs/**/*.md"], "docs/x/y/a.md", False, True),
    (["**/tmp"], "a/b/tmp", True, True),
    (["a/**"], "a/b/c", False, True),
    (["file[0-9].txt"], "file3.txt", False, True),
    (["file[!0-9].txt"], "file3.txt", False, False),
    (["\\#hash"], "#hash", False, True),
    (["trailing  "], "trailing", False, True),
])
def test_gitignore_rules(cb, lines, path, is_dir, ignored):
    from codebase_ignore import Rules

    assert bool(Rules("", lines).match(path, is_dir)) is ignored


# --- search, read, cite ---------------------------------------------------------------------------

def test_search_returns_plain_hits_with_context(indexed):
    cb = indexed
    hits = cb.search(r"def \w+\(request", context=1)
    assert [(h["path"], h["line"]) for h in hits] == [("app.py", 18), ("app.py", 22), ("app.py", 27), ("app.py", 32), ("lib/util.py", 4)]
    first = hits[0]
    assert first["text"] == "    def dispatch(request, timeout=None, *extra, retries, **options):"
    assert first["context"] == [(17, "    @staticmethod"), (18, first["text"]), (19, "        return handle(request)")]
    assert cb.search("router", ignore_case=True, paths="notes")[0]["line"] == 1
    assert [h["line"] for h in cb.search("route(", fixed=True, paths="app.py")] == [5, 12, 28]
    assert [h["line"] for h in cb.search(r"route\(", paths="app.py")] == [5, 12, 28]
    assert len(cb.search("Router", max_results=2)) == 2
    assert cb.search("NUL") == []  # blob.dat is binary: never searched


def test_read_numbers_lines_and_cite_formats(indexed):
    cb = indexed
    out = cb.read("app.py", 9, 11)
    assert out.splitlines() == ["app.py (33 lines)", " 9| class Router:", "10|     \"\"\"Routes requests.\"\"\"", "11| "]
    assert "more lines" in cb.read("app.py", 1, max_lines=3)
    hit = cb.search("class Router")[0]
    assert cb.cite(hit) == "app.py:9"
    assert cb.cite(cb.definitions("Router")[0]) == "app.py:9-24"
    assert cb.cite("/project/app.py", 3, 5) == "app.py:3-5"
    with pytest.raises(FileNotFoundError):
        cb.read("nope.py")


# --- outline, definitions, references, callers ----------------------------------------------------

def test_python_outline(indexed):
    entries = {e["qualname"]: e for e in indexed.outline("app.py")}
    assert list(entries) == ["route", "Router", "Router.__init__", "Router.dispatch", "Router.fetch",
                             "Router.fetch.inner", "handle", "maybe"]
    dispatch = entries["Router.dispatch"]
    assert dispatch["kind"] == "method" and (dispatch["line"], dispatch["end"]) == (18, 19)
    assert dispatch["params"] == ["request", "timeout", "extra", "retries", "options"]
    assert dispatch["decorators"] == ["staticmethod"]
    assert entries["Router.fetch"]["kind"] == "async method"
    assert entries["Router"]["doc"] == "Routes requests."
    assert entries["maybe"]["line"] == 32  # defined under an `if`


@pytest.mark.parametrize(("path", "expected"), [
    ("web/app.ts", {("function", "handle", 1, 3), ("class", "Widget", 5, 9), ("method", "Widget.render", 6, 8),
                    ("function", "format", 11, 11), ("interface", "Options", 12, 12)}),
    ("go/main.go", {("struct", "Server", 3, 5), ("method", "Server.Start", 7, 9), ("function", "main", 11, 14)}),
    ("rs/lib.rs", {("struct", "Point", 1, 1), ("trait", "Area", 2, 4), ("impl", "Point", 5, 9),
                   ("method", "Point.area", 6, 8), ("function", "run", 10, 12)}),
    ("java/Main.java", {("class", "Main", 1, 8), ("method", "Main.Main", 2, 4), ("method", "Main.helper", 5, 7),
                        ("enum", "Level", 9, 9)}),
    ("c/main.c", {("macro", "MAX", 2, 2), ("struct", "node", 3, 5), ("function", "helper", 7, 10),
                  ("function", "main", 12, 15)}),
])
def test_pattern_outlines(indexed, path, expected):
    got = {(e["kind"], e["qualname"], e["line"], e["end"]) for e in indexed.outline(path)}
    assert expected <= got, expected - got


def test_outline_params_for_other_languages(indexed):
    by_name = {e["qualname"]: e["params"] for e in indexed.outline(["go", "java", "c", "web"])}
    assert by_name["Server.Start"] == ["port", "host"]
    assert by_name["Main.helper"] == ["n", "s"]
    assert by_name["main"] in (["argc", "argv"], [])  # main exists in Go (no params) and C
    assert by_name["handle"] == ["req", "res"]


def test_definitions_references_and_callers(indexed):
    cb = indexed
    assert [(d["path"], d["kind"]) for d in cb.definitions("Router")] == [("app.py", "class")]
    assert [d["qualname"] for d in cb.definitions("Router.dispatch")] == ["Router.dispatch"]
    refs = cb.references("Router")
    kinds = {(r["path"], r["line"]): r["kind"] for r in refs}
    assert kinds[("app.py", 9)] == "definition"
    assert kinds[("lib/util.py", 1)] == "import"
    assert kinds[("lib/util.py", 5)] == "call"
    assert kinds[("notes/readme.txt", 1)] == "reference"
    callers = [(c["path"], c["line"], c["caller"]) for c in cb.callers("dispatch")]
    assert callers == [("app.py", 23, "Router.fetch.inner"), ("lib/util.py", 6, "helper"), ("web/app.ts", 2, "handle")]
    route = [(c["line"], c["caller"]) for c in cb.callers("route")]
    assert route == [(12, "Router"), (28, "handle")]
    assert [(c["path"], c["caller"]) for c in cb.callers("Start")] == [("go/main.go", "main")]
    assert [(c["path"], c["caller"]) for c in cb.callers("handle", "web")] == [("web/app.ts", "Widget.render")]


# --- the same module inside the sandbox ---------------------------------------------------------------

GUEST = r'''
import json, sys
sys.path.insert(0, "/skills")
import codebase as cb
cb.index()
print(json.dumps({
    "files": cb.files(),
    "search": cb.search(r"def \w+\(request", context=1),
    "outline": cb.outline(),
    "callers": cb.callers("dispatch"),
    "references": cb.references("Router"),
    "read": cb.read("app.py", 9, 11),
}))
'''


def test_the_module_runs_in_the_sandbox_and_agrees_with_the_host(indexed, tree):
    from rlm_tui.sandbox import Sandbox

    cb = indexed
    host = json.loads(json.dumps({
        "files": cb.files(), "search": cb.search(r"def \w+\(request", context=1), "outline": cb.outline(),
        "callers": cb.callers("dispatch"), "references": cb.references("Router"), "read": cb.read("app.py", 9, 11),
    }))
    with Sandbox(tree, skills=SKILL, timeout_s=60) as sandbox:
        result = sandbox.run(GUEST)
    assert result.error is None, result.stderr
    guest = json.loads(result.stdout)
    assert guest["files"] == host["files"]
    for key in ("search", "outline", "callers", "references", "read"):
        assert guest[key] == host[key], key


# --- through the engine -----------------------------------------------------------------------------

def test_builtin_skill_is_discovered():
    skill = discover(None).skills["codebase"]
    assert "path:line" in skill.description
    assert set(skill.modules) == {"codebase", "codebase_index", "codebase_ignore", "codebase_outline"}


async def test_engine_run_uses_the_codebase_helpers_and_cites(scripted_server, tree):
    scripted_server.script(
        "root",
        code("from codebase import *\nprint(index()['files'])\nhits = callers('dispatch')\nshow(hits)\n"
             "d = definitions('dispatch')[0]\nprint(cite(d))"),
        code("SUBMIT(answer='dispatch (' + cite(d) + ') is called by ' + ', '.join("
             "f\"{h['caller']} ({cite(h)})\" for h in hits))"),
    )
    rlm, _ = make_rlm(scripted_server, tree, skills=["codebase"])
    prediction = await rlm.aforward(question="Who calls dispatch?")
    assert prediction.answer == ("dispatch (app.py:18-19) is called by Router.fetch.inner (app.py:23), "
                                 "helper (lib/util.py:6), handle (web/app.ts:2)")
    first = prediction.trajectory[0]["output"]
    assert f"{len(KEPT)}\napp.py:23: (in Router.fetch.inner)" in first
    system = scripted_server.chat_requests("root")[0].messages[0]["content"]
    assert "## Skill: codebase" in system and "path:start-end" in system
    cited = extract_citations(prediction.answer, tree)
    assert [str(c) for c in cited] == ["app.py:18-19", "app.py:23", "lib/util.py:6", "web/app.ts:2"]


# --- citations -----------------------------------------------------------------------------------------

def test_extract_citations_forms_and_filters(tree, tmp_path):
    outside = tmp_path / "outside.py"
    outside.write_text("x\n")
    (tree / "link.py").unlink(missing_ok=True)
    os.symlink(outside, tree / "link.py")
    text = (
        "See app.py:9 and `lib/util.py:4-6`, /project/app.py#L17-L19, app.py (lines 27-28), ./app.py:1, "
        f"{tree / 'go' / 'main.go'}:7, app.py:10–12, app.py:L5. Also app.py:9 again, missing.py:1, "
        f"app.py:999, app.py:30-999, ../outside.py:1, {outside}:1, link.py:1, http://host:8080/x, "
        "node_modules/pkg/index.js:1"
    )
    found = extract_citations(text, tree)
    assert [str(c) for c in found] == [
        "app.py:9", "lib/util.py:4-6", "app.py:17-19", "app.py:27-28", "app.py:1", "go/main.go:7",
        "app.py:10-12", "app.py:5", "app.py:30-33", "node_modules/pkg/index.js:1",
    ]
    assert found[1] == Citation("lib/util.py", 4, 6)
    assert found[1].to_dict() == {"path": "lib/util.py", "start": 4, "end": 6, "text": "lib/util.py:4-6"}
    assert extract_citations("", tree) == [] and extract_citations("no citations here: 12", tree) == []
    (tree / "link.py").unlink()


def test_ask_json_lists_citations(scripted_server, tree, capsys):
    scripted_server.script("root", code("SUBMIT(answer='Router is at app.py:9-23; helper calls it at "
                                        "lib/util.py:6. (gone.py:3 is not a file)')"))
    argv = ["ask", "Where is Router?", "--project", str(tree), "--model", "openai/root", "--api-base",
            scripted_server.url, "--json", "-q"]
    assert main(argv) == EXIT_OK
    data = json.loads(capsys.readouterr().out)
    assert data["citations"] == [
        {"path": "app.py", "start": 9, "end": 23, "text": "app.py:9-23"},
        {"path": "lib/util.py", "start": 6, "end": 6, "text": "lib/util.py:6"},
    ]


def test_find_prints_lines_per_term_in_order_and_reads_huge_files(cb, tmp_path, capsys):
    root = tmp_path / "big"
    prose = "\n".join(f"Line {n} of filler text about the harbour." for n in range(30_000))
    write(root, "context.txt", prose + "\nThe key for the Velmor gate is 4471. " + "x" * 500 + "\nend\n")
    write(root, "src/a.py", "def handler(request, timeout=3):\n    return request\n")
    cb.index(str(root), refresh=True, max_bytes=100_000)
    assert "context.txt" not in cb.files() and cb.stats()["skipped"]["huge"] == 1
    hits = cb.find("timeout", "velmor gate")
    out = capsys.readouterr().out.splitlines()
    assert out[:4] == ["find('timeout'): 1 line", "src/a.py:1: def handler(request, timeout=3):",
                       "find('velmor gate'): 1 line", "context.txt:30001: The key for the Velmor gate is 4471. "
                       + "x" * 203 + "…"]
    assert hits == out[1:2] + out[3:4] and [h.split(":")[0] for h in hits] == ["src/a.py", "context.txt"]
    assert repr(hits) == "[2 lines found: path:line: text strings]"
    assert cb.find("timeout, velmor gate") == hits  # one comma-separated string: several terms
    capsys.readouterr()
    cb.find("gate key Velmor", path="context.txt")  # the words, not the phrase
    out = capsys.readouterr().out
    assert "these hold all of: gate, key, velmor" in out and "context.txt:30001:" in out
    cb.find("harbour", limit=2)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "find('harbour'): 30000 lines" and out[-1].startswith("... 29998 more")
