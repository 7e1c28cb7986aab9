"""`rlm-tui serve`: its options and their help, the app command it spawns (quoted, no key on it),
a clean stop on SIGTERM, and a closed tab's app ended even when it is busy in a cell.

The server runs as a real subprocess; the "browser" is an aiohttp websocket client speaking
textual-serve's protocol; the app's LM is the scripted server."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import kill_if_alive
from tests.support.scripted_server import ScriptedServer

pytest.importorskip("textual_serve")
aiohttp = pytest.importorskip("aiohttp")

from rlm_tui.cli import main  # noqa: E402
from rlm_tui.serve import AppFlags, app_command  # noqa: E402

FAKE_KEY = "sk-test-serve-3f9a1c77e0b2d4"
BUSY_CELL = "```python\nx = 0\nwhile True:\n    x += 1\n```"


def test_every_serve_option_has_help_with_its_default(capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")  # argparse wraps at the terminal's width
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option, meaning in (("path", "project directory (default: .)"), ("--host", "(default: 127.0.0.1"),
                            ("--port", "(default: 8000)"), ("--model", "(default: config.toml, RLM_TUI_MODEL"),
                            ("--api-base", "(default: config.toml or RLM_TUI_API_BASE)"),
                            ("--config", "(default: ~/.config/rlm-tui/config.toml)")):
        assert f"{option} " in text and meaning in text, option
    assert "exits 0" in text and "API keys are never passed on a command line" in text


def test_the_app_command_quotes_each_argument_and_execs_the_app(tmp_path: Path) -> None:
    project = tmp_path / "my project; $(touch pwned)"
    command = app_command(project, AppFlags(model="openai/gpt 4o", api_base="http://h:1/v1?a=1&b=2",
                                            config=tmp_path / "it's.toml"))
    assert shlex.split(command) == ["exec", sys.executable, "-m", "rlm_tui", "--model", "openai/gpt 4o",
                                    "--api-base", "http://h:1/v1?a=1&b=2", "--config", str(tmp_path / "it's.toml"),
                                    str(project)]
    assert app_command(project, AppFlags()) == "exec " + shlex.join([sys.executable, "-m", "rlm_tui", str(project)])


def test_an_unknown_model_is_refused_before_serving(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "rlm_tui", "serve", str(tmp_path), "--model", "/theme"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "is not a model string" in done.stderr, done.stderr


# --- a served app, end to end ------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _descendants(pid: int) -> list[int]:
    done = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    children = [int(p) for p in done.stdout.split()]
    return children + [d for child in children for d in _descendants(child)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.is_file() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")  # a zombie has ended


def _args_of(pid: int) -> str:
    return subprocess.run(["ps", "-ww", "-o", "args=", "-p", str(pid)], capture_output=True, text=True).stdout


def _the_app(server: subprocess.Popen[bytes]) -> tuple[int, list[int]]:
    """The one app process under the server, and every process under the server."""
    processes = _descendants(server.pid)
    (app,) = [pid for pid in processes if _args_of(pid).split()[1:3] == ["-m", "rlm_tui"]]
    return app, processes


@pytest.fixture
def served(tmp_path: Path, scripted_server: ScriptedServer) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`rlm-tui serve` on a free port, its apps on the scripted LM, listening."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("hello\n")
    port = _free_port()
    env = {**os.environ, "OPENAI_API_KEY": FAKE_KEY}
    server = subprocess.Popen([sys.executable, "-m", "rlm_tui", "serve", str(project), "--port", str(port),
                               "--model", "openai/root", "--api-base", scripted_server.url],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, "serve exited before listening"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "serve did not listen within 90 s"
                time.sleep(0.2)
        yield server, port
    finally:
        for pid in _descendants(server.pid):
            kill_if_alive(pid)
        server.kill()
        server.wait()


class Tab:
    """A browser tab: the websocket, read continuously as a browser does (pings answered)."""

    def __init__(self, websocket: aiohttp.ClientWebSocketResponse) -> None:
        self.websocket = websocket
        self.screen = bytearray()
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for message in self.websocket:
            if message.type == aiohttp.WSMsgType.BINARY:
                self.screen += message.data

    async def showing(self, text: str, timeout: float = 120) -> None:
        assert await _until(lambda: text.encode() in self.screen, timeout), f"the app never showed {text!r}"

    async def type(self, text: str) -> None:
        await self.websocket.send_json(["stdin", text])


async def _open_tab(session: aiohttp.ClientSession, port: int) -> Tab:
    tab = Tab(await session.ws_connect(f"http://127.0.0.1:{port}/ws?width=100&height=30"))
    await tab.showing("Ask about the project")  # the prompt is drawn: the app takes keys
    return tab


async def _until(check, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def test_a_closed_tab_ends_its_app_even_mid_cell(served: tuple[subprocess.Popen[bytes], int],
                                                       scripted_server: ScriptedServer) -> None:
    lm = scripted_server
    server, port = served
    lm.script("root", BUSY_CELL)  # the first iteration's cell never ends
    async with aiohttp.ClientSession() as session:
        tab = await _open_tab(session, port)
        app, processes = _the_app(server)
        args = _args_of(app)
        assert "-m rlm_tui --model openai/root --api-base" in args and FAKE_KEY not in args
        await tab.type("count forever")
        await tab.type("\r")
        assert await _until(lambda: lm.requests, 60), "the question never reached the LM"
        await asyncio.sleep(2)  # the cell is running now
        await tab.websocket.close()
        started = time.monotonic()
        assert await _until(lambda: not any(map(_alive, processes)), 15), "the app kept running after its tab closed"
    assert time.monotonic() - started < 10
    assert server.poll() is None  # the server goes on serving


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_stop_signal_ends_the_server_and_its_apps(served: tuple[subprocess.Popen[bytes], int],
                                                          signum: int) -> None:
    server, port = served
    async with aiohttp.ClientSession() as session:
        tab = await _open_tab(session, port)
        _, processes = _the_app(server)
        server.send_signal(signum)
        started = time.monotonic()
        assert await _until(lambda: server.poll() is not None, 15), f"serve ignored {signal.Signals(signum).name}"
        took = time.monotonic() - started
        await tab.reader
    assert server.returncode == 0 and took < 10, (server.returncode, took)
    assert not any(map(_alive, processes)), "the tab's app outlived the server"
