"""What survives a restart, host side: the user variables as the guest serialised them after
the last cell that changed them, and the inputs the host sent in (`GuestState` answers the
guest's checkpoint and input door requests for both: `rlm_tui.sandbox.door`).

The host never deserialises any of it: a pickle is opaque bytes here and is only ever loaded
by the guest, in the fresh instance. Sizes are bounded on the host (a guest can lie about
its own limits): a value over `MAX_VALUE_BYTES`, or one that would take the checkpoint past
`MAX_TOTAL_BYTES`, is recorded as lost with its reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rlm_tui.sandbox.protocol import fetched, frames

MAX_VALUE_BYTES = 16 << 20
MAX_TOTAL_BYTES = 64 << 20
KINDS = ("module", "source", "pickle")  # what the guest may send; inputs are kept by the host
Encoder = Callable[[Any], "tuple[str, bytes]"]  # value -> (kind, bytes) as the guest rebuilds it


@dataclass(frozen=True)
class Kept:
    """One variable as kept: its kind and bytes (or, for an input, how to make them), its order."""

    kind: str
    blob: bytes = b""
    order: int = 0
    value: Any = None  # an input: the host's value, encoded again when it is restored
    encode: Encoder | None = None

    @property
    def size(self) -> int:
        return len(self.blob)

    def data(self) -> tuple[str, bytes]:
        return self.encode(self.value) if self.encode is not None else (self.kind, self.blob)


@dataclass(frozen=True)
class RestoreReport:
    """What a restart kept: variables restored into the fresh instance, and those lost, with why."""

    restored: list[str] = field(default_factory=list)
    lost: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        if not self.restored and not self.lost:
            return "the sandbox was restarted (it had no variables to restore)"
        parts = ["the sandbox was restarted"]
        if self.restored:
            parts.append(f"these variables were restored as of the end of the last cell that changed them: "
                         f"{', '.join(self.restored)}")
        if self.lost:
            lost = "; ".join(f"{name} ({why})" for name, why in sorted(self.lost.items()))
            parts.append(f"these were lost: {lost}")
        return ". ".join(parts)


class Checkpoint:
    """The kept variables of one sandbox, by name, within the size bounds."""

    def __init__(self, max_value: int = MAX_VALUE_BYTES, max_total: int = MAX_TOTAL_BYTES) -> None:
        self.max_value = max_value
        self.max_total = max_total
        self.entries: dict[str, Kept] = {}
        self.lost: dict[str, str] = {}  # variables that exist in the guest but could not be kept
        self._order = 0
        self._total = 0

    @property
    def total_bytes(self) -> int:
        return self._total

    @property
    def room(self) -> int:
        return max(0, self.max_total - self._total)

    def keep(self, name: str, kind: str, blob: bytes) -> str | None:
        """Keep `name`; None, or why it could not be kept (then it is recorded as lost)."""
        if kind not in KINDS:
            return self._lose(name, f"unknown kind {kind!r}")
        if len(blob) > self.max_value:
            return self._lose(name, f"too big to keep: {_mb(len(blob))} over {_mb(self.max_value)}")
        old = self.entries.get(name)
        total = self._total - (old.size if old else 0) + len(blob)
        if total > self.max_total:
            return self._lose(name, f"the checkpoint is full ({_mb(self.max_total)})")
        self._set(name, Kept(kind, blob, self._next()))
        return None

    def keep_input(self, name: str, value: Any, encode: Encoder) -> None:
        """An input the host sent: restored by sending it again, so it costs no space here."""
        self._set(name, Kept("input", order=self._next(), value=value, encode=encode))

    def lose(self, name: str, reason: str) -> None:
        self._lose(name, reason)

    def forget(self, names: list[str]) -> None:
        """Variables the guest no longer has."""
        for name in names:
            self._drop(name)
            self.lost.pop(name, None)

    def names(self) -> list[str]:
        """Kept names in restore order: modules, then the rest as they were kept."""
        return sorted(self.entries, key=lambda n: (self.entries[n].kind != "module", self.entries[n].order))

    def fetch(self, name: str) -> bytes:
        """`kind\\n` + the bytes of `name`, or b"" when it is not kept."""
        kept = self.entries.get(name)
        if kept is None:
            return b""
        return fetched(*kept.data())

    # -- inside ----------------------------------------------------------------------------

    def _next(self) -> int:
        self._order += 1
        return self._order

    def _set(self, name: str, kept: Kept) -> None:
        self._drop(name)
        self.entries[name] = kept
        self._total += kept.size
        self.lost.pop(name, None)

    def _drop(self, name: str) -> None:
        old = self.entries.pop(name, None)
        if old is not None:
            self._total -= old.size

    def _lose(self, name: str, reason: str) -> str:
        self._drop(name)
        self.lost[name] = reason
        return reason


def _mb(size: int) -> str:
    return f"{size / (1 << 20):.1f} MB"


def json_bytes(value: Any) -> bytes:
    """A value as JSON bytes for the guest (UTF-8 where it can, escapes where it must)."""
    try:
        return json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:  # lone surrogates
        return json.dumps(value).encode()


def input_encoder(encode: Callable[[Any], bytes | tuple[str, bytes]]) -> Encoder:
    """(kind, bytes) of an input: a str as UTF-8 (no JSON on either side), the rest `encode`d
    (JSON bytes, or a (kind, bytes) pair of its own: `pickle` of builtins that JSON would change)."""

    def encoder(value: Any) -> tuple[str, bytes]:
        if type(value) is str:
            return "text", value.encode("utf-8", "surrogatepass")
        encoded = encode(value)
        return encoded if isinstance(encoded, tuple) else ("json", encoded)

    return encoder


class GuestState:
    """The checkpoint and the inputs of one sandbox, and the door requests that move them."""

    def __init__(self) -> None:
        self.checkpoint = Checkpoint()
        self.inputs: dict[str, tuple[Any, Encoder]] = {}  # sent by set_variables, by name
        self.pending: dict[str, tuple[str, bytes]] = {}  # being loaded now
        self.restoring: str | None = None  # the variable a restore fetched last

    def stage_inputs(self, values: dict[str, Any], encoder: Encoder) -> list[str]:
        """Encode the values not sent before (a bad one raises before any is sent); the names
        sent before, which the guest checks it still holds."""
        fresh = {n: v for n, v in values.items() if n not in self.inputs or self.inputs[n][0] is not v}
        self.pending = {n: encoder(v) for n, v in fresh.items()}
        return [n for n in values if n not in fresh]

    def loaded(self, values: dict[str, Any], encoder: Encoder) -> None:
        """The guest holds `values` now: remember them, and keep them for restores."""
        for name, value in values.items():
            self.inputs[name] = (value, encoder)
            self.checkpoint.keep_input(name, value, encoder)

    def fetch(self, name: str) -> bytes:
        """The reply to a restore's `Fetch` of `name` (noted: a trap now is that variable's fault)."""
        self.restoring = name
        return self.checkpoint.fetch(name)

    def inputs_frames(self, names: list[str]) -> bytes:
        """The reply to `Inputs`: the inputs being loaded, and those named (sent before)."""
        parts = dict(self.pending)
        for name in names:
            if name in self.inputs and name not in parts:
                value, encoder = self.inputs[name]
                parts[name] = encoder(value)
        return frames((n, kind, blob) for n, (kind, blob) in parts.items())

    def checkpointed(self, gone: list[str], lost: dict[str, str]) -> int:
        """The guest's report after a checkpoint; the room left."""
        self.checkpoint.forget(gone)
        for name, why in lost.items():
            self.checkpoint.lose(name, why)
        return self.checkpoint.room
