"""`prediction.trace`: a typed `RunTrace` of every iteration and sub-call, usage split root vs
sub-LMs; the same on the exception of a failed run; it round-trips with the JSONL trace."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlm_tui.engine.run_trace import RunTrace, run_traces
from rlm_tui.engine.trace import read_run_traces, read_trace
from rlm_tui.lm.client import LMError
from tests.engine.test_engine import code, make_rlm, sub_answers
from tests.support.projects import write_project
from tests.support.scripted_server import Reply


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path, {"hello.txt": "hello from the project\n"})


def script_a_full_run(server) -> None:
    server.default(sub_answers)
    server.script(
        "root",
        code("text = open('hello.txt').read()\nprint(text)", reasoning="Read the file first."),
        code("one = llm_query('summarise: ' + text)\nmany = llm_query_batched(['a', 'b'])\n"
             "typed = predict('text -> sentiment: str, score: float', text=text)\n"
             "child = rlm_query('what is in the folder?')\nprint(one, many, typed, child)"),
        code("SUBMIT(answer='one file')"),  # the child run's root LM
        code("1 / 0"),
        code("SUBMIT(answer=child)", reasoning="Done."),
    )


async def test_the_prediction_carries_a_typed_trace_that_round_trips(scripted_server, project, tmp_path):
    script_a_full_run(scripted_server)
    path = tmp_path / "run.jsonl"
    rlm, _ = make_rlm(scripted_server, project, trace=path)
    prediction = await rlm.aforward(question="What is here?")
    trace = prediction.trace

    assert isinstance(trace, RunTrace)
    assert (trace.status, trace.task, trace.depth, trace.outputs) == ("finished", "What is here?", 0, {"answer": "one file"})
    assert [i.iteration for i in trace.iterations] == [1, 2, 3, 4]
    first, second, third, last = trace.iterations
    assert first.reasoning == "Read the file first." and first.code.startswith("text = open(")
    assert first.output == "hello from the project\n\n" and first.error is None
    assert first.cell_s > 0 and first.duration_s >= first.cell_s
    assert first.lm_calls[0].role == "root" and first.lm_calls[0].prompt_tokens > 0
    assert "ZeroDivisionError" in third.error
    assert last.submitted == {"answer": "one file"}

    calls = {call.function: call for call in second.sub_calls}
    assert list(calls) == ["llm_query", "llm_query_batched", "predict", "rlm_query"]
    one = calls["llm_query"]
    assert one.model == "openai/sub" and one.response == "echo: summarise: hello from the project\n"
    assert one.prompt_tokens > 0 and one.completion_tokens > 0 and one.latency_s > 0
    assert [item.response for item in calls["llm_query_batched"].items] == ["echo: a", "echo: b"]
    assert calls["predict"].prompt_tokens > 0
    child = calls["rlm_query"].run
    assert child is not None and child.depth == 1 and child.outputs == {"answer": "one file"}
    assert child.iterations[0].code == "SUBMIT(answer='one file')"

    usage = prediction.usage
    assert trace.usage.total_tokens == usage.total_tokens
    assert trace.root_usage.total_tokens + trace.sub_usage.total_tokens == usage.total_tokens
    assert trace.root_usage.lm_calls == 5 - 1  # four root replies; the child's reply is a sub-LM's
    assert trace.sub_usage.lm_calls == 1 + 2 + 1 + 1  # llm_query, the batch's two, predict, the child's reply
    assert trace.sub_usage.prompt_tokens == sum(c.usage.prompt_tokens for c in second.sub_calls)

    assert RunTrace.from_events(read_trace(path)) == trace  # the JSONL trace holds the same
    assert read_run_traces(path) == [trace]
    assert RunTrace.model_validate_json(trace.model_dump_json()) == trace
    assert trace.model_dump()["sub_usage"]["lm_calls"] == 5  # the split is in the JSON too


async def test_a_failed_run_raises_with_its_trace(scripted_server, project, tmp_path):
    scripted_server.script("root", code("x = 1\nprint(x)"), Reply("", fault="401"))
    path = tmp_path / "run.jsonl"
    rlm, _ = make_rlm(scripted_server, project, trace=path)
    with pytest.raises(LMError) as caught:
        await rlm.aforward(question="q")
    trace = caught.value.trace
    assert isinstance(trace, RunTrace)
    assert trace.status == "failed" and trace.error_type == "LMError"
    assert [i.output for i in trace.iterations] == ["1\n", ""]
    assert trace.iterations[1].lm_calls[0].error  # the call that failed
    assert RunTrace.from_events(read_trace(path)) == trace


async def test_a_budget_cut_run_shows_its_extract_step(scripted_server, project):
    from rlm_tui.config import Budget

    scripted_server.script("root", code("print(1)"), '{"answer": "partial answer"}')
    rlm, _ = make_rlm(scripted_server, project, budget=Budget(max_iterations=1))
    prediction = await rlm.aforward(question="q")
    trace = prediction.trace
    assert trace.partial and trace.budget_exhausted == "iterations"
    assert [call.role for call in trace.extract] == ["extract"]
    assert trace.root_usage.lm_calls == 2


def test_one_trace_per_turn_from_a_session_trace(scripted_server, project, tmp_path):
    scripted_server.script("root", code("SUBMIT(answer='a')"), code("SUBMIT(answer='b')"))
    path = tmp_path / "session.jsonl"
    rlm, rec = make_rlm(scripted_server, project, trace=path)
    first, second = rlm(question="one").trace, rlm(question="two").trace
    assert [t.outputs["answer"] for t in read_run_traces(path)] == ["a", "b"]
    assert run_traces(rec.events) == [first, second]
