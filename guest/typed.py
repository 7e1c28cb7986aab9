"""Typed `predict` for the guest (loaded on the first typed call, as module `_rlm_typed`).

A signature such as `"text -> people: list[Person], mood: Literal['up', 'down']"` may name
classes defined in the REPL: dataclasses, TypedDicts, Enums, or plain classes with annotated
fields (there is no pydantic here). Their fields cross to the host as type text, the host
builds pydantic models from them, and the dicts that come back are rebuilt into instances
of the user's classes.

`install_classes` rebuilds the task's pydantic output models as dataclasses of the same name
and fields (keyword-only, as pydantic models are built), so that
`SUBMIT(result=Result(total=3, items=[Item(...)]))` reads as it does with pydantic; the host
validates what SUBMIT hands over.
"""

import ast
import builtins
import copy
import dataclasses
import enum
import types
import typing

_NOT_USER = frozenset(("builtins", "typing", "types", "collections", "collections.abc", "abc"))
_CONTAINERS = {list: "list", dict: "dict", tuple: "tuple", set: "set", frozenset: "frozenset"}


def signature_types(signature, frame):
    """(output field -> type or None, class schemas by name) for a signature string, its
    names resolved where `predict` was called."""
    namespace = dict(vars(typing))
    namespace.update(frame.f_globals)
    if frame.f_locals is not frame.f_globals:
        namespace.update(frame.f_locals)
    namespace["Image"] = builtins.Image  # in a signature, Image and Audio are always the sub-model's media types
    namespace["Audio"] = builtins.Audio
    sides = signature.split("->")
    if len(sides) != 2:
        return {}, {}
    collector = _Collector()
    outputs = {}
    for index, side in enumerate(sides):
        try:
            args = ast.parse(f"def f({side}): pass").body[0].args.args
        except SyntaxError:
            return {}, {}  # the host explains what is wrong with it
        for arg in args:
            tp = None
            if arg.annotation is not None:
                try:
                    tp = eval(compile(ast.Expression(arg.annotation), "<signature>", "eval"), namespace)
                except Exception:
                    tp = None  # the host names the unknown type
                if tp is not None:
                    collector.walk(tp)
            if index == 1:
                outputs[arg.arg] = tp
    return outputs, collector.schemas


def _user_kind(tp):
    if not isinstance(tp, type) or tp in (builtins.Image, builtins.Audio) or tp.__module__ in _NOT_USER:
        return None
    if issubclass(tp, enum.Enum):
        return "enum"
    if dataclasses.is_dataclass(tp):
        return "dataclass"
    if typing.is_typeddict(tp):
        return "typeddict"
    if _hints(tp):
        return "class"
    return None


def _hints(tp):
    try:
        hints = typing.get_type_hints(tp)
    except Exception:
        hints = dict(getattr(tp, "__annotations__", {}) or {})
    return {k: v for k, v in hints.items() if typing.get_origin(v) is not typing.ClassVar and not k.startswith("_")}


class _Collector:
    """Schemas of the user classes a type uses, each after the classes it uses."""

    def __init__(self):
        self.schemas = {}
        self._seen = {}

    def walk(self, tp):
        origin = typing.get_origin(tp)
        if origin is typing.Literal:
            return
        if origin is not None:
            for arg in typing.get_args(tp):
                if arg is not Ellipsis:
                    self.walk(arg)
            return
        kind = _user_kind(tp)
        if kind is None:
            return
        name = tp.__name__
        if name in self._seen:
            if self._seen[name] is not tp:
                raise TypeError(f"two different classes named {name!r} appear in the signature")
            return
        self._seen[name] = tp
        schema = {"kind": kind, "doc": tp.__doc__ if isinstance(tp.__doc__, str) else None}
        if kind == "enum":
            schema["values"] = [member.value for member in tp]
        else:
            hints = _hints(tp)
            for hint in hints.values():
                self.walk(hint)
            schema["fields"] = [[name_, type_text(hint), _required(tp, kind, name_)] for name_, hint in hints.items()]
        self.schemas[name] = schema


