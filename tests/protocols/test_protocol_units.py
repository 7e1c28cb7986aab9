"""The pieces under both servers: argument checks, progress lines, plan folding, the pool."""

from __future__ import annotations

import asyncio

import pytest

from rlm_tui.config import Budget, Settings
from rlm_tui.engine import events as ev
from rlm_tui.protocols.acp_updates import SessionUpdates
from rlm_tui.protocols.pool import SessionPool
from rlm_tui.protocols.progress import EventChannel, TurnMeter
from rlm_tui.protocols.requests import (
    BadRequest,
    BudgetRequest,
    checked_signature,
    effective_budget,
)
from tests.protocols.support import code
from tests.support.scripted_server import Reply


def test_a_call_may_lower_the_budget_but_never_raise_it():
    configured = Budget(max_iterations=5, max_cost_usd=0.5, max_tokens=None)
    lowered = effective_budget(configured, BudgetRequest(max_iterations=2, max_tokens=10_000))
    assert (lowered.max_iterations, lowered.max_cost_usd, lowered.max_tokens) == (2, 0.5, 10_000)
    assert effective_budget(configured, None) is configured
    with pytest.raises(BadRequest, match=r"max_iterations=6 is above the configured 5; max_cost_usd=1 is above"):
        effective_budget(configured, BudgetRequest(max_iterations=6, max_cost_usd=1))


