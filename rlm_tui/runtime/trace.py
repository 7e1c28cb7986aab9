"""JSONL traces: one event per line, flushed as it happens; secrets scrubbed."""

from __future__ import annotations

import functools
import json
import threading
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from rlm_tui import redact
from rlm_tui.runtime.events import Event, LMToken, event_from_dict


class TraceWriter:
    """Appends events to a JSONL file; usable as an event subscriber.

    Streaming `LMToken` events are not written: `LMCallFinished` carries the whole text.
    Every line is scrubbed of the keys in use (`rlm_tui.redact`); `secrets` adds more.
    """

    def __init__(self, path: Path, secrets: Iterable[str] = ()) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        redact.register(*secrets)
        self._file: IO[str] | None = open(self.path, "a", encoding="utf-8")
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        if isinstance(event, LMToken):
            return
        line = redact.scrub(event.to_json())
        with self._lock:
            if self._file is not None:
                self._file.write(line + "\n")
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


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
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            events.append(_event(json.loads(line)))
        except (ValueError, TypeError) as e:
            if number == len(lines):
                break  # the process died mid-write
            raise TraceError(f"{path}:{number}: not a trace event ({e})") from None
    return events


def _event(data: object) -> Event:
    """An event from one decoded line, refused unless it is an object whose fields have the
    types the event declares (a trace from elsewhere must not crash the readers)."""
    if not isinstance(data, dict):
        raise TypeError(f"a JSON {type(data).__name__}, not an object")
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
