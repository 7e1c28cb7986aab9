"""The user's variables as the host and `SHOW_VARS` see them (guest module `_rlm_variables`).

`snapshot()` turns `__main__`'s globals into rows (`name`, `type`, `size`, `preview`), the
shape the door's `result` op carries. User objects may raise anything (BaseException
included) from any hook: a row gets by, and the snapshot never breaks.
"""

import builtins
import reprlib
import sys
import types

MAIN = sys.modules["__main__"].__dict__
PREVIEW = 120
host_globals = set()  # names of host functions bound in __main__ (hidden from the snapshot)

_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = PREVIEW
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxdict = 8
_repr.maxlevel = 3
_TYPE_NAME = type.__dict__["__name__"].__get__  # a class's own name, past any metaclass property


def type_name(cls):
    try:
        return str(_TYPE_NAME(cls))
    except BaseException:
        return "?"


def _preview(value):
    try:
        text = _repr.repr(value)
        if not isinstance(text, str):
            raise TypeError("repr returned a non-string")
    except BaseException as e:  # a broken __repr__ (even one raising KeyboardInterrupt) must not break the snapshot
        text = f"<repr failed: {type_name(type(e))}>"
    return text if len(text) <= PREVIEW else text[: PREVIEW - 1] + "…"


def _size(value):
    try:
        if isinstance(value, (type, types.ModuleType)):
            return None
        size = len(value)
        return size if type(size) is int else None
    except BaseException:
        return None


def snapshot():
    """The user's globals as plain rows: no modules, no `_private` names, no builtins."""
    rows = []
    for name, value in list(MAIN.items()):
        if not isinstance(name, str) or name.startswith("_"):
            continue
        try:
            if isinstance(value, types.ModuleType):
                continue
        except BaseException:
            pass
        if name in host_globals and builtins.__dict__.get(name) is value:
            continue
        rows.append({"name": name, "type": type_name(type(value)), "size": _size(value), "preview": _preview(value)})
    return rows


def SHOW_VARS():
    """Print the user's variables: name, type, size and a short preview."""
    rows = snapshot()
    if not rows:
        print("(no variables)")
    for row in rows:
        size = "" if row["size"] is None else f" [{row['size']}]"
        print(f"{row['name']}: {row['type']}{size} = {row['preview']}")
