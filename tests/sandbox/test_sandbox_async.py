"""Host calls from async code: `await f(...)` / `await asyncio.gather(*[f(...)])` in a cell
start the calls on the host at once and run them in parallel; the plain forms still block."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from rlm_tui.sandbox import Sandbox, SandboxError


class Recorded:
    """Host functions that record when each call ran (thread-safe)."""

    def __init__(self) -> None:
        self.spans: list[tuple[float, float]] = []
        self.lock = threading.Lock()
        self.threads: set[int] = set()

    def slow(self, x: int, delay: float = 0.3) -> int:
        start = time.monotonic()
        time.sleep(delay)
        with self.lock:
            self.spans.append((start, time.monotonic()))
            self.threads.add(threading.get_ident())
        return x * 2

    @staticmethod
    def boom(x: int) -> int:
        raise ValueError(f"bad {x}")

    def functions(self) -> dict:
        return {"slow": self.slow, "boom": self.boom}


@pytest.fixture
def recorded() -> Recorded:
    return Recorded()


@pytest.fixture
def hosted(project: Path, recorded: Recorded):
    with Sandbox(project, host_functions=recorded.functions(), timeout_s=1.0) as sandbox:
        yield sandbox


def _max_overlap(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    best = now = 0
    for _, step in edges:
        now += step
        best = max(best, now)
    return best


def test_gather_runs_host_calls_in_parallel(hosted: Sandbox, recorded: Recorded) -> None:
    hosted.run("import asyncio")
    started = time.monotonic()
    result = hosted.run("rs = await asyncio.gather(*[slow(i) for i in range(8)])\nprint(rs)")
    elapsed = time.monotonic() - started
    assert result.error is None, result.error
    assert result.stdout == "[0, 2, 4, 6, 8, 10, 12, 14]\n"
    assert _max_overlap(recorded.spans) == 8
    assert elapsed < 8 * 0.3 / 2, elapsed  # far from the 2.4 s the calls take one by one


def test_generator_expressions_and_single_awaits(hosted: Sandbox, recorded: Recorded) -> None:
    result = hosted.run(
        "import asyncio\n"
        "rs = await asyncio.gather(*(slow(i, 0.05) for i in range(4)))\n"
        "one = await slow(21, 0.01)\n"
        "async def twice(x):\n"
        "    return await slow(x, 0.01) + await slow(x, 0.01)\n"
        "both = await asyncio.gather(twice(1), twice(2))\n"
        "print(rs, one, both)"
    )
    assert result.error is None, result.error
    assert result.stdout == "[0, 2, 4, 6] 42 [4, 8]\n"


def test_plain_calls_still_block_in_ordinary_cells_and_in_sync_helpers(hosted: Sandbox) -> None:
    assert hosted.run("slow(2, 0.01)").stdout == "4\n"
    result = hosted.run(
        "import asyncio\n"
        "def helper(x):\n"
        "    return slow(x, 0.01)  # a sync function: blocks, even when async code calls it\n"
        "async def main():\n"
        "    return [helper(i) for i in range(3)]\n"
        "print(await main())"
    )
    assert result.error is None, result.error
    assert result.stdout == "[0, 2, 4]\n"


def test_time_in_awaited_host_calls_does_not_count_against_the_cell_limit(hosted: Sandbox) -> None:
    result = hosted.run("for i in range(5):\n    await slow(i, 0.3)\nprint('done')")  # 1.5 s of host time, 1 s limit
    assert result.error is None, result.error
    assert result.stdout == "done\n"


def test_an_async_sleep_past_the_limit_still_times_out(hosted: Sandbox) -> None:
    started = time.monotonic()
    result = hosted.run("import asyncio\nawait asyncio.sleep(30)")
    assert result.error_type == "TimeoutError" and not result.restarted
    assert time.monotonic() - started < 3
    assert hosted.run("1 + 1").stdout == "2\n"


def test_host_errors_reach_the_awaiting_code(hosted: Sandbox) -> None:
    result = hosted.run("try:\n    await boom(1)\nexcept ValueError as e:\n    print('caught', e)")
    assert result.stdout == "caught bad 1\n"
    result = hosted.run("import asyncio\nrs = await asyncio.gather(boom(1), slow(1, 0.01), return_exceptions=True)\nprint(rs)")
    assert result.stdout == "[ValueError('bad 1'), 2]\n"


def test_forgetting_await_gives_a_clear_error_and_a_note(hosted: Sandbox) -> None:
    result = hosted.run("import asyncio\nx = slow(3, 0.01)\nawait asyncio.sleep(0)\nx['key']")
    assert result.error_type == "TypeError"
    assert "write `await slow(...)`" in result.error
    result = hosted.run("x = slow(3, 0.01)\nawait asyncio.sleep(0)")
    assert result.error is None
    assert "never awaited" in result.stderr


def test_cells_that_end_with_calls_running_leave_nothing_behind(hosted: Sandbox, recorded: Recorded) -> None:
    result = hosted.run("import asyncio\npending = [slow(i, 0.5) for i in range(3)]\nawait asyncio.sleep(0)")
    assert result.error is None
    assert hosted._calls.running == 0  # abandoned with the cell
    time.sleep(0.6)  # the abandoned calls finish on the host; nobody hears of them
    assert hosted.run("[p.cancelled() for p in pending]").stdout == "[True, True, True]\n"
    assert hosted.run("print(await slow(4, 0.01))").stdout == "8\n"


def test_cancel_while_awaiting_host_calls(hosted: Sandbox) -> None:
    hosted.run("kept = 'yes'")
    threading.Timer(0.3, hosted.cancel).start()
    started = time.monotonic()
    result = hosted.run("import asyncio\nrs = await asyncio.gather(*[slow(i, 5) for i in range(3)])\nprint('not reached')")
    assert time.monotonic() - started < 2
    assert result.error_type == "KeyboardInterrupt" and not result.restarted
    assert "not reached" not in result.stdout
    after = hosted.run("print(kept, 'rs' in globals(), len(asyncio.all_tasks(asyncio.get_event_loop())))")
    assert after.stdout == "yes False 0\n"
    assert hosted._calls.running == 0


def test_a_host_call_on_a_worker_cannot_reenter_its_sandbox(project: Path) -> None:
    box: dict = {}

    def reenter() -> str:
        try:
            box["sandbox"].run("1")
        except SandboxError as e:
            return str(e)
        return "entered"

    with Sandbox(project, host_functions={"reenter": reenter}) as sandbox:
        box["sandbox"] = sandbox
        assert "cannot run code in the sandbox" in sandbox.run("await reenter()").stdout


def test_a_call_given_up_on_with_wait_for_is_no_leak_and_no_note(hosted: Sandbox) -> None:
    result = hosted.run(
        "import asyncio\n"
        "try:\n"
        "    await asyncio.wait_for(slow(1, 0.5), 0.05)\n"
        "except TimeoutError:\n"
        "    print('gave up')\n"
        "print(await slow(2, 0.01))"
    )
    assert result.stdout == "gave up\n4\n" and result.error is None, result.error
    assert "never awaited" not in result.stderr
    assert hosted._calls.running == 0
