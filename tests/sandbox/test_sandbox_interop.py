"""`WasmInterpreter` speaks DSPy's CodeInterpreter protocol, and `dspy.RLM` runs on it."""

from __future__ import annotations

from pathlib import Path

import dspy
import pytest
from dspy.primitives.code_interpreter import CodeExecutionError, CodeInterpreter, CodeInterpreterError, FinalOutput
from dspy.utils.dummies import DummyLM

from rlm_tui.sandbox import WasmInterpreter


@pytest.fixture
def interp(project: Path):
    with WasmInterpreter(project=project, timeout_s=5) as interpreter:
        yield interpreter


def test_it_is_a_code_interpreter(project: Path) -> None:
    interpreter = WasmInterpreter(project=project)
    assert isinstance(interpreter, CodeInterpreter)
    assert interpreter.sandbox is None  # nothing allocated before start()
    interpreter.start()
    interpreter.start()  # idempotent
    assert interpreter.sandbox is not None
    interpreter.shutdown()
    with pytest.raises(CodeInterpreterError, match="ended"):
        interpreter.execute("1")


def test_execute_returns_output_and_keeps_state(interp: WasmInterpreter) -> None:
    assert interp.execute("x = 40\nprint('hi')") == "hi\n"
    assert interp.execute("x + 2") == 42
    assert interp.execute("open('/project/a.txt').read().split()") == ['hello', 'world']
    assert interp.execute("y = 1") == ""


def test_variables_are_injected(interp: WasmInterpreter) -> None:
    out = interp.execute("print(name, nums, cfg['k'], tags)", variables={"name": "ü", "nums": (1, 2), "cfg": {"k": None}, "tags": {"a"}})
    assert out == "ü [1, 2] None ['a']\n"
    with pytest.raises(CodeInterpreterError, match="Invalid variable name"):
        interp.execute("1", variables={"not valid": 1})


def test_errors_map_to_the_protocol(interp: WasmInterpreter) -> None:
    interp.execute("kept = 1")
    with pytest.raises(CodeExecutionError, match="ZeroDivisionError") as caught:
        interp.execute("print('partial')\n1 / 0")
    assert "partial" in str(caught.value)
    with pytest.raises(SyntaxError):
        interp.execute("def (:")
    assert interp.execute("kept") == 1


def test_typed_submit_yields_final_output(interp: WasmInterpreter) -> None:
    interp.output_fields = [{"name": "answer", "type": "str"}, {"name": "count", "type": "int"}]
    assert interp.execute("SUBMIT(answer='a', count=2)") == FinalOutput({"answer": "a", "count": 2})
    assert interp.execute("SUBMIT('b', 3)") == FinalOutput({"answer": "b", "count": 3})
    interp.output_fields = None
    assert interp.execute("SUBMIT('only')") == FinalOutput({"output": "only"})


def test_tools_are_called_by_keyword_or_position_and_can_change(interp: WasmInterpreter) -> None:
    calls = []

    def lookup(key: str, default: str = "none") -> str:
        calls.append((key, default))
        return {"a": "alpha"}.get(key, default)

    def keyword_only(**kwargs):  # how DSPy wraps tools: keywords only, signature copied
        return lookup(**kwargs)

    keyword_only.__signature__ = __import__("inspect").signature(lookup)
    interp.tools["lookup"] = keyword_only
    assert interp.execute("lookup('a')") == "alpha"
    assert interp.execute("lookup(key='b', default='d')") == "d"
    assert calls == [("a", "none"), ("b", "d")]
    assert interp.execute("'lookup' in globals()") is True  # DSPy's shim looks tools up there

    def failing(**kwargs):
        raise ValueError("tool broke")

    interp.tools["failing"] = failing
    with pytest.raises(CodeExecutionError, match="tool broke"):
        interp.execute("failing()")
    interp.tools["lookup"] = lambda key, default="x": key.upper()
    assert interp.execute("lookup('q')") == "Q"

    async def slow_upper(text: str) -> str:
        return text.upper()

    interp.tools["slow_upper"] = slow_upper
    assert interp.execute("slow_upper('abc')") == "ABC"


def test_a_trap_ends_the_session_as_the_protocol_asks(project: Path) -> None:
    interpreter = WasmInterpreter(project=project, timeout_s=0.3)
    interpreter.execute("x = 1")
    with pytest.raises(CodeInterpreterError, match="time limit"):
        interpreter.execute("while True:\n    pass")
    with pytest.raises(CodeInterpreterError, match="ended"):
        interpreter.execute("1")


def test_survive_restarts_reports_and_carries_on(project: Path) -> None:
    with WasmInterpreter(project=project, timeout_s=0.3, survive_restarts=True) as interpreter:
        with pytest.raises(CodeExecutionError, match="restarted"):
            interpreter.execute("while True:\n    pass")
        assert interpreter.execute("2 + 2") == 4


def test_project_defaults_to_an_empty_folder() -> None:
    with WasmInterpreter() as interpreter:
        assert interpreter.execute("import os\nos.listdir('/project')") == []


class EchoSubLM:
    """A sub-LM for `llm_query`: answers with the prompt upper-cased."""

    model = "echo"

    def __call__(self, prompt: str, **kwargs):
        return [f"SUB:{prompt.upper()}"]


def test_dspy_rlm_runs_end_to_end_on_the_wasm_sandbox(project: Path) -> None:
    steps = [
        {
            "reasoning": "Read the file and ask a sub-LM.",
            "code": "```python\ntext = open('/project/a.txt').read()\nwords = text.split()\nsub = llm_query(words[0])\nprint(question, len(words), sub)\n```",
        },
        {"reasoning": "A mistake.", "code": "```python\n1 / 0\n```"},
        {
            "reasoning": "State survived; submit typed outputs.",
            "code": "```python\nSUBMIT(answer=sub + ' ' + words[1], count=len(words))\n```",
        },
    ]
    lm = DummyLM(steps)
    factory = WasmInterpreter.factory(project=project, timeout_s=10)
    rlm = dspy.RLM("question -> answer: str, count: int", max_iters=5, sub_lm=EchoSubLM(), interpreter_factory=factory)
    with dspy.context(lm=lm):
        prediction = rlm(question="what is in a.txt?")
    assert prediction.answer == "SUB:HELLO world"
    assert prediction.count == 2
    outputs = [step["output"] for step in prediction.trajectory]
    assert "what is in a.txt? 2 SUB:HELLO" in outputs[0]
    assert "ZeroDivisionError" in outputs[1]
    assert "Python 3.15" in rlm.generate_action.signature.instructions  # our execution_instructions


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # DummyLM is called with messages= inside DSPy
def test_dspy_sandbox_shim_installs_and_bridges_predictors(project: Path) -> None:
    steps = [
        {"reasoning": "Use a sub-predictor.", "code": "```python\nimport dspy\nguess = dspy.Predict('q -> a')(q='2+2?')\nprint(guess.a)\n```"},
        {"reasoning": "Done.", "code": "```python\nSUBMIT(answer=guess.a)\n```"},
    ]
    main = DummyLM(steps)
    sub = DummyLM([{"a": "four"}])
    rlm = dspy.RLM("question -> answer", max_iters=3, sub_lm=sub, interpreter_factory=WasmInterpreter.factory(project=project))
    with dspy.context(lm=main):
        prediction = rlm(question="add")
    assert prediction.answer == "four", prediction.trajectory
