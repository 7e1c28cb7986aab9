"""Limits: each runaway cell is stopped within its limit, the host lives on, and the next
cell works (in a restarted instance where a trap forced it, and then `restarted` is True,
with the variables restored from the checkpoint)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlm_tui.sandbox import Sandbox

TIMEOUT = 1.0
SLACK = 1.5  # generous: a busy 2-core machine runs other tests beside these
OUTPUT_LIMIT = 10_000


@pytest.fixture(scope="module")
def limited(project: Path):
    with Sandbox(project, timeout_s=TIMEOUT, memory_mb=256, output_limit=OUTPUT_LIMIT) as sandbox:
        yield sandbox


def _survives(sandbox: Sandbox) -> None:
    """The next cell works and state survived: kept by the live instance, or restored from the
    checkpoint into a restarted one."""
    after = sandbox.run("'keep' in globals()")
    assert after.ok, after.error
    assert after.stdout == "True\n"


def test_cpu_loop_is_stopped_and_the_instance_restarted(limited: Sandbox) -> None:
    limited.run("keep = 1")
    restarts = limited.restarts
    result = limited.run("while True:\n    pass")
    assert result.restarted and result.error_type == "SandboxRestarted"
    assert "time limit" in result.error and "restarted" in result.error
    assert TIMEOUT <= result.duration_s < TIMEOUT + SLACK
    assert limited.restarts == restarts + 1
    _survives(limited)


def test_per_cell_timeout_overrides_the_default(limited: Sandbox) -> None:
    result = limited.run("while True:\n    pass", timeout_s=0.3)
    assert result.restarted and 0.3 <= result.duration_s < 0.3 + SLACK


def test_sleep_loop_raises_timeout_error_and_keeps_state(limited: Sandbox) -> None:
    limited.run("keep = 1")
    result = limited.run("import time\nwhile True:\n    time.sleep(0.05)")
    assert result.error_type == "TimeoutError" and not result.restarted
    assert TIMEOUT <= result.duration_s < TIMEOUT + SLACK
    _survives(limited)


def test_one_endless_sleep_is_cut_at_the_limit(limited: Sandbox) -> None:
    limited.run("keep = 1")
    result = limited.run("import time\ntime.sleep(1e9)")
    assert result.error_type == "TimeoutError"
    assert result.duration_s < TIMEOUT + SLACK
    _survives(limited)


def test_swallowed_timeout_is_stopped_hard(limited: Sandbox) -> None:
    result = limited.run("import time\nwhile True:\n    try:\n        time.sleep(1)\n    except TimeoutError:\n        pass")
    assert result.restarted
    assert result.duration_s < TIMEOUT + 0.5 + SLACK
    _survives(limited)


def test_sleeping_in_select_is_stopped_by_the_clock(limited: Sandbox) -> None:
    result = limited.run("import select\nselect.select([], [], [], 1000)")
    assert result.restarted and "while sleeping" in result.error
    assert result.duration_s < TIMEOUT + SLACK
    _survives(limited)


def test_memory_bomb_is_a_guest_memory_error(limited: Sandbox) -> None:
    limited.run("keep = 1")
    result = limited.run("hog = []\nwhile True:\n    hog.append(bytearray(10**7))", timeout_s=10)
    assert result.error_type == "MemoryError" and not result.restarted
    assert limited.run("del hog").ok
    assert limited.run("len(bytearray(50 * 2**20))").stdout == f"{50 * 2**20}\n"  # memory came back
    big = limited.run("bytearray(2**30)", timeout_s=10)
    assert big.error_type == "MemoryError"
    _survives(limited)


def test_output_flood_is_capped_and_stopped(limited: Sandbox) -> None:
    result = limited.run("while True:\n    print('flood' * 100)")
    assert len(result.stdout) < OUTPUT_LIMIT + 200
    assert "output truncated" in result.stdout and result.stdout.startswith("flood")
    assert result.restarted and result.duration_s < TIMEOUT + SLACK
    one = limited.run("import sys\nprint('z' * 10**6)\nprint('e' * 10**6, file=sys.stderr)")
    assert one.ok and not one.restarted
    assert len(one.stdout) < OUTPUT_LIMIT + 200 and len(one.stderr) < OUTPUT_LIMIT + 200
    assert "990,001 more bytes not shown" in one.stdout  # 10**6 + newline - 10_000 kept
    assert limited.run("print('small')").stdout == "small\n"  # the cap is per cell


def test_deep_python_recursion_is_a_recursion_error(limited: Sandbox) -> None:
    limited.run("keep = 1")
    # A time limit of its own: unwinding ~1,000 frames and formatting them can take longer than
    # the fixture's 1 s on a loaded machine, and this test is about the stack, not the clock.
    result = limited.run("def down(n):\n    return down(n + 1)\ndown(0)", timeout_s=30)
    assert result.error_type == "RecursionError" and not result.restarted
    _survives(limited)


@pytest.mark.parametrize(
    "code",
    [
        "nest = []\nfor _ in range(200_000):\n    nest = [nest]\nrepr(nest)",
        "import json\njson.loads('[' * 200_000 + ']' * 200_000)",
        "import json\nnest = []\nfor _ in range(200_000):\n    nest = [nest]\njson.dumps(nest)",
        "nest = {}\nfor _ in range(100_000):\n    nest = {'k': nest}\nstr(nest)",
        "import pickle\nnest = []\nfor _ in range(200_000):\n    nest = [nest]\npickle.dumps(nest)",
        "nest = []\nfor _ in range(100_000):\n    nest = [nest]\ndel nest",
    ],
    ids=["repr-list", "json-loads", "json-dumps", "str-dict", "pickle", "dealloc"],
)
def test_deep_c_level_recursion_does_not_crash_the_host(limited: Sandbox, code: str) -> None:
    limited.run("keep = 1")
    result = limited.run(code)
    assert result.error is not None
    if result.restarted:  # a wasm stack overflow traps: the instance is restarted
        assert result.error_type == "SandboxRestarted" and "stack" in result.error
    else:
        assert result.error_type == "RecursionError"
    _survives(limited)


def test_huge_variables_get_short_previews(limited: Sandbox) -> None:
    code = (
        "big_str = 'x' * 10**8\nbig_list = list(range(10**6))\nbig_dict = {i: str(i) for i in range(10**5)}\n"
        "class Loud:\n    def __repr__(self):\n        return 'y' * 10**7\nloud = Loud()\n"
        "class Broken:\n    def __repr__(self):\n        raise ValueError('no repr')\nbroken = Broken()\n"
        "nested = []\nfor _ in range(1_000):\n    nested = [nested]\nbig_bytes = bytes(10**7)"
    )
    result = limited.run(code, timeout_s=20)
    assert result.ok, result.error
    rows = {v.name: v for v in result.variables}
    assert all(len(v.preview) <= 120 for v in result.variables)
    assert rows["big_str"].size == 10**8 and rows["big_list"].size == 10**6
    assert rows["big_dict"].type == "dict" and rows["big_dict"].size == 10**5
    assert "Broken" in rows["broken"].preview  # a failing __repr__ does not break the snapshot
    assert rows["nested"].size == 1
    assert limited.run("pass").duration_s < TIMEOUT  # the snapshot of it all stays cheap
    assert limited.run("del big_str, big_list, big_dict, loud, broken, nested, big_bytes").ok


def test_guest_exiting_the_interpreter_restarts_it(limited: Sandbox) -> None:
    result = limited.run("import os\nos._exit(3)")
    assert result.restarted and "exit code 3" in result.error
    _survives(limited)


def test_a_cell_that_breaks_the_prelude_gets_a_fresh_instance(limited: Sandbox) -> None:
    assert limited.run("import sys\nsys.modules['_rlm'] = None").ok  # takes effect at the next cell
    result = limited.run("x = 1")
    assert result.restarted and "machinery" in result.error
    assert limited.run("import _rlm_door\n_rlm_door.send = None").restarted
    assert limited.run("2 + 2").stdout == "4\n"