@pytest.mark.parametrize("signature, problem", [
    ("question", "invalid signature"),
    ("question, doc: File -> answer", "File fields (doc)"),
    ("question -> out: list[File]", "File fields (out)"),
    ("question -> out: dict[str, File]", "File may appear as"),
    ("question, context -> answer", "takes one input"),
])
def test_signatures_that_would_reach_outside_the_project_are_refused(signature, problem):
    with pytest.raises(BadRequest, match=problem.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        checked_signature(signature)
    assert checked_signature("question -> count: int, files: list[str]") == "question -> count: int, files: list[str]"


def events_of_one_turn() -> list[ev.Event]:
    r = {"run_id": "r"}
    return [
        ev.RunStarted(**r, call_id="run", task="q", inputs={"question": "q"}, model="m", sub_model="s", project="/p"),
        ev.IterationStarted(**r, call_id="it1", parent_id="run", iteration=1),
        ev.LMCallStarted(**r, call_id="lm1", parent_id="it1", model="m", role="root", prompt="p"),
        ev.LMToken(**r, call_id="lm1", parent_id="it1", text="x"),
        ev.LMCallFinished(**r, call_id="lm1", parent_id="it1", model="m", role="root", response="x",
                          prompt_tokens=100, completion_tokens=20, cost_usd=0.001),
        ev.CodeCell(**r, call_id="it1", parent_id="run", iteration=1, reasoning="", code="llm_query_batched(ps)"),
        ev.SubCallStarted(**r, call_id="b", parent_id="it1", function="llm_query_batched", model="s", prompt="2 prompts"),
        *[ev.SubCallStarted(**r, call_id=f"q{i}", parent_id="b", function="llm_query", model="s", prompt=f"p{i}")
          for i in range(2)],
        ev.SubCallFinished(**r, call_id="q0", parent_id="b", function="llm_query", model="s", response="a",
                           prompt_tokens=10, completion_tokens=1, cost_usd=0.0001),
    ]


def test_progress_lines_say_what_happened_and_where_the_turn_stands():
    meter = TurnMeter(max_iterations=12)
    lines = [line for e in events_of_one_turn() if (line := meter.apply(e)) is not None]
    assert lines[:2] == ["started on m", "iteration 1 — iteration 1/12 · 0 tokens · $0"]
    assert lines[2] == "root LM replied (100+20 tokens) — iteration 1/12 · 120 tokens · $0.0010"
    assert lines[-1] == "llm_query done in 0.0 s — iteration 1/12 · sub-calls 2 running, 1 done · 131 tokens · $0.0011"
    assert len(lines) == 8  # tokens and LM call starts only feed the totals


async def test_the_plan_folds_a_batch_into_one_entry():
    sent: list = []

    async def send(update) -> None:
        sent.append(update)

    updates = SessionUpdates(send)
    for event in events_of_one_turn():
        await updates.apply(event)
    assert [(e.content, e.status) for e in updates.plan()] == [
        ("q", "in_progress"),
        ("  iter 1: llm_query_batched(ps)", "in_progress"),
        ("    llm_query_batched: 1 of 2 prompts done", "in_progress"),
    ]
    plans = [u for u in sent if getattr(u, "session_update", "") == "plan"]
    assert plans[-1].entries == updates.plan() and len(plans) < len(events_of_one_turn())
    calls = [u.title for u in sent if getattr(u, "session_update", "") == "tool_call"]
    assert calls == ["Run: llm_query_batched(ps)", "llm_query_batched: 2 prompts"]  # not one per prompt


async def test_the_event_channel_keeps_order_across_threads_and_survives_a_failing_handler():
    got: list[str] = []

    async def handler(event: ev.Event) -> None:
        if event.message == "boom":
            raise BrokenPipeError("client gone")
        got.append(event.message)

    def status(text: str) -> ev.Status:
        return ev.Status(run_id="r", call_id="c", message=text)

    async with EventChannel(handler) as channel:
        await asyncio.to_thread(lambda: [channel.push(status(str(i))) for i in range(50)])
        channel.push(status("last before boom"))
    assert got == [*map(str, range(50)), "last before boom"]

    got.clear()
    async with EventChannel(handler) as channel:
        for text in ("a", "boom", "b"):
            channel.push(status(text))
    assert got == ["a"]  # after a failure nothing more is sent, and the block still ends cleanly


@pytest.fixture
def settings(scripted_server) -> Settings:
    return Settings(model="openai/root", sub_model="openai/sub", api_base=scripted_server.url, api_key="k")


async def test_a_turn_takes_its_own_signature_and_a_lower_budget(scripted_server, settings, project):
    scripted_server.script("root", code("SUBMIT(count=2, names=['main', 'helper'])"),
                           code("print('looking')"))
    scripted_server.default('{"answer": "guess"}')
    pool = SessionPool(settings)
    session_id = await pool.open(project)
    try:
        typed = await pool.ask(session_id, "how many?", signature="question -> count: int, names: list[str]")
        short = await pool.ask(session_id, "and?", budget=Budget(max_iterations=1))
    finally:
        await pool.close_all()
    assert typed.outputs == {"count": 2, "names": ["main", "helper"]} and not typed.partial
    assert short.partial and short.answer == "guess"
    assert session_id not in pool


async def test_turns_on_one_session_take_turns_and_a_cancel_before_the_engine_starts_counts(
        scripted_server, settings, project):
    scripted_server.script("root", Reply(code("import time\ntime.sleep(0.3)\nSUBMIT(answer='one')")),
                           code("SUBMIT(answer='two')"), code("SUBMIT(answer='three')"))
    pool = SessionPool(settings)
    session_id = await pool.open(project)
    try:
        first, second = await asyncio.gather(pool.ask(session_id, "1"), pool.ask(session_id, "2"))
        early = asyncio.ensure_future(pool.ask(session_id, "never runs"))
        await asyncio.sleep(0)  # the turn exists, the engine has not started it
        pool.cancel(session_id)
        cancelled = await asyncio.wait_for(early, 10)
        third = await pool.ask(session_id, "3")
        turns = pool.session(session_id).turns
    finally:
        await pool.close_all()
    assert (first.answer, second.answer, third.answer) == ("one", "two", "three")
    assert cancelled.cancelled
    assert [q for q, _ in turns] == ["1", "2", "3"]
    assert len(scripted_server.chat_requests("root")) == 3


def replies_without_code() -> list[ev.Event]:
    """A turn whose first two replies had no code cell."""
    r = {"run_id": "r"}
    started = ev.RunStarted(**r, call_id="run", task="q", inputs={"question": "q"}, model="m", sub_model="s",
                            project="/p")
    return [started, *[e for n in (1, 2) for e in (
        ev.IterationStarted(**r, call_id=f"it{n}", parent_id="run", iteration=n),
        ev.CodeMissing(**r, call_id=f"it{n}", parent_id="run", iteration=n, in_a_row=n))]]


def test_progress_tells_of_a_reply_without_code_as_the_headless_printer_does():
    from rlm_tui.engine.printer import ProgressPrinter

    meter, printer = TurnMeter(max_iterations=12), ProgressPrinter()
    said = [(meter.apply(e), printer.describe(e)) for e in replies_without_code()]
    assert said[2][0] == "no code cell in the reply — iteration 1/12 · 0 tokens · $0"
    off_protocol = "no code cell in the reply; the model is not following the protocol (2 replies in a row)"
    assert said[4][0].startswith(off_protocol) and said[4][1] == f"  ∅ {off_protocol}"


async def test_acp_tells_of_a_reply_without_code_in_a_thought_and_the_plan():
    sent: list = []

    async def send(update) -> None:
        sent.append(update)

    updates = SessionUpdates(send)
    for event in replies_without_code():
        await updates.apply(event)
    thoughts = [u.content.text for u in sent if getattr(u, "session_update", "") == "agent_thought_chunk"]
    assert thoughts[0] == "Iteration 1: no code cell in the reply.\n"
    assert "the model is not following the protocol (2 replies in a row)" in thoughts[1]
    assert [e.content for e in updates.plan()][1:] == ["  iter 1: no code cell in the reply",
                                                       "  iter 2: no code cell in the reply"]
