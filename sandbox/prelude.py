"""The guest half of the rlm-tui sandbox; it runs *inside* the WASM CPython.

The host runs this once per instance as module `_rlm`. Every cell then goes through
`run_cell(source)`: it runs the code in `__main__` (trailing expression echoed, top-level
`await` allowed) and posts back the error and a snapshot of the user's variables over the
host door (`_host.call`, one JSON request and reply). Guest-facing helpers live in
`builtins`, so they never show up among the user's variables.
"""

import ast
import builtins
import json
import linecache
import os
import reprlib
import sys
import types

import _host

_MAIN = sys.modules["__main__"].__dict__
_PREVIEW = 120
_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE, without importing inspect
_cells = 0
_loop = None
_error_types = {}
_output_fields = []
_host_globals = set()  # names of host functions bound in __main__ (hidden from the snapshot)


class _Submitted(BaseException):
    """Raised by SUBMIT to end the cell at once; never seen by user code's `except Exception`."""


class HostError(Exception):
    """Base of errors raised on the host whose type has no builtin equivalent here."""


def _plain(value):
    """JSON for the common non-JSON values: sets, numpy values and arrays, dataclasses."""
    if isinstance(value, (set, frozenset)):
        return list(value)
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy arrays and scalars
        return value.tolist()
    fields = getattr(value, "__dataclass_fields__", None)
    if fields is not None and not isinstance(value, type):
        return {name: getattr(value, name) for name in fields}
    raise TypeError(f"{type(value).__name__} is not JSON-compatible")


def _door(request):
    """One JSON round trip to the host; host-side failures come back as exceptions."""
    try:
        payload = json.dumps(request, allow_nan=False, default=_plain)
    except (TypeError, ValueError) as e:
        raise TypeError(f"arguments must be JSON-compatible (str, int, float, bool, None, list, dict): {e}") from None
    reply = json.loads(_host.call(payload.encode()))
    if "error" in reply:
        raise _host_exception(reply["error"]) from None
    return reply.get("ok")


