"""Types that come from the sandbox: signature strings and the schemas of REPL classes.

Guest code writes `predict("text -> person: Person", text=t)` where `Person` is a dataclass,
TypedDict, Enum or plain annotated class defined in the REPL (the guest has no pydantic). The
guest sends each class's fields as type text; here they become pydantic models
(`pydantic.create_model`) for `dspy.Signature`. Type text is never `eval`-ed and never imports
anything: a small AST walk accepts only the names it knows (builtins, `typing` forms, `Image`,
and the classes sent along).
"""

from __future__ import annotations

import ast
import base64
import keyword
import typing
from typing import Any, ForwardRef, Literal, Optional, Union

import dspy
import pydantic
from dspy.utils.constants import IS_TYPE_UNDEFINED

from rlm_tui.sandbox.protocol import IMAGE_KEY as IMAGE_KEY  # the door's keys, used here and by predict
from rlm_tui.sandbox.protocol import TYPES_KEY as TYPES_KEY

MAX_TYPES = 64
MAX_FIELDS = 256
MAX_TEXT = 2000
MAX_IMAGE_BYTES = 20 << 20

_GENERICS: dict[str, Any] = {
    "list": list, "List": list, "dict": dict, "Dict": dict, "tuple": tuple, "Tuple": tuple,
    "set": set, "Set": set, "frozenset": frozenset, "FrozenSet": frozenset,
    "Optional": Optional, "Union": Union, "Literal": Literal,
}
_PLAIN: dict[str, Any] = {
    "str": str, "int": int, "float": float, "bool": bool, "bytes": bytes, "Any": Any,
    "None": type(None), "NoneType": type(None), "Image": dspy.Image, "Audio": dspy.Audio,
}
_MEDIA = (dspy.Image, dspy.Audio)
_AUDIO_FORMATS = {"audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/x-wav": "wav", "audio/wave": "wav"}
MAX_URL = 2048


class GuestTypeError(ValueError):
    """A signature or class schema from the guest that cannot be used; written for the model."""


def parse_type(text: str, names: dict[str, Any]) -> Any:
    """The type `text` names (`list[Person]`, `Optional[int]`, `Literal['a', 'b']`, `int | None`)."""
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise GuestTypeError(f"type {str(text)[:80]!r} is not a short type expression")
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise GuestTypeError(f"type {text!r} is not a type expression") from None
    return _type(node, names, text)


def _type(node: ast.AST, names: dict[str, Any], text: str) -> Any:
    if isinstance(node, ast.Name):
        if node.id in names:
            return names[node.id]
        if node.id in _PLAIN:
            return _PLAIN[node.id]
        if node.id in _GENERICS and node.id not in ("Optional", "Union", "Literal"):
            return _GENERICS[node.id]
        raise GuestTypeError(f"unknown type {node.id!r} in {text!r}: use builtins, typing forms (list[str], "
                             "Optional[...], Literal[...]), Image, or a dataclass/TypedDict/Enum/annotated class "
                             "defined in the REPL")
    if isinstance(node, ast.Constant) and node.value is None:
        return type(None)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ("typing", "dspy"):
        return _type(ast.Name(node.attr), names, text)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return Union[_type(node.left, names, text), _type(node.right, names, text)]  # noqa: UP007
    if isinstance(node, ast.Subscript):
        base = node.value.id if isinstance(node.value, ast.Name) else (
            node.value.attr if isinstance(node.value, ast.Attribute) else None)
        if base not in _GENERICS:
            raise GuestTypeError(f"{ast.unparse(node.value)!r} in {text!r} cannot take type arguments")
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if base == "Literal":
            values = []
            for item in items:
                if not isinstance(item, ast.Constant) or not isinstance(item.value, (str, int, float, bool, type(None))):
                    raise GuestTypeError(f"Literal[...] in {text!r} takes constants only")
                values.append(item.value)
            return Literal[tuple(values)]
        args = tuple(... if isinstance(i, ast.Constant) and i.value is Ellipsis else _type(i, names, text) for i in items)
        origin = _GENERICS[base]
        try:
            return origin[args if len(args) > 1 else args[0]]
        except TypeError as e:
            raise GuestTypeError(f"bad type {text!r}: {e}") from None
    raise GuestTypeError(f"type {text!r} is not a type expression this sandbox accepts")


