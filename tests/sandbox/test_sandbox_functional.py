"""What a sandbox does for the code it runs: state, echo, errors, files, host functions."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from rlm_tui.sandbox import Sandbox, SandboxError, VarInfo


def test_state_persists_across_cells(shared: Sandbox) -> None:
    assert shared.run("persist_a = 20\npersist_b = [1, 2]").ok
    result = shared.run("persist_a + len(persist_b)")
    assert result.stdout == "22\n"
    assert result.error is None and result.error_type is None and not result.restarted


def test_trailing_expression_is_echoed_like_a_repl(shared: Sandbox) -> None:
    assert shared.run("'x' * 3").stdout == "'xxx'\n"
    assert shared.run("echo_none = None\necho_none").stdout == ""  # None is not echoed
    assert shared.run("print('p')\n{'k': 1}").stdout == "p\n{'k': 1}\n"
    assert shared.run("echo_x = 5").stdout == ""  # an assignment is not an expression


def test_variables_are_reported_without_modules_private_names_or_prelude(shared: Sandbox) -> None:
    result = shared.run("import json\n_hidden = 1\nvars_list = [1, 2, 3]\ndef vars_fn(): pass")
    rows = {v.name: v for v in result.variables}
    assert rows["vars_list"] == VarInfo("vars_list", "list", 3, "[1, 2, 3]")
    assert rows["vars_fn"].type == "function"
    assert "json" not in rows and "_hidden" not in rows
    assert not {"SUBMIT", "SHOW_VARS"} & rows.keys()


def test_show_vars_prints_the_variables(shared: Sandbox) -> None:
    shared.run("show_me = 'abc'")
    assert "show_me: str [3] = 'abc'" in shared.run("SHOW_VARS()").stdout


def test_an_error_keeps_the_session(shared: Sandbox) -> None:
    shared.run("kept = 'still here'")
    result = shared.run("kept_too = 1\n1 / 0")
    assert result.error_type == "ZeroDivisionError"
    assert "ZeroDivisionError: division by zero" in result.error
    assert "<cell" in result.error and "_rlm" not in result.error  # the prelude's frames are hidden
    assert not result.restarted
    assert shared.run("kept, kept_too").stdout == "('still here', 1)\n"


def test_syntax_error_is_reported_and_nothing_runs(shared: Sandbox) -> None:
    result = shared.run("syntax_ran = 1\nif True print('x')")
    assert result.error_type == "SyntaxError"
    assert "SyntaxError" in result.error and "line 2" in result.error
    assert shared.run("'syntax_ran' in globals()").stdout == "False\n"


def test_system_exit_and_keyboard_interrupt_end_the_cell_not_the_session(shared: Sandbox) -> None:
    shared.run("survivor = 7")
    assert shared.run("raise SystemExit(3)").error_type == "SystemExit"
    assert shared.run("raise KeyboardInterrupt").error_type == "KeyboardInterrupt"
    assert shared.run("import sys; sys.exit('bye')").error_type == "SystemExit"
    assert shared.run("survivor").stdout == "7\n"


def test_top_level_await_runs_on_the_guest_loop(shared: Sandbox) -> None:
    assert shared.run("import asyncio").ok
    code = "async def nap(i):\n    await asyncio.sleep(0.1)\n    return i\nawait asyncio.gather(*(nap(i) for i in range(5)))"
    result = shared.run(code)
    assert result.stdout == "[0, 1, 2, 3, 4]\n", result.error
    assert result.duration_s < 0.35  # the five sleeps overlapped


def test_non_utf8_output_is_decoded_with_replacement(shared: Sandbox) -> None:
    result = shared.run("import sys\nsys.stdout.buffer.write(b'ok \\xff\\xfe end\\n'); sys.stdout.flush()\nsys.stderr.buffer.write(b'\\xc3(\\n'); sys.stderr.flush()")
    assert result.stdout.startswith("ok \ufffd\ufffd end")
    assert "\ufffd(" in result.stderr
    assert shared.run("print('caf\\udce9')").stdout == "caf\\udce9\n"  # lone surrogates are escaped


def test_code_with_odd_characters_round_trips(shared: Sandbox) -> None:
    code = "odd = 'quote \\' \"dq\" \\\\ back ✓ \\x00 \\ud800'\nlen(odd)"
    assert shared.run(code).stdout == f"{len(eval(code.splitlines()[0][6:]))}\n"


def test_reads_text_and_binary_project_files(shared: Sandbox, project: Path) -> None:
    assert shared.run("open('/project/a.txt').read()").stdout == repr("hello\nworld\n") + "\n"
    assert shared.run("open('a.txt').readline()").stdout == repr("hello\n") + "\n"  # cwd is /project
    binary = shared.run("blob = open('/project/data.bin', 'rb').read()\nlen(blob), blob[250:260]")
    assert binary.stdout == repr((1024, (bytes(range(256)) * 4)[250:260])) + "\n"
    assert shared.run("open('/project/ünï.txt', encoding='utf-8').read()").stdout == "'ünïcode ✓'\n"
    listing = shared.run("import os\nsorted(os.listdir('/project/sub'))")
    assert listing.stdout == "['c.txt', 'deeper']\n"
    walk = shared.run("sum(len(f) for _, _, f in os.walk('/project/sub'))")
    assert walk.stdout == "2\n"
    assert shared.run("open('/project/link_inside').read()").stdout == repr("hello\nworld\n") + "\n"


def test_writes_to_workspace_are_seen_on_the_host(shared: Sandbox) -> None:
    code = "import os\nos.makedirs('/workspace/out/nested', exist_ok=True)\nopen('/workspace/out/nested/r.txt', 'w').write('résumé')\nopen('/workspace/out/b.bin', 'wb').write(bytes([0, 255]))"
    assert shared.run(code).ok
    assert (shared.workspace / "out" / "nested" / "r.txt").read_text(encoding="utf-8") == "résumé"
    assert (shared.workspace / "out" / "b.bin").read_bytes() == bytes([0, 255])
    (shared.workspace / "from_host.txt").write_text("host wrote this")
    assert shared.run("open('/workspace/from_host.txt').read()").stdout == "'host wrote this'\n"


def test_scratch_tmp_is_writable_and_private(project: Path) -> None:
    with Sandbox(project) as one, Sandbox(project) as two:
        assert one.run("open('/tmp/t.txt', 'w').write('one')").ok
        assert two.run("import os; os.path.exists('/tmp/t.txt')").stdout == "False\n"


def test_numpy_and_pandas_are_there(shared: Sandbox) -> None:
    result = shared.run("import numpy as np\nnp_sum = int(np.arange(10).sum())\nnp_sum")
    assert result.stdout == "45\n", result.error


# -- host functions -------------------------------------------------------------------------


class Boom(Exception):
    pass


def _host_functions(calls: list) -> dict:
    def add(a, b=0):
        """Add two numbers."""
        calls.append(("add", a, b))
        return a + b

    def echo(value):
        return value

    def fail(message):
        raise Boom(message)

    def fail_value(message):
        raise ValueError(message)

    def bad_return():
        return object()

    def slow(seconds):
        time.sleep(seconds)
        return "done"

    return {"add": add, "echo": echo, "fail": fail, "fail_value": fail_value, "bad_return": bad_return, "slow": slow}


@pytest.fixture(scope="module")
def hosted(project: Path):
    calls: list = []
    with Sandbox(project, host_functions=_host_functions(calls), timeout_s=1.0) as sandbox:
        sandbox.calls = calls
        yield sandbox


def test_host_function_values_cross_as_json(hosted: Sandbox) -> None:
    assert hosted.run("add(2, b=40)").stdout == "42\n"
    assert hosted.calls[-1] == ("add", 2, 40)
    value = {"s": "ü✓", "n": None, "f": 1.5, "l": [1, [2, {"x": True}]], "big": 2**70}
    assert hosted.run(f"echo({value!r}) == {value!r}").stdout == "True\n"
    assert hosted.run("echo((1, 2))").stdout == "[1, 2]\n"  # tuples arrive as lists
    assert hosted.run("sorted(echo({3, 1, 2}))").stdout == "[1, 2, 3]\n"  # sets as lists
    assert hosted.run("add.__doc__").stdout == "'Add two numbers.'\n"


def test_host_function_arguments_must_be_json(hosted: Sandbox) -> None:
    result = hosted.run("echo(object())")
    assert result.error_type == "TypeError" and "JSON" in result.error
    result = hosted.run("echo(float('nan'))")
    assert result.error_type == "TypeError"
    result = hosted.run("bad_return()")
    assert result.error_type == "TypeError" and "cannot cross" in result.error


def test_host_errors_reach_the_guest_with_type_and_message(hosted: Sandbox) -> None:
    result = hosted.run("fail('it broke')")
    assert result.error_type == "Boom"
    assert "Boom: it broke" in result.error
    caught = hosted.run("try:\n    fail_value('nope')\nexcept ValueError as e:\n    caught = repr(e)\ncaught")
    assert caught.stdout == "\"ValueError('nope')\"\n"  # builtin types stay builtin
    custom = hosted.run("try:\n    fail('x')\nexcept Exception as e:\n    kind = type(e).__name__\nkind")
    assert custom.stdout == "'Boom'\n"
    assert hosted.run("add(1, 2)").stdout == "3\n"  # the session is fine


def test_time_in_host_functions_does_not_count_against_the_timeout(hosted: Sandbox) -> None:
    result = hosted.run("[slow(0.4) for _ in range(4)]")  # 1.6 s of host time, 1 s limit
    assert result.ok, result.error
    assert result.duration_s >= 1.6


def test_unknown_or_forged_door_requests_are_guest_errors(hosted: Sandbox) -> None:
    result = hosted.run("import _host\n_host.call(b'not json')")
    assert result.ok  # the raw door answers with an error object, the host stays up
    assert "bad host request" in result.stdout
    assert "no host function" in hosted.run("import _host\n_host.call(b'{\"op\": \"call\", \"name\": \"nope\"}')").stdout
    assert hosted.run("add(1, 1)").stdout == "2\n"


def test_nested_host_function_runs_a_cell_in_another_sandbox(project: Path) -> None:
    with Sandbox(project) as inner:
        inner.run("inner_state = 10")

        def ask_inner(code):
            result = inner.run(code)
            return {"stdout": result.stdout, "error": result.error}

        with Sandbox(project, host_functions={"ask_inner": ask_inner}) as outer:
            result = outer.run("r = ask_inner('inner_state * 2')\nr['stdout']")
            assert result.stdout == "'20\\n'\n", result.error
            deeper = outer.run("ask_inner('1/0')['error'].splitlines()[-1]")
            assert deeper.stdout == "'ZeroDivisionError: division by zero'\n"


def test_a_host_function_cannot_reenter_its_own_sandbox(project: Path) -> None:
    holder: dict = {}

    def reenter():
        return holder["sandbox"].run("1").stdout

    with Sandbox(project, host_functions={"reenter": reenter}) as sandbox:
        holder["sandbox"] = sandbox
        result = sandbox.run("reenter()")
        assert result.error_type == "SandboxError"
        assert "cannot run code in the sandbox that is calling it" in result.error
        assert sandbox.run("2").stdout == "2\n"


def test_host_functions_can_be_added_and_swapped_later(project: Path) -> None:
    with Sandbox(project, host_functions={"f": lambda: "one"}) as sandbox:
        assert sandbox.run("f()").stdout == "'one'\n"
        sandbox.host_functions["f"] = lambda: "two"  # swapping an existing one is a dict update
        assert sandbox.run("f()").stdout == "'two'\n"
        sandbox.add_host_functions({"g": lambda x: x * 3})
        assert sandbox.run("g(3)").stdout == "9\n"
        sandbox.add_host_functions({"h": lambda: "global"}, as_globals=True)
        result = sandbox.run("'h' in globals(), h()")
        assert result.stdout == "(True, 'global')\n"
        assert "h" not in {v.name for v in result.variables}


@pytest.mark.parametrize("name", ["print", "SUBMIT", "not valid", "class", ""])
def test_host_function_names_are_checked(project: Path, name: str) -> None:
    with pytest.raises(SandboxError, match="host function name"):
        Sandbox(project, host_functions={name: lambda: None})


# -- SUBMIT -------------------------------------------------------------------------------


def test_submit_ends_the_cell_and_hands_over_outputs(project: Path) -> None:
    with Sandbox(project, output_fields=["answer", "score"]) as sandbox:
        result = sandbox.run("print('before')\nSUBMIT(answer='yes', score=3)\nprint('after')")
        assert result.submitted == {"answer": "yes", "score": 3}
        assert result.stdout == "before\n" and result.ok
        assert sandbox.run("SUBMIT('pos', 5)").submitted == {"answer": "pos", "score": 5}
        assert sandbox.run("x = 1").submitted is None
        assert sandbox.run("SUBMIT(1, 2, 3)").error_type == "TypeError"
        caught = sandbox.run("try:\n    SUBMIT(answer='a', score=1)\nexcept Exception:\n    pass")
        assert caught.submitted == {"answer": "a", "score": 1}  # `except Exception` cannot swallow it
        sandbox.set_output_fields(["only"])
        assert sandbox.run("SUBMIT(42)").submitted == {"only": 42}
        assert sandbox.run("import numpy as np\nSUBMIT(np.int64(7))").submitted == {"only": 7}


# -- parallelism and bad input ------------------------------------------------------------


def test_parallel_sandboxes_on_threads_overlap_in_time(project: Path) -> None:
    # Guest-side timestamps: if one guest held the GIL, the other could not even read the
    # clock (a host call) until it finished, and the spans would not overlap.
    work = "import time\nt0 = time.time()\nt = 0\nfor i in range(1_500_000):\n    t += i\nprint(t0, time.time())"
    with Sandbox(project) as one, Sandbox(project) as two:
        spans: dict[str, tuple[float, float]] = {}

        def go(name: str, sandbox: Sandbox) -> None:
            result = sandbox.run(work)
            assert result.ok, result.error
            begin, end = map(float, result.stdout.split())
            spans[name] = (begin, end)

        threads = [threading.Thread(target=go, args=(n, s)) for n, s in (("one", one), ("two", two))]
        for thread in threads:
            thread.start()
        ticks = 0  # the host's own Python keeps running meanwhile: wasm runs without the GIL
        while any(t.is_alive() for t in threads):
            ticks += 1
            time.sleep(0.001)
        for thread in threads:
            thread.join()
    (a0, a1), (b0, b1) = spans["one"], spans["two"]
    overlap = min(a1, b1) - max(a0, b0)
    assert overlap > 0.5 * min(a1 - a0, b1 - b0), spans
    assert ticks > 20


def test_missing_project_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="does not exist"):
        Sandbox(tmp_path / "nope")


def test_project_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    file = tmp_path / "file.txt"
    file.write_text("x")
    with pytest.raises(SandboxError, match="is not a directory"):
        Sandbox(file)
    with pytest.raises(SandboxError, match="workspace path .* is not a directory"):
        Sandbox(tmp_path, workspace=file)


def test_unreadable_files_are_guest_errors_not_crashes(shared: Sandbox, project: Path, tmp_path: Path) -> None:
    # A FIFO would block the host forever if opened; sockets cannot be read.
    for name in ("pipe", "sock"):
        result = shared.run(f"open('/project/{name}').read()")
        assert result.error_type == "PermissionError", result.error
        result = shared.run(f"import pathlib\npathlib.Path('/project/{name}').read_bytes()")
        assert result.error_type == "PermissionError", result.error
    import os

    if os.geteuid() != 0:  # root reads mode-000 files anyway
        locked = tmp_path / "locked"
        locked.mkdir()
        (locked / "x.txt").write_text("x")
        (locked / "x.txt").chmod(0)
        with Sandbox(locked) as sandbox:
            assert sandbox.run("open('/project/x.txt').read()").error_type == "PermissionError"
    assert shared.run("'alive'").stdout == "'alive'\n"


def test_closed_sandbox_refuses_work(project: Path) -> None:
    sandbox = Sandbox(project)
    workspace = sandbox.workspace
    sandbox.close()
    sandbox.close()  # twice is fine
    assert sandbox.closed and not workspace.exists()
    with pytest.raises(SandboxError, match="closed"):
        sandbox.run("1")


def test_run_rejects_non_string_code(shared: Sandbox) -> None:
    with pytest.raises(TypeError):
        shared.run(b"1")  # type: ignore[arg-type]


async def test_arun_runs_on_a_worker_thread(shared: Sandbox) -> None:
    result = await shared.arun("arun_value = 6 * 7\narun_value")
    assert result.stdout == "42\n"
