"""Bounded traces: long strings stored once by content hash, and a byte cap per run.

A string longer than `INLINE_CHARS` anywhere in an event is written as a reference,
``{"$blob": "<sha256>", "chars": N}``; its text goes on a `TraceBlob` line of its own, once per
trace, just before the first event that refers to it (a batch of one prompt repeated 1,000
times stores it once). Each run (from a top-level `RunStarted`) may add `MAX_RUN_BYTES` to the
trace. Past that, one `TraceCapped` event marks the spot and new texts are stored only for
what a resume replays (cell code, sub-call answers); other references keep their size and
hash, not their text. Reading resolves references: a text that was not stored reads as
a marker naming its size and hash, and `text_key` gives the hash of either form, which is
how a resume matches a sub-call's prompt without its text.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rlm_tui.engine.events import CodeCell, Event, RunStarted, SubCallFinished, TraceCapped

INLINE_CHARS = 1024
MAX_RUN_BYTES = 32 << 20
BLOB = "TraceBlob"
REF = "$blob"
# (event type, field): texts a resume needs, stored even past the cap (bounded by the LM budget)
KEEP_PAST_CAP: set[tuple[type[Event], str]] = {(CodeCell, "code"), (SubCallFinished, "response")}
_MARKER = re.compile(r"\[not stored in the trace: [\d,]+ characters, sha256:([0-9a-f]{64})\]")


def text_key(text: str) -> str:
    """The sha256 of a text, also when only a reference to it was stored."""
    match = _MARKER.fullmatch(text)
    return match.group(1) if match else hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class TracePacker:
    """Turns events into trace lines: references for long texts, each text stored once."""

    def __init__(self, scrub: Callable[[str], str], *, max_run_bytes: int = MAX_RUN_BYTES,
                 inline_chars: int = INLINE_CHARS, stored: set[str] | None = None) -> None:
        self.scrub = scrub
        self.max_run_bytes = max_run_bytes
        self.inline_chars = inline_chars
        self.stored = stored if stored is not None else set()
        self.run_bytes = 0
        self.capped = False

    def lines(self, event: Event) -> list[str]:
        if isinstance(event, RunStarted) and event.parent_id is None:
            self.run_bytes, self.capped = 0, False
        out: list[str] = []
        data = event.to_dict()
        packed = {name: self._pack(value, (type(event), name) in KEEP_PAST_CAP, event, out)
                  for name, value in data.items()}
        self._add(out, self.scrub(json.dumps(packed, ensure_ascii=False, default=str)))
        return out

    def _add(self, out: list[str], line: str) -> None:
        out.append(line)
        self.run_bytes += len(line.encode("utf-8", "surrogatepass")) + 1

    def _pack(self, value: Any, keep: bool, event: Event, out: list[str]) -> Any:
        if isinstance(value, str):
            return self._text(value, keep, event, out) if len(value) > self.inline_chars else value
        if isinstance(value, dict):
            return {k: self._pack(v, keep, event, out) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._pack(v, keep, event, out) for v in value]
        return value

    def _text(self, text: str, keep: bool, event: Event, out: list[str]) -> dict[str, Any]:
        text = self.scrub(text)
        key = text_key(text)
        if key not in self.stored:
            line = json.dumps({"type": BLOB, "sha": key, "text": text}, ensure_ascii=False)
            if self.run_bytes + len(line) > self.max_run_bytes and not self.capped:
                self.capped = True
                self._add(out, TraceCapped(run_id=event.run_id, call_id=event.call_id, parent_id=event.parent_id,
                                           limit_bytes=self.max_run_bytes).to_json())
            if keep or not self.capped:
                self._add(out, line)
                self.stored.add(key)
        return {REF: key, "chars": len(text)}


def stored_blobs(path: Path) -> set[str]:
    """The hashes of the texts a trace file already holds (so an append does not store them again)."""
    found: set[str] = set()
    prefix = f'{{"type": "{BLOB}", "sha": "'.encode()
    try:
        with open(path, "rb") as file:
            for line in file:
                if line.startswith(prefix):
                    found.add(line[len(prefix):len(prefix) + 64].decode("ascii", "replace"))
    except FileNotFoundError:
        pass
    return found


class BlobResolver:
    """Reads a trace's lines in order: remembers stored texts, puts them back into events."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}

    def take(self, data: dict[str, Any]) -> bool:
        """Keep a `TraceBlob` line's text; True if `data` was one."""
        if data.get("type") != BLOB:
            return False
        self.texts[str(data["sha"])] = str(data["text"])
        return True

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            if REF in value and set(value) == {REF, "chars"}:
                key = str(value[REF])
                text = self.texts.get(key)
                if text is None:
                    return f"[not stored in the trace: {int(value['chars']):,} characters, sha256:{key}]"
                return text
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value
