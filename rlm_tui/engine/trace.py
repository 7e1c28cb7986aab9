"""JSONL traces: one event per line, flushed as it happens; secrets scrubbed; bounded in size
(long texts stored once, a byte cap per run: see `trace_blobs`). `read_run_traces` gives them
back as typed `RunTrace`s, equal to the `prediction.trace` of the runs that wrote them."""

from __future__ import annotations

import functools
import json
import os
import threading
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from rlm_tui import redact
from rlm_tui.engine.events import Event, LMToken, event_from_dict
from rlm_tui.engine import trace_blobs
from rlm_tui.engine.run_trace import RunTrace, run_traces
from rlm_tui.engine.trace_blobs import BlobResolver, TracePacker, stored_blobs


class TraceWriter:
    """Appends events to a JSONL file; usable as an event subscriber.

    Streaming `LMToken` events are not written: `LMCallFinished` carries the whole text.
    Every line is scrubbed of the keys in use (`rlm_tui.redact`); `secrets` adds more.
    """

    def __init__(self, path: Path, secrets: Iterable[str] = (), *, max_run_bytes: int | None = None,
                 inline_chars: int = trace_blobs.INLINE_CHARS) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        redact.register(*secrets)
        repair_tail(self.path)
        self._packer = TracePacker(redact.scrub, max_run_bytes=max_run_bytes or trace_blobs.MAX_RUN_BYTES,
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
            if not isinstance(data, dict):
                raise TypeError(f"a JSON {type(data).__name__}, not an object")
            if not blobs.take(data):
                events.append(_event(blobs.resolve(data)))
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            if number == len(lines):
                break  # the process died mid-write
            raise TraceError(f"{path}:{number}: not a trace event ({e})") from None
    return events


def _event(data: dict[str, Any]) -> Event:
    """An event from one decoded line, refused unless its fields have the types the event
    declares (a trace from elsewhere must not crash the readers)."""
    event = event_from_dict(data)
    for name, hint in _hints(type(event)).items():
        if not _fits(getattr(event, name), hint):
            raise TypeError(f"field {name!r} is not {hint}")
    return event


@functools.cache
def _hints(cls: type[Event]) -> dict[str, Any]:
    return {name: hint for name, hint in typing.get_type_hints(cls).items()
            if typing.get_origin(hint) is not typing.ClassVar}


def _fits(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    if isinstance(hint, types.UnionType):
        return any(_fits(value, option) for option in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float))
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list:
        return isinstance(value, list) and all(_fits(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(_fits(k, args[0]) and _fits(v, args[1]) for k, v in value.items())
    return isinstance(value, hint)


def read_run_traces(path: Path) -> list[RunTrace]:
    """Each top-level run in a trace as a typed `RunTrace` (a session's trace: one per turn)."""
    return run_traces(read_trace(path))
