"""The host<->guest door: every request the guest makes, every reply it gets, and the keys they use.

Guest code reaches the host through one import, `_host.call(request: bytes) -> bytes`
(`Instance` routes it to `rlm_tui.sandbox.door.Door`). The guest half is `guest/door.py`,
whose constants must equal the ones here (tests/sandbox/test_sandbox_protocol.py checks it).

JSON requests are objects with an `op`; the reply is `{"ok": value}` or
`{"error": {"type": ExceptionName, "message": text}}`, raised as that exception in the guest.

| op           | request fields                            | `ok` reply                 | who / when                    |
|--------------|-------------------------------------------|----------------------------|-------------------------------|
| `call`       | `name`, `args` (list), `kwargs` (dict)    | the host function's value  | a host function, sync code    |
| `start`      | `name`, `args`, `kwargs`                  | a ticket (int)             | a host function, async code   |
| `wait`       | `timeout` (seconds or null)               | `[[ticket, reply], ...]`   | the guest event loop's select |
| `sleep`      | `seconds`                                 | null (or the error: cancel, time limit) | `time.sleep`     |
| `submit`     | `outputs` (dict)                          | null                       | `SUBMIT(...)`                 |
| `result`     | `error` ({`type`, `text`} or null), `variables` (rows) | null          | end of every cell             |
| `checkpoint` | `gone` (names), `lost` ({name: why})      | checkpoint room (bytes)    | after a cell changed variables |
| `restored`   | `restored` (names), `failed` ({name: why}) | null                      | end of a restore              |

A variable row is `{"name", "type", "size", "preview"}` (`VarInfo`). Inside values,
`{IMAGE_KEY: {"data": base64, "mime": ...}}` is an image, and `predict`'s keyword
`TYPES_KEY` carries the schemas of the REPL classes its signature names.

Raw requests carry bytes both ways, so big values never pass through JSON:

| request                              | reply                                   | who / when                      |
|--------------------------------------|-----------------------------------------|---------------------------------|
| `\\0code`                             | marshalled boot code, or b""            | the bootstrap (boot only)       |
| `\\0source NAME`                      | the source of guest module NAME         | the bootstrap (boot only)       |
| `\\0keep DATA`                        | b"{}"; DATA is kept as the boot code    | the bootstrap (boot only)       |
| `\\1K{"name", "kind"}\\n<bytes>`        | `{"ok": room}` or an error (not kept)    | a checkpoint keeps a variable   |
| `\\1F<name>`                          | `kind\\n<bytes>`, or b"" (not kept)       | a restore fetches one           |
| `\\1I[names]`                         | frames `[name, kind, size]\\n<bytes>`...  | loading inputs                  |

Boot requests are answered only while a sandbox boots (no user code has run yet).

The host calls into the guest by running host-made source with the `turn` export; the
functions it calls are built here too (`setup_source`, `run_cell_source`, ...).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from rlm_tui.sandbox.results import VarInfo

# -- JSON requests and replies (the guest's guest/door.py holds the same values) ----------

OP: Final = "op"
OK: Final = "ok"
ERROR: Final = "error"
ERROR_TYPE: Final = "type"
ERROR_MESSAGE: Final = "message"
ERROR_TEXT: Final = "text"  # a cell's error in `result`: the traceback text

OP_CALL: Final = "call"
OP_START: Final = "start"
OP_WAIT: Final = "wait"
OP_SLEEP: Final = "sleep"
OP_SUBMIT: Final = "submit"
OP_RESULT: Final = "result"
OP_CHECKPOINT: Final = "checkpoint"
OP_RESTORED: Final = "restored"
OPS: Final = (OP_CALL, OP_START, OP_WAIT, OP_SLEEP, OP_SUBMIT, OP_RESULT, OP_CHECKPOINT, OP_RESTORED)

ROW_KEYS: Final = ("name", "type", "size", "preview")
IMAGE_KEY: Final = "__rlm_image__"
TYPES_KEY: Final = "__rlm_types__"

# -- raw requests ------------------------------------------------------------------------------

BOOT: Final = b"\0"  # every boot request starts with it
BOOT_CODE: Final = b"\0code"
BOOT_SOURCE: Final = b"\0source "
BOOT_KEEP: Final = b"\0keep"
STATE: Final = b"\1"  # every checkpoint and input request starts with it
STATE_KEEP: Final = b"\1K"
STATE_FETCH: Final = b"\1F"
STATE_INPUTS: Final = b"\1I"

# -- the guest's modules and entry points --------------------------------------------------

GUEST_ENTRY: Final = "_rlm"  # guest/prelude.py: setup, run_cell
GUEST_STATE: Final = "_rlm_state"  # guest/state.py: restore, load_variables
GUEST_TYPED: Final = "_rlm_typed"


class BadRequest(ValueError):
    """A door request the host cannot read; the guest gets it back as an error."""


class UnknownOp(BadRequest):
    """A JSON request whose `op` is none of `OPS`."""


@dataclass(frozen=True)
class Call:
    """`call`: run host function `name` now. `Start` is the same, but on a worker thread."""

    name: str
    args: list[Any]
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class Start(Call):
    pass


@dataclass(frozen=True)
class Wait:
    timeout: float | None


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Submit:
    outputs: dict[str, Any]


@dataclass(frozen=True)
class CellError:
    type: str
    text: str


@dataclass(frozen=True)
class Result:
    error: CellError | None
    variables: list[VarInfo]


@dataclass(frozen=True)
class Checkpointed:
    gone: list[str]
    lost: dict[str, str]


@dataclass(frozen=True)
class Restored:
    restored: list[str]
    failed: dict[str, str]


@dataclass(frozen=True)
class BootRequest:
    """`\\0...`: `what` is `BOOT_CODE`, `BOOT_SOURCE` (`data`: the module name) or `BOOT_KEEP`
    (`data`: the code); anything else is answered with b""."""

    what: bytes
    data: bytes


@dataclass(frozen=True)
class Keep:
    name: str
    kind: str
    blob: bytes


@dataclass(frozen=True)
class Fetch:
    name: str


@dataclass(frozen=True)
class Inputs:
    names: list[str]


Request = Call | Wait | Sleep | Submit | Result | Checkpointed | Restored
RawRequest = BootRequest | Keep | Fetch | Inputs


def _names(value: Any, what: str) -> list[str]:
    if not isinstance(value, list):
        raise BadRequest(f"{what} must be a list of names")
    return [str(n) for n in value]


def _reasons(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be an object of name: reason")
    return {str(k): str(v) for k, v in value.items()}


def _call(request: dict[str, Any], cls: type[Call]) -> Call:
    name = request.get("name")
    if not isinstance(name, str):
        raise BadRequest("a host call needs the function's name")
    args, kwargs = request.get("args", []), request.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise TypeError("host function arguments must be a list and a dict")
    return cls(name, args, kwargs)


def _result(request: dict[str, Any]) -> Result:
    error = request.get("error")
    if error is not None:
        if not isinstance(error, dict):
            raise BadRequest("a cell's error must be an object")
        error = CellError(str(error[ERROR_TYPE]), str(error[ERROR_TEXT]))
    rows = request.get("variables")
    if not isinstance(rows, list):
        raise BadRequest("variables must be a list of rows")
    return Result(error, [_row(row) for row in rows])


def _row(row: Any) -> VarInfo:
    """A variable row, checked: the host shows and sorts these, so each field has its type."""
    if not isinstance(row, dict) or set(row) != set(ROW_KEYS):
        raise BadRequest(f"a variable row has the keys {', '.join(ROW_KEYS)}")
    name, kind, size, preview = (row[k] for k in ROW_KEYS)
    if not (isinstance(name, str) and isinstance(kind, str) and isinstance(preview, str)):
        raise BadRequest("a variable row's name, type and preview are strings")
    if size is not None and (type(size) is not int or size < 0):
        raise BadRequest("a variable row's size is a count or null")
    return VarInfo(name, kind, size, preview)


def _outputs(request: dict[str, Any]) -> Submit:
    outputs = request["outputs"]
    if not isinstance(outputs, dict):
        raise TypeError("SUBMIT's outputs must be a dict")
    return Submit(outputs)


def _wait(request: dict[str, Any]) -> Wait:
    timeout = request.get("timeout")
    return Wait(None if timeout is None else float(timeout))


_PARSERS: dict[str, Callable[[dict[str, Any]], Request]] = {
    OP_CALL: lambda r: _call(r, Call),
    OP_START: lambda r: _call(r, Start),
    OP_WAIT: _wait,
    OP_SLEEP: lambda r: Sleep(float(r["seconds"])),
    OP_SUBMIT: _outputs,
    OP_RESULT: _result,
    OP_CHECKPOINT: lambda r: Checkpointed(_names(r.get("gone", []), "gone"), _reasons(r.get("lost", {}), "lost")),
    OP_RESTORED: lambda r: Restored(_names(r["restored"], "restored"), _reasons(r["failed"], "failed")),
}


def parse(raw: bytes) -> Request:
    """A JSON request as its typed form; raises (BadRequest, KeyError, TypeError, ...) when
    it is malformed: the caller turns that into the guest's error."""
    request = json.loads(raw)
    if not isinstance(request, dict):
        raise BadRequest("not a JSON object")
    op = request.get(OP)
    parser = _PARSERS.get(op) if isinstance(op, str) else None
    if parser is None:
        raise UnknownOp(f"unknown host request {op!r}")
    return parser(request)


