"""Inputs of any size the memory cap allows reach the guest over the door, never inside source
code; a restart while loading them is never silent."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from dspy.primitives.code_interpreter import CodeExecutionError, CodeInterpreterError

from rlm_tui.sandbox import Sandbox, SandboxRestarted, WasmInterpreter

BIG = 100 << 20


@pytest.fixture(scope="module")
def big_text() -> str:
    return "0123456789abcdef" * (BIG // 16)


def test_a_100_mb_string_input_reaches_the_guest_and_survives_a_restart(project: Path, big_text: str) -> None:
    with Sandbox(project, timeout_s=20, memory_mb=1024) as sandbox:
        sandbox.run("kept = 'me'")
        variables = sandbox.set_variables({"doc": big_text})
        assert {v.name: v.size for v in variables}["doc"] == BIG
        check = sandbox.run("import hashlib\nprint(len(doc), hashlib.sha256(doc.encode()).hexdigest())")
        assert check.ok, check.error
        assert check.stdout == f"{BIG} {hashlib.sha256(big_text.encode()).hexdigest()}\n"
        trapped = sandbox.run("while True:\n    pass", timeout_s=0.5)
        assert trapped.restarted and "doc" in trapped.error.split("restored")[1]  # inputs are sent again
        assert sandbox.run("print(len(doc), kept)").stdout == f"{BIG} me\n"


def test_large_list_and_dict_inputs(project: Path) -> None:
    rows = [{"id": i, "name": f"row {i}", "tags": ["a", "b"]} for i in range(300_000)]
    table = {f"key{i}": [i, i * 0.5, None, True] for i in range(300_000)}
    with Sandbox(project, timeout_s=20) as sandbox:
        sandbox.set_variables({"rows": rows, "table": table, "nothing": None, "text": "é\u2603\n\"quoted\""})
        result = sandbox.run("print(len(rows), rows[-1], len(table), table['key7'], nothing, text)")
        assert result.ok, result.error
        assert result.stdout == ("300000 {'id': 299999, 'name': 'row 299999', 'tags': ['a', 'b']} "
                                 "300000 [7, 3.5, None, True] None é\u2603\n\"quoted\"\n")


def test_an_input_sent_again_crosses_only_when_the_guest_changed_it(project: Path, big_text: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with Sandbox(project) as sandbox:
        sent: list[int] = []
        real = sandbox._state.inputs_frames

        def spy(names: list[str]) -> bytes:
            reply = real(names)
            sent.append(len(reply))
            return reply

        monkeypatch.setattr(sandbox._state, "inputs_frames", spy)
        sandbox.set_variables({"doc": big_text, "n": 1})
        sandbox.set_variables({"doc": big_text, "n": 1})  # the same objects, unchanged in the guest
        assert sent[0] > BIG and sent[1] == 0  # nothing crossed again
        sandbox.run("doc = doc[:10]")
        sandbox.set_variables({"doc": big_text, "n": 2})
        assert sent[2] > BIG
        assert sandbox.run("print(len(doc), n)").stdout == f"{BIG} 2\n"


def test_bad_inputs_are_clear_errors_and_lose_nothing(project: Path) -> None:
    with Sandbox(project) as sandbox:
        sandbox.run("kept = 1")
        with pytest.raises(Exception, match="identifier"):
            sandbox.set_variables({"not a name": 1})
        with pytest.raises(TypeError):
            sandbox.set_variables({"ok": object()})
        assert sandbox.run("kept").stdout == "1\n"


def test_a_load_that_stops_the_instance_raises_and_restores(project: Path) -> None:
    with Sandbox(project) as sandbox:
        sandbox.run("kept = 1")
        nested = b"[" * 200_000 + b"]" * 200_000  # the guest's JSON parser overflows its stack
        with pytest.raises(SandboxRestarted, match="restored.*kept"):
            sandbox.set_variables({"deep": ["placeholder"]}, encode=lambda _value: nested)
        assert sandbox.run("kept").stdout == "1\n"


def test_the_dspy_interpreter_takes_a_100_mb_input_and_never_restarts_silently(project: Path, big_text: str) -> None:
    with WasmInterpreter(project=project, timeout_s=3, survive_restarts=True) as interpreter:
        interpreter.execute("x = 41")
        assert interpreter.execute("print(len(doc), x)", variables={"doc": big_text}) == f"{BIG} 41\n"
        with pytest.raises(CodeExecutionError, match="restarted.*restored.*x"):
            interpreter.execute("while True:\n    pass", variables={"doc": big_text})
        assert interpreter.execute("print(len(doc), x)", variables={"doc": big_text}) == f"{BIG} 41\n"
    strict = WasmInterpreter(project=project, timeout_s=0.5)
    strict.execute("x = 1")
    with pytest.raises(CodeInterpreterError, match="restarted"):
        strict.execute("while True:\n    pass")
    with pytest.raises(CodeInterpreterError, match="ended"):
        strict.execute("x")
