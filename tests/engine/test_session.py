"""Chat sessions: state across turns, cancellation, traces, resume."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from rlm_tui.config import Settings
from rlm_tui.engine.events import LMToken, RunFailed
from rlm_tui.engine.session import ChatSession
from rlm_tui.engine.trace import read_trace
from tests.engine.test_engine import Recorder, code
from tests.support.projects import write_project
from tests.support.scripted_server import Reply

SECRET = "sk-test-SECRETSECRET123456"


@pytest.fixture
def settings(scripted_server) -> Settings:
    return Settings(model="openai/root", sub_model="openai/sub", api_base=scripted_server.url, api_key=SECRET)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path, {"notes.md": "# Notes\nThe answer is 42.\n"})


async def test_variables_survive_between_turns(scripted_server, settings, project):
    scripted_server.script(
        "root",
        code("found = open('notes.md').read().split()[-1].rstrip('.')\nSUBMIT(answer=found)"),
        code("SUBMIT(answer=f'still {found}')"),
    )
    rec = Recorder()
    session = ChatSession(settings, project, rec)
    await session.start()
    try:
        first = await session.ask("What is the answer?")
        second = await session.ask("And again?")
    finally:
        await session.close()
    assert first.answer == "42" and second.answer == "still 42"
    assert any(v.name == "found" for v in session.variables)
    second_prompt = scripted_server.chat_requests("root")[1].prompt_text
    assert "What is the answer?" in second_prompt  # the earlier turn is in the history


async def test_cancel_keeps_the_session_and_its_variables(scripted_server, settings, project):
    scripted_server.script(
        "root",
        code("kept = 'yes'\nSUBMIT(answer=kept)"),
        code("print(llm_query('slow'))"),
        code("SUBMIT(answer=kept)"),
    )
    scripted_server.script("sub", Reply("late", latency_s=30))
    rec = Recorder()
    session = ChatSession(settings, project, rec)
    await session.start()
    try:
        assert (await session.ask("first")).answer == "yes"
        turn = asyncio.create_task(session.ask("slow one"))
        while not scripted_server.chat_requests("sub"):
            await asyncio.sleep(0.05)
        session.cancel()
        cancelled = await asyncio.wait_for(turn, 10)
        assert cancelled.cancelled
        assert any(e.cancelled for e in rec.of(RunFailed))
        third = await session.ask("again")
    finally:
        await session.close()
    assert third.answer == "yes"
    traced = read_trace(session.trace_path)
    assert any(isinstance(e, RunFailed) and e.cancelled for e in traced)


async def test_trace_round_trip_and_no_secrets(scripted_server, settings, project, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-ANOTHERSECRET987654")
    scripted_server.script("root", code("x = llm_query('hi')\nSUBMIT(answer=x)"))
    rec = Recorder()
    session = ChatSession(settings, project, rec)
    await session.start()
    try:
        await session.ask("q")
    finally:
        await session.close()
    traced = read_trace(session.trace_path)
    emitted = [e for e in rec.events if not isinstance(e, LMToken)]
    assert [e.to_dict() for e in traced] == [e.to_dict() for e in emitted]
    text = session.trace_path.read_text()
    assert SECRET not in text and "ANOTHERSECRET" not in text


async def test_trace_of_a_killed_process_is_readable(tmp_path):
    from rlm_tui.engine.events import Status

    path = tmp_path / "t.jsonl"
    path.write_text(Status(run_id="r", call_id="c", message="hi").to_json() + "\n" + '{"type": "Sta')
    assert [e.message for e in read_trace(path)] == ["hi"]


async def test_resume_rebuilds_the_sandbox_without_new_lm_calls(scripted_server, settings, project):
    scripted_server.script("root", code("memo = llm_query('remember me')\nSUBMIT(answer=memo)"))
    session = ChatSession(settings, project, Recorder())
    await session.start()
    await session.ask("q")
    await session.close()
    calls_before = len(scripted_server.chat_requests())

    resumed = await ChatSession.resume(session.session_id, settings, Recorder())
    try:
        memo = next(v for v in resumed.variables if v.name == "memo")
        assert "echo: remember me" in memo.preview
        assert len(scripted_server.chat_requests()) == calls_before
        meta = json.loads((resumed.folder / "meta.json").read_text())
        assert meta["turns"][0]["question"] == "q"
    finally:
        await resumed.close()


async def test_resume_unknown_session_is_a_clear_error(settings):
    with pytest.raises(ValueError, match="no saved session|no saved sessions"):
        await ChatSession.resume("nope", settings, Recorder())


async def test_earlier_turns_become_a_summary_near_the_context_window(scripted_server, settings, project, monkeypatch):
    import rlm_tui.engine.session as session_module

    scripted_server.script("root", code("big = 'x' * 5000\nprint(big)"), code("SUBMIT(answer='first answer')"),
                           code("SUBMIT(answer='second')"))
    session = ChatSession(settings, project, Recorder())
    await session.start()
    try:
        await session.ask("first question")
        monkeypatch.setattr(session_module, "context_window", lambda model: 1000)
        await session.ask("second question")
    finally:
        await session.close()
    prompt = scripted_server.chat_requests("root")[2].prompt_text
    assert "Earlier turns in this session:\n1. Q: first question\n   A: first answer" in prompt
    assert "x" * 5000 not in prompt


async def test_each_earlier_turn_is_in_the_history_once(scripted_server, settings, project):
    """A turn's history holds every earlier exchange once (a turn kept only its own messages)."""
    scripted_server.script("root", code("SUBMIT(answer='one')"), code("SUBMIT(answer='two')"),
                           code("SUBMIT(answer='three')"))
    session = ChatSession(settings, project, Recorder())
    await session.start()
    try:
        for question in ("first question", "second question", "third question"):
            await session.ask(question)
    finally:
        await session.close()
    third = scripted_server.chat_requests("root")[2].body["messages"]
    asked = [m["content"] for m in third if m["role"] == "user" and "first question" in m["content"]]
    assert len(asked) == 1
    assert sum(m["role"] == "assistant" for m in third) == 2  # one reply per earlier turn


async def test_a_turn_runs_through_the_rlm_entry(scripted_server, settings, project, monkeypatch):
    """The chat session takes `RLM.arun`, with its own sandbox and context: one way into the engine."""
    from rlm_tui.engine.rlm import RLM

    seen = []
    real = RLM.arun

    async def spy(self, inputs, **kwargs):
        seen.append(kwargs)
        return await real(self, inputs, **kwargs)

    monkeypatch.setattr(RLM, "arun", spy)
    scripted_server.script("root", code("SUBMIT(answer='ok')"))
    session = ChatSession(settings, project, Recorder())
    await session.start()
    try:
        assert (await session.ask("q")).answer == "ok"
    finally:
        await session.close()
    assert len(seen) == 1 and seen[0]["sandbox"] is not None and seen[0]["ctx"] is not None
