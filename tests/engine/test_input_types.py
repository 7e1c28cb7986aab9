"""Inputs keep their types in the sandbox: bytes, sets, tuples and int-keyed dicts arrive as
those types (sets in the same order on every run); what cannot (a pydantic model) crosses as
JSON and the prompt says exactly what it became. WasmInterpreter sends sets as sorted lists,
as DSPy's PythonInterpreter does. Real litellm HTTP to the scripted server, real WASM sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pydantic
import pytest

from rlm_tui.engine.input_values import encode_input, json_note
from rlm_tui.engine.prompts import describe_inputs
from rlm_tui.sandbox.interop import WasmInterpreter
from tests.engine.test_engine import make_rlm
from tests.support.projects import write_project


def code(body: str) -> str:
    return f"Let me work.\n```python\n{body}\n```"


class Point(pydantic.BaseModel):
    x: int
    y: int


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path)


SHOW = ("for name in ('raw', 'tags', 'pair', 'by_id', 'nested'):\n"
        "    v = globals()[name]\n"
        "    print(name, type(v).__name__, repr(v))\n"
        "print('keys', [type(k).__name__ for k in by_id], type(nested['when']).__name__, type(nested['ids']).__name__)\n")


async def test_builtin_inputs_keep_their_types(scripted_server, project):
    scripted_server.script("root", code(SHOW + "SUBMIT(answer='ok')"))
    rlm, _ = make_rlm(scripted_server, project, signature="raw, tags, pair, by_id, nested -> answer")
    prediction = await rlm.aforward(raw=b"\x00\xffbin", tags={"pear", "apple", "fig"}, pair=(1, "a"),
                                    by_id={1: "one", 2: "two"}, nested={"when": (2024, 5), "ids": frozenset({3, 1})})
    output = prediction.trajectory[0]["output"]
    assert "raw bytes b'\\x00\\xffbin'" in output
    assert "tags set {" in output and all(f"'{t}'" in output for t in ("pear", "apple", "fig"))
    assert "pair tuple (1, 'a')" in output
    assert "by_id dict {1: 'one', 2: 'two'}" in output
    assert "keys ['int', 'int'] tuple frozenset" in output
    prompt = scripted_server.chat_requests("root")[0].prompt_text
    assert "- `tags` (set, 3 items): {'apple', 'fig', 'pear'}" in prompt  # sorted, not hash order
    assert "became" not in prompt


def test_set_order_is_the_same_whatever_the_host_hash_seed():
    script = ("from rlm_tui.engine.input_values import encode_input\n"
              "import sys; sys.stdout.write(encode_input({'pear', 'apple', 'fig', 'kiwi', 'plum'})[1].hex())")
    outputs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")}
    assert len(outputs) == 1


async def test_a_model_input_says_what_it_became(scripted_server, project):
    scripted_server.script("root", code("print(type(p).__name__, p)\nSUBMIT(answer='ok')"))
    rlm, _ = make_rlm(scripted_server, project, signature="p, tags -> answer")
    prediction = await rlm.aforward(p=Point(x=1, y=2), tags={"b", "a"})
    assert "dict {'x': 1, 'y': 2}" in prediction.trajectory[0]["output"]
    prompt = scripted_server.chat_requests("root")[0].prompt_text
    assert "- `p` (Point; in the REPL: Point became dict):" in prompt


def test_json_notes_name_every_change():
    assert json_note({"when": (1, 2), "p": Point(x=1, y=2)}) == "Point became dict, tuples became lists"
    assert json_note([1, "a"]) == json_note({"a": [1.5, None]}) == json_note("text") == ""
    assert json_note({1: b"x"}) == ""  # crosses as builtins, unchanged
    assert encode_input({1: b"x"})[0] == "pickle"
    assert encode_input({"a": [1]}) == b'{"a": [1]}'
    assert "1 items" in describe_inputs({"s": {1}})


def test_wasm_interpreter_sends_sets_as_sorted_lists(project):
    with WasmInterpreter(project=project) as interp:
        assert interp.execute("print(tags, pair)", variables={"tags": {"pear", "apple", "fig"}, "pair": (1, 2)}
                              ).strip() == "['apple', 'fig', 'pear'] [1, 2]"
