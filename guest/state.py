"""What survives a restart, guest side (loaded on first use, as module `_rlm_state`).

After each cell the prelude hands `checkpoint` the variable rows it just reported. A variable
whose row or identity changed since it was last kept is serialised and sent to the host
(`door.keep`): a module by name, a function or class defined by a top-level
`def`/`class` in a cell by its source, anything else as a pickle, bounded in size while it
is written. What cannot be kept is reported lost, with why. Unchanged variables cost a
comparison. Nothing here trusts user objects: every call into them (pickling, `repr`,
`__name__`) may raise anything, BaseException included, and only loses that variable.

After a restart the host runs `restore(names)` in the fresh instance: each variable is
fetched (`door.fetch`) and rebuilt here, never on the host. Inputs come through `load_variables`
(`door.inputs`): the host sends them over the door (a str as UTF-8, the rest as JSON), never inside
source code.
"""

import ast
import importlib
import json
import linecache
import pickle
import types

import _rlm
import _rlm_door as door
import _rlm_variables as variables

_MAIN = variables.MAIN
_kept = {}  # name -> key of the value as the host has it
_definitions = {}  # name -> (filename, first line, def line, source) of a top-level def/class in a cell
_inputs = {}  # name -> (id, type) of the input value the host sent
_restored = 0
_room = None  # what the host said is left in the checkpoint (None: not asked yet)
_sizes = {}  # name -> bytes the host keeps for it (freed when it is replaced)


class _TooBig(Exception):
    def __init__(self, limit):
        super().__init__(limit)
        self.limit = limit


class _Bounded:
    """A pickle sink that stops as soon as the value outgrows the limit."""

    def __init__(self, limit):
        self.parts, self.size, self.limit = [], 0, limit

    def write(self, data):
        self.size += len(data)
        if self.size > self.limit:
            raise _TooBig(self.limit)
        self.parts.append(bytes(data))
        return len(data)


def key(value, row):
    """What says a variable changed: its identity and its row (type, size, preview)."""
    return (id(value), row["type"], row["size"], row["preview"])


def _module_keys():
    found = {}
    for name, value in list(_MAIN.items()):
        if isinstance(name, str) and not name.startswith("_"):
            try:
                if isinstance(value, types.ModuleType):
                    found[name] = ("module", str(value.__name__))
            except BaseException:
                continue
    return found


def note_definitions(tree, source, filename):
    """Remember the source of each top-level def and class of a cell (to re-create them)."""
    lines = None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            lines = lines or source.splitlines(True)
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            _definitions[node.name] = (filename, first, node.lineno, "".join(lines[first - 1:node.end_lineno]))


def _definition(name, value):
    """The source that re-creates `value` (a cell's def or class named `name`, maybe wrapped
    by decorators), else None."""
    found = _definitions.get(name)
    if found is None or getattr(value, "__qualname__", None) != name:
        return None
    filename, first, line, text = found
    if isinstance(value, type):
        return text if first <= getattr(value, "__firstlineno__", -1) <= line else None
    for _ in range(100):  # through decorators' __wrapped__ to the function the def made
        code = getattr(value, "__code__", None) if isinstance(value, types.FunctionType) else None
        if code is not None and code.co_filename == filename and first <= code.co_firstlineno <= line:
            return text
        value = getattr(value, "__wrapped__", getattr(value, "__func__", None))
        if value is None:
            return None
    return None


def _encode(name, value):
    """(kind, bytes) for one variable; raises with the reason it cannot be kept."""
    if isinstance(value, types.ModuleType):
        return "module", value.__name__.encode()
    if getattr(value, "__module__", None) == "__main__" and callable(value):
        text = _definition(name, value)
        if text is not None:
            return "source", text.encode()
        if isinstance(value, (types.FunctionType, type)):
            raise TypeError("only functions and classes made by a top-level def or class statement can be re-created")
    room = None if _room is None else _room + _sizes.get(name, 0)
    writer = _Bounded(_rlm.keep_limit if room is None else min(_rlm.keep_limit, room))
    pickle.Pickler(writer, protocol=5).dump(value)
    return "pickle", b"".join(writer.parts)


def _reason(exc, doing="cannot be saved"):
    if isinstance(exc, _TooBig):
        if exc.limit < _rlm.keep_limit:
            return f"the checkpoint is full ({exc.limit / (1 << 20):.1f} MB left)"
        return f"too big to keep (over {_rlm.keep_limit >> 20} MB)"
    try:
        text = str(exc)
    except BaseException:
        text = ""
    text = text if len(text) <= 120 else text[:119] + "…"
    return f"{doing}: {variables.type_name(type(exc))}" + (f": {text}" if text else "")


