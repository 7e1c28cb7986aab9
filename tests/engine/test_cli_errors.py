"""Bad input on the command line is a one-line error and exit 2, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rlm_tui.cli import EXIT_USAGE, main
from tests.support.projects import write_project


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path)


def ask(project: Path, *extra: str) -> list[str]:
    return ["ask", "q", "--project", str(project), "--model", "openai/root", "--api-base", "http://127.0.0.1:9/v1",
            "--max-seconds", "5", "--max-lm-calls", "1",
            *extra]


def one_line_usage_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("rlm-tui") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(("extra", "message"), [
    (["--signature", "doc: File -> answer"], "input 'doc' is a File: 'q' is not a file"),
    (["--signature", "docs: list[File] -> answer"], "takes a list of files"),
    (["--signature", "a -> b: NoSuchType"], "invalid signature"),
    (["--signature", "a -> b: list["], "invalid signature"),
    (["--max-cost", "nan"], "max_cost_usd"),
    (["--max-seconds", "-1"], "max_seconds"),
    (["--max-iterations", "0"], "max_iterations"),
    (["--skill", "no-such-skill"], "unknown skill(s) no-such-skill"),
    (["--config", "/no/such/config.toml"], "--config /no/such/config.toml: no such file"),
])
def test_bad_ask_arguments(project, capsys, extra, message):
    assert main(ask(project, *extra)) == EXIT_USAGE
    assert message in one_line_usage_error(capsys)


def test_trace_at_a_directory_or_an_unwritable_path(project, tmp_path, capsys):
    assert main(ask(project, "--trace", str(tmp_path))) == EXIT_USAGE
    assert "is a directory" in one_line_usage_error(capsys)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(ask(project, "--trace", str(blocker / "trace.jsonl"))) == EXIT_USAGE
    assert "cannot write there" in one_line_usage_error(capsys)


def test_config_that_is_a_directory_or_unreadable(project, tmp_path, capsys):
    assert main(ask(project, "--config", str(tmp_path))) == EXIT_USAGE
    assert "is a directory" in one_line_usage_error(capsys)
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"model = \xff\n")
    assert main(ask(project, "--config", str(bad))) == EXIT_USAGE
    assert "not valid TOML" in one_line_usage_error(capsys)


@pytest.mark.parametrize("lines", [
    ["[1, 2]", "[3]"],
    ['"a string"', '"another"'],
    ["42", "null"],
    ['{"type": "Nope", "run_id": "r", "call_id": "c"}', "{}"],
    ['{"type": "RunStarted", "run_id": "r", "call_id": "c"}', "{}"],  # required fields missing
    ['{"type": "RunStarted", "run_id": "r", "call_id": "c", "task": 5, "inputs": {}, "model": "m", '
     '"sub_model": "m", "project": "p"}', "{}"],  # a field of the wrong type
    ['{"type": "CodeCell", "run_id": "r", "call_id": "c", "iteration": "one", "reasoning": "", "code": ""}', "{}"],
    ['{"type": "VariablesChanged", "run_id": "r", "call_id": "c", "variables": [1]}', "{}"],
])
def test_replay_of_malformed_traces(tmp_path, capsys, lines):
    trace = tmp_path / "bad.jsonl"
    trace.write_text("\n".join(lines) + "\n")
    assert main(["replay", str(trace), "--summary"]) == EXIT_USAGE
    assert "not a trace event" in one_line_usage_error(capsys)


@pytest.mark.parametrize("make", [
    lambda p: p.write_bytes(b""),
    lambda p: p.write_bytes(b"\x00\xff\xfe garbage"),
    lambda p: p.mkdir(),
    lambda p: None,  # missing
])
def test_replay_of_files_that_are_not_traces(tmp_path, capsys, make):
    path = tmp_path / "x.jsonl"
    make(path)
    assert main(["replay", str(path), "--summary"]) == EXIT_USAGE
    one_line_usage_error(capsys)


def test_tui_refuses_unknown_skills_and_missing_projects_before_starting(project, tmp_path, capsys):
    assert main([str(project), "--model", "openai/x", "--skill", "nope"]) == EXIT_USAGE
    assert "unknown skill(s) nope" in one_line_usage_error(capsys)
    assert main([str(tmp_path / "missing"), "--model", "openai/x"]) == EXIT_USAGE
    assert "does not exist" in one_line_usage_error(capsys)


def test_the_installed_command_exits_2_without_a_traceback(tmp_path):
    trace = tmp_path / "lists.jsonl"
    trace.write_text(json.dumps([1]) + "\n" + json.dumps("s") + "\n")
    done = subprocess.run([sys.executable, "-m", "rlm_tui", "replay", str(trace), "--summary"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == EXIT_USAGE and "Traceback" not in done.stderr
    assert done.stderr.startswith("rlm-tui: ") and done.stderr.count("\n") == 1