def parse_raw(raw: bytes) -> RawRequest | None:
    """A raw request (`\\0` boot, `\\1` state) as its typed form; None for any other."""
    if raw.startswith(BOOT):
        for what in (BOOT_CODE, BOOT_SOURCE, BOOT_KEEP):
            if raw.startswith(what):
                return BootRequest(what, raw[len(what):])
        return BootRequest(BOOT, raw[1:])
    if not raw.startswith(STATE):
        return None
    if raw.startswith(STATE_KEEP):
        header, _, blob = raw[len(STATE_KEEP):].partition(b"\n")
        meta = json.loads(header)
        return Keep(str(meta["name"]), str(meta["kind"]), blob)
    if raw.startswith(STATE_FETCH):
        return Fetch(raw[len(STATE_FETCH):].decode("utf-8", "replace"))
    if raw.startswith(STATE_INPUTS):
        return Inputs(_names(json.loads(raw[len(STATE_INPUTS):]), "inputs"))
    raise BadRequest(f"unknown state request {raw[:2]!r}")


# -- replies -------------------------------------------------------------------------------------


def ok_reply(value: Any = None) -> dict[str, Any]:
    return {OK: value}


def error_reply(kind: str, message: str) -> dict[str, Any]:
    return {ERROR: {ERROR_TYPE: kind, ERROR_MESSAGE: message}}


