"""`rlm-tui acp`: driven by the ACP client library over real stdio pipes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from acp import PROTOCOL_VERSION, RequestError, spawn_agent_process, text_block
from acp.helpers import resource_link_block
from acp.schema import (
    AgentMessageChunk,
    AgentPlanUpdate,
    AgentThoughtChunk,
    ResourceContentBlock,
    ToolCallProgress,
    ToolCallStart,
    UserMessageChunk,
)

from tests.protocols.support import code, live_processes_mentioning, server_command, wait_until
from tests.support.processes import kill_if_alive
from tests.support.scripted_server import Reply


class Editor:
    """The client side: records every session update."""

    def __init__(self) -> None:
        self.updates: list[tuple[str, Any]] = []

    async def session_update(self, session_id: str, update: Any, **_: Any) -> None:
        self.updates.append((session_id, update))

    def of(self, kind: type, session_id: str | None = None) -> list[Any]:
        return [u for sid, u in self.updates if isinstance(u, kind) and session_id in (None, sid)]

    def said(self, session_id: str) -> str:
        return "".join(u.content.text if hasattr(u.content, "text") else f"[{u.content.name}]"
                       for u in self.of(AgentMessageChunk, session_id))

    def on_connect(self, conn: Any) -> None:
        pass


@asynccontextmanager
async def agent(scripted_server, env: dict[str, str], *extra: str):
    command = server_command("acp", scripted_server, *extra)
    editor = Editor()
    async with spawn_agent_process(editor, command[0], *command[1:], env=env) as (conn, process):
        ready = await conn.initialize(protocol_version=PROTOCOL_VERSION)
        assert ready.agent_capabilities.load_session is True
        yield conn, editor, process


def link(path: Path) -> Any:
    return resource_link_block(path.name, path.as_uri())


async def test_a_prompt_turn_reports_cells_sub_calls_plan_and_the_answer(scripted_server, project, server_env):
    scripted_server.script(
        "root",
        code("src = open('app.py').read()\nnote = llm_query('one word for: ' + src[:20])\nprint(note)",
             reasoning="I will read app.py and ask a sub-model."),
        code("SUBMIT(answer='main is at app.py:1.\\n\\nAnd helper at app.py:5.')"),
    )
    async with agent(scripted_server, server_env) as (conn, editor, _):
        session = (await conn.new_session(cwd=str(project))).session_id
        done = await conn.prompt(session_id=session, prompt=[text_block("Where is main? See"), link(project / "app.py")])

    assert done.stop_reason == "end_turn" and done.usage.total_tokens > 0
    assert "/project/app.py" in scripted_server.chat_requests("root")[0].prompt_text  # the link pointed the model
    thoughts = "".join(u.content.text for u in editor.of(AgentThoughtChunk))
    assert "I will read app.py and ask a sub-model." in thoughts
    starts = editor.of(ToolCallStart)
    assert [(s.kind, s.status) for s in starts] == [("execute", "in_progress"), ("think", "in_progress"),
                                                    ("execute", "in_progress")]
    assert starts[0].title == "Run: src = open('app.py').read()" and starts[1].title.startswith("llm_query: one word")
    ends = {u.tool_call_id: u for u in editor.of(ToolCallProgress)}
    assert {ends[s.tool_call_id].status for s in starts} == {"completed"}
    assert "echo: one word for: def main()" in ends[starts[0].tool_call_id].content[1].content.text
    plans = editor.of(AgentPlanUpdate)
    assert [e.content for e in plans[-1].entries] == [
        "Where is main? See /project/app.py", "  iter 1: src = open('app.py').read()",
        "    llm_query: one word for: def main(): prin", "  iter 2: SUBMIT(answer='main is at app.py:1.\\n\\nAnd helper at app.py:5.')",
    ]
    assert {e.status for e in plans[-1].entries} == {"completed"}
    assert any(e.status == "in_progress" for plan in plans for e in plan.entries)
    assert len(editor.of(AgentMessageChunk)) >= 4  # paragraphs, then the sources as links
    assert editor.said(session) == ("main is at app.py:1.\n\nAnd helper at app.py:5.\n\nSources: "
                                    "[app.py:1], [app.py:5]")
    links = [u.content for u in editor.of(AgentMessageChunk) if isinstance(u.content, ResourceContentBlock)]
    assert links[0].uri == (project / "app.py").as_uri()


async def test_variables_survive_turns_and_cancel_stops_only_the_turn(scripted_server, project, server_env):
    scripted_server.script(
        "root",
        code("kept = 'yes'\nSUBMIT(answer=kept)"),
        code("print(llm_query('slow'))"),
        code("SUBMIT(answer='still ' + kept)"),
    )
    scripted_server.script("sub", Reply(fault="hang"))
    async with agent(scripted_server, server_env) as (conn, editor, process):
        session = (await conn.new_session(cwd=str(project))).session_id
        first = await conn.prompt(session_id=session, prompt=[text_block("first")])
        slow = asyncio.ensure_future(conn.prompt(session_id=session, prompt=[text_block("slow one")]))
        while not scripted_server.chat_requests("sub"):
            await asyncio.sleep(0.05)
        await conn.cancel(session_id=session)
        cancelled = await asyncio.wait_for(slow, 30)
        third = await conn.prompt(session_id=session, prompt=[text_block("again")])
        assert process.returncode is None

    assert first.stop_reason == "end_turn" and cancelled.stop_reason == "cancelled"
    assert third.stop_reason == "end_turn" and editor.said(session).endswith("still yes")
    assert scripted_server.chat_requests("sub")[0].end is not None  # the hanging sub-call was dropped
    cancelled_plan = [p for p in editor.of(AgentPlanUpdate) if any("(cancelled)" in e.content for e in p.entries)]
    assert cancelled_plan


async def test_a_budget_that_runs_out_gives_a_marked_partial_answer(scripted_server, project, server_env):
    scripted_server.script("root", Reply(code("print('looking')"), times=2))
    scripted_server.default('{"answer": "a guess from the history"}')
    async with agent(scripted_server, server_env, "--max-iterations", "2") as (conn, editor, _):
        session = (await conn.new_session(cwd=str(project))).session_id
        done = await conn.prompt(session_id=session, prompt=[text_block("Anything?")])

    assert done.stop_reason == "max_turn_requests"
    assert editor.said(session) == ("(Partial answer: the iterations budget ran out before the model submitted.)\n\n"
                                    "a guess from the history")
    thoughts = "".join(u.content.text for u in editor.of(AgentThoughtChunk))
    assert "The iterations budget ran out (2 of 2)" in thoughts


async def test_bad_requests_are_invalid_params_and_the_agent_stays_up(scripted_server, project, server_env, tmp_path):
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("not in the project\n")
    scripted_server.script("root", code("SUBMIT(answer='fine')"))
    async with agent(scripted_server, server_env) as (conn, editor, process):
        session = (await conn.new_session(cwd=str(project))).session_id
        failures = []
        for call in (
            lambda: conn.new_session(cwd="relative/path"),
            lambda: conn.new_session(cwd=str(tmp_path / "missing")),
            lambda: conn.new_session(cwd=str(project), additional_directories=[str(tmp_path)]),
            lambda: conn.prompt(session_id="nope", prompt=[text_block("q")]),
            lambda: conn.prompt(session_id=session, prompt=[text_block("read"), link(outside)]),
            lambda: conn.prompt(session_id=session, prompt=[]),
            lambda: conn.load_session(cwd=str(project), session_id="no-such-session"),
        ):
            with pytest.raises(RequestError) as error:
                await call()
            failures.append(error.value)
        fine = await conn.prompt(session_id=session, prompt=[text_block("q")])
        assert process.returncode is None

    assert [f.code for f in failures] == [-32602] * 7
    assert "only files inside the project" in str(failures[4].data)
    assert fine.stop_reason == "end_turn" and editor.said(session) == "fine"
    assert len(scripted_server.chat_requests("root")) == 1


async def test_load_session_replays_the_conversation_and_restores_variables(scripted_server, project, server_env):
    scripted_server.script(
        "root",
        code("memo = llm_query('remember me')\nSUBMIT(answer=memo)"),
        code("SUBMIT(answer='restored: ' + memo)"),
    )
    async with agent(scripted_server, server_env) as (conn, _, _):
        session = (await conn.new_session(cwd=str(project))).session_id
        await conn.prompt(session_id=session, prompt=[text_block("remember")])
    async with agent(scripted_server, server_env) as (conn, editor, _):
        with pytest.raises(RequestError):  # the session belongs to another directory
            await conn.load_session(cwd=str(project / "pkg"), session_id=session)
        await conn.load_session(cwd=str(project), session_id=session)
        history = [u for sid, u in editor.updates if sid == session]
        done = await conn.prompt(session_id=session, prompt=[text_block("what was it?")])

    assert [type(u) for u in history] == [UserMessageChunk, AgentMessageChunk]
    assert history[0].content.text == "remember" and history[1].content.text == "echo: remember me"
    assert done.stop_reason == "end_turn" and editor.said(session).endswith("restored: echo: remember me")
    assert len(scripted_server.chat_requests("sub")) == 1  # restoring replayed the recorded answer


def test_a_killed_editor_leaves_no_orphan_processes(scripted_server, project, server_env, tmp_path):
    scripted_server.script("root", code("print(llm_query('go'))\nwhile True:\n    pass"))  # a cell that never ends
    env = {**server_env, "RLM_TUI_CELL_TIMEOUT_S": "300"}  # left alone, the agent would live 5 minutes
    command = server_command("acp", scripted_server)
    editor_script = tmp_path / "editor.py"
    editor_script.write_text(textwrap.dedent(f"""
        import asyncio
        from acp import PROTOCOL_VERSION, spawn_agent_process, text_block

        class Editor:
            async def session_update(self, session_id, update, **kwargs):
                pass

        async def main():
            async with spawn_agent_process(Editor(), *{command!r}, env={env!r}) as (conn, process):
                await conn.initialize(protocol_version=PROTOCOL_VERSION)
                session = (await conn.new_session(cwd={str(project)!r})).session_id
                print("connected", process.pid, flush=True)
                await conn.prompt(session_id=session, prompt=[text_block("slow")])

        asyncio.run(main())
    """))
    editor = subprocess.Popen([sys.executable, str(editor_script)], stdout=subprocess.PIPE, env=env)
    agent_pid = None
    try:
        assert editor.stdout is not None
        words = editor.stdout.readline().split()
        assert words[0] == b"connected"
        agent_pid = int(words[1])
        wait_until(lambda: scripted_server.chat_requests("sub"), what="the cell to start")
        os.kill(editor.pid, signal.SIGKILL)
        editor.wait(10)
        wait_until(lambda: agent_pid not in live_processes_mentioning("rlm_tui acp"), timeout=60,
                   what="the agent to exit")
    finally:
        if editor.poll() is None:
            editor.kill()
        if agent_pid is not None and agent_pid in live_processes_mentioning("rlm_tui acp"):
            kill_if_alive(agent_pid)  # a failed check must not leave one either


def test_the_wire_guard_keeps_stray_output_off_the_protocol_stream():
    child = textwrap.dedent("""
        import asyncio, os
        from rlm_tui.protocols.acp_agent import _claim_stdio

        async def main():
            reader, writer = await _claim_stdio()
            print("stray print", flush=True)
            os.write(1, b"stray C write\\n")
            writer.write(b'{"jsonrpc": "2.0"}\\n')
            await writer.drain()
            print("read:", (await reader.readline()).decode().strip(), flush=True)

        asyncio.run(main())
    """)
    done = subprocess.run([sys.executable, "-c", child], input=b"from the client\n", capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == b'{"jsonrpc": "2.0"}\n'
    assert done.stderr.decode().splitlines() == ["stray print", "stray C write", "read: from the client"]