def build_models(schemas: Any) -> dict[str, Any]:
    """Pydantic models (enums become Literals) for the guest's classes, by name.

    `schemas`: `{name: {"kind": "dataclass"|"typeddict"|"class"|"enum", "doc": str,
    "fields": [[name, type_text, required], ...], "values": [...]}}`, a class after the
    classes it uses (a recursive class names itself: resolved once all exist)."""
    if not isinstance(schemas, dict) or len(schemas) > MAX_TYPES:
        raise GuestTypeError(f"at most {MAX_TYPES} REPL classes can cross to predict()")
    built: dict[str, Any] = {}
    pending = {name for name in schemas}
    for name, schema in schemas.items():
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) or name in _PLAIN or name in _GENERICS:
            raise GuestTypeError(f"class name {name!r} cannot be used in a signature")
        if not isinstance(schema, dict):
            raise GuestTypeError(f"bad schema for class {name!r}")
        pending.discard(name)
        if schema.get("kind") == "enum":
            values = schema.get("values")
            if not isinstance(values, list) or not values or not all(isinstance(v, (str, int, float, bool)) for v in values):
                raise GuestTypeError(f"enum {name!r} must have str/int/float/bool values")
            built[name] = Literal[tuple(values)]
            continue
        names = {**built, **{other: ForwardRef(other) for other in pending | {name}}}
        fields: dict[str, Any] = {}
        rows = schema.get("fields")
        if not isinstance(rows, list) or len(rows) > MAX_FIELDS:
            raise GuestTypeError(f"bad fields for class {name!r}")
        for row in rows:
            if not (isinstance(row, list) and len(row) == 3 and isinstance(row[0], str) and row[0].isidentifier()):
                raise GuestTypeError(f"bad field {row!r} in class {name!r}")
            field_name, type_text, required = row
            if field_name.startswith("_"):
                raise GuestTypeError(f"field {field_name!r} of class {name!r}: names starting with _ cannot cross")
            annotation = parse_type(type_text, names)
            fields[field_name] = (annotation, ...) if required else (Optional[annotation], None)  # noqa: UP045
        doc = schema.get("doc") if isinstance(schema.get("doc"), str) else None
        try:
            built[name] = pydantic.create_model(name, __doc__=doc, **fields)
        except (TypeError, ValueError, pydantic.PydanticUserError) as e:
            raise GuestTypeError(f"class {name!r} cannot be described to the sub-model: {e}") from None
    namespace = dict(built)
    for model in built.values():
        if isinstance(model, type) and issubclass(model, pydantic.BaseModel):
            try:
                model.model_rebuild(force=True, _types_namespace=namespace)
            except (TypeError, ValueError, pydantic.PydanticUserError) as e:
                raise GuestTypeError(f"class {model.__name__!r} refers to a type that was not sent: {e}") from None
    return built


def parse_signature(signature: str, names: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any | None]]:
    """`"a, b: list[str] -> c: Literal['x', 'y']"` as (inputs, outputs): field -> type (None
    for an input written without one)."""
    if not isinstance(signature, str) or len(signature) > 10 * MAX_TEXT:
        raise GuestTypeError("the signature must be a string such as 'text -> summary'")
    if signature.count("->") != 1:
        raise GuestTypeError(f"signature {signature!r} must contain exactly one '->'")
    sides = []
    for part in signature.split("->"):
        try:
            args = ast.parse(f"def f({part}): pass").body[0].args  # type: ignore[attr-defined]
        except SyntaxError:
            raise GuestTypeError(f"cannot read the fields {part.strip()!r} of signature {signature!r}") from None
        if args.posonlyargs or args.vararg or args.kwonlyargs or args.kwarg or args.defaults:
            raise GuestTypeError(f"signature {signature!r}: fields are 'name' or 'name: type', separated by commas")
        sides.append({a.arg: None if a.annotation is None else _type(a.annotation, names, ast.unparse(a.annotation))
                      for a in args.args})
    inputs, outputs = sides
    if not inputs or not outputs:
        raise GuestTypeError(f"signature {signature!r} needs input and output fields, e.g. 'text -> summary'")
    both = set(inputs) & set(outputs)
    if both:
        raise GuestTypeError(f"signature {signature!r} uses {', '.join(sorted(both))} as input and output")
    return inputs, {name: str if t is None else t for name, t in outputs.items()}


def make_typed_signature(signature: str, instructions: str | None, names: dict[str, Any],
                         inputs: dict[str, Any]) -> type[dspy.Signature]:
    """A DSPy signature from guest text; an untyped input given an image (a sound) becomes an
    Image (an Audio)."""
    input_types, output_types = parse_signature(signature, names)
    fields: dict[str, Any] = {}
    for name, annotation in input_types.items():
        media = _media_type(inputs.get(name))
        if annotation is None and media is not None:
            annotation = list[media] if isinstance(inputs.get(name), list) else media  # type: ignore[valid-type]
        if annotation is None:
            fields[name] = (str, dspy.InputField(**{IS_TYPE_UNDEFINED: True}))
        else:
            fields[name] = (annotation, dspy.InputField())
    for name, annotation in output_types.items():
        fields[name] = (annotation, dspy.OutputField())
    try:
        return dspy.Signature(fields, instructions)
    except (TypeError, ValueError) as e:
        raise GuestTypeError(f"invalid signature {signature!r}: {e}") from None


