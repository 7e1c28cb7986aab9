"""State survives what it can: variables are checkpointed after the cells that change them and
restored after a restart (a time limit, a stack overflow); the model is told which were lost.
Guest functions replaced by user code are put back; hostile user objects cannot break the
variable snapshot."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rlm_tui.sandbox import Sandbox, protocol

SETUP = """\
import json, collections
import numpy as np
count = 41
words = ['alpha', 'beta']
table = {'a': [1, 2], 'b': {'c': (3, 4)}}
arr = np.arange(5)
counter = collections.Counter('hello')
class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y
    def norm(self):
        return abs(self.x) + abs(self.y)
def double(n, factor=2):
    return n * factor
import functools
@functools.lru_cache(maxsize=None)
def cached(n):
    return n + 1
def shout(fn):
    @functools.wraps(fn)
    def wrapper(*a):
        return fn(*a).upper()
    return wrapper
@shout
def plain():
    return 'decorated'
p = Point(3, -4)
gen = (i for i in range(3))
square = lambda n: n * n
big = 'x' * (17 << 20)
"""

READ = ("print(count + 1, words, table['b']['c'], arr.sum(), counter['l'], p.norm(), double(4), "
        "json.dumps(1), np.ones(2).tolist())")
EXPECTED = "42 ['alpha', 'beta'] (3, 4) 10 2 7 8 1 [1.0, 1.0]\n"


@pytest.fixture
def sandbox(project: Path):
    with Sandbox(project, timeout_s=3) as sandbox:
        yield sandbox


@pytest.mark.parametrize(
    ("trap", "why"),
    [("while True:\n    pass", "time limit"),
     ("import json\njson.loads('[' * 200_000 + ']' * 200_000)", "stack")],
    ids=["timeout", "stack-overflow"],
)
def test_variables_are_restored_after_a_trap_and_the_lost_ones_named(sandbox: Sandbox, trap: str, why: str) -> None:
    assert sandbox.run(SETUP).ok
    assert sandbox.run(READ).stdout == EXPECTED
    result = sandbox.run(trap)
    assert result.restarted and why in result.error
    assert "restored" in result.error
    for name in ("count", "words", "table", "arr", "counter", "Point", "double", "p", "plain", "cached", "shout"):
        assert name in result.error.split("restored as of")[1].split(". these were lost")[0], name
    lost = result.error.split("these were lost:")[1]
    assert "gen (cannot be saved: TypeError" in lost
    assert "square (" in lost and "big (too big to keep" in lost
    assert {v.name for v in result.variables} >= {"count", "words", "p", "double"}
    after = sandbox.run(READ)
    assert after.ok, after.error
    assert after.stdout == EXPECTED
    assert sandbox.run("print(p.__class__ is Point, plain(), cached(1))").stdout == "True DECORATED 2\n"
    assert sandbox.run("'gen' in globals(), 'big' in globals()").stdout == "(False, False)\n"


def test_the_checkpoint_follows_changes_and_deletions(sandbox: Sandbox) -> None:
    sandbox.run("a = [1]\nb = 'keep'\nc = 3")
    sandbox.run("a.append(2)\ndel c")
    result = sandbox.run("while True:\n    pass", timeout_s=0.3)
    assert result.restarted
    assert sandbox.run("print(a, b, 'c' in globals())").stdout == "[1, 2] keep False\n"


def test_changes_of_the_trapped_cell_are_not_restored(sandbox: Sandbox) -> None:
    sandbox.run("n = 1")
    result = sandbox.run("n = 2\nwhile True:\n    pass", timeout_s=0.3)
    assert result.restarted
    assert sandbox.run("n").stdout == "1\n"  # as of the end of the last cell that finished


def test_a_value_whose_pickling_raises_base_exceptions_is_lost_alone(sandbox: Sandbox) -> None:
    code = ("class Hostile:\n    def __reduce__(self):\n        raise KeyboardInterrupt\n"
            "class Quits:\n    def __reduce__(self):\n        raise SystemExit(3)\n"
            "h = Hostile()\nq = Quits()\nfine = 5")
    assert sandbox.run(code).ok
    result = sandbox.run("while True:\n    pass", timeout_s=0.3)
    assert "h (cannot be saved: KeyboardInterrupt" in result.error
    assert "q (cannot be saved: SystemExit" in result.error
    assert sandbox.run("fine").stdout == "5\n"


def test_a_value_whose_restore_traps_is_dropped_and_the_rest_restored(sandbox: Sandbox) -> None:
    code = ("import pickle\nclass Bomb:\n    def __reduce__(self):\n        return (exec, ('while True: pass',))\n"
            "bomb = Bomb()\nsafe = 'still here'")
    assert sandbox.run(code).ok
    result = sandbox.run("while True:\n    pass", timeout_s=0.3)
    assert result.restarted
    assert "bomb (restoring it stopped the sandbox" in result.error
    assert sandbox.run("safe").stdout == "'still here'\n"


def test_a_trivial_cell_sends_no_checkpoint(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox.run("import numpy as np\ndata = list(range(1000))\nname = 'x'")
    kept: list[bytes] = []
    real = sandbox._state.checkpoint.keep

    def spy(name: str, kind: str, blob: bytes) -> str | None:
        kept.append(protocol.STATE_KEEP)
        return real(name, kind, blob)

    monkeypatch.setattr(sandbox._state.checkpoint, "keep", spy)
    for _ in range(3):
        assert sandbox.run("1 + 1").ok
    assert kept == []
    sandbox.run("name = 'y'")
    assert kept == [b"\x01K"]  # only the variable that changed


@pytest.mark.parametrize(
    "code",
    [
        "class K:\n    def __repr__(self):\n        raise KeyboardInterrupt\nk = K()",
        "class K:\n    def __repr__(self):\n        raise SystemExit(1)\nk = K()",
        "class K:\n    def __len__(self):\n        raise KeyboardInterrupt\nk = K()",
        "class M(type):\n    @property\n    def __name__(cls):\n        raise KeyboardInterrupt\nclass K(metaclass=M):\n    pass\nk = K()\nK2 = K",
        "class K:\n    @property\n    def __class__(self):\n        raise KeyboardInterrupt\nk = K()",
        "globals()[1] = 'a key that is not a name'\nk = 1",
        "class E(Exception):\n    def __str__(self):\n        raise KeyboardInterrupt\nk = 1\nraise E()",
    ],
    ids=["repr-interrupt", "repr-exit", "len-interrupt", "metaclass-name", "class-property", "int-key", "error-str"],
)
def test_hostile_objects_do_not_restart_the_sandbox(sandbox: Sandbox, code: str) -> None:
    result = sandbox.run(code)
    assert not result.restarted, result.error
    assert "k" in {v.name for v in result.variables}
    assert sandbox.run("SHOW_VARS()").ok
    assert sandbox.run("2 + 2").stdout == "4\n"


def test_guest_functions_replaced_by_user_code_are_put_back(project: Path) -> None:
    calls: list[str] = []

    def llm_query(prompt: str) -> str:
        calls.append(prompt)
        return f"answer to {prompt}"

    with Sandbox(project, host_functions={"llm_query": llm_query}, output_fields=["answer"]) as sandbox:
        replaced = sandbox.run("llm_query = lambda p: 'fake'\nSUBMIT = print\nimport builtins\n"
                               "builtins.SHOW_VARS = None\nmine = llm_query('x')")
        assert replaced.ok and "llm_query" in replaced.stderr and "put back" in replaced.stderr
        assert {v.name for v in replaced.variables} == {"mine"}  # the shadowing names are gone
        assert sandbox.run("print(mine, llm_query('q'))").stdout == "fake answer to q\n"
        assert calls == ["q"]
        assert sandbox.run("SHOW_VARS()").stdout.startswith("mine: str")
        done = sandbox.run("SUBMIT(answer='real')")
        assert done.submitted == {"answer": "real"}


def test_user_code_cannot_stretch_the_checkpoint_grace(project: Path) -> None:
    with Sandbox(project, timeout_s=1) as sandbox:
        code = ("import _host, json\nwhile True:\n"
                "    _host.call(json.dumps({'op': 'result', 'error': None, 'variables': []}).encode())")
        result = sandbox.run(code)
        assert result.restarted and "time limit" in result.error
        assert result.duration_s < 1 + 5 + 2  # the cell limit, the checkpoint's grace once, slack


def test_restoring_many_hostile_values_is_bounded(project: Path) -> None:
    with Sandbox(project, timeout_s=1) as sandbox:
        code = ("class Bomb:\n    def __reduce__(self):\n        return (exec, ('while True: pass',))\n"
                "b1, b2, b3, b4 = Bomb(), Bomb(), Bomb(), Bomb()")
        assert sandbox.run(code).ok
        started = time.monotonic()
        result = sandbox.run("while True:\n    pass")
        assert result.restarted and "no time left" in result.error
        assert time.monotonic() - started < 1 + 2 * 5 + 3  # the cell, then at most twice the restore limit
        assert sandbox.run("2 + 2").stdout == "4\n"


def test_the_checkpoint_is_bounded_in_all(project: Path) -> None:
    with Sandbox(project, timeout_s=20) as sandbox:
        code = "\n".join(f"blob{i} = bytes([{i}]) * (10 << 20)" for i in range(8))  # 80 MB of 10 MB values
        assert sandbox.run(code).ok
        assert sandbox._checkpoint.total_bytes <= 64 << 20
        result = sandbox.run("while True:\n    pass", timeout_s=0.5)
        restored = result.error.split("restored as of")[1].split(". these were lost")[0]
        lost = result.error.split("these were lost:")[1]
        assert restored.count("blob") == 6 and lost.count("the checkpoint is full") == 2
        assert sandbox.run("blob0[:2], len(blob5)").stdout == f"(b'\\x00\\x00', {10 << 20})\n"


def test_a_user_image_module_is_not_put_back(sandbox: Sandbox) -> None:
    result = sandbox.run("from PIL import Image\nimg = Image.new('RGB', (2, 2))")
    assert result.ok and "put back" not in result.stderr
    assert sandbox.run("print(Image.__name__, img.size)").stdout == "PIL.Image (2, 2)\n"
