"""Traces stay bounded: long texts stored once, a byte cap per run, refused calls in one line;
what replay and resume need survives."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlm_tui.config import Budget, Settings
from rlm_tui.engine import trace_blobs
from rlm_tui.engine.events import (
    CallsRefused,
    CodeCell,
    RunStarted,
    SubCallFinished,
    SubCallStarted,
    TraceCapped,
)
from rlm_tui.engine.session import ChatSession
from rlm_tui.engine.trace import TraceWriter, read_trace
from rlm_tui.engine.trace_blobs import text_key
from tests.engine.test_engine import Recorder, code, make_rlm
from tests.support.scripted_server import last_user_text


def _start(call: str = "c0") -> RunStarted:
    return RunStarted(run_id="r", call_id=call, task="t", inputs={}, model="m", sub_model="m", project="/p")


def test_a_long_prompt_sent_many_times_is_stored_once(tmp_path):
    path = tmp_path / "t.jsonl"
    prompt = "context " * 12_500  # 100 KB
    writer = TraceWriter(path)
    writer(_start())
    for i in range(500):
        writer(SubCallStarted(run_id="r", call_id=f"s{i}", parent_id="c0", function="llm_query",
                              model="m", prompt=prompt))
    writer.close()
    assert path.stat().st_size < 300_000  # 500 x 100 KB in full would be 50 MB
    events = read_trace(path)
    assert [e.prompt for e in events if isinstance(e, SubCallStarted)] == [prompt] * 500
    again = TraceWriter(path)  # an append (a resumed session) does not store it again
    again(SubCallStarted(run_id="r", call_id="s-next", parent_id="c0", function="llm_query", model="m",
                         prompt=prompt))
    again.close()
    assert path.read_text().count('"type": "TraceBlob"') == 1


def test_the_cap_is_marked_and_keeps_what_resume_replays(tmp_path):
    path = tmp_path / "t.jsonl"
    writer = TraceWriter(path, max_run_bytes=200_000)
    writer(_start())
    for i in range(100):
        prompt, answer = f"{i} " + "p" * 20_000, f"{i} " + "a" * 3_000
        writer(SubCallStarted(run_id="r", call_id=f"s{i}", parent_id="c0", function="llm_query",
                              model="m", prompt=prompt))
        writer(SubCallFinished(run_id="r", call_id=f"s{i}", parent_id="c0", function="llm_query",
                               model="m", response=answer))
    writer(CodeCell(run_id="r", call_id="i1", parent_id="c0", iteration=1, reasoning="", code="x = 1\n" * 500))
    writer.close()
    size = path.stat().st_size
    assert size < 200_000 + 100 * (3_000 + 400) + 5_000, size  # the cap, plus answers and code kept
    events = read_trace(path)
    assert len([e for e in events if isinstance(e, TraceCapped)]) == 1
    prompts = [e.prompt for e in events if isinstance(e, SubCallStarted)]
    assert prompts[0] == "0 " + "p" * 20_000
    assert prompts[-1].startswith("[not stored in the trace: 20,003 characters, sha256:")
    assert text_key(prompts[-1]) == text_key("99 " + "p" * 20_000)  # still matchable by hash
    answers = [e.response for e in events if isinstance(e, SubCallFinished)]
    assert answers == [f"{i} " + "a" * 3_000 for i in range(100)]
    assert next(e for e in events if isinstance(e, CodeCell)).code == "x = 1\n" * 500
    writer = TraceWriter(path, max_run_bytes=200_000)  # a new run starts a new allowance
    writer(_start("c1"))
    writer(SubCallStarted(run_id="r", call_id="n", parent_id="c1", function="llm_query", model="m",
                          prompt="q" * 50_000))
    writer.close()
    assert read_trace(path)[-1].prompt == "q" * 50_000


async def test_a_three_line_cell_past_the_budget_writes_a_small_trace(scripted_server, tmp_path):
    """A 3-line cell once wrote a 603 MB trace after the budget ran out."""
    project = tmp_path / "proj"
    project.mkdir()
    trace = tmp_path / "run.jsonl"
    scripted_server.script("root", code(
        "big = 'x' * 100_000\n"
        "answers = llm_query_batched([big + str(i) for i in range(300)])\n"
        "print(len(answers))"))
    scripted_server.default(lambda request: '{"answer": "partial"}' if "out of budget" in last_user_text(request)
                            else "short answer")
    rlm, _ = make_rlm(scripted_server, project, trace=trace, budget=Budget(max_lm_calls=5, max_iterations=None))
    prediction = await rlm.aforward(question="flood")
    assert prediction.partial
    assert trace.stat().st_size < 1_000_000, trace.stat().st_size  # 300 prompts in full: 30 MB
    events = read_trace(trace)
    assert [(e.count, e.budget) for e in events if isinstance(e, CallsRefused)] == [(296, "lm_calls")]
    assert len([e for e in events if isinstance(e, SubCallStarted) and e.function == "llm_query"]) == 4


async def test_resume_replays_sub_calls_whose_prompts_were_past_the_cap(scripted_server, tmp_path, monkeypatch):
    monkeypatch.setattr(trace_blobs, "MAX_RUN_BYTES", 60_000)
    project = tmp_path / "proj"
    project.mkdir()
    settings = Settings(model="openai/root", sub_model="openai/sub", api_base=scripted_server.url, api_key="k")
    scripted_server.script("root", code(
        "big = 'y' * 30_000\n"
        "got = [llm_query(big + str(i))[-12:] for i in range(4)]\n"
        "SUBMIT(answer=str(got))"))
    session = ChatSession(settings, project, Recorder())
    await session.start()
    answer = (await session.ask("q")).answer
    await session.close()
    assert any(isinstance(e, TraceCapped) for e in read_trace(session.trace_path))
    calls = len(scripted_server.chat_requests())

    resumed = await ChatSession.resume(session.session_id, settings, Recorder())
    try:
        got = next(v for v in resumed.variables if v.name == "got")
        assert got.preview == answer
        assert len(scripted_server.chat_requests()) == calls  # every answer came from the trace
    finally:
        await resumed.close()


@pytest.mark.parametrize("inline", [10, 1024])
def test_replay_reads_a_bounded_trace_like_any_other(tmp_path, inline):
    from rlm_tui.engine.replay import summarize

    path = tmp_path / "t.jsonl"
    writer = TraceWriter(path, inline_chars=inline)
    writer(_start())
    writer(SubCallStarted(run_id="r", call_id="s", parent_id="c0", function="llm_query", model="m",
                          prompt="a question long enough to be stored apart"))
    writer.close()
    assert "llm_query [m]" in summarize(read_trace(Path(path)))


def test_the_replay_summary_names_refused_calls_and_the_cap(tmp_path):
    from rlm_tui.engine.replay import summarize

    events = [_start(), CallsRefused(run_id="r", call_id="x", parent_id="c0", function="llm_query", model="m",
                                     budget="lm_calls", count=13, reason="lm_calls budget exhausted (5 of 5)"),
              TraceCapped(run_id="r", call_id="y", parent_id="c0", limit_bytes=1000)]
    text = summarize(events)
    assert "13 sub-calls not sent: the budget refused them" in text
    assert "trace capped at 1,000 bytes" in text
