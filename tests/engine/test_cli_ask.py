"""`rlm-tui ask` and `rlm-tui replay`: answers, --json, exit codes, progress on stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rlm_tui.cli import EXIT_FAILED, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, main
from tests.engine.test_engine import code
from tests.support.projects import write_project
from tests.support.scripted_server import Reply


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path, {"app.py": "def main():\n    print('hi')\n"})


def ask(server, project, *extra: str) -> list[str]:
    return ["ask", "What does app.py define?", "--project", str(project), "--model", "openai/root",
            "--sub-model", "openai/sub", "--api-base", server.url, *extra]


def test_ask_prints_the_answer_and_progress(scripted_server, project, capsys):
    scripted_server.script("root", code("import ast\nprint([n.name for n in ast.parse(open('app.py').read()).body])"),
                           code("SUBMIT(answer='app.py defines main()')"))
    assert main(ask(scripted_server, project)) == EXIT_OK
    out, err = capsys.readouterr()
    assert out.strip() == "app.py defines main()"
    assert "iteration 1" in err and "iteration 2" in err


def test_ask_json_has_outputs_usage_and_partial(scripted_server, project, capsys):
    scripted_server.script("root", code("SUBMIT(answer='main')"))
    assert main(ask(scripted_server, project, "--json", "-q")) == EXIT_OK
    data = json.loads(capsys.readouterr().out)
    assert data["outputs"] == {"answer": "main"}
    assert data["partial"] is False
    assert data["usage"]["lm_calls"] == 1 and data["usage"]["prompt_tokens"] > 0


def test_typed_signature_from_the_command_line(scripted_server, project, capsys):
    scripted_server.script("root", code("SUBMIT(count=1, names=['main'])"))
    argv = ask(scripted_server, project, "--signature", "question -> count: int, names: list[str]", "--json", "-q")
    assert main(argv) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["outputs"] == {"count": 1, "names": ["main"]}


def test_partial_answer_exit_code(scripted_server, project, capsys):
    scripted_server.script("root", Reply(code("print(1)"), times=2))
    scripted_server.default('{"answer": "partial guess"}')
    assert main(ask(scripted_server, project, "--max-iterations", "2", "--json", "-q")) == EXIT_PARTIAL
    data = json.loads(capsys.readouterr().out)
    assert data["partial"] is True and data["budget_exhausted"] == "iterations"
    assert data["outputs"]["answer"] == "partial guess"


def test_lm_failure_exit_code(scripted_server, project, capsys):
    scripted_server.script("root", Reply("", fault="401"))
    assert main(ask(scripted_server, project, "-q")) == EXIT_FAILED
    assert "rlm-tui:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ask", "q", "--project", "/definitely/missing"], "does not exist"),
        (["ask", "q", "--max-iterations", "0", "--model", "openai/x"], "max_iterations"),
        (["ask", "q", "--signature", "question -> ", "--model", "openai/x"], "signature"),
    ],
)
def test_usage_errors(argv, message, capsys, tmp_path):
    assert main(argv) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_no_model_says_how_to_set_one(capsys, monkeypatch, project):
    from rlm_tui.local import default

    monkeypatch.delenv("RLM_TUI_MODEL", raising=False)
    monkeypatch.setattr(default, "installed_default", lambda: None)  # no offline model to fall back on
    assert main(["ask", "q", "--project", str(project)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "No model is configured" in err and "RLM_TUI_MODEL" in err and "--model" in err


def test_trace_and_replay(scripted_server, project, tmp_path, capsys):
    trace = tmp_path / "run.jsonl"
    scripted_server.script("root", code("x = llm_query('hi')"), code("SUBMIT(answer=x)"))
    assert main(ask(scripted_server, project, "--trace", str(trace), "-q")) == EXIT_OK
    capsys.readouterr()
    assert main(["replay", str(trace)]) == EXIT_OK
    summary = capsys.readouterr().out
    assert "iteration 1" in summary and "llm_query" in summary and "outputs: {'answer': 'echo: hi'}" in summary


def test_replay_of_a_bad_file_is_a_usage_error(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\nstill not json\n")
    assert main(["replay", str(bad)]) == EXIT_USAGE
    assert "not a trace event" in capsys.readouterr().err


def test_installed_command_answers_end_to_end(scripted_server, project):
    scripted_server.script("root", code("SUBMIT(answer=str(len(open('app.py').read().splitlines())))"))
    exe = Path(sys.executable).with_name("rlm-tui")
    done = subprocess.run([str(exe), *ask(scripted_server, project)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == EXIT_OK, done.stderr
    assert done.stdout.strip() == "2"


def test_skills_from_the_command_line(scripted_server, project, capsys):
    scripted_server.script("root", code("from tables import markdown_table\nSUBMIT(answer=markdown_table([{'a': 1}]))"))
    assert main(ask(scripted_server, project, "--skill", "tables", "-q")) == EXIT_OK
    assert capsys.readouterr().out.startswith("| a |")
    assert "## Skill: tables" in scripted_server.chat_requests("root")[0].prompt_text


def test_unknown_skill_is_a_usage_error(scripted_server, project, capsys):
    assert main(ask(scripted_server, project, "--skill", "nope")) == EXIT_USAGE
    assert "unknown skill(s) nope" in capsys.readouterr().err


def test_a_shadowed_skill_says_which_definition_is_used(scripted_server, project, capsys):
    folder = project / ".rlm" / "skills" / "tables"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: tables\ndescription: mine\n---\nMy tables.\n")
    scripted_server.script("root", code("SUBMIT(answer='ok')"))
    assert main(ask(scripted_server, project)) == EXIT_OK
    err = capsys.readouterr().err
    assert "skill 'tables': using project:" in err and "(over built-in:" in err


def test_ask_shows_the_first_run_progress_on_stderr(scripted_server, project, capsys, monkeypatch):
    """A fresh cache downloads the image and compiles the sandbox: `ask` says so, as the TUI does."""
    from rlm_tui.sandbox import sandbox as sandbox_module

    real_shared_module = sandbox_module.shared_module

    def first_run(progress=None):
        assert progress is not None, "the run gave the sandbox no progress hook"
        progress("Downloading the Python sandbox image…")
        progress("Compiling the Python sandbox (first run only, ~45 s)…")
        return real_shared_module(progress)

    monkeypatch.setattr(sandbox_module, "shared_module", first_run)
    scripted_server.script("root", code("SUBMIT(answer='main')"))
    assert main(ask(scripted_server, project)) == EXIT_OK
    err = capsys.readouterr().err
    assert "· Downloading the Python sandbox image…" in err
    assert "· Compiling the Python sandbox (first run only, ~45 s)…" in err


def test_ask_on_a_fresh_compile_cache_prints_the_real_compile_progress(
        scripted_server, project, capsys, monkeypatch, tmp_path):
    """No compiled module in the cache: the real first-run path (not a stand-in hook) reports
    the compile on stderr. wasmtime's compile itself is swapped for loading the already
    compiled module, so the test takes a second, not ~45 s."""
    import wasmtime

    from rlm_tui.sandbox import wasm_module

    shared = wasm_module.shared_module()  # this process's engine and module, cached already
    monkeypatch.setattr(wasm_module, "_shared", None)  # restored afterwards
    monkeypatch.setattr(wasm_module, "_make_engine", lambda: shared.engine)  # one engine per process
    monkeypatch.setattr(wasm_module, "module_cache_file", lambda image: tmp_path / "modules" / "fresh.cwasm")
    compiles = []

    def compile_from_file(engine, path):
        compiles.append(path)
        return wasmtime.Module.deserialize_file(engine, str(shared.cache_file))

    monkeypatch.setattr(wasmtime.Module, "from_file", staticmethod(compile_from_file))
    scripted_server.script("root", code("SUBMIT(answer='main')"))
    assert main(ask(scripted_server, project)) == EXIT_OK
    err = capsys.readouterr().err
    assert len(compiles) == 1
    assert "· Compiling the Python sandbox (first run only, ~45 s)…" in err
    assert (tmp_path / "modules" / "fresh.cwasm").is_file()  # and it is cached for the next start
