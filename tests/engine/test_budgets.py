"""Budgets hold for the whole call tree, under parallelism: calls are reserved before they are sent,
time is wall-clock for the turn, and the tree has one memory bound."""

from __future__ import annotations

import threading
import time

import pytest

from rlm_tui.config import Budget
from rlm_tui.engine.budget import BudgetMeter, CallRefused, MemoryExhausted, MemoryPool
from rlm_tui.engine.events import CallsRefused, RunFailed, SubCallStarted
from tests.engine.test_engine import code, make_rlm
from tests.support.scripted_server import Reply, last_user_text

EXTRACTED = '{"answer": "partial answer"}'


pytestmark = pytest.mark.usefixtures("litellm_preloaded")


def extracting(reply):
    """Root-model replies: `reply(request)`, or the extract step's JSON once out of budget."""
    def answer(request: dict):
        if "out of budget" in last_user_text(request):
            return EXTRACTED
        return reply(request)
    return answer


# -- calls ---------------------------------------------------------------------------------------------


def test_reservations_are_atomic_across_threads():
    budget = BudgetMeter(Budget(max_lm_calls=5, max_iterations=None))
    granted, refused = [], []
    lock = threading.Lock()

    def call() -> None:
        try:
            budget.reserve(10)
        except CallRefused:
            with lock:
                refused.append(1)
        else:
            with lock:
                granted.append(1)

    threads = [threading.Thread(target=call) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (len(granted), len(refused), budget.lm_calls) == (5, 35, 5)


def test_a_reservation_is_settled_with_the_real_usage_or_given_back():
    budget = BudgetMeter(Budget(max_tokens=1000, max_cost_usd=1.0, max_iterations=None))
    held = budget.reserve(400, 0.4)
    with pytest.raises(CallRefused, match="tokens budget"):
        budget.reserve(700, 0.1)  # 400 + 700 would pass 1000
    budget.settle(held, 100, 50, 0.05)
    assert (budget.tokens, budget.cost_usd) == (150, pytest.approx(0.05))
    spare = budget.reserve(700, 0.1)
    budget.release(spare)
    assert (budget.lm_calls, budget.tokens) == (1, 150)
    assert budget.expected_completion(4096) == 50  # the mean reply seen so far


async def test_children_share_the_call_budget(scripted_server, project):
    """--max-lm-calls 3 with 40 concurrent children once sent 42 calls."""
    scripted_server.script("root", code(
        "import asyncio\n"
        "rs = await asyncio.gather(*[rlm_query(f'child task {i}') for i in range(40)], return_exceptions=True)\n"
        "print(sum(isinstance(r, str) for r in rs), 'answered')"))
    scripted_server.default(extracting(lambda request: code("SUBMIT(answer='child done')")))
    rlm, rec = make_rlm(scripted_server, project, lm="openai/root", sub_lm="openai/root",
                        budget=Budget(max_lm_calls=3, max_iterations=None, max_memory_mb=50_000))
    prediction = await rlm.aforward(question="fan out")

    requests = scripted_server.chat_requests()
    assert len(requests) == 3 + 1, [last_user_text(r.body)[:40] for r in requests]  # the cap, then the root's extract
    assert "2 answered" in prediction.trajectory[0]["output"]
    assert prediction.partial and prediction.budget_exhausted == "lm_calls"
    assert prediction.answer == "partial answer"
    assert prediction.usage.lm_calls == 4  # the extract step is charged and reported
    from rlm_tui.engine.events import SubCallFinished

    refused = [e for e in rec.of(SubCallFinished) if e.function == "rlm_query" and e.error]
    assert len(refused) == 38 and all("lm_calls budget exhausted" in e.error for e in refused)


async def test_a_batch_sends_what_fits_and_marks_the_rest(scripted_server, project):
    """max_lm_calls=5 once let 17 batched calls through."""
    scripted_server.script("root", code("r = llm_query_batched([f'p{i}' for i in range(17)])\nprint(r)"))
    scripted_server.default(extracting(lambda request: f"echo: {last_user_text(request)}"))
    rlm, rec = make_rlm(scripted_server, project, budget=Budget(max_lm_calls=5, max_iterations=None))
    prediction = await rlm.aforward(question="batch")

    subs = scripted_server.chat_requests("sub")
    assert sorted(last_user_text(r.body) for r in subs) == ["p0", "p1", "p2", "p3"]
    assert len(scripted_server.chat_requests("root")) == 2  # the first iteration and the extract step
    output = prediction.trajectory[0]["output"]
    assert output.count("ERROR: budget: lm_calls budget exhausted (5 of 5); this call was not sent") == 13
    assert "'echo: p3'" in output
    assert prediction.partial and prediction.answer == "partial answer"
    refused = rec.of(CallsRefused)
    assert [(e.count, e.budget) for e in refused] == [(13, "lm_calls")]  # one line for the batch
    assert len([e for e in rec.of(SubCallStarted) if e.function == "llm_query"]) == 4


async def test_gathered_predicts_are_reserved_before_they_are_sent(scripted_server, project):
    scripted_server.script("root", code(
        "import asyncio\n"
        "rs = await asyncio.gather(*[predict('text -> label: str', text=f'item {i}') for i in range(8)],"
        " return_exceptions=True)\n"
        "print(sum(isinstance(r, dict) for r in rs), 'labelled')"))
    scripted_server.default(extracting(
        lambda request: "[[ ## label ## ]]\nx\n\n[[ ## completed ## ]]"))
    rlm, rec = make_rlm(scripted_server, project, budget=Budget(max_lm_calls=4, max_iterations=None))
    prediction = await rlm.aforward(question="label")
    assert len(scripted_server.chat_requests("sub")) == 3
    assert "3 labelled" in prediction.trajectory[0]["output"]
    assert sum(e.count for e in rec.of(CallsRefused)) == 5


async def test_the_cost_cap_holds_for_a_batch(scripted_server, project):
    """max_cost_usd=0.01 once spent about $0.10: every call reserves its estimated price."""
    # 4,000 characters, ~1,000 tokens: $0.0025 a call on gpt-4o's price
    scripted_server.script("gpt-4o", code("r = llm_query_batched(['x' * 4000] * 17)\nprint(r)"))
    scripted_server.default(extracting(lambda request: "ok"))
    rlm, rec = make_rlm(scripted_server, project, lm="openai/gpt-4o", sub_lm="openai/gpt-4o",
                        budget=Budget(max_cost_usd=0.01, max_iterations=None))
    prediction = await rlm.aforward(question="spend")
    from rlm_tui.engine.events import LMCallFinished, SubCallFinished

    spent = sum(e.cost_usd or 0 for e in rec.of(SubCallFinished) if e.function == "llm_query")
    spent += sum(e.cost_usd or 0 for e in rec.of(LMCallFinished) if e.role == "root")
    assert 0 < spent <= 0.01
    sent = len(scripted_server.chat_requests()) - 2  # less the first root call and the extract step
    assert 1 <= sent < 17
    assert sum(e.count for e in rec.of(CallsRefused)) == 17 - sent
    assert prediction.budget_exhausted == "cost_usd"


# -- time ------------------------------------------------------------------------------------------------


async def test_a_hung_root_model_ends_at_the_deadline(scripted_server, project):
    """--max-seconds 10 with a hung LM once ran 490 s."""
    scripted_server.script("root", Reply(fault="hang", times=5))
    rlm, rec = make_rlm(scripted_server, project, budget=Budget(max_seconds=2.0))
    started = time.monotonic()
    prediction = await rlm.aforward(question="hang")
    took = time.monotonic() - started
    assert took < 2.0 + 1.0, took
    assert prediction.partial and prediction.budget_exhausted == "seconds"
    assert "extract step did not finish within the 0.4 s kept for it" in prediction.answer
    assert len(scripted_server.chat_requests("root")) == 2  # the hung call and the hung extract step


async def test_in_flight_sub_calls_and_tools_are_cut_at_the_deadline(scripted_server, project):
    release = threading.Event()

    def stuck() -> str:
        """A tool that never returns on its own."""
        release.wait(60)
        return "late"

    scripted_server.script("sub", Reply("late", fault="hang", times=4))
    scripted_server.script("root", code(
        "import asyncio\n"
        "rs = await asyncio.gather(llm_query('a'), llm_query('b'), stuck(), return_exceptions=True)\n"
        "print([type(r).__name__ for r in rs])"))
    scripted_server.default(extracting(lambda request: code("print('more')")))
    rlm, rec = make_rlm(scripted_server, project, tools={"stuck": stuck}, tool_timeout_s=60,
                        budget=Budget(max_seconds=2.5))
    started = time.monotonic()
    try:
        prediction = await rlm.aforward(question="stuck")
    finally:
        release.set()
    took = time.monotonic() - started
    assert took < 2.5 + 1.0, took
    assert prediction.partial and prediction.budget_exhausted == "seconds"
    assert prediction.answer == "partial answer"  # the extract step had its own time


async def test_a_cells_host_time_counts_toward_the_turn(scripted_server, project):
    scripted_server.script("sub", Reply("slow", latency_s=0.6, times=20))
    scripted_server.script("root", code("for i in range(20):\n    print(llm_query(f'q{i}'))"))
    scripted_server.default(extracting(lambda request: code("print('more')")))
    rlm, _ = make_rlm(scripted_server, project, cell_timeout_s=60, budget=Budget(max_seconds=2.5))
    started = time.monotonic()
    prediction = await rlm.aforward(question="slow")
    assert time.monotonic() - started < 2.5 + 1.0
    assert prediction.partial and prediction.budget_exhausted == "seconds"
    assert len(scripted_server.chat_requests("sub")) <= 4


async def test_a_cell_is_cut_at_the_deadline_and_keeps_its_state(scripted_server, project):
    scripted_server.script("root", code("kept = 1\nimport time\nwhile True:\n    time.sleep(0.05)"))
    scripted_server.default(extracting(lambda request: code("print('more')")))
    rlm, _ = make_rlm(scripted_server, project, cell_timeout_s=60, budget=Budget(max_seconds=1.5))
    started = time.monotonic()
    prediction = await rlm.aforward(question="spin")
    assert time.monotonic() - started < 1.5 + 1.0
    assert prediction.partial and prediction.answer == "partial answer"
    output = prediction.trajectory[0]["output"]
    assert "TimeoutError" in output or "KeyboardInterrupt" in output
    assert "SandboxRestarted" not in output  # a soft stop: the variables live on


async def test_no_time_left_skips_the_extract_step_with_a_clear_message(scripted_server, project):
    rlm, _ = make_rlm(scripted_server, project, budget=Budget(max_seconds=5.0))
    ctx = rlm.new_context()
    ctx.meter.started -= 10  # the turn's time is already spent
    prediction = await rlm.arun({"question": "late"}, ctx=ctx)
    assert prediction.partial and prediction.budget_exhausted == "seconds"
    assert prediction.answer == "(no answer: the time budget ran out with no time left for the extract step)"
    assert scripted_server.chat_requests() == []


# -- memory ---------------------------------------------------------------------------------------------


def test_the_memory_pool_gives_out_what_it_has():
    pool = MemoryPool(1000)
    assert pool.take(600) == 600
    assert pool.take(600) == 400  # what is left, above the minimum
    with pytest.raises(MemoryExhausted, match="1000 of 1000 MB"):
        pool.take(100)
    pool.give(400)
    assert pool.take(100) == 100 and pool.peak_mb == 1000


async def test_child_sandboxes_draw_on_one_pool(scripted_server, project):
    """Ten children holding 500 MB each once reached 5.5 GB: their caps come from the tree's pool."""
    def replies(request):
        text = last_user_text(request)
        if "child task" in text:
            return Reply(code("try:\n    blob = bytearray(200 * 2**20)\nexcept MemoryError:\n    blob = None\n"
                              "SUBMIT(answer='held' if blob else 'capped')"), latency_s=0.5)
        return code("SUBMIT(answer='done')")

    scripted_server.script("root", code(
        "import asyncio\n"
        "rs = await asyncio.gather(*[rlm_query(f'child task {i}') for i in range(6)], return_exceptions=True)\n"
        "print([r if isinstance(r, str) else type(r).__name__ + ': ' + str(r) for r in rs])"))
    scripted_server.default(replies)
    rlm, rec = make_rlm(scripted_server, project, sub_lm="openai/root", memory_mb=256,
                        budget=Budget(max_memory_mb=256 + 3 * 64))
    prediction = await rlm.aforward(question="fan out")
    output = prediction.trajectory[0]["output"]
    assert output.count("memory pool is spent") == 3, output
    assert output.count("'capped'") == 3  # each child's cap is its share of the pool, not 256 MB
    assert prediction.answer == "done"
    children = [e for e in rec.of(RunFailed) if e.error_type == "MemoryExhausted"]
    assert len(children) == 3


async def test_the_memory_pool_is_back_to_full_after_the_run(scripted_server, project):
    scripted_server.script("root", code("print(rlm_query('child task'))"), code("SUBMIT(answer='ok')"),
                           code("SUBMIT(answer='done')"))
    rlm, _ = make_rlm(scripted_server, project, sub_lm="openai/root")
    ctx = rlm.new_context()
    await rlm.arun({"question": "q"}, ctx=ctx)
    assert ctx.memory.used_mb == 0 and ctx.memory.peak_mb == 1024 + 256


def test_the_headless_printer_reports_refusals_and_the_cost_split():
    from rlm_tui.engine.events import RunFinished
    from rlm_tui.engine.printer import ProgressPrinter

    printer = ProgressPrinter()
    refused = CallsRefused(run_id="r", call_id="c", function="llm_query", model="m", budget="lm_calls",
                           count=13, reason="lm_calls budget exhausted (5 of 5)")
    assert printer.describe(refused) == "  ! 13 llm_query calls not sent (lm_calls budget exhausted)"
    done = RunFinished(run_id="r", call_id="c", outputs={}, partial=True, duration_s=2.5,
                       usage={"prompt_tokens": 3000, "completion_tokens": 456, "cost_usd": 0.0123,
                              "unpriced_calls": 2, "lm_calls": 12, "iterations": 3})
    assert printer.describe(done) == "■ 12 LM calls, 3,456 tokens, $0.0123 + 2 calls of unknown price, 2.5 s"


def test_a_hung_sync_tool_does_not_hold_the_run(scripted_server, project):
    """A tool with a 1 s timeout once held a run 22 s: its thread was waited for at shutdown."""
    release = threading.Event()

    def slow() -> str:
        """Never returns on its own."""
        release.wait(30)
        return "late"

    scripted_server.script("root", code("try:\n    slow()\nexcept Exception as e:\n    print(type(e).__name__, e)"),
                           code("SUBMIT(answer='went on')"))
    rlm, _ = make_rlm(scripted_server, project, tools={"slow": slow}, tool_timeout_s=1)
    started = time.monotonic()
    try:
        prediction = rlm(question="q")  # the sync form: asyncio.run must not wait for the tool
    finally:
        release.set()
    assert prediction.answer == "went on"
    assert "TimeoutError tool 'slow' did not finish within 1 s" in prediction.trajectory[0]["output"]
    assert time.monotonic() - started < 1 + 2.0


async def test_the_token_cap_holds_for_a_batch(scripted_server, project):
    scripted_server.script("root", code("r = llm_query_batched(['x' * 4000] * 12)\nprint(r)"))
    scripted_server.default(extracting(lambda request: "ok"))
    rlm, rec = make_rlm(scripted_server, project, budget=Budget(max_tokens=6000, max_iterations=None))
    prediction = await rlm.aforward(question="spend")
    from rlm_tui.engine.events import LMCallFinished, SubCallFinished

    used = sum(e.prompt_tokens + e.completion_tokens for e in rec.of(SubCallFinished) if e.function == "llm_query")
    used += sum(e.prompt_tokens + e.completion_tokens for e in rec.of(LMCallFinished) if e.role == "root")
    assert 0 < used <= 6000
    sent = len(scripted_server.chat_requests("sub"))
    assert 1 <= sent < 12 and sum(e.count for e in rec.of(CallsRefused)) == 12 - sent
    assert prediction.budget_exhausted == "tokens"


# -- one usage, one limits type ------------------------------------------------------------------


async def test_one_usage_in_the_event_the_prediction_and_the_trace(scripted_server, project, tmp_path):
    from rlm_tui.engine.events import RunFinished
    from rlm_tui.engine.trace import read_trace
    from rlm_tui.usage import Usage

    trace = tmp_path / "run.jsonl"
    rlm, rec = make_rlm(scripted_server, project, trace=trace)
    scripted_server.script("root", code("print(llm_query('hi'))"), code("SUBMIT(answer='x')"))
    prediction = await rlm.aforward(question="q")
    finished = rec.of(RunFinished)[-1]
    assert isinstance(prediction.usage, Usage) and finished.usage == prediction.usage
    assert (prediction.usage.lm_calls, prediction.usage.iterations) == (3, 2)
    assert prediction.usage.prompt_tokens > 0
    traced = [e for e in read_trace(trace) if isinstance(e, RunFinished)][-1]
    assert traced.usage == prediction.usage


def test_the_meter_reads_its_limits_live():
    """The meter holds the one limits type; a new limit (as /budget sets) applies at once."""
    meter = BudgetMeter(Budget(max_lm_calls=1, max_iterations=None))
    meter.reserve(10)
    with pytest.raises(CallRefused):
        meter.reserve(10)
    meter.limits = Budget(max_lm_calls=2, max_iterations=None)
    meter.reserve(10)
    assert meter.lm_calls == 2
