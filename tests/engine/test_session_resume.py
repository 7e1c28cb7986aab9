"""A resumed session has exactly the state it had: cells replay their recorded sub-call
answers, and stop where they stopped (a cancelled or failed call raises again)."""

from __future__ import annotations

import asyncio

from rlm_tui.engine.session import ChatSession
from tests.engine.test_engine import Recorder, code
from tests.engine.test_session import project, settings  # noqa: F401 - fixtures
from tests.support.scripted_server import Reply


async def test_a_cancelled_cell_resumes_as_it_stopped(scripted_server, settings, project):  # noqa: F811
    scripted_server.script(
        "root",
        code("before = 'set'\nslow = llm_query('slow')\nafter = 'never'"),
    )
    scripted_server.script("sub", Reply("late", latency_s=30))
    session = ChatSession(settings, project, Recorder())
    await session.start()
    try:
        turn = asyncio.create_task(session.ask("slow one"))
        while not scripted_server.chat_requests("sub"):
            await asyncio.sleep(0.05)
        session.cancel()
        assert (await asyncio.wait_for(turn, 10)).cancelled
        had = {v.name: v.preview for v in session.variables}
    finally:
        await session.close()
    resumed = await ChatSession.resume(session.session_id, settings, Recorder())
    try:
        now = {v.name: v.preview for v in resumed.variables}
    finally:
        await resumed.close()
    assert now == had and "before" in now and "slow" not in now and "after" not in now
    assert not any("no recorded answer" in p for p in now.values())
