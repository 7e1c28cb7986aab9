"""`rlm-tui serve`: the TUI in a browser (textual-serve), one app process per browser tab.

textual-serve starts the app command for each websocket and, when the websocket closes, asks the
app to quit and waits for it without a limit: an app busy in a long cell never ends, and on
SIGTERM the server waits up to a minute for the open tabs. `TabServer` bounds both: a tab's app
gets `GRACE_S` to quit after its tab closes, then it is killed (SIGTERM would only post the same
exit the quit request did); SIGTERM or SIGINT stops every tab's app that way, closes the tabs and
ends the server, which then exits 0: a requested stop is how a server ends normally.

The app command runs under `sh -c` (textual-serve takes a command string): every argument is
shell-quoted and the shell `exec`s the app, so the process the server holds (and kills) is the
app itself. No API key is put on the command line: the app reads keys from its environment
(inherited) and the config file, as the TUI does.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

GRACE_S = 3.0
log = logging.getLogger("textual-serve")


@dataclass(frozen=True)
class AppFlags:
    """What the served app is started with (passed on as the TUI's own flags)."""

    model: str | None = None
    api_base: str | None = None
    config: Path | None = None


def app_command(project: Path, flags: AppFlags) -> str:
    """The shell command that starts one tab's app: `exec python -m rlm_tui [flags] PROJECT`."""
    argv = [sys.executable, "-m", "rlm_tui"]
    for name, value in (("--model", flags.model), ("--api-base", flags.api_base), ("--config", flags.config)):
        if value is not None:
            argv += [name, str(value)]
    return "exec " + shlex.join([*argv, str(project)])


class TabApp(AppService):
    """One tab's app process: asked to quit when its tab closes, killed if it has not within `grace_s`."""

    def __init__(self, command: str, *, grace_s: float, **kwargs: Any) -> None:
        super().__init__(command, **kwargs)
        self.grace_s = grace_s
        self._stopping: asyncio.Future[None] | None = None

    async def stop(self) -> None:
        """The tab's handler and the server's shutdown may both ask: one stop at a time, and
        another one if the app was still being started by the time the first was done."""
        running = self._process is not None and self._process.returncode is None
        if self._stopping is None or (self._stopping.done() and running):
            self._stopping = asyncio.ensure_future(self._stop())
        await asyncio.shield(self._stopping)

    async def _stop(self) -> None:
        process = self._process
        asked = asyncio.ensure_future(super().stop())  # "quit", then the app's output read to its end
        if process is None:
            await asked
            return
        # The app closes its output before its process ends (a busy cell's thread can keep it up).
        await asyncio.wait({asked, asyncio.ensure_future(process.wait())}, timeout=self.grace_s)
        if process.returncode is None:
            log.warning("the app (pid %s) did not end within %.0f s of its tab closing: killing it",
                        process.pid, self.grace_s)
            process.kill()
            await process.wait()
        done, _ = await asyncio.wait({asked}, timeout=self.grace_s)  # its output has ended with it
        if not done:
            asked.cancel()


class TabServer(Server):
    """textual-serve's server whose tabs' apps end with their tab, and all of them with the server."""

    def __init__(self, command: str, *, grace_s: float = GRACE_S, **kwargs: Any) -> None:
        super().__init__(command, **kwargs)
        self.grace_s = grace_s
        self.tabs: set[TabApp] = set()

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        websocket = web.WebSocketResponse(heartbeat=15)
        width = to_int(request.query.get("width", "80"), 80)
        height = to_int(request.query.get("height", "24"), 24)
        await websocket.prepare(request)
        tab = TabApp(self.command, grace_s=self.grace_s, write_bytes=websocket.send_bytes,
                     write_str=websocket.send_str, close=websocket.close,
                     download_manager=self.download_manager, debug=self.debug)
        self.tabs.add(tab)
        try:
            await tab.start(width, height)
            await self._process_messages(websocket, tab)
        except Exception:  # a bad message or a failed start ends this tab, not the server
            log.exception("the tab's connection failed")
        finally:
            await tab.stop()
            self.tabs.discard(tab)
            await websocket.close()
        return websocket

    async def on_shutdown(self, app: web.Application) -> None:
        """Before aiohttp waits for open handlers: end every tab's app and close its tab."""
        tabs = list(self.tabs)
        await asyncio.gather(*(tab.stop() for tab in tabs))
        await asyncio.gather(*(tab.remote_close() for tab in tabs))
