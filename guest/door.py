"""The guest half of the host door (module `_rlm_door`); it runs inside the WASM CPython.

Every request the guest makes goes through here, one function per operation; the table of
operations, fields and replies is in rlm_tui/sandbox/protocol.py, whose constants these
must equal (tests/sandbox/test_sandbox_protocol.py compares them). A JSON request gets back
`{"ok": value}` or an error, raised here as the host's exception.
"""

import builtins
import json

import _host

OP = "op"
OK = "ok"
ERROR = "error"
ERROR_TYPE = "type"
ERROR_MESSAGE = "message"
ERROR_TEXT = "text"
OP_CALL = "call"
OP_START = "start"
OP_WAIT = "wait"
OP_SLEEP = "sleep"
OP_SUBMIT = "submit"
OP_RESULT = "result"
OP_CHECKPOINT = "checkpoint"
OP_RESTORED = "restored"
IMAGE_KEY = "__rlm_image__"
TYPES_KEY = "__rlm_types__"
STATE_KEEP = b"\1K"
STATE_FETCH = b"\1F"
STATE_INPUTS = b"\1I"

_error_types = {}


class HostError(Exception):
    """Base of errors raised on the host whose type has no builtin equivalent here."""


def host_exception(error):
    """The guest exception for a reply's `error`: a builtin of that name, else a HostError subclass."""
    name, message = error.get(ERROR_TYPE, "HostError"), error.get(ERROR_MESSAGE, "")
    cls = getattr(builtins, name, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        cls = _error_types.get(name)
        if cls is None:
            cls = _error_types[name] = type(name, (HostError,), {"__module__": "host"})
    return cls(message)


def send(request, default=None):
    """One JSON round trip; `default` makes JSON of values json cannot write. Host-side
    failures come back as exceptions."""
    try:
        payload = json.dumps(request, allow_nan=False, default=default)
    except (TypeError, ValueError) as e:
        raise TypeError(f"arguments must be JSON-compatible (str, int, float, bool, None, list, dict): {e}") from None
    reply = json.loads(_host.call(payload.encode()))
    if ERROR in reply:
        raise host_exception(reply[ERROR]) from None
    return reply.get(OK)


def call(name, args, kwargs, default):
    """Host function `name`, run now: its value."""
    return send({OP: OP_CALL, "name": name, "args": args, "kwargs": kwargs}, default)


def start(name, args, kwargs, default):
    """Host function `name`, started on the host: its ticket (see `wait`)."""
    return send({OP: OP_START, "name": name, "args": args, "kwargs": kwargs}, default)


def wait(timeout):
    """Wait up to `timeout` seconds (None: until one finishes) for started calls: [[ticket, reply], ...]."""
    return send({OP: OP_WAIT, "timeout": timeout})


def sleep(seconds):
    send({OP: OP_SLEEP, "seconds": seconds})


def submit(outputs, default):
    send({OP: OP_SUBMIT, "outputs": outputs}, default)


def result(error, rows):
    """A cell's end: its error (type name and text, or None) and the variable rows."""
    error = None if error is None else {ERROR_TYPE: error[0], ERROR_TEXT: error[1]}
    send({OP: OP_RESULT, "error": error, "variables": rows})


def checkpointed(gone, lost):
    """After a checkpoint: the names gone and those not kept (name: why); the room left."""
    return int(send({OP: OP_CHECKPOINT, "gone": gone, "lost": lost}) or 0)


def restored(names, failed):
    send({OP: OP_RESTORED, "restored": names, "failed": failed})


def keep(name, kind, blob):
    """Keep one variable on the host: (room left, None), or (None, why the host refused it)."""
    header = json.dumps({"name": name, "kind": kind}).encode()
    reply = json.loads(_host.call(STATE_KEEP + header + b"\n" + blob))
    error = reply.get(ERROR)
    if error is not None:
        return None, str(error.get(ERROR_MESSAGE, "not kept"))
    return int(reply.get(OK) or 0), None


def fetch(name):
    """What the host kept of `name`: `kind\\n<bytes>` (b"" when nothing)."""
    return _host.call(STATE_FETCH + name.encode())


def inputs(stale):
    """The inputs being loaded, and those named in `stale`, as frames."""
    return _host.call(STATE_INPUTS + json.dumps(stale).encode())
