"""`rlm_query_batched(questions)`: child RLMs run concurrently under the tree's concurrency,
memory and budget limits; each slot is the child's answer or an 'ERROR: ...' string."""

from __future__ import annotations

import re

import pytest

from rlm_tui.config import Budget
from rlm_tui.engine.events import SubCallFinished, SubCallStarted
from tests.engine.test_budgets import extracting
from tests.engine.test_engine import code, make_rlm
from tests.support.scripted_server import Reply, last_user_text

CHILD_LATENCY_S = 0.6


pytestmark = pytest.mark.usefixtures("litellm_preloaded")


def replies(request: dict):
    """Children answer `answer-N` after a pause; the root submits what its batch printed."""
    text = last_user_text(request)
    child = re.search(r"child task (\d+)", text)
    if child and "answer-" not in text:
        return Reply(code(f"SUBMIT(answer='answer-{child.group(1)}')"), latency_s=CHILD_LATENCY_S)
    return code("SUBMIT(answer='done')")


def most_in_flight(server) -> int:
    """The most child LM requests the server held at one moment."""
    spans = [(r.start, r.end or r.start) for r in server.chat_requests() if "child task" in last_user_text(r.body)
             and "answer-" not in last_user_text(r.body)]
    return max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)


BATCH = code("rs = rlm_query_batched([f'child task {i}' for i in range(6)])\nprint(rs)")


async def test_children_run_in_parallel_in_waves_the_memory_pool_allows(scripted_server, project):
    scripted_server.script("root", BATCH)
    scripted_server.default(replies)
    rlm, rec = make_rlm(scripted_server, project, sub_lm="openai/root")  # pool 2048 MB: 4 children at once
    ctx = rlm.new_context()
    prediction = await rlm.arun({"question": "fan out"}, ctx=ctx)

    output = prediction.trajectory[0]["output"]
    assert str([f"answer-{i}" for i in range(6)]) in output, output  # all six, in order, none refused
    assert most_in_flight(scripted_server) >= 2  # children's LM calls overlapped
    assert ctx.memory.peak_mb == 1024 + 4 * 256  # the pool was full, never over
    batch = next(e for e in rec.of(SubCallStarted) if e.function == "rlm_query_batched")
    children = [e for e in rec.of(SubCallStarted) if e.function == "rlm_query"]
    assert len(children) == 6 and all(c.parent_id == batch.call_id for c in children)
    done = next(e for e in rec.of(SubCallFinished) if e.function == "rlm_query_batched")
    assert done.response == "6 answers" and done.error is None
    from rlm_tui.engine.replay import summarize

    assert " root LM calls, 6 sub-calls" in summarize(rec.events)  # the batch itself is not one


async def test_the_concurrency_limit_holds_for_children(scripted_server, project):
    scripted_server.script("root", BATCH)
    scripted_server.default(replies)
    rlm, _ = make_rlm(scripted_server, project, sub_lm="openai/root", concurrency=2,
                      budget=Budget(max_memory_mb=50_000))
    ctx = rlm.new_context()
    prediction = await rlm.arun({"question": "fan out"}, ctx=ctx)
    assert str([f"answer-{i}" for i in range(6)]) in prediction.trajectory[0]["output"]
    assert ctx.memory.peak_mb == 1024 + 2 * 256  # two children at a time
    assert most_in_flight(scripted_server) == 2


async def test_the_shared_budget_refuses_the_children_past_it(scripted_server, project):
    scripted_server.script("root", BATCH)
    scripted_server.default(extracting(replies))
    rlm, _ = make_rlm(scripted_server, project, sub_lm="openai/root",
                      budget=Budget(max_lm_calls=4, max_iterations=None, max_memory_mb=50_000))
    prediction = await rlm.aforward(question="fan out")
    output = prediction.trajectory[0]["output"]
    slots = eval(output.strip().splitlines()[-1])  # the printed list
    answered = [s for s in slots if s.startswith("answer-")]
    refused = [s for s in slots if s.startswith("ERROR: budget:")]
    assert (len(answered), len(refused)) == (3, 3), slots  # 1 root call + 3 children = the cap
    assert prediction.partial and prediction.budget_exhausted == "lm_calls"


async def test_past_the_depth_cap_children_are_plain_queries(scripted_server, project):
    scripted_server.script("root", BATCH)
    scripted_server.default(lambda request: "plain answer" if "child task" in last_user_text(request)
                            and "plain answer" not in last_user_text(request) else code("SUBMIT(answer='done')"))
    rlm, _ = make_rlm(scripted_server, project, max_depth=0)
    prediction = await rlm.aforward(question="fan out")
    assert str(["plain answer"] * 6) in prediction.trajectory[0]["output"]
    assert prediction.answer == "done"


async def test_it_takes_a_list_of_strings(scripted_server, project):
    scripted_server.script("root", code("try:\n    rlm_query_batched('one')\nexcept TypeError as e:\n    print(e)"),
                           code("SUBMIT(answer='done')"))
    rlm, _ = make_rlm(scripted_server, project)
    prediction = await rlm.aforward(question="q")
    assert "takes a list of question strings" in prediction.trajectory[0]["output"]


async def test_a_resumed_session_replays_a_batch_in_slot_order(scripted_server, project):
    from rlm_tui.config import Settings
    from rlm_tui.engine.session import ChatSession
    from tests.engine.test_engine import Recorder

    def slow_first(request: dict):
        reply = replies(request)
        if isinstance(reply, Reply) and "child task 0" in last_user_text(request):
            reply.latency_s = 2.0  # child 1 finishes first
        return reply

    scripted_server.script("root", code("rs = rlm_query_batched(['child task 0', 'child task 1'])\nSUBMIT(answer=' '.join(rs))"))
    scripted_server.default(slow_first)
    settings = Settings(model="openai/root", sub_model="openai/root", api_base=scripted_server.url, api_key="k")
    session = ChatSession(settings, project, Recorder())
    await session.start()
    await session.ask("fan out")
    await session.close()
    calls_before = len(scripted_server.chat_requests())

    resumed = await ChatSession.resume(session.session_id, settings, Recorder())
    try:
        rs = next(v for v in resumed.variables if v.name == "rs")
        assert rs.preview == "['answer-0', 'answer-1']", rs.preview
        assert len(scripted_server.chat_requests()) == calls_before
    finally:
        await resumed.close()
