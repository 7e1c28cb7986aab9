"""The TUI's pure parts: call graph, event pump, completion, ignore rules, commands, themes."""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from rlm_tui.engine import events as ev
from rlm_tui.engine.calls import CANCELLED, DONE, FAILED, RUNNING, CallGraph
from rlm_tui.tui import commands, fmt, fuzzy
from rlm_tui.tui.ignore import IgnoreFilter
from rlm_tui.tui.pump import EventPump
from tests.tui.traces import sample_events


def graph_of(events) -> CallGraph:
    g = CallGraph()
    for e in events:
        g.apply(e)
    return g


def test_call_graph_builds_tree_with_rollups():
    g = graph_of(sample_events())
    run = g.nodes["run1"]
    assert run.kind == "run" and run.status == DONE and run.title == "Turn 1"
    assert [g.nodes[c].kind for c in run.children] == ["iteration", "iteration"]
    it2 = g.nodes["it2"]
    assert it2.code.startswith("texts") and "one module" in it2.output
    assert it2.prompt and it2.model == "openai/gpt-4o-mini"  # root LM call folded in
    # batched children sit under the batch call; the child run under the rlm_query call
    assert g.nodes["q0"].parent_id == "b1" and g.nodes["child"].parent_id == "rq"
    assert g.nodes["child"].depth == 1
    # totals roll up: run total = every LM call's tokens once
    expected = (812 + 64) + (1040 + 120) + 2 * (300 + 12) + (400 + 30)
    assert run.total_tokens == expected == g.usage.prompt_tokens + g.usage.completion_tokens
    assert g.nodes["b1"].total_tokens == 2 * 312
    assert g.nodes["rq"].total_tokens == 430  # from its child run, not counted twice
    assert run.total_cost == pytest.approx(0.00016 + 0.00023 + 2 * 0.00005 + 0.00008)


def test_call_graph_changes_and_failures():
    g = CallGraph()
    e = dict(run_id="r")
    g.apply(ev.RunStarted(**e, call_id="r", task="q", inputs={"question": "q"}, model="m",
                          sub_model="s", project="/p"))
    g.apply(ev.IterationStarted(**e, call_id="i", parent_id="r", iteration=1))
    g.apply(ev.SubCallStarted(**e, call_id="s1", parent_id="i", function="llm_query", model="s",
                              prompt="p"))
    changes = g.take_changes()
    assert changes.added == ["r", "i", "s1"]
    assert g.nodes["s1"].status == RUNNING
    g.apply(ev.SubCallFinished(**e, call_id="s1", parent_id="i", function="llm_query", model="s",
                               response="", error="RateLimitError: 429", cost_usd=None,
                               prompt_tokens=5))
    assert g.nodes["s1"].status == FAILED and "429" in g.nodes["s1"].error
    assert not g.nodes["r"].total_cost_known  # tokens with an unknown price
    assert g.take_changes().updated >= {"s1", "i", "r"}
    g.apply(ev.RunFailed(**e, call_id="r", error="cancelled", error_type="Cancelled",
                         cancelled=True))
    assert g.nodes["r"].status == CANCELLED and g.nodes["i"].status == CANCELLED


def test_orphan_events_attach_at_top_level():
    g = CallGraph()
    g.apply(ev.SubCallStarted(run_id="r", call_id="s", parent_id="gone", function="llm_query",
                              model="m", prompt="p"))
    assert g.nodes["s"].parent_id is None


