"""`cancel()` from another thread: soft at host calls and sleeps (state kept), hard after a
grace period (instance restarted); the session stays usable either way."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from rlm_tui.sandbox import CellResult, Sandbox


def _run_in_thread(sandbox: Sandbox, code: str) -> tuple[threading.Thread, dict]:
    box: dict = {}

    def go() -> None:
        box["result"] = sandbox.run(code)
        box["done"] = time.monotonic()

    thread = threading.Thread(target=go)
    thread.start()
    return thread, box


def _wait_for(predicate, seconds: float = 5.0) -> None:
    end = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.005)


def test_cancel_during_a_host_call_raises_keyboard_interrupt_and_keeps_state(project: Path) -> None:
    entered, release = threading.Event(), threading.Event()

    def block():
        entered.set()
        release.wait(5)
        return "late"

    with Sandbox(project, host_functions={"block": block}) as sandbox:
        sandbox.run("kept = 'yes'")
        thread, box = _run_in_thread(sandbox, "value = block()\nprint('not reached')")
        assert entered.wait(5)
        sandbox.cancel()
        release.set()
        thread.join(5)
        result: CellResult = box["result"]
        assert result.error_type == "KeyboardInterrupt" and not result.restarted
        assert "not reached" not in result.stdout
        assert sandbox.run("kept, 'value' in globals()").stdout == "('yes', False)\n"


def test_a_host_call_longer_than_the_grace_period_still_cancels_softly(project: Path) -> None:
    entered = threading.Event()

    def slow_llm():
        entered.set()
        time.sleep(0.6)  # e.g. an LM call that finishes after the cancel's grace period
        return "answer"

    with Sandbox(project, host_functions={"slow_llm": slow_llm}) as sandbox:
        sandbox.run("kept = 'yes'")
        thread, box = _run_in_thread(sandbox, "slow_llm()")
        assert entered.wait(5)
        sandbox.cancel(grace_s=0.2)
        thread.join(5)
        assert box["result"].error_type == "KeyboardInterrupt" and not box["result"].restarted
        assert sandbox.run("kept").stdout == "'yes'\n"


def test_cancel_during_sleep_is_prompt_and_keeps_state(project: Path) -> None:
    with Sandbox(project) as sandbox:
        sandbox.run("kept = 1")
        thread, box = _run_in_thread(sandbox, "import time\nwhile True:\n    time.sleep(0.05)")
        time.sleep(0.3)
        cancelled = time.monotonic()
        sandbox.cancel()
        thread.join(5)
        assert box["result"].error_type == "KeyboardInterrupt" and not box["result"].restarted
        assert box["done"] - cancelled < 0.5
        assert sandbox.run("kept").stdout == "1\n"


def test_cpu_loop_is_stopped_hard_after_the_grace_period(project: Path) -> None:
    with Sandbox(project) as sandbox:
        sandbox.run("kept = 1")
        thread, box = _run_in_thread(sandbox, "while True:\n    pass")
        time.sleep(0.2)
        cancelled = time.monotonic()
        sandbox.cancel(grace_s=0.3)
        thread.join(5)
        result = box["result"]
        assert result.restarted and "cancelled" in result.error
        assert 0.3 <= box["done"] - cancelled < 1.5
        assert "restored" in result.error and "kept" in result.error
        assert sandbox.run("'kept' in globals(), 2 + 2").stdout == "(True, 4)\n"  # restored from the checkpoint


def test_cancel_with_nothing_running_does_not_stick(project: Path) -> None:
    with Sandbox(project) as sandbox:
        sandbox.cancel()
        assert sandbox.run("import time\ntime.sleep(0.01)\n'ran'").stdout == "'ran'\n"


def test_close_while_a_cell_runs_stops_it(project: Path) -> None:
    sandbox = Sandbox(project)
    thread, box = _run_in_thread(sandbox, "while True:\n    pass")
    time.sleep(0.2)
    started = time.monotonic()
    sandbox.close()
    thread.join(5)
    assert time.monotonic() - started < 5.0
    assert box["result"].error_type == "SandboxClosed" and sandbox.closed


async def test_cancelling_arun_cancels_the_cell(project: Path) -> None:
    with Sandbox(project) as sandbox:
        sandbox.run("kept = 3")
        task = asyncio.ensure_future(sandbox.arun("import time\nwhile True:\n    time.sleep(0.05)"))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        result = await sandbox.arun("kept")
        assert result.stdout == "3\n"
