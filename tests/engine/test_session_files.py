"""A session's files on disk: one writer at a time, torn trace tails repaired, atomic meta."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
from pathlib import Path

import pytest

from rlm_tui.config import Settings
from rlm_tui.engine.events import Status
from rlm_tui.engine.session import ChatSession
from rlm_tui.engine.session_lock import SessionLocked
from rlm_tui.engine.trace import TraceWriter, read_trace
from tests.engine.test_engine import Recorder, code
from tests.support.projects import write_project


@pytest.fixture
def settings(scripted_server) -> Settings:
    return Settings(model="openai/root", sub_model="openai/sub", api_base=scripted_server.url, api_key="k")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path, {"notes.md": "The answer is 42.\n"})


async def _one_turn_session(scripted_server, settings, project) -> ChatSession:
    scripted_server.script("root", code("n = 1\nSUBMIT(answer='one')"))
    session = ChatSession(settings, project, Recorder())
    await session.start()
    await session.ask("first")
    await session.close()
    return session


async def test_a_torn_trace_tail_is_repaired_before_the_next_turn(scripted_server, settings, project):
    session = await _one_turn_session(scripted_server, settings, project)
    with open(session.trace_path, "a", encoding="utf-8") as trace:
        trace.write('{"type": "SubCallFinished", "run_id": "r", "cal')  # killed mid-write
    scripted_server.default(lambda request: code("n += 1\nSUBMIT(answer=str(n))"))
    for turn in range(2):  # resume, two turns, close; twice: every later resume must still work
        resumed = await ChatSession.resume(session.session_id, settings, Recorder())
        try:
            assert next(v for v in resumed.variables if v.name == "n").preview == str(1 + 2 * turn)
            assert (await resumed.ask("again")).answer == str(2 + 2 * turn)
            assert (await resumed.ask("and again")).answer == str(3 + 2 * turn)
        finally:
            await resumed.close()
        read_trace(session.trace_path)  # every line is whole
    assert session.trace_path.read_text().endswith("\n")
    final = await ChatSession.resume(session.session_id, settings, Recorder())
    try:
        assert next(v for v in final.variables if v.name == "n").preview == "5"
        assert len(final._turns) == 5
    finally:
        await final.close()


def test_trace_writer_truncates_a_torn_last_line(tmp_path):
    path = tmp_path / "t.jsonl"
    whole = Status(run_id="r", call_id="c", message="kept").to_json()
    path.write_text(whole + "\n" + '{"type": "Sta')
    writer = TraceWriter(path)
    writer(Status(run_id="r", call_id="c", message="next"))
    writer.close()
    assert [e.message for e in read_trace(path)] == ["kept", "next"]


async def test_a_second_open_of_a_session_is_refused_naming_the_holder(scripted_server, settings, project):
    session = await _one_turn_session(scripted_server, settings, project)
    holder = await ChatSession.resume(session.session_id, settings, Recorder())
    try:
        with pytest.raises(SessionLocked, match=f"pid {os.getpid()}"):
            await ChatSession.resume(session.session_id, settings, Recorder())
    finally:
        await holder.close()
    again = await ChatSession.resume(session.session_id, settings, Recorder())  # released on close
    await again.close()


def _resume_and_ask(settings_json: str, session_id: str, data_dir: str, start: multiprocessing.Event,
                    results: multiprocessing.Queue) -> None:
    import asyncio

    os.environ["RLM_TUI_DATA_DIR"] = data_dir
    settings = Settings.model_validate_json(settings_json)

    async def main() -> str:
        start.wait(30)
        try:
            session = await ChatSession.resume(session_id, settings, lambda event: None)
        except SessionLocked as e:
            return f"refused: {e}"
        try:
            for _ in range(2):
                await session.ask("from a process")
        finally:
            await session.close()
        return "ok"

    try:
        results.put(asyncio.run(main()))
    except BaseException as e:  # reported to the test, not lost in a child's stderr
        results.put(f"crashed: {type(e).__name__}: {e}")


async def test_processes_resuming_one_session_never_lose_turns(scripted_server, settings, project):
    session = await _one_turn_session(scripted_server, settings, project)
    scripted_server.default(lambda request: code("SUBMIT(answer='from a process')"))
    spawn = multiprocessing.get_context("spawn")
    start, results = spawn.Event(), spawn.Queue()
    settings_json = settings.model_copy(update={"api_key": None}).model_dump_json()
    workers = [spawn.Process(target=_resume_and_ask,
                             args=(settings_json, session.session_id, os.environ["RLM_TUI_DATA_DIR"], start, results))
               for _ in range(4)]
    for worker in workers:
        worker.start()
    start.set()
    outcomes = [results.get(timeout=180) for _ in workers]
    for worker in workers:
        worker.join(30)
    assert all(o == "ok" or (o.startswith("refused:") and "pid " in o) for o in outcomes), outcomes
    assert "ok" in outcomes and any(o.startswith("refused:") for o in outcomes), outcomes  # they did contend
    kept = json.loads((session.folder / "meta.json").read_text())["turns"]
    assert len(kept) == 1 + 2 * outcomes.count("ok")
    read_trace(session.trace_path)


def test_meta_saves_from_many_threads_never_collide(settings, project):
    session = ChatSession(settings, project, Recorder())
    session.folder.mkdir(parents=True)
    errors: list[BaseException] = []

    def save() -> None:
        try:
            for _ in range(300):
                session._save_meta()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=save) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert json.loads((session.folder / "meta.json").read_text())["id"] == session.session_id
    assert [p.name for p in session.folder.iterdir()] == ["meta.json"]