async def test_pump_batches_events_from_threads():
    batches: list[list] = []
    pump = EventPump(asyncio.get_running_loop(), batches.append, interval=0.05)

    def produce(n: int) -> None:
        for i in range(n):
            pump.push(i)

    threads = [threading.Thread(target=produce, args=(500,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    await asyncio.sleep(0.15)
    assert sum(len(b) for b in batches) == 2000
    assert len(batches) <= 3  # batched, not one flush per event
    pump.close()
    pump.push(1)
    await asyncio.sleep(0.1)
    assert sum(len(b) for b in batches) == 2000


def test_fuzzy_ranking_and_mentions():
    files = ["README.md", "src/app.py", "src/util.py", "docs/guide.md", "tests/test_app.py"]
    assert fuzzy.rank("app", files)[0] == "src/app.py"
    assert fuzzy.rank("rdme", files)[0] == "README.md"
    assert fuzzy.rank("zzz", files) == []
    assert fuzzy.mention_at("look at @src/ap", 15) == (8, "src/ap")
    assert fuzzy.mention_at("mail a@b", 8) is None
    assert fuzzy.mentions("see @src/app.py, and @README.md.") == ["src/app.py", "README.md"]


def test_ignore_filter(tmp_path: Path):
    (tmp_path / ".gitignore").write_text("*.log\n/build/\nsecret.txt\n!keep.log\n")
    for rel in ["a.py", "x.log", "keep.log", "build/out.txt", "sub/build/ok.txt", "secret.txt",
                "node_modules/m/index.js", ".git/HEAD", "env1/pyvenv.cfg", "env1/lib/x.py"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    files = set(IgnoreFilter(tmp_path).walk())
    assert files == {".gitignore", "a.py", "keep.log", "sub/build/ok.txt"}
    flt = IgnoreFilter(tmp_path)
    assert flt.ignored_path(tmp_path / "node_modules" / "m" / "index.js")
    assert not flt.ignored_path(tmp_path / "a.py")


def test_nested_gitignores_agree_with_the_codebase_index(tmp_path: Path):
    """The Files pane, `@` completion and the model's index read the same rules, nested
    `.gitignore` files and `.git/info/exclude` included."""
    tree = {
        ".gitignore": "*.log\n/out/\n", "a.py": "x", "x.log": "x", "out/o.txt": "x",
        "pkg/.gitignore": "secret.txt\n!keep.log\n/local/\n*.tmp\n", "pkg/secret.txt": "x", "pkg/keep.log": "x",
        "pkg/local/l.txt": "x", "pkg/sub/local/ok.txt": "x", "pkg/sub/t.tmp": "x", "pkg/sub/m.py": "x",
        "pkg/sub/.gitignore": "!t.tmp\n", "secret.txt": "x", "docs/[abc].md": "x", ".git/info/exclude": "docs/\n",
    }
    for rel, text in tree.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    shown = set(IgnoreFilter(tmp_path).walk())
    assert shown == {".gitignore", "a.py", "pkg/.gitignore", "pkg/keep.log", "pkg/sub/local/ok.txt", "pkg/sub/t.tmp",
                     "pkg/sub/m.py", "pkg/sub/.gitignore", "secret.txt"}
    skill = str(Path(__file__).resolve().parents[2] / "skills" / "codebase")
    sys.path.insert(0, skill)
    try:
        index = importlib.import_module("codebase_index")
        index.index(str(tmp_path), refresh=True)
        assert set(index.files()) == shown
    finally:
        sys.path.remove(skill)
        sys.modules.pop("codebase_index", None)
        sys.modules.pop("codebase_ignore", None)
    flt = IgnoreFilter(tmp_path)
    assert flt.ignored_path(tmp_path / "pkg" / "local" / "l.txt") and flt.ignored_path(tmp_path / "docs" / "[abc].md")
    assert not flt.ignored_path(tmp_path / "pkg" / "sub" / "t.tmp")


def test_a_linked_gitignore_is_not_read(tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "rules").write_text("*.py\n")
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.py").write_text("x")
    (root / "sub" / ".gitignore").symlink_to(outside / "rules")
    assert "sub/a.py" in set(IgnoreFilter(root).walk())


def test_commands_parse_and_complete():
    p = commands.parse("/model openai/gpt-4o")
    assert p and p.command and p.command.name == "model" and p.arg == "openai/gpt-4o"
    assert commands.parse("hello") is None
    assert commands.parse("//not a command") is None
    assert commands.parse("/exit").command.name == "quit"
    assert commands.parse("/nope").command is None
    assert [c.name for c in commands.complete("/s")][:3] == ["sub-model", "save", "skills"]
    required = {"model", "sub-model", "new", "clear", "save", "resume", "export", "budget",
                "skills", "theme", "trace", "help", "quit"}
    assert required <= set(commands.BY_NAME)


def test_fmt():
    assert fmt.tokens(950) == "950" and fmt.tokens(1234) == "1.2k" and fmt.tokens(2_000_000) == "2M"
    assert fmt.cost(0.00123) == "$0.0012" and fmt.cost(1.5) == "$1.50" and fmt.cost(None) == "$?"
    assert fmt.duration(0.25) == "250ms" and fmt.duration(75) == "1m15s"


def test_themes_load_builtin_and_user(tmp_path: Path):
    from rlm_tui.tui.themes import discover, theme_dirs

    user = tmp_path / "themes"
    user.mkdir()
    (user / "mine.toml").write_text('name = "mine"\ndark = false\n[colors]\nprimary = "#ff0000"\n')
    (user / "broken.toml").write_text('name = "broken"\n[colors]\nprimary = "not-a-colour"\n')
    found = discover([theme_dirs()[0], user])
    assert {"rlm-dark", "rlm-light", "rlm-high-contrast", "mine"} <= set(found.themes)
    assert found.themes["mine"].dark is False
    assert len(found.errors) == 1 and "broken.toml" in found.errors[0]
    assert found.syntax["rlm-light"]


def test_tui_modules_stay_small():
    root = Path(__file__).resolve().parents[2] / "rlm_tui" / "tui"
    big = {p.name: n for p in root.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not big


def test_app_import_is_light():
    """Importing the app must not import the engine's heavy dependencies."""
    code = ("import sys; import rlm_tui.tui.app; "
            "bad = [m for m in ('litellm', 'dspy', 'wasmtime') if m in sys.modules]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
