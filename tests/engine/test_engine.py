"""The RLM loop end to end: real litellm HTTP to the scripted server, real WASM sandbox."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Literal

import dspy
import pytest
from pydantic import BaseModel

from rlm_tui.config import Budget
from rlm_tui.engine.events import (
    BudgetExhausted,
    CellOutput,
    Event,
    LMToken,
    RunFailed,
    RunFinished,
    RunStarted,
    SubCallFinished,
    SubCallStarted,
    SubmitRejected,
    VariablesChanged,
)
from rlm_tui.engine.rlm import RLM
from tests.support.projects import write_project
from tests.support.scripted_server import Reply, last_user_text


def code(body: str, reasoning: str = "Let me look.") -> str:
    return f"{reasoning}\n```python\n{body}\n```"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path, {"hello.txt": "hello from the project\n", "pkg/mod.py": "def handler(request):\n    return 'ok'\n", "data.bin": bytes(range(256))})


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


def make_rlm(server, project: Path, signature: str = "question -> answer", **kwargs) -> tuple[RLM, Recorder]:
    recorder = Recorder()
    kwargs.setdefault("sub_lm", "openai/sub")
    rlm = RLM(signature, lm=kwargs.pop("lm", "openai/root"), project=project, api_base=server.url,
              on_event=recorder, **kwargs)
    return rlm, recorder


def sub_answers(request: dict) -> str:
    """Sub-LM fallback: DSPy-format answers for predict, echoes otherwise."""
    system = str((request.get("messages") or [{}])[0].get("content", ""))
    if "[[ ## sentiment ## ]]" in system:
        return "[[ ## sentiment ## ]]\npositive\n\n[[ ## score ## ]]\n0.9\n\n[[ ## completed ## ]]"
    return f"echo: {last_user_text(request)}"


async def test_multi_iteration_run_uses_every_guest_function(scripted_server, project):
    server = scripted_server
    server.default(sub_answers)
    server.script(
        "root",
        code("text = open('hello.txt').read()\nraw = open('data.bin', 'rb').read()\nprint(text, len(raw))"),
        code("one = llm_query('summarise: ' + text)\nmany = llm_query_batched(['a', 'b', 'c'])\n"
             "typed = predict('text -> sentiment: str, score: float', text=text)\n"
             "child = rlm_query('what is in pkg?')\nprint(one, many, typed, child)"),
        code("SUBMIT(answer='pkg has mod.py')"),  # the child run's root LM
        code("SUBMIT(answer=f'{text.strip()} / {child}')"),
    )
    rlm, rec = make_rlm(server, project)
    prediction = await rlm.aforward(question="What is here?")

    assert prediction.answer == "hello from the project / pkg has mod.py"
    assert prediction.partial is False
    assert len(prediction.trajectory) == 3
    assert "hello from the project\n 256" in prediction.trajectory[0]["output"]
    second = prediction.trajectory[1]["output"]
    assert "echo: summarise: hello from the project" in second
    assert "['echo: a', 'echo: b', 'echo: c']" in second
    assert "'sentiment': 'positive'" in second and "'score': 0.9" in second
    functions = [e.function for e in rec.of(SubCallFinished)]
    assert sorted(set(functions)) == ["llm_query", "llm_query_batched", "predict", "rlm_query"]
    runs = rec.of(RunStarted)
    assert [r.depth for r in runs] == [0, 1]
    rlm_call = next(e for e in rec.of(SubCallStarted) if e.function == "rlm_query")
    assert runs[1].parent_id == rlm_call.call_id  # the child run hangs under its sub-call
    assert prediction.usage.lm_calls >= 8
    assert prediction.usage.prompt_tokens > 0
    assert rec.of(LMToken), "the root LM's tokens stream out as events"
    root_prompt = server.chat_requests("root")[0].prompt_text
    assert "hello from the project" not in root_prompt  # the project is never pasted


async def test_no_code_block_gets_a_correction(scripted_server, project):
    scripted_server.script("root", "I think the answer is 4.", code("SUBMIT(answer='4')"))
    rlm, _ = make_rlm(scripted_server, project)
    prediction = await rlm.aforward(question="2+2?")
    assert prediction.answer == "4"
    second = scripted_server.chat_requests("root")[1].prompt_text
    assert "no ```python code block" in second


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("SUBMIT(files=['a'])", "missing field 'count'"),
        ("SUBMIT(count='many', files=['a'])", "field 'count' must be int"),
        ("SUBMIT(count=1, files='a', extra=2)", "unknown field 'extra'"),
    ],
)
async def test_typed_submit_rejections_go_back_to_the_model(scripted_server, project, bad, message):
    scripted_server.script("root", code(bad), code("SUBMIT(count='3', files=('a.py', 'b.py'))"))
    rlm, rec = make_rlm(scripted_server, project, "question -> count: int, files: list[str]")
    prediction = await rlm.aforward(question="count")
    assert prediction.count == 3 and prediction.files == ["a.py", "b.py"]
    assert message in rec.of(SubmitRejected)[0].error
    assert message in scripted_server.chat_requests("root")[1].prompt_text


class Finding(BaseModel):
    path: str
    line: int


class Verdict(dspy.Signature):
    question: str = dspy.InputField()
    verdict: Literal["yes", "no"] = dspy.OutputField()
    finding: Finding = dspy.OutputField()


async def test_literal_and_pydantic_outputs(scripted_server, project):
    scripted_server.script("root", code("SUBMIT(verdict='maybe', finding={'path': 'a', 'line': 1})"),
                           code("SUBMIT(verdict='yes', finding={'path': 'pkg/mod.py', 'line': '1'})"))
    rlm, rec = make_rlm(scripted_server, project, Verdict)
    prediction = await rlm.aforward(question="q")
    assert prediction.verdict == "yes"
    assert prediction.finding == Finding(path="pkg/mod.py", line=1)
    assert "verdict" in rec.of(SubmitRejected)[0].error


@pytest.mark.parametrize(
    ("budget", "name"),
    [
        (Budget(max_iterations=2), "iterations"),
        (Budget(max_lm_calls=3), "lm_calls"),
        (Budget(max_tokens=200), "tokens"),
        (Budget(max_seconds=0.5), "seconds"),
    ],
)
async def test_each_budget_ends_with_a_marked_partial_answer(scripted_server, project, budget, name):
    def root(request):
        if "out of budget" in last_user_text(request):
            return '{"answer": "best guess"}'
        return code("import time; time.sleep(0.3); print('still looking')")

    scripted_server.default(root)
    rlm, rec = make_rlm(scripted_server, project, budget=budget)
    prediction = await rlm.aforward(question="never ends")
    assert prediction.partial is True
    assert prediction.budget_exhausted == name
    assert prediction.answer == "best guess"
    exhausted = rec.of(BudgetExhausted)
    assert exhausted and exhausted[0].budget == name
    assert rec.of(RunFinished)[-1].partial is True


async def test_cost_budget_uses_litellm_prices(scripted_server, project):
    scripted_server.script("gpt-4o", Reply(code("x = 1"), times=50, usage={"prompt_tokens": 100_000, "completion_tokens": 10}))
    scripted_server.default(lambda request: '{"answer": "cheap"}')
    rlm, _ = make_rlm(scripted_server, project, lm="openai/gpt-4o", sub_lm="openai/gpt-4o",
                      budget=Budget(max_cost_usd=0.5, max_iterations=None))
    prediction = await rlm.aforward(question="q")
    assert prediction.partial and prediction.budget_exhausted == "cost_usd"
    assert prediction.usage.cost_usd > 0.5
    assert prediction.usage.iterations == 2  # $0.25 per call on gpt-4o's price


async def test_recursion_is_capped(scripted_server, project):
    scripted_server.script(
        "root",
        code("print(rlm_query('level one'))"),
        code("print(rlm_query('level two'))"),  # depth 1: at the cap this degrades to llm_query
        code("SUBMIT(answer='child done')"),
        code("SUBMIT(answer='root done')"),
    )
    rlm, rec = make_rlm(scripted_server, project, max_depth=1)
    prediction = await rlm.aforward(question="recurse")
    assert prediction.answer == "root done"
    assert [r.depth for r in rec.of(RunStarted)] == [0, 1]
    rlm_calls = [e for e in rec.of(SubCallFinished) if e.function == "rlm_query"]
    assert any(e.response == "echo: level two" for e in rlm_calls)


async def test_batched_calls_overlap_in_time(scripted_server, project):
    scripted_server.default("done")
    scripted_server.latency_s = 0.3
    scripted_server.script("root", code("r = llm_query_batched([f'p{i}' for i in range(8)])\nprint(r)"),
                           code("SUBMIT(answer=str(len(r)))"))
    rlm, _ = make_rlm(scripted_server, project)
    started = time.monotonic()
    prediction = await rlm.aforward(question="parallel")
    assert prediction.answer == "8"
    subs = scripted_server.chat_requests("sub")
    assert len(subs) == 8
    overlap = min(r.end for r in subs) - max(r.start for r in subs)
    assert overlap > 0, "all eight sub-calls were in flight at once"
    assert time.monotonic() - started < 8 * 0.3 + 1.0


async def test_failed_prompt_in_a_batch_returns_an_error_string(scripted_server, project):
    def sub(request):
        prompt = last_user_text(request)
        return Reply("x", fault="400") if prompt == "bad" else f"ok {prompt}"

    scripted_server.default(sub)
    scripted_server.script("root", code("r = llm_query_batched(['a', 'bad', 'c'])\nprint(r)"),
                           code("SUBMIT(answer=' | '.join(r))"))
    rlm, _ = make_rlm(scripted_server, project)
    prediction = await rlm.aforward(question="q")
    parts = prediction.answer.split(" | ")
    assert parts[0] == "ok a" and parts[2] == "ok c"
    assert parts[1].startswith("ERROR:")


async def test_lm_error_fails_the_run_with_an_event(scripted_server, project):
    scripted_server.script("root", Reply("", fault="401"))
    rlm, rec = make_rlm(scripted_server, project)
    from rlm_tui.lm.client import LMError

    with pytest.raises(LMError):
        await rlm.aforward(question="q")
    assert rec.of(RunFailed)


async def test_variables_are_reported_after_each_cell(scripted_server, project):
    scripted_server.script("root", code("numbers = list(range(10))"), code("SUBMIT(answer=str(sum(numbers)))"))
    rlm, rec = make_rlm(scripted_server, project)
    prediction = await rlm.aforward(question="sum")
    assert prediction.answer == "45"
    snapshot = rec.of(VariablesChanged)[0].variables
    row = next(v for v in snapshot if v["name"] == "numbers")
    assert row["type"] == "list" and row["size"] == 10


async def test_cell_errors_reach_the_model_and_the_run_continues(scripted_server, project):
    scripted_server.script("root", code("open('/project/missing.txt').read()"), code("SUBMIT(answer='recovered')"))
    rlm, rec = make_rlm(scripted_server, project)
    prediction = await rlm.aforward(question="q")
    assert prediction.answer == "recovered"
    assert "FileNotFoundError" in rec.of(CellOutput)[0].error
    assert "FileNotFoundError" in scripted_server.chat_requests("root")[1].prompt_text


def test_sync_forward_works_too(scripted_server, project):
    scripted_server.script("root", code("SUBMIT(answer='sync')"))
    rlm, _ = make_rlm(scripted_server, project)
    assert rlm(question="q").answer == "sync"


async def test_many_runs_in_parallel_share_nothing(scripted_server, project):
    scripted_server.default(lambda request: code(f"SUBMIT(answer={last_user_text(request)[-40:]!r})"))
    rlms = [make_rlm(scripted_server, project)[0] for _ in range(3)]
    results = await asyncio.gather(*(r.aforward(question=f"q{i}") for i, r in enumerate(rlms)))
    assert all(not p.partial for p in results)


async def test_named_model_roles_serve_their_calls(scripted_server, project):
    from rlm_tui.config import RoleSettings, Settings

    scripted_server.latency_s = 0.2
    scripted_server.default(lambda request: f"{request['model']} says hi")
    scripted_server.script("root", code(
        "r = llm_query_batched(['a', 'b'], model='summary') + llm_query_batched(['c'], model='tables')\n"
        "SUBMIT(answer=' | '.join(r))"))
    settings = Settings(model="openai/root", sub_model="openai/sub", api_base=scripted_server.url,
                        roles={"summary": RoleSettings(model="openai/fast"), "tables": RoleSettings(model="openai/big")})
    rec = Recorder()
    rlm = RLM.from_settings(settings, project=project, on_event=rec)
    prediction = await rlm.aforward(question="roles")
    assert prediction.answer == "fast says hi | fast says hi | big says hi"
    labels = {e.model for e in rec.of(SubCallFinished) if e.function == "llm_query"}
    assert labels == {"summary: openai/fast", "tables: openai/big"}
    assert "`summary` (openai/fast)" in scripted_server.chat_requests("root")[0].prompt_text


async def test_unknown_role_is_an_error_the_model_sees(scripted_server, project):
    scripted_server.script("root", code("llm_query('x', model='nope')"), code("SUBMIT(answer='ok')"))
    rlm, rec = make_rlm(scripted_server, project)
    await rlm.aforward(question="q")
    assert "unknown model role 'nope'" in rec.of(CellOutput)[0].error
