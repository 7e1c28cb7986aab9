"""`WasmInterpreter` behaves as DSPy's `PythonInterpreter` promises its users: callbacks fire,
`execute` returns the trailing expression's value, tool results and tool errors cross as DSPy's
sandbox hands them over."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import dspy
import pytest
from dspy.primitives.code_interpreter import CodeExecutionError
from dspy.utils.callback import BaseCallback

from rlm_tui.sandbox import WasmInterpreter


class Recorder(BaseCallback):
    """Records the interpreter callbacks DSPy's `with_callbacks` dispatches."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def on_interpreter_startup_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        self.seen.append(("startup", None))

    def on_interpreter_execute_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        self.seen.append(("execute", inputs["code"]))

    def on_interpreter_execute_end(self, call_id: str, outputs: Any, exception: BaseException | None = None) -> None:
        self.seen.append(("executed", outputs if exception is None else type(exception).__name__))

    def on_interpreter_tool_call_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        self.seen.append(("tool", (inputs["tool_name"], inputs["kwargs"])))

    def on_interpreter_tool_call_end(self, call_id: str, outputs: Any, exception: BaseException | None = None) -> None:
        self.seen.append(("tool done", outputs))

    def on_interpreter_shutdown_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        self.seen.append(("shutdown", None))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "a.txt").write_text("hello world")
    return tmp_path


def test_instance_callbacks_see_start_execute_tool_calls_and_shutdown(folder: Path) -> None:
    recorder = Recorder()
    interpreter = WasmInterpreter(project=folder, callbacks=[recorder], tools={"double": lambda n: n * 2})
    interpreter.start()
    assert interpreter.execute("double(n=4)") == 8
    with pytest.raises(CodeExecutionError):
        interpreter.execute("1 / 0")
    interpreter.shutdown()
    kinds = [kind for kind, _ in recorder.seen]
    assert kinds[0] == "startup" and kinds[-1] == "shutdown"
    assert ("tool", ("double", {"n": 4})) in recorder.seen
    assert ("tool done", 8) in recorder.seen
    assert ("executed", 8) in recorder.seen
    assert ("executed", "CodeExecutionError") in recorder.seen


def test_global_callbacks_from_dspy_settings_fire(folder: Path) -> None:
    recorder = Recorder()
    with dspy.context(callbacks=[recorder]), WasmInterpreter(project=folder) as interpreter:
        interpreter.execute("x = 1")
    assert ("execute", "x = 1") in recorder.seen


def test_execute_returns_the_trailing_expression_value(folder: Path) -> None:
    with WasmInterpreter(project=folder) as interpreter:
        assert interpreter.execute("x = 40\nx + 2") == 42
        assert interpreter.execute("{'a': [1, 2.5, None], 'b': (1, 2)}") == {"a": [1, 2.5, None], "b": [1, 2]}
        assert interpreter.execute("print('shown')\n'value'") == "value"  # as PythonInterpreter: the value wins
        assert interpreter.execute("_ * 2") == "valuevalue"  # `_` holds the last value, as in a REPL
        assert interpreter.execute("print('only printed')\nNone") == "only printed\n"
        assert interpreter.execute("y = 1") == ""
        assert interpreter.execute("a = 1; a + 1  # same line") == 2
        assert interpreter.execute("(x +\n  1)") == 41
        assert interpreter.execute("'ü' + str(\n x)") == "ü40"
        assert interpreter.execute("import asyncio\nasync def f():\n    return 5\nawait f()") == 5
        assert interpreter.execute("class Opaque:\n    def __repr__(self):\n        return 'Opaque!'\nOpaque()") == "Opaque!\n"
        assert "y" in interpreter.execute("sorted(k for k in globals() if not k.startswith('__'))")


@dataclasses.dataclass
class Point:
    x: int


class Handle:
    def __str__(self) -> str:
        return "handle#7"


def test_tool_results_that_json_cannot_carry_fall_back_to_str(folder: Path) -> None:
    tools = {"handle": lambda: Handle(), "point": lambda: Point(3), "nan": lambda: float("nan")}
    with WasmInterpreter(project=folder, tools=tools) as interpreter:
        assert interpreter.execute("handle()") == "handle#7"
        assert interpreter.execute("point()") == {"x": 3}  # structured values keep their structure
        assert interpreter.execute("nan()") == "nan"


def test_a_tool_exception_is_catchable_as_runtime_error(folder: Path) -> None:
    def lookup(key: str) -> str:
        raise KeyError(key)

    with WasmInterpreter(project=folder, tools={"lookup": lookup}) as interpreter:
        code = "try:\n    lookup(key='k')\nexcept RuntimeError as e:\n    caught = str(e)\ncaught"
        assert interpreter.execute(code) == "KeyError: 'k'"
        with pytest.raises(CodeExecutionError, match="RuntimeError: KeyError"):
            interpreter.execute("lookup('k')")
        with pytest.raises(CodeExecutionError, match="TypeError: lookup"):  # a wrong call stays a TypeError
            interpreter.execute("lookup('a', 'b')")
