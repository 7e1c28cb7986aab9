"""Running the app in a terminal so that quitting is immediate.

`asyncio.run` ends by joining every thread of the loop's default executor, so a quit pressed
while blocking work runs there (the first sandbox compile, a model load, a cell's helper step)
waited for that work to finish: the screen went blank and the process stayed for minutes. Here
the app runs on a loop of our own that is closed without that join; the caller then ends the
process (`rlm_tui.process_exit`), and work nobody waits for any more ends with it.
"""

from __future__ import annotations

import asyncio

from textual.app import App


def run_app(app: App, *, headless: bool = False) -> None:
    """Run `app` until it exits, without waiting for the threads its loop started."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        app.run(loop=loop, headless=headless)
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        asyncio.set_event_loop(None)
        loop.close()  # shuts the default executor down without waiting for its threads