def _host_exception(error):
    name, message = error.get("type", "HostError"), error.get("message", "")
    cls = getattr(builtins, name, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        cls = _error_types.get(name)
        if cls is None:
            cls = _error_types[name] = type(name, (HostError,), {"__module__": "host"})
    return cls(message)


def _host_function(name, doc):
    def call(*args, **kwargs):
        return _door({"op": "call", "name": name, "args": list(args), "kwargs": kwargs})

    call.__name__ = call.__qualname__ = name
    call.__doc__ = doc
    return call


def SUBMIT(*args, **kwargs):
    """End the task with its outputs: SUBMIT(field=value, ...) (or positionally, in field order).

    The host checks the fields against the task's signature; this only maps positions."""
    fields = _output_fields
    if not fields:
        if len(args) == 1 and not kwargs:
            kwargs = {"output": args[0]}
        elif args:
            raise TypeError("SUBMIT takes keyword arguments: SUBMIT(name=value, ...)")
    else:
        if len(args) > len(fields):
            raise TypeError(f"SUBMIT() takes {len(fields)} positional arguments ({', '.join(fields)}) but {len(args)} were given")
        for name, value in zip(fields, args):
            if name in kwargs:
                raise TypeError(f"SUBMIT() got multiple values for argument {name!r}")
            kwargs[name] = value
    _door({"op": "submit", "outputs": kwargs})
    raise _Submitted


def SHOW_VARS():
    """Print the user's variables: name, type, size and a short preview."""
    rows = snapshot()
    if not rows:
        print("(no variables)")
    for row in rows:
        size = "" if row["size"] is None else f" [{row['size']}]"
        print(f"{row['name']}: {row['type']}{size} = {row['preview']}")


def setup(functions, output_fields=None, as_globals=()):
    """Install host functions (some also as __main__ globals) and SUBMIT's fields."""
    global _output_fields
    if output_fields is not None:
        _output_fields = list(output_fields)
    for name, doc in functions.items():
        fn = _host_function(name, doc)
        setattr(builtins, name, fn)
        if name in as_globals:
            _MAIN[name] = fn
            _host_globals.add(name)


def _sleep(seconds):
    """time.sleep that the host can cut short (cancel, or the cell's time limit)."""
    seconds = float(seconds)
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    if seconds != seconds:
        raise ValueError("Invalid value NaN (not a number)")
    _door({"op": "sleep", "seconds": min(seconds, 1e9)})


_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = _PREVIEW
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxdict = 8
_repr.maxlevel = 3


def _preview(value):
    try:
        text = _repr.repr(value)
    except Exception as e:  # a broken __repr__ must not break the snapshot
        text = f"<repr failed: {type(e).__name__}>"
    return text if len(text) <= _PREVIEW else text[: _PREVIEW - 1] + "…"


def _size(value):
    if isinstance(value, (type, types.ModuleType)):
        return None
    try:
        return len(value)
    except Exception:
        return None


def snapshot():
    """The user's globals as plain rows: no modules, no `_private` names, no builtins."""
    rows = []
    for name, value in list(_MAIN.items()):
        if name.startswith("_") or isinstance(value, types.ModuleType):
            continue
        if name in _host_globals and getattr(builtins, name, None) is value:
            continue
        rows.append({"name": name, "type": type(value).__name__, "size": _size(value), "preview": _preview(value)})
    return rows


def _refuse_special(path, dir_fd=None):
    """Opening a named pipe blocks inside the host, out of reach of the time limit: refuse
    FIFOs, sockets and devices (WASI reports a FIFO's type as unknown, mode 0)."""
    if isinstance(path, int):
        return
    try:
        kind = os.stat(path, dir_fd=dir_fd).st_mode & 0o170000
    except (OSError, TypeError, ValueError, NotImplementedError):
        return
    if kind not in (0o100000, 0o040000):
        import errno

        raise PermissionError(errno.EACCES, "refusing to open a FIFO, socket or device file", os.fsdecode(path))


def _guard_opens():
    import functools
    import io

    real_open, real_os_open = io.open, os.open

    @functools.wraps(real_open)
    def open(file, *args, **kwargs):
        _refuse_special(file)
        return real_open(file, *args, **kwargs)

    @functools.wraps(real_os_open)
    def os_open(path, flags, mode=0o777, *, dir_fd=None):
        _refuse_special(path, dir_fd)
        return real_os_open(path, flags, mode, dir_fd=dir_fd)

    builtins.open = io.open = open
    os.open = os_open


def _event_loop():
    """An asyncio loop that works without sockets: WASI has no socketpair for the self-pipe."""
    global _loop
    if _loop is None:
        import asyncio
        import selectors

        class _Loop(asyncio.SelectorEventLoop):
            def _make_self_pipe(self):
                pass

            def _close_self_pipe(self):
                pass

            def _write_to_self(self):
                pass

        _loop = _Loop(selectors.SelectSelector())
        asyncio.set_event_loop(_loop)
    return _loop


def _run(code):
    result = eval(code, _MAIN)
    if code.co_flags & _CO_COROUTINE:
        result = _event_loop().run_until_complete(result)
    return result


def _execute(source, filename):
    tree = ast.parse(source, filename, "exec")
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    if tree.body:
        _run(compile(tree, filename, "exec", flags=flags))
    if last is not None:
        value = _run(compile(ast.Expression(last.value), filename, "eval", flags=flags))
        if value is not None:
            _MAIN["_"] = value
            print(repr(value))


def _format_error(exc):
    import traceback  # ~50 ms to import here: only when a cell fails

    frames = traceback.extract_tb(exc.__traceback__)
    keep = [i for i, f in enumerate(frames) if f.filename.startswith("<cell")]
    tb = exc.__traceback__
    for _ in range(keep[0] if keep else len(frames)):
        tb = tb.tb_next
    lines = traceback.format_exception(type(exc), exc, tb)
    return "".join(lines).rstrip("\n")


def run_cell(source):
    """Run one cell of the host's and post its result back."""
    global _cells
    _cells += 1
    filename = f"<cell {_cells}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    error = None
    try:
        _execute(source, filename)
    except _Submitted:
        pass
    except BaseException as exc:  # SystemExit and KeyboardInterrupt end the cell, not the session
        error = {"type": type(exc).__name__, "text": _format_error(exc)}
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    _door({"op": "result", "error": error, "variables": snapshot()})


def _boot():
    sys.stdout.reconfigure(line_buffering=True, errors="backslashreplace")
    sys.stderr.reconfigure(line_buffering=True, errors="backslashreplace")
    builtins.SUBMIT = SUBMIT
    builtins.SHOW_VARS = SHOW_VARS
    import time

    time.sleep = _sleep
    _guard_opens()
    for path in ("/skills",):
        if os.path.isdir(path) and path not in sys.path:
            sys.path.append(path)
    if os.path.isdir("/project"):
        os.chdir("/project")


_boot()