def _media_type(value: Any) -> type | None:
    """`dspy.Image` / `dspy.Audio` for a value (or a list of values) all of that type, else None."""
    items = value if isinstance(value, list) else [value]
    for media in _MEDIA:
        if items and all(isinstance(v, media) for v in items):
            return media
    return None


def decode_images(value: Any) -> Any:
    """Media markers from the guest as `dspy.Image`s / `dspy.Audio`s (data URIs and http(s)
    URLs as they are: the host never opens a path or fetches a URL)."""
    if isinstance(value, dict):
        if set(value) == {IMAGE_KEY}:
            return _image(value[IMAGE_KEY])
        return {k: decode_images(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_images(v) for v in value]
    return value


def _image(spec: Any) -> dspy.Image | dspy.Audio:
    if isinstance(spec, dict) and isinstance(spec.get("url"), str):
        return media_from_url(spec["url"], audio=spec.get("kind") == "audio")
    if not isinstance(spec, dict) or not isinstance(spec.get("data"), str):
        raise GuestTypeError("a bad image crossed from the sandbox")
    return _media(spec.get("mime"), spec["data"])


def media_from_url(url: str, *, audio: bool = False) -> dspy.Image | dspy.Audio:
    """A data URI or an http(s) URL as the sub-model's Image (Audio), never fetched."""
    if len(url) > MAX_URL and not url.startswith("data:"):
        raise GuestTypeError(f"a media URL over {MAX_URL} characters cannot cross to a sub-model")
    if url.startswith("data:"):
        head, comma, data = url[5:].partition(",")
        mime, _, encoding = head.partition(";")
        if not comma or encoding != "base64":
            raise GuestTypeError("a data URI must look like data:image/png;base64,<data>")
        return _media(mime, data)
    if audio:
        raise GuestTypeError("Audio takes a file, bytes or a data URI: a sub-model is not sent audio URLs")
    if not url.startswith(("http://", "https://")) or any(c.isspace() for c in url):
        raise GuestTypeError(f"{url[:80]!r} is not an http(s) URL or a data URI")
    return dspy.Image(url)


def _media(mime: Any, data: str) -> dspy.Image | dspy.Audio:
    if isinstance(mime, str) and mime.startswith("audio/") and len(mime) <= 40:
        _check_base64(data, "a sound")
        return dspy.Audio(data=data, audio_format=_AUDIO_FORMATS.get(mime, mime.split("/", 1)[1]))
    if not isinstance(mime, str) or not mime.startswith("image/") or len(mime) > 40:
        raise GuestTypeError(f"unsupported media type {mime!r}: use PNG, JPEG, GIF or WebP images, "
                             "WAV, MP3, OGG or FLAC sounds")
    _check_base64(data, "an image")
    return dspy.Image(f"data:{mime};base64,{data}")


def _check_base64(data: str, what: str) -> None:
    if len(data) > MAX_IMAGE_BYTES * 4 // 3 + 4:
        raise GuestTypeError(f"{what} over {MAX_IMAGE_BYTES >> 20} MB cannot cross to a sub-model")
    try:
        base64.b64decode(data, validate=True)
    except ValueError:
        raise GuestTypeError(f"{what} from the sandbox is not valid base64") from None


def validate_inputs(signature: type[dspy.Signature], inputs: dict[str, Any]) -> dict[str, Any]:
    """Inputs whose type involves a REPL class or media, validated into it (a data URI or an
    http(s) URL given for an Image field becomes that Image)."""
    checked = dict(inputs)
    for name, info in signature.input_fields.items():
        annotation = info.annotation
        if name in checked and _needs_validation(annotation):
            try:
                checked[name] = pydantic.TypeAdapter(annotation).validate_python(_urls_as_media(annotation, checked[name]))
            except pydantic.ValidationError as e:
                problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or name}: {err['msg']}" for err in e.errors()[:3])
                raise GuestTypeError(f"input {name!r} does not match its type: {problems}") from None
    return checked


def _urls_as_media(annotation: Any, value: Any) -> Any:
    """Strings given for an `Image` / `Audio` field (or a list of them) as that media type."""
    media = next((m for m in _MEDIA if annotation is m or annotation == list[m]), None)  # type: ignore[valid-type]
    if media is None:
        return value
    audio = media is dspy.Audio
    if isinstance(value, str):
        return media_from_url(value, audio=audio)
    if isinstance(value, list):
        return [media_from_url(v, audio=audio) if isinstance(v, str) else v for v in value]
    return value


def _needs_validation(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, (pydantic.BaseModel, *_MEDIA)):
        return True
    return any(_needs_validation(a) for a in typing.get_args(annotation))
