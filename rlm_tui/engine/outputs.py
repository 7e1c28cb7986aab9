"""Typed outputs: parse signatures, validate and coerce what `SUBMIT(...)` hands over."""

from __future__ import annotations

import re
from typing import Any, ForwardRef, get_type_hints

import dspy
from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_jsonable_python

from rlm_tui.engine.file_type import File


class OutputError(ValueError):
    """SUBMIT's values do not match the signature; the message is written for the model."""


def make_signature(signature: str | type[dspy.Signature]) -> type[dspy.Signature]:
    if isinstance(signature, str):
        try:
            signature = dspy.Signature(signature, custom_types=_file_types(signature))
        except Exception as e:  # dspy raises ValueError/SyntaxError/TypeError for bad strings
            raise ValueError(f"invalid signature {signature!r}: {e}") from None
    if not signature.input_fields or not signature.output_fields:
        raise ValueError(f"invalid signature {signature.signature!r}: it needs input and output fields, "
                         "e.g. 'question -> answer'")
    return signature


def _file_types(signature: str) -> dict[str, Any] | None:
    """`File` for a signature string that names it, beside the caller's own types (DSPy finds
    those in the calling frames only when no custom_types are given)."""
    if not re.search(r"\bFile\b", signature):
        return None
    detect = getattr(dspy.Signature, "_detect_custom_types_from_caller", None)
    found = (detect(signature) if detect is not None else None) or {}
    return {**found, "File": File}


def field_types(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: (info.annotation if info.annotation is not None else str) for name, info in fields.items()}


def output_types(signature: type[dspy.Signature]) -> dict[str, Any]:
    """Output field types, with string annotations (`from __future__ import annotations`) resolved."""
    types = field_types(signature.output_fields)
    if any(isinstance(t, (str, ForwardRef)) for t in types.values()):
        try:
            hints = get_type_hints(signature)
        except Exception:  # unresolvable names: keep what we have, validation will say so
            hints = {}
        types = {name: hints.get(name, t) for name, t in types.items()}
    return types


def type_name(annotation: Any) -> str:
    name = getattr(annotation, "__name__", None)
    return name if name and not getattr(annotation, "__args__", None) else str(annotation).replace("typing.", "")


def validate_outputs(signature: type[dspy.Signature], outputs: dict[str, Any]) -> dict[str, Any]:
    """Coerced outputs, or OutputError listing every missing, unknown or mistyped field."""
    expected = output_types(signature)
    problems = [f"missing field {name!r} ({type_name(t)})" for name, t in expected.items() if name not in outputs]
    problems += [f"unknown field {name!r}" for name in outputs if name not in expected]
    coerced: dict[str, Any] = {}
    for name, annotation in expected.items():
        if name not in outputs:
            continue
        value = outputs[name]
        try:
            coerced[name] = coerce(annotation, value, name)
        except ValueError as e:
            problems.append(f"field {name!r} must be {type_name(annotation)}, got {type(value).__name__} {_short(value)} ({e})")
    if problems:
        names = ", ".join(f"{n}: {type_name(t)}" for n, t in expected.items())
        raise OutputError(f"SUBMIT rejected: {'; '.join(problems)}. Expected SUBMIT({names}).")
    return coerced


def coerce(annotation: Any, value: Any, name: str = "") -> Any:
    """`value` as `annotation` (numbers become text for str fields); ValueError if it cannot be,
    each problem under the path of the part that is wrong (`result.items[2].price: ...`)."""
    if annotation is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    try:
        return TypeAdapter(annotation).validate_python(value)
    except ValidationError as e:
        errors = e.errors()
        shown = "; ".join(f"{_path(name, err['loc'])}: {err['msg']}" if name and err["loc"] else err["msg"]
                          for err in errors[:MAX_PROBLEMS])
        more = f"; and {len(errors) - MAX_PROBLEMS} more" if len(errors) > MAX_PROBLEMS else ""
        raise ValueError(shown + more) from None


MAX_PROBLEMS = 5


def _path(name: str, loc: tuple[Any, ...]) -> str:
    """`result.items[2].price` for field `result` and pydantic's loc `('items', 2, 'price')`."""
    return name + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)


def jsonable(value: Any) -> Any:
    """Outputs as JSON-ready data (`pydantic_core.to_jsonable_python`): pydantic models and
    dataclasses dumped, tuples and sets as lists, paths and dates as text, bytes as base64,
    anything else unknown as its `str()`."""
    return to_jsonable_python(value, fallback=str, bytes_mode="base64")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