def _send(name, kind, blob):
    """Keep one variable on the host: None, or why the host refused it."""
    global _room
    room, refused = door.keep(name, kind, blob)
    if refused is not None:
        return refused
    _room = room
    _sizes[name] = len(blob)
    return None


def checkpoint(rows):
    """Send the host every variable that changed since it was last kept; one request says
    which are gone and which could not be kept."""
    global _room
    current = {row["name"]: row for row in rows}
    keys = _module_keys()
    for name, row in current.items():
        keys[name] = key(_MAIN.get(name), row)
    changed = [name for name, k in keys.items() if _kept.get(name) != k]
    gone = [name for name in _kept if name not in keys]
    if not changed and not gone:
        return
    lost = {}
    for name in changed:
        _kept[name] = keys[name]
        try:
            kind, blob = _encode(name, _MAIN.get(name))
        except BaseException as exc:  # a user object's pickling may raise anything, even KeyboardInterrupt
            lost[name] = _reason(exc)
            _sizes.pop(name, None)  # the host drops what it had for it
            continue
        _sizes.pop(name, None)
        refused = _send(name, kind, blob)
        del blob
        if refused is not None:
            lost[name] = refused
    for name in gone:
        del _kept[name]
        _sizes.pop(name, None)
    _room = door.checkpointed(gone, lost)


def _rebuild(name, kind, blob):
    """The value of `name` from the bytes (a memoryview) kept or sent for it."""
    global _restored
    if kind == b"module":
        return importlib.import_module(str(blob, "utf-8"))
    if kind == b"pickle":
        return pickle.loads(blob)
    if kind == b"text":
        return str(blob, "utf-8", "surrogatepass")
    if kind == b"json":
        return json.loads(str(blob, "utf-8", "surrogatepass"))
    if kind == b"source":
        _restored += 1
        filename = f"<restored {_restored}>"
        text = str(blob, "utf-8")
        linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
        tree = ast.parse(text, filename, "exec")
        exec(compile(tree, filename, "exec"), _MAIN)
        note_definitions(tree, text, filename)
        return _MAIN[name]
    raise LookupError("it was not kept")


def restore(names):
    """Rebuild the kept variables in a fresh instance. One that needs another first (an
    instance of a restored class, a default naming a variable) is tried again after the rest."""
    restored, failed = [], {}
    pending = list(names)
    while pending:
        retry = []
        for name in pending:
            kind, blob = _split(door.fetch(name))
            try:
                value = _rebuild(name, kind, blob)
            except (NameError, AttributeError, ImportError) as exc:
                retry.append(name)
                failed[name] = _reason(exc, "could not be restored")
                continue
            except BaseException as exc:
                failed[name] = _reason(exc, "could not be restored")
                continue
            _MAIN[name] = value
            if kind in (b"text", b"json"):
                _inputs[name] = _input_key(name)
            else:
                _sizes[name] = len(blob)
            restored.append(name)
            failed.pop(name, None)
        pending = retry if len(retry) < len(pending) else []
    rows = variables.snapshot()
    keys = _module_keys()
    keys.update({row["name"]: key(_MAIN.get(row["name"]), row) for row in rows})
    for name in restored:
        if name in keys:
            _kept[name] = keys[name]
    door.restored(restored, failed)
    door.result(None, rows)


def _split(data):
    """`kind\\n<bytes>` as (kind, a view of the bytes): big values are not copied."""
    at = data.find(b"\n")
    if at < 0:
        return b"", memoryview(b"")
    return data[:at], memoryview(data)[at + 1:]


def _frames(data):
    """The inputs the host sent: `[name, kind, size]\\n` + bytes, one after another."""
    view, at, found = memoryview(data), 0, {}
    while at < len(data):
        end = data.index(b"\n", at)
        name, kind, size = json.loads(data[at:end])
        found[name] = _rebuild(name, kind.encode(), view[end + 1:end + 1 + size])
        at = end + 1 + size
    return found


def _input_key(name):
    value = _MAIN.get(name, _inputs)
    return (id(value), type(value))


def load_variables(check):
    """Bind the inputs the host sends; of `check` (sent before), only those the guest no
    longer holds unchanged are sent again."""
    stale = [name for name in check if _inputs.get(name) != _input_key(name)]
    values = _frames(door.inputs(stale))
    _MAIN.update(values)
    for name in values:
        _inputs[name] = _input_key(name)
    rows = variables.snapshot()
    for row in rows:
        if row["name"] in values:
            _kept[row["name"]] = key(values[row["name"]], row)
    door.result(None, rows)
