"""Signature schemas in words and in the guest: what the root model is told about each field's
type (pydantic models expanded into their fields, `Literal` choices, item types, descs), and the
field lists from which the guest rebuilds the output models as classes of the same name
(`guest/typed.py`; pydantic cannot run in the WASI guest)."""

from __future__ import annotations

import enum
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Union

import pydantic
from pydantic_core import PydanticUndefined, to_jsonable_python

_DSPY_PLACEHOLDER = re.compile(r"^\$\{\w+\}$")  # the desc DSPy fills in for a field without one


def field_desc(info: Any) -> str:
    """The desc a signature field was given, "" for DSPy's `${name}` placeholder."""
    extra = getattr(info, "json_schema_extra", None) or {}
    desc = extra.get("desc") if isinstance(extra, dict) else None
    desc = desc if isinstance(desc, str) else (getattr(info, "description", None) or "")
    return "" if _DSPY_PLACEHOLDER.match(desc.strip()) else desc.strip()


@dataclass
class TypeText:
    """Types as the model reads them; the pydantic models met on the way, in order of use."""

    models: dict[str, type[pydantic.BaseModel]] = field(default_factory=dict)

    def of(self, tp: Any) -> str:
        if tp is None or tp is type(None):
            return "None"
        if tp is Any:
            return "Any"
        if isinstance(tp, str):
            return tp
        if isinstance(tp, typing.ForwardRef):
            return tp.__forward_arg__
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin is typing.Annotated:
            return self.of(args[0])
        if origin is Literal:
            return f"Literal[{', '.join(repr(a) for a in args)}]"
        if origin is Union or origin is types.UnionType:
            return " | ".join(self.of(a) for a in args)
        if origin is not None:
            name = getattr(origin, "__name__", str(origin))
            return f"{name}[{', '.join('...' if a is Ellipsis else self.of(a) for a in args)}]" if args else name
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return f"Literal[{', '.join(repr(m.value) for m in tp)}]"
        if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
            if tp.__name__ not in self.models:
                self.models[tp.__name__] = tp
                for info in tp.model_fields.values():
                    self.of(info.annotation)
            return tp.__name__
        if isinstance(tp, type):
            return tp.__name__
        return str(tp).replace("typing.", "")


def model_line(model: type[pydantic.BaseModel], text: TypeText) -> str:
    """`Name(a: int, b: list[str] = [])`, then one indented line per field with a desc."""
    params, notes = [], []
    for name, info in model.model_fields.items():
        param = f"{name}: {text.of(info.annotation)}"
        if not info.is_required():
            param += f" = {_default(info)!r}"
        params.append(param)
        if info.description:
            notes.append(f"    {name}: {info.description.strip()}")
    doc = (model.__doc__ or "").strip()
    head = f"- {model.__name__}({', '.join(params)})" + (f": {doc.splitlines()[0]}" if doc and not doc.startswith(
        "Usage docs:") else "")
    return "\n".join([head, *notes])


def outputs_text(types_: dict[str, Any], infos: dict[str, Any]) -> tuple[str, str]:
    """(`a=int, b=Result` for `SUBMIT(...)`, the lines describing fields and classes; "" when
    every field is a bare builtin without a desc)."""
    text = TypeText()
    call = ", ".join(f"{name}={text.of(tp)}" for name, tp in types_.items())
    lines = [f"- `{name}`: {desc}" for name, info in infos.items() if (desc := field_desc(info))]
    if text.models:
        lines.append("Output classes (already defined in the REPL: build them with keywords, "
                     "e.g. SUBMIT(x=Name(a=1, ...)); plain dicts work too):")
        lines += [model_line(model, text) for model in list(text.models.values())]
    return call, "\n".join(lines)


def guest_classes(types_: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The pydantic models the output types use, as the guest rebuilds them:
    `{name: {"doc": str | None, "fields": [[name, type_text, required, default], ...]}}`, a
    class after the classes it uses. Defaults are JSON data (the guest copies them per instance)."""
    text = TypeText()
    for tp in types_.values():
        text.of(tp)
    classes: dict[str, dict[str, Any]] = {}
    for name, model in reversed(list(text.models.items())):
        rows = []
        for fname, info in model.model_fields.items():
            required = info.is_required()
            rows.append([fname, text.of(info.annotation), required, None if required else _default(info)])
        classes[name] = {"doc": (model.__doc__ or "").strip() or None, "fields": rows}
    return classes


def install_classes_source(classes: dict[str, dict[str, Any]]) -> str:
    """Guest source that binds `guest_classes(...)` (JSON data, written as a Python literal)."""
    return f"__import__('_rlm_typed').install_classes({classes!r})"


def _default(info: Any) -> Any:
    value = info.get_default(call_default_factory=True)
    return None if value is PydanticUndefined else to_jsonable_python(value, fallback=str)
