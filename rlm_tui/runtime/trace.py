"""JSONL traces: one event per line, flushed as it happens; secrets scrubbed; bounded in size
(long texts stored once, a byte cap per run: see `trace_blobs`)."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from rlm_tui.runtime.events import Event, LMToken, event_from_dict
from rlm_tui.runtime import trace_blobs
from rlm_tui.runtime.trace_blobs import BlobResolver, TracePacker, stored_blobs

_KEY_PATTERNS = [
    re.compile(r"sk-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{8,}"),
]
_REDACTED = "[redacted]"


def secret_values() -> list[str]:
    """Values of env vars that look like credentials (so they can be scrubbed verbatim)."""
    hints = ("KEY", "TOKEN", "SECRET", "PASSWORD")
    return [v for k, v in os.environ.items() if any(h in k.upper() for h in hints) and len(v) >= 8]


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, _REDACTED)
    for pattern in _KEY_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + _REDACTED, text)
    return text


class TraceWriter:
    """Appends events to a JSONL file; usable as an event subscriber.

    Streaming `LMToken` events are not written: `LMCallFinished` carries the whole text.
    """

    def __init__(self, path: Path, secrets: Iterable[str] = (), *, max_run_bytes: int | None = None,
                 inline_chars: int = trace_blobs.INLINE_CHARS) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._secrets = [*secrets, *secret_values()]
        repair_tail(self.path)
        self._packer = TracePacker(lambda text: scrub(text, self._secrets),
                                   max_run_bytes=max_run_bytes or trace_blobs.MAX_RUN_BYTES,
                                   inline_chars=inline_chars, stored=stored_blobs(self.path))
        self._file: IO[str] | None = open(self.path, "a", encoding="utf-8")
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        if isinstance(event, LMToken):
            return
        with self._lock:
            if self._file is not None:
                self._file.write("".join(line + "\n" for line in self._packer.lines(event)))
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def repair_tail(path: Path) -> None:
    """Cut a torn last line (a process killed mid-write) so that appends start on a new line."""
    try:
        file = open(path, "r+b")
    except FileNotFoundError:
        return
    with file:
        end = file.seek(0, os.SEEK_END)
        cut = end
        while cut > 0:
            start = max(0, cut - 65536)
            file.seek(start)
            chunk = file.read(cut - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                cut = start + newline + 1
                break
            cut = start
        if cut < end:
            file.truncate(cut)


class TraceError(ValueError):
    """A trace file cannot be read."""


def read_trace(path: Path) -> list[Event]:
    """Events from a trace; a torn last line (killed process) is skipped."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        raise TraceError(f"cannot read trace {path}: {e.strerror or e}") from None
    events: list[Event] = []
    blobs = BlobResolver()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if not blobs.take(data):
                events.append(event_from_dict(blobs.resolve(data)))
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            if number == len(lines):
                break  # the process died mid-write
            raise TraceError(f"{path}:{number}: not a trace event ({e})") from None
    return events
