"""`rlm-tui replay --summary` says how each turn ended and what each used, then the total; the
headless printer and the summary call local models' calls free."""

from __future__ import annotations

import io

from rlm_tui.engine import events as ev
from rlm_tui.engine.printer import ProgressPrinter
from rlm_tui.engine.replay import summarize
from rlm_tui.usage import Usage

R = {"run_id": "r"}


def turn(n: int, question: str, tokens: int, cost: float | None = 0.001, model: str = "openai/m") -> list[ev.Event]:
    """A turn's start, one iteration and its root LM call (`tokens` prompt tokens)."""
    return [
        ev.RunStarted(**R, call_id=f"t{n}", task=question, inputs={"question": question}, model=model,
                      sub_model=model, project="/p", ts=100.0 * n),
        ev.IterationStarted(**R, call_id=f"t{n}i", parent_id=f"t{n}", iteration=1, ts=100.0 * n + 1),
        ev.LMCallStarted(**R, call_id=f"t{n}l", parent_id=f"t{n}i", model=model, role="root", prompt="p",
                         ts=100.0 * n + 1),
        ev.LMCallFinished(**R, call_id=f"t{n}l", parent_id=f"t{n}i", model=model, role="root", response="x",
                          prompt_tokens=tokens, completion_tokens=0, cost_usd=cost, ts=100.0 * n + 2),
    ]


def three_turns() -> list[ev.Event]:
    """Turn 1 finishes; turn 2 is cancelled while a sub-call waits; turn 3 ends by its budget."""
    cancelled = [
        ev.SubCallStarted(**R, call_id="s", parent_id="t2i", function="llm_query", model="openai/m",
                          prompt="slow", ts=203.0),
        ev.SubCallFinished(**R, call_id="s", parent_id="t2i", function="llm_query", model="openai/m",
                           response="", error="Cancelled: the turn was cancelled", ts=204.0),
        ev.RunFailed(**R, call_id="t2", error="the turn was cancelled", error_type="Cancelled", cancelled=True,
                     ts=205.0),
    ]
    ran_out = [
        ev.BudgetExhausted(**R, call_id="t3", budget="iterations", limit=1, used=1, ts=303.0),
        ev.RunFinished(**R, call_id="t3", outputs={"answer": "some"}, partial=True, usage=Usage(300, 0, 0.003),
                       duration_s=4.0, ts=304.0),
    ]
    return [
        *turn(1, "first", 100),
        ev.RunFinished(**R, call_id="t1", outputs={"answer": "yes"}, partial=False, usage=Usage(100, 0, 0.001),
                       duration_s=3.0, ts=103.0),
        *turn(2, "slow one", 200, cost=0.002), *cancelled,
        *turn(3, "third", 300, cost=0.003), *ran_out,
    ]


def test_each_turn_says_how_it_ended_with_its_own_usage_and_the_total_follows():
    text = summarize(three_turns())
    lines = text.splitlines()
    assert "failed" not in text  # the cancelled turn, and its sub-call the cancel ended, are "cancelled"
    assert "    llm_query [openai/m] — cancelled in 1.00 s" in lines
    assert lines[-7:] == [
        "turn 1 (first) finished — outputs: {'answer': 'yes'}",
        "  usage: 1 LM call, 100 tokens, $0.0010, 3.0 s",
        "turn 2 (slow one) cancelled",
        "  usage: 2 LM calls, 200 tokens, $0.0020, 5.0 s",  # the sub-call was sent
        "turn 3 (third) partial: the iterations budget ran out (1 of 1) — outputs: {'answer': 'some'}",
        "  usage: 1 LM call, 300 tokens, $0.0030, 4.0 s",
        "total over 3 turns: 4 LM calls, 600 tokens, $0.0060, 12.0 s",
    ]


def test_a_turn_the_trace_stops_inside_says_so():
    lines = summarize(turn(1, "killed", 50)).splitlines()
    assert lines[-3:] == ["turn 1 (killed) did not end: the trace stops inside this turn",
                          "  usage: 1 LM call, 50 tokens, $0.0010, 2.0 s",
                          "total over 1 turn: 1 LM call, 50 tokens, $0.0010, 2.0 s"]


def local_turn() -> list[ev.Event]:
    return [*turn(1, "offline", 40, cost=None, model="embedded/qwen2.5-0.5b"),
            ev.RunFinished(**R, call_id="t1", outputs={"answer": "a"}, partial=False,
                           usage=Usage(40, 0, None, lm_calls=1), duration_s=2.0, ts=102.0)]


def test_local_models_calls_are_free_not_of_unknown_price():
    out = io.StringIO()
    printer = ProgressPrinter(stream=out)
    for event in local_turn():
        printer(event)
    assert out.getvalue().splitlines()[-1] == "■ 1 LM call, 40 tokens, free, 2.0 s"
    assert summarize(local_turn()).splitlines()[-1] == "total over 1 turn: 1 LM call, 40 tokens, free, 2.0 s"


def test_a_hosted_call_of_unknown_price_still_says_so():
    events = [*turn(1, "q", 40, cost=None), ev.RunFinished(**R, call_id="t1", outputs={}, partial=False,
                                                           usage=Usage(40, 0, None, lm_calls=1), duration_s=1.0)]
    out = io.StringIO()
    printer = ProgressPrinter(stream=out)
    for event in events:
        printer(event)
    assert "unknown price (1 call)" in out.getvalue().splitlines()[-1]


def test_costs_of_nothing_and_of_unpriced_calls_never_read_zero_dollars():
    assert Usage().cost_text() == "$0"
    assert (Usage(0, 0, 0.0, lm_calls=1) + Usage(9, 0, None, lm_calls=1)).cost_text() == "unknown price (1 call)"


def test_the_traced_project_is_the_first_turns_folder_if_it_is_still_there(tmp_path):
    from dataclasses import replace

    from rlm_tui.engine.replay import traced_project

    events = turn(1, "q", 1)
    at = [replace(e, project=str(tmp_path)) if isinstance(e, ev.RunStarted) else e for e in events]
    assert traced_project(at).path == tmp_path
    gone = [replace(e, project=str(tmp_path / "gone")) if isinstance(e, ev.RunStarted) else e for e in events]
    assert traced_project(gone).note == f"the traced project {tmp_path / 'gone'} is no longer on disk"
    for unrecorded in ("", "(direct prompt)"):
        none = [replace(e, project=unrecorded) if isinstance(e, ev.RunStarted) else e for e in events]
        assert traced_project(none) == traced_project([]) == type(traced_project([]))(
            None, "project not recorded in this trace")
