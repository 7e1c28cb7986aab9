"""`rlm-tui mcp`: driven by the official MCP client over real stdio pipes."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from rlm_tui.cli import EXIT_USAGE, main
from rlm_tui.engine.events import RunFailed
from rlm_tui.engine.session import sessions_dir
from rlm_tui.engine.trace import read_trace
from rlm_tui.protocols.pool import MAX_SESSIONS
from tests.protocols.support import (
    code,
    eventually,
    live_processes_mentioning,
    server_command,
    wait_until,
)
from tests.support.processes import kill_if_alive
from tests.support.scripted_server import Reply


def mcp_client(scripted_server, project: Path, env: dict[str, str], *extra: str) -> Client:
    command = server_command("mcp", scripted_server, str(project), *extra)
    return Client(StdioServerParameters(command=command[0], args=command[1:], env=env))


class Progress:
    def __init__(self) -> None:
        self.seen: list[tuple[float, str | None]] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.seen.append((progress, message))

    @property
    def messages(self) -> list[str]:
        return [m or "" for _, m in self.seen]


async def test_tools_ask_progress_and_citations(scripted_server, project, server_env):
    scripted_server.script(
        "root",
        code("names = [l.split('(')[0][4:] for l in open('app.py') if l.startswith('def ')]\n"
             "summary = llm_query('summarise ' + ', '.join(names))\nprint(summary)"),
        code("SUBMIT(answer=f'app.py:1 defines main; app.py:5 defines helper ({summary})')"),
    )
    progress = Progress()
    async with mcp_client(scripted_server, project, server_env) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        result = await client.call_tool("ask", {"question": "What does app.py define?"},
                                        progress_callback=progress)

    assert set(tools) == {"ask", "session_ask", "session_close"}
    assert tools["ask"].input_schema["required"] == ["question"]
    assert not result.is_error
    answer = result.structured_content
    assert json.loads(result.content[0].text) == answer  # the same for clients that read text only
    assert answer["answer"].startswith("app.py:1 defines main; app.py:5 defines helper (echo: summarise main, helper)")
    assert [c["text"] for c in answer["citations"]] == ["app.py:1", "app.py:5"]
    assert answer["partial"] is False and answer["budget_exhausted"] is None
    assert answer["usage"]["lm_calls"] == 3 and answer["usage"]["iterations"] == 2
    assert answer["usage"]["prompt_tokens"] > 0
    # progress: strictly increasing, with iterations, the sub-call and token totals
    values = [p for p, _ in progress.seen]
    assert values == sorted(set(values)) and len(values) >= 8
    text = "\n".join(progress.messages)
    assert "iteration 1" in text and "iteration 2/12" in text
    assert "llm_query started" in text and "sub-calls 1 running, 0 done" in text
    assert "llm_query done" in text and "sub-calls 0 running, 1 done" in text
    assert " tokens" in text and progress.messages[-1].startswith("finished")


async def test_typed_signature_and_a_partial_answer(scripted_server, project, server_env):
    scripted_server.script("root", code("SUBMIT(count=2, names=['main', 'helper'])"),
                           Reply(code("print('still looking')"), times=2))
    scripted_server.default('{"answer": "a guess from the history"}')
    async with mcp_client(scripted_server, project, server_env) as client:
        typed = await client.call_tool("ask", {"question": "How many functions?",
                                               "signature": "question -> count: int, names: list[str]"})
        partial = await client.call_tool("ask", {"question": "Anything else?", "budget": {"max_iterations": 2}})

    assert typed.structured_content["outputs"] == {"count": 2, "names": ["main", "helper"]}
    assert partial.structured_content["partial"] is True
    assert partial.structured_content["budget_exhausted"] == "iterations"
    assert partial.structured_content["answer"] == "a guess from the history"
    assert partial.structured_content["usage"]["iterations"] == 2


async def test_follow_up_sees_the_first_answers_variables(scripted_server, project, server_env):
    scripted_server.script(
        "root",
        code("found = [l for l in open('app.py') if l.startswith('def ')]\nSUBMIT(answer=str(len(found)))"),
        code("SUBMIT(answer=found[0].strip())"),
    )
    async with mcp_client(scripted_server, project, server_env) as client:
        first = await client.call_tool("session_ask", {"question": "How many defs?"})
        session_id = first.structured_content["session_id"]
        second = await client.call_tool("session_ask", {"question": "Which is first?", "session_id": session_id})
        closed = await client.call_tool("session_close", {"session_id": session_id})
        with pytest.raises(MCPError) as gone:
            await client.call_tool("session_ask", {"question": "again?", "session_id": session_id})

    assert first.structured_content["answer"] == "2"
    assert second.structured_content["answer"] == "def main():"
    assert second.structured_content["session_id"] == session_id
    assert "How many defs?" in scripted_server.chat_requests("root")[1].prompt_text  # the history came along
    assert not closed.is_error
    assert gone.value.code == INVALID_PARAMS and "no open session" in gone.value.message


async def test_cancel_stops_the_turn_and_the_server_and_session_stay_up(scripted_server, project, server_env):
    scripted_server.script(
        "root",
        code("kept = 'yes'\nSUBMIT(answer=kept)"),
        code("print(llm_query('slow'))"),
        code("SUBMIT(answer='still ' + kept)"),
    )
    scripted_server.script("sub", Reply(fault="hang"))
    async with mcp_client(scripted_server, project, server_env) as client:
        first = await client.call_tool("session_ask", {"question": "first"})
        session_id = first.structured_content["session_id"]

        async with anyio.create_task_group() as group:
            group.start_soon(client.call_tool, "session_ask", {"question": "slow one", "session_id": session_id})
            await eventually(lambda: scripted_server.chat_requests("sub"), what="the hanging sub-call")
            group.cancel_scope.cancel()

        trace = sessions_dir() / session_id / "trace.jsonl"
        await eventually(lambda: any(isinstance(e, RunFailed) and e.cancelled for e in read_trace(trace)),
                         what="the cancelled turn in the trace")
        await eventually(lambda: scripted_server.chat_requests("sub")[0].end is not None,
                         what="the sub-call's HTTP request to be dropped")
        third = await client.call_tool("session_ask", {"question": "again", "session_id": session_id})

    assert third.structured_content["answer"] == "still yes"
    assert len(scripted_server.chat_requests("root")) == 3  # the cancelled turn asked the root LM nothing more


async def test_bad_arguments_are_invalid_params_errors(scripted_server, project, server_env):
    scripted_server.script("root", code("SUBMIT(answer='fine')"))
    bad = [
        ("ask", {}),                                                     # no question
        ("ask", {"question": 42}),                                       # wrong type
        ("ask", {"question": "q", "project": "/"}),                      # not an argument: the project is fixed
        ("ask", {"question": "q", "mounts": {"/host": "/"}}),
        ("ask", {"question": "q", "signature": "question"}),             # not a signature
        ("ask", {"question": "q", "signature": "question, doc: File -> answer"}),  # would stage a host file
        ("ask", {"question": "q", "signature": "question -> report: File"}),       # would write a host file
        ("ask", {"question": "q", "signature": "a, b -> answer"}),
        ("ask", {"question": "q", "budget": {"max_iterations": 4}}),     # above the configured 3
        ("ask", {"question": "q", "budget": {"max_iterations": 0}}),
        ("ask", {"question": "q", "budget": {"max_dollars": 1}}),
        ("session_ask", {"question": "q", "session_id": "nope"}),
        ("session_close", {"session_id": "nope"}),
    ]
    async with mcp_client(scripted_server, project, server_env, "--max-iterations", "3") as client:
        errors = []
        for tool, arguments in bad:
            with pytest.raises(MCPError) as error:
                await client.call_tool(tool, arguments)
            errors.append(error.value)
        still_up = await client.call_tool("ask", {"question": "q", "budget": {"max_iterations": 2}})

    assert [e.code for e in errors] == [INVALID_PARAMS] * len(bad)
    messages = [e.message for e in errors]
    assert "'question' is a required property" in messages[0]
    assert "project" in messages[2] and "fixed at start" in messages[2]
    assert "File fields (doc)" in messages[5] and "File fields (report)" in messages[6]
    assert "above the configured 3" in messages[8]
    assert still_up.structured_content["answer"] == "fine"
    assert scripted_server.chat_requests("root").__len__() == 1  # no bad call reached the model


async def test_no_argument_widens_the_mounts(scripted_server, project, server_env, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("host secret\n")
    places = ["/project", "/workspace", "/inputs", str(tmp_path), str(outside), str(project)]
    probe = f"import os\nSUBMIT(answer=repr(([os.path.exists(p) for p in {places!r}], sorted(os.listdir('/project')))))"
    scripted_server.script("root", code(probe), code(probe))
    async with mcp_client(scripted_server, project, server_env) as client:
        with pytest.raises(MCPError):
            await client.call_tool("ask", {"question": "q", "project": str(tmp_path)})
        with pytest.raises(MCPError):
            await client.call_tool("ask", {"question": "q", "signature": "question, extra: File -> answer"})
        one_shot = await client.call_tool("ask", {"question": f"read {outside}"})
        session = await client.call_tool("session_ask", {"question": f"read {outside}"})

    for result in (one_shot, session):
        seen, listed = ast.literal_eval(result.structured_content["answer"])
        assert seen == [True, True, False, False, False, False]  # only the fixed mounts exist
        assert listed == ["app.py", "pkg"]


def test_a_killed_client_leaves_no_orphan_processes(scripted_server, project, server_env, tmp_path):
    scripted_server.script("root", code("print(llm_query('go'))\nwhile True:\n    pass"))  # a cell that never ends
    env = {**server_env, "RLM_TUI_CELL_TIMEOUT_S": "300"}  # left alone, the server would live 5 minutes
    client_script = tmp_path / "client.py"
    client_script.write_text(textwrap.dedent(f"""
        import anyio, sys
        from mcp import Client
        from mcp.client.stdio import StdioServerParameters

        async def main():
            params = StdioServerParameters(command={sys.executable!r}, args={server_command("mcp", scripted_server, str(project))[1:]!r}, env={env!r})
            async with Client(params) as client:
                print("connected", flush=True)
                await client.call_tool("session_ask", {{"question": "slow"}})  # a session outlives a call

        anyio.run(main)
    """))
    client = subprocess.Popen([sys.executable, str(client_script)], stdout=subprocess.PIPE, env=server_env)
    try:
        assert client.stdout is not None and client.stdout.readline().strip() == b"connected"
        wait_until(lambda: scripted_server.chat_requests("sub"), what="the cell to start")
        time.sleep(0.5)  # into the endless loop
        assert len(live_processes_mentioning(str(project))) == 1  # the server, running the cell
        os.kill(client.pid, signal.SIGKILL)
        client.wait(10)
        wait_until(lambda: not live_processes_mentioning(str(project)), timeout=60, what="the server to exit")
    finally:
        if client.poll() is None:
            client.kill()
        for pid in live_processes_mentioning(str(project)):  # a failed check must not leave one either
            kill_if_alive(pid)


def test_mcp_without_a_model_is_a_usage_error(project, capsys):
    assert main(["mcp", str(project)]) == EXIT_USAGE
    assert "No model is configured" in capsys.readouterr().err


def test_mcp_with_a_missing_project_or_an_unknown_skill_is_a_usage_error(tmp_path, project, capsys):
    assert main(["mcp", str(tmp_path / "nope"), "--model", "openai/x"]) == EXIT_USAGE
    assert "does not exist" in capsys.readouterr().err
    assert main(["mcp", str(project), "--model", "openai/x", "--api-base", "http://127.0.0.1:9/v1",
                 "--skill", "no-such-skill"]) == EXIT_USAGE
    assert "no-such-skill" in capsys.readouterr().err


async def test_a_run_that_fails_is_a_tool_error_that_says_why(scripted_server, project, server_env):
    scripted_server.script("root", Reply(fault="401"))
    async with mcp_client(scripted_server, project, server_env) as client:
        failed = await client.call_tool("ask", {"question": "q"})
        scripted_server.script("root", code("SUBMIT(answer='back')"))
        after = await client.call_tool("ask", {"question": "q"})

    assert failed.is_error and "the run failed" in failed.content[0].text
    assert "401" in failed.content[0].text or "Authentication" in failed.content[0].text
    assert after.structured_content["answer"] == "back"


async def test_open_sessions_are_bounded_and_a_failed_first_turn_leaves_none_behind(
        scripted_server, project, server_env):
    scripted_server.default("Done.\n```python\nSUBMIT(answer='ok')\n```")
    async with mcp_client(scripted_server, project, server_env) as client:
        opened = [(await client.call_tool("session_ask", {"question": "q"})).structured_content["session_id"]
                  for _ in range(MAX_SESSIONS)]
        with pytest.raises(MCPError) as full:
            await client.call_tool("session_ask", {"question": "one too many"})
        await client.call_tool("session_close", {"session_id": opened[0]})
        scripted_server.script("root", Reply(fault="401"))
        failed = await client.call_tool("session_ask", {"question": "fails"})
        fits = await client.call_tool("session_ask", {"question": "fits in the freed place"})

    assert len(set(opened)) == MAX_SESSIONS
    assert full.value.code == INVALID_PARAMS and f"{MAX_SESSIONS} sessions are open" in full.value.message
    assert failed.is_error and not fits.is_error
