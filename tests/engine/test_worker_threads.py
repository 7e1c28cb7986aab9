"""Sandbox cells do not hold the event loop's default worker threads.

A cell blocks its thread while the guest waits on sub-calls, and those sub-calls need worker
threads of their own (name lookups, file writes, a child run's sandbox start). Cells therefore run
on their sandbox's own thread: any number of runs at once cannot starve the default pool.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from tests.engine.test_engine import code, make_rlm, project  # noqa: F401  (fixture)
from tests.support.scripted_server import last_user_text


async def test_more_runs_than_default_workers_do_not_deadlock(scripted_server, project):  # noqa: F811
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=2, thread_name_prefix="small-default"))

    def reply(request: dict) -> str:
        if request.get("model") != "root":
            return "sub answer"
        if "child question" in last_user_text(request):  # the child run's question
            return code("SUBMIT(answer='from child')")
        if "sub answer" in last_user_text(request):  # the parent saw its cell's output
            return code("SUBMIT(answer=str(r))")
        return code("r = [llm_query('hi'), rlm_query('child question')]\nprint(r)")

    scripted_server.default(reply)
    rlms = [make_rlm(scripted_server, project)[0] for _ in range(4)]
    runs = asyncio.gather(*(r.aforward(question=f"q{i}") for i, r in enumerate(rlms)))
    done, _ = await asyncio.wait({runs}, timeout=180)
    assert done, "four runs on a two-thread default pool deadlocked"
    results = runs.result()
    assert [p.answer for p in results] == ["['sub answer', 'from child']"] * 4