def _required(tp, kind, name):
    if kind == "dataclass":
        for field in dataclasses.fields(tp):
            if field.name == name:
                return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        return True
    if kind == "typeddict":
        return name in getattr(tp, "__required_keys__", ())
    return not hasattr(tp, name)


def type_text(tp):
    """A type as the host's type parser reads it."""
    if tp is None or tp is type(None):
        return "None"
    if tp is typing.Any:
        return "Any"
    if isinstance(tp, str):
        return tp
    if isinstance(tp, typing.ForwardRef):
        return tp.__forward_arg__
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return f"Literal[{', '.join(repr(a) for a in args)}]"
    if origin is typing.Union or origin is types.UnionType:
        return f"Union[{', '.join(type_text(a) for a in args)}]"
    if origin is not None:
        name = _CONTAINERS.get(origin) or getattr(origin, "__name__", str(origin))
        if not args:
            return name
        return f"{name}[{', '.join('...' if a is Ellipsis else type_text(a) for a in args)}]"
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def rebuild_outputs(value, outputs):
    """The host's output dict with REPL classes rebuilt from their dicts."""
    if not isinstance(value, dict):
        return value
    return {name: rebuild(outputs.get(name), v) for name, v in value.items()}


def rebuild(tp, value):
    """`value` (JSON data) as type `tp`, for the parts that are the user's classes."""
    if tp is None or value is None:
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return value
    if origin is typing.Union or origin is types.UnionType:
        for arg in args:
            if _user_kind(arg) is not None or typing.get_origin(arg) is not None:
                try:
                    return rebuild(arg, value)
                except (TypeError, ValueError, KeyError):
                    continue
        return value
    if origin in (list, set, frozenset) and args and isinstance(value, list):
        return origin(rebuild(args[0], v) for v in value)
    if origin is tuple and args and isinstance(value, list):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(rebuild(args[0], v) for v in value)
        return tuple(rebuild(a, v) for a, v in zip(args, value))
    if origin is dict and len(args) == 2 and isinstance(value, dict):
        return {k: rebuild(args[1], v) for k, v in value.items()}
    kind = _user_kind(tp)
    if kind == "enum":
        return tp(value)
    if kind is None or not isinstance(value, dict):
        return value
    hints = _hints(tp)
    data = {k: rebuild(hints.get(k), v) for k, v in value.items()}
    if kind == "typeddict":
        return data
    if kind == "dataclass":
        init = {f.name for f in dataclasses.fields(tp) if f.init}
        defaults = {name for name in hints if not _required(tp, kind, name)}
        kwargs = {k: v for k, v in data.items() if k in init and not (v is None and k in defaults)}
        obj = tp(**kwargs)
        for k, v in data.items():
            if k not in init and v is not None:
                setattr(obj, k, v)
        return obj
    kept = {k: v for k, v in data.items() if not (v is None and hasattr(tp, k))}
    try:
        return tp(**kept)
    except TypeError:
        obj = tp.__new__(tp)
        for k, v in kept.items():
            setattr(obj, k, v)
        return obj


def install_classes(classes):
    """Bind the output classes the host describes (`{name: {"doc", "fields": [[name, type_text,
    required, default], ...]}}`) as builtins; a class the host named before is replaced."""
    for name, spec in classes.items():
        rows = []
        for field_name, text, required, default in spec["fields"]:
            if required:
                rows.append((field_name, text))
            else:
                rows.append((field_name, text, dataclasses.field(default_factory=lambda v=default: copy.deepcopy(v))))
        namespace = {"model_dump": _model_dump, "__doc__": spec.get("doc")}
        cls = dataclasses.make_dataclass(name, rows, kw_only=True, namespace=namespace)
        setattr(builtins, name, cls)
    names = {**vars(typing), **{name: getattr(builtins, name) for name in classes}}
    for name in classes:  # real annotations, so that predict() signatures can use the classes too
        cls = getattr(builtins, name)
        for field_name, text in list(cls.__annotations__.items()):
            try:
                cls.__annotations__[field_name] = eval(text, names)  # the host's type text
            except Exception:
                pass  # a type the guest lacks (File): the text stays, as the host checks it anyway


def _model_dump(self):
    """The fields as plain data (nested classes as dicts), like pydantic's `model_dump()`."""
    return dataclasses.asdict(self)
