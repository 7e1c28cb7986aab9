"""How a run's inputs cross into the sandbox, and what the prompt says they became.

A value made only of builtins (str, int, float, bool, None, bytes, list, tuple, dict, set,
frozenset) that JSON would change (bytes, tuples, sets, keys that are not str) crosses as a
pickle of those builtins, so the guest holds the same types; sets are rebuilt from their items
in sorted order (the guest's hash seed is fixed), so their order is the same on every run.
Anything else (pydantic models, dataclasses, paths...) crosses as JSON, and `json_note` says
exactly what it became.
"""

from __future__ import annotations

import json
import pickle
from typing import Any

from rlm_tui.engine.outputs import jsonable

_SCALARS = (str, int, float, bool, type(None))
_CONTAINERS = (list, tuple, dict, set, frozenset)


class _SortedSet:
    """A set or frozenset that pickles as `set(sorted items)` (`builtins.set` in the guest)."""

    def __init__(self, kind: type, items: list[Any]) -> None:
        self.kind, self.items = kind, items

    def __reduce__(self) -> tuple[Any, ...]:
        return self.kind, (self.items,)


def encode_input(value: Any) -> bytes | tuple[str, bytes]:
    """JSON bytes for the guest, or `("pickle", bytes)` when the value's builtin types would not
    survive JSON."""
    if _builtins_only(value) and _json_changes(value):
        return "pickle", pickle.dumps(_sorted_sets(value), protocol=5)
    text = json.dumps(jsonable(value), default=str, ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:  # lone surrogates: let JSON escape them
        return json.dumps(jsonable(value), default=str).encode()


def json_note(value: Any) -> str:
    """What an input became in the guest when it crossed as JSON ("" when it is unchanged)."""
    if _builtins_only(value) and _json_changes(value) or type(value) is str:
        return ""
    became = type(jsonable(value))
    head = "" if became is type(value) else f"{type(value).__name__} became {became.__name__}"
    changes = [c for c in sorted(_changes(value)) if c != head]
    if not changes:
        return head
    return f"{head} ({', '.join(changes)})" if head else ", ".join(changes)


def preview_value(value: Any) -> Any:
    """The value as the guest shows it: sets with their items sorted (their order there)."""
    if isinstance(value, (set, frozenset)):
        try:
            items = sorted(value)
        except TypeError:
            return value
        return _ReprSorted(type(value), items)
    return value


class _ReprSorted:
    def __init__(self, kind: type, items: list[Any]) -> None:
        self.kind, self.items = kind, items

    def __repr__(self) -> str:
        if not self.items:
            return f"{self.kind.__name__}()"
        inner = ", ".join(repr(i) for i in self.items)
        return f"{{{inner}}}" if self.kind is set else f"frozenset({{{inner}}})"


def _builtins_only(value: Any, depth: int = 0) -> bool:
    if depth > 100:
        return False
    kind = type(value)
    if kind in _SCALARS or kind in (bytes, bytearray):
        return True
    if kind is dict:
        return all(_builtins_only(k, depth + 1) and _builtins_only(v, depth + 1) for k, v in value.items())
    if kind in _CONTAINERS:
        return all(_builtins_only(v, depth + 1) for v in value)
    return False


def _json_changes(value: Any) -> bool:
    return bool(_changes(value))


def _changes(value: Any, depth: int = 0) -> set[str]:
    """What JSON makes of the parts of `value` it cannot keep."""
    found: set[str] = set()
    kind = type(value)
    if depth > 100 or kind in _SCALARS:
        return found
    if kind in (bytes, bytearray):
        found.add(f"{kind.__name__} became base64 text")
    elif kind in (tuple, set, frozenset):
        found.add(f"{kind.__name__}s became lists")
    elif kind is dict:
        if any(type(k) is not str for k in value):
            found.add("non-str dict keys became text")
    elif kind is not list:
        found.add(f"{kind.__name__} became {type(jsonable(value)).__name__}")
        return found
    if isinstance(value, dict):
        for v in value.values():
            found |= _changes(v, depth + 1)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for v in value:
            found |= _changes(v, depth + 1)
    return found


def _sorted_sets(value: Any) -> Any:
    """A copy of a builtins-only value whose sets pickle with their items in sorted order."""
    kind = type(value)
    if kind is dict:
        return {_sorted_sets(k): _sorted_sets(v) for k, v in value.items()}
    if kind in (list, tuple):
        return kind(_sorted_sets(v) for v in value)
    if kind in (set, frozenset):
        items = [_sorted_sets(v) for v in value]
        try:
            items.sort()
        except TypeError:  # mixed types: the order is then the host's
            pass
        return _SortedSet(kind, items)
    return value
