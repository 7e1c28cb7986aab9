"""Where the engine's events go: the one fan-out to the JSONL trace and the caller's `on_event`.

`RLM` builds one; a chat session hands its own (the session's trace, kept open across turns)
to the `RLM` it drives, so every event of every turn takes the same path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from rlm_tui.engine.events import Event
from rlm_tui.engine.trace import TraceWriter

EventSink = Callable[[Event], None]


class EventFanOut:
    """Calls the trace writer (while open) and then `on_event` with every event; thread-safe."""

    def __init__(self, on_event: EventSink | None = None, trace: Path | None = None,
                 secrets: Iterable[str] = ()) -> None:
        self.on_event = on_event
        self.trace = Path(trace) if trace is not None else None
        self._secrets = list(secrets)
        self._writer: TraceWriter | None = None
        self._opened = 0
        self._lock = threading.Lock()

    def open(self) -> None:
        """Start appending to the trace. Opens nest (runs side by side on one `RLM`, a session
        around its turns): the file is closed by the `close` that matches the first `open`."""
        with self._lock:
            self._opened += 1
            if self.trace is not None and self._writer is None:
                self._writer = TraceWriter(self.trace, self._secrets)

    def close(self) -> None:
        with self._lock:
            self._opened = max(0, self._opened - 1)
            writer = self._writer if self._opened == 0 else None
            if writer is not None:
                self._writer = None
        if writer is not None:
            writer.close()

    def __call__(self, event: Event) -> None:
        writer = self._writer
        if writer is not None:
            writer(event)
        if self.on_event is not None:
            self.on_event(event)