def unjsonable(value: object) -> object:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"host function returned {type(value).__name__}, which cannot cross into the sandbox")


def encode_reply(reply: dict[str, Any]) -> bytes:
    """A door reply as JSON bytes; a value that cannot cross becomes the guest's TypeError."""
    try:
        text = json.dumps(reply, ensure_ascii=False, default=unjsonable)
    except (TypeError, ValueError) as e:
        text = json.dumps(error_reply("TypeError", str(e)))
    try:
        return text.encode()
    except UnicodeEncodeError:  # lone surrogates: let JSON escape them
        return json.dumps(json.loads(text)).encode()


def wait_reply(done: list[tuple[int, bytes]]) -> bytes:
    """The `wait` op's reply: `{"ok": [[ticket, reply], ...]}` with the (JSON) replies spliced in."""
    return b'{"%s": [' % OK.encode() + b",".join(b"[%d,%s]" % (ticket, raw) for ticket, raw in done) + b"]}"


def fetched(kind: str, blob: bytes) -> bytes:
    """The reply to `Fetch`: `kind\\n<bytes>`."""
    return kind.encode() + b"\n" + blob


def frames(parts: Iterable[tuple[str, str, bytes]]) -> bytes:
    """The reply to `Inputs`: `[name, kind, size]\\n<bytes>` for each (name, kind, bytes)."""
    return b"".join(json.dumps([name, kind, len(blob)]).encode() + b"\n" + blob for name, kind, blob in parts)


# -- host-made source that calls into the guest ------------------------------------------------


def setup_source(functions: dict[str, str], output_fields: list[str] | None, as_globals: list[str],
                 keep_limit: int | None = None) -> str:
    """Install host functions (name -> doc), maybe some as `__main__` globals, and SUBMIT's fields."""
    return f"__import__({GUEST_ENTRY!r}).setup({functions!r}, {output_fields!r}, {as_globals!r}, {keep_limit!r})"


def run_cell_source(code: str, protect: list[str], as_globals: list[str]) -> str:
    return f"__import__({GUEST_ENTRY!r}).run_cell({code!r}, {protect!r}, {as_globals!r})"


def restore_source(names: list[str]) -> str:
    return f"__import__({GUEST_STATE!r}).restore({names!r})"


def load_variables_source(check: list[str]) -> str:
    return f"__import__({GUEST_STATE!r}).load_variables({check!r})"
