"""Keys are scrubbed by value at every exit: the trace, meta.json, /export, headless stdout and
stderr, and error messages; from config.toml, env vars, and api_key= alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlm_tui import redact
from rlm_tui.cli import EXIT_OK, EXIT_USAGE, main
from rlm_tui.config import Settings
from rlm_tui.engine.rlm import RLM
from rlm_tui.engine.session import ChatSession
from tests.engine.test_engine import code

CONFIG_KEY = "cfgkey-0123456789abcdef"  # no `sk-` shape: only by-value scrubbing catches it
ENV_KEY = "envkey-fedcba9876543210"
GIVEN_KEY = "givenkey-5555aaaa6666bbbb"


@pytest.fixture
def config_with_key(tmp_path: Path, scripted_server) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'model = "openai/root"\nsub_model = "openai/sub"\napi_base = "{scripted_server.url}"\n'
                    f'api_key = "{CONFIG_KEY}"\nskills = []\n')
    return path


def test_scrub_by_value_longest_first_and_shapes(monkeypatch):
    monkeypatch.setenv("SOME_SERVICE_TOKEN", "tok-1234567890")
    redact.register("abc-secret-1", "abc-secret-1-longer", "short")
    text = "abc-secret-1-longer abc-secret-1 tok-1234567890 short sk-proj-abcdefghij Bearer abcdefgh1234 task-force1"
    assert redact.scrub(text) == ("[redacted] [redacted] [redacted] short [redacted] Bearer [redacted] "
                                  "task-force1")
    assert redact.scrub_data({"k": ["abc-secret-1", 3], "abc-secret-1": None}) == {
        "k": ["[redacted]", 3], "[redacted]": None}


def test_config_key_never_reaches_the_trace_or_stdout_or_stderr(scripted_server, project, config_with_key,
                                                                tmp_path, capsys):
    scripted_server.script("root", code(f"key = {CONFIG_KEY!r}\nprint(key)\nSUBMIT(answer='the key is ' + key)"))
    trace = tmp_path / "trace.jsonl"
    assert main(["ask", "q", "--project", str(project), "--config", str(config_with_key),
                 "--trace", str(trace)]) == EXIT_OK
    out, err = capsys.readouterr()
    assert out.strip() == "the key is [redacted]"
    assert "key = " in err and CONFIG_KEY not in err
    written = trace.read_text()
    assert CONFIG_KEY not in written and "[redacted]" in written
    assert scripted_server.chat_requests("root")[0].headers.get("authorization", "").endswith(CONFIG_KEY)


async def test_api_key_given_to_rlm_is_scrubbed_from_its_trace(scripted_server, project, tmp_path):
    scripted_server.script("root", code(f"SUBMIT(answer={GIVEN_KEY!r})"))
    trace = tmp_path / "t.jsonl"
    rlm = RLM(lm="openai/root", api_base=scripted_server.url, api_key=GIVEN_KEY, project=project, trace=trace)
    await rlm.aforward(question="q")
    assert GIVEN_KEY not in trace.read_text()


async def test_env_key_is_scrubbed_from_meta_json(scripted_server, project, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    scripted_server.script("root", code(f"SUBMIT(answer='k=' + {ENV_KEY!r})"))
    settings = Settings(model="openai/root", api_base=scripted_server.url, skills=[])
    session = ChatSession(settings, project, lambda e: None)
    await session.start()
    try:
        result = await session.ask(f"is {ENV_KEY} valid?")
    finally:
        await session.close()
    assert result.answer == f"k={ENV_KEY}"  # in process, the value is what it is...
    meta = (session.folder / "meta.json").read_text()
    assert ENV_KEY not in meta and "[redacted]" in meta  # ...but never on disk
    assert ENV_KEY not in session.trace_path.read_text()


def test_error_messages_are_scrubbed(monkeypatch, capsys):
    monkeypatch.setenv("RLM_TUI_API_KEY", CONFIG_KEY)
    assert main(["ask", "q", "--project", f"/missing/{CONFIG_KEY}"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "does not exist" in err and CONFIG_KEY not in err


async def test_export_is_scrubbed(project, make_backend_with_answer, tmp_path):
    from rlm_tui.tui.app import make_app
    from tests.tui.conftest import ask, wait_for
    from tests.tui.test_tui_commands import slash

    settings = Settings(model="openai/root", api_key=CONFIG_KEY)
    app = make_app(settings, project, backend=make_backend_with_answer(f"your key: {CONFIG_KEY}"))
    async with app.run_test(size=(120, 35)) as pilot:
        await ask(pilot, app, "What is my key?")
        target = tmp_path / "chat.md"
        await slash(pilot, app, f"/export {target}")
        await wait_for(pilot, target.exists)
    text = target.read_text()
    assert "your key: [redacted]" in text and CONFIG_KEY not in text


@pytest.fixture
def make_backend_with_answer(tmp_path, project):
    from tests.tui.fakes import FakeBackend, Turn

    return lambda answer: FakeBackend(tmp_path / "engine", [Turn(answer=answer)], project=project)


def test_trace_file_lines_stay_json(tmp_path):
    from rlm_tui.engine.events import Status
    from rlm_tui.engine.trace import TraceWriter

    writer = TraceWriter(tmp_path / "t.jsonl", secrets=[GIVEN_KEY])
    writer(Status(run_id="r", call_id="c", message=f"key {GIVEN_KEY}"))
    writer.close()
    assert json.loads((tmp_path / "t.jsonl").read_text())["message"] == "key [redacted]"
