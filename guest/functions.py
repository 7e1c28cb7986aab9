"""The sandbox's builtins (guest module `_rlm_functions`): host functions, `predict`, `SUBMIT`.

Guest-facing helpers live in `builtins`, so they never show up among the user's variables.
Host functions block until the host answers (door op `call`), except from async code, where
they return an awaitable (`_rlm_loop`). `predict` with typed fields sends the schemas of the
REPL classes its signature names and rebuilds them from the reply (`_rlm_typed`, loaded on
the first typed call). Whatever a cell does to these names, `reinstall` puts them back.
"""

import builtins
import sys

import _rlm_door as door
import _rlm_images as images
import _rlm_loop as loop
import _rlm_typed as typed
import _rlm_variables as variables

output_fields = []
_installed = {}  # name -> the guest function the host installed (put back when user code replaces it)


class Submitted(BaseException):
    """Raised by SUBMIT to end the cell at once; never seen by user code's `except Exception`."""


def plain(value):
    """JSON for the common non-JSON values: sets, images, numpy values and arrays, dataclasses."""
    if isinstance(value, (set, frozenset)):
        return list(value)
    if loop.HostCall is not None and isinstance(value, loop.HostCall):
        raise TypeError(value._hint())
    marker = images.marker(value)
    if marker is not None:
        return marker
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy arrays and scalars
        return value.tolist()
    fields = getattr(value, "__dataclass_fields__", None)
    if fields is not None and not isinstance(value, type):
        return {name: getattr(value, name) for name in fields}
    raise TypeError(f"{type(value).__name__} is not JSON-compatible")


def _invoke(name, args, kwargs, frame, finish=None):
    """Call host function `name` for code running in `frame`: its value (`finish(value)`
    when given), or, from async code, an awaitable of it."""
    if not loop.async_caller(frame):
        value = door.call(name, args, kwargs, plain)
        return value if finish is None else finish(value)
    return loop.started(name, door.start(name, args, kwargs, plain), finish)


def _host_function(name, doc):
    def call(*args, **kwargs):
        return _invoke(name, list(args), kwargs, sys._getframe(1))

    call.__name__ = call.__qualname__ = name
    call.__doc__ = doc
    return call


class Prediction(dict):
    """`predict`'s result: the output fields as a dict that also reads them as attributes
    (`r.answer` and `r['answer']`), like a DSPy prediction."""

    __slots__ = ()

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"the prediction has no field {name!r} (its fields: {', '.join(self)})") from None

    def __dir__(self):
        return [*super().__dir__(), *(k for k in self if isinstance(k, str))]


def _prediction(value):
    return Prediction(value) if isinstance(value, dict) else value


def _predict_function(doc):
    def predict(signature, instructions=None, model=None, **inputs):
        """A typed sub-LM call through a DSPy signature; returns the output fields as a dict
        that also reads them as attributes (`r.answer`).

        Types: `list[str]`, `Optional[...]`, `Literal['a', 'b']`, `Image` (an input made with
        `Image('/project/pic.png')` or `Image(raw_bytes)`), and classes defined here:
        dataclasses, TypedDicts, Enums, annotated classes (the results come back as instances).
        In a cell that uses `await`, write `await predict(...)`."""
        frame = sys._getframe(1)
        kwargs = dict(inputs)
        if instructions is not None:
            kwargs["instructions"] = instructions
        if model is not None:
            kwargs["model"] = model
        finish = _prediction
        if isinstance(signature, str) and ":" in signature:  # typed fields: maybe the user's classes
            outputs, schemas = typed.signature_types(signature, frame)
            if schemas:
                kwargs[door.TYPES_KEY] = schemas

                def finish(value):
                    return _prediction(typed.rebuild_outputs(value, outputs))

        return _invoke("predict", [signature], kwargs, frame, finish)

    return predict


def SUBMIT(*args, **kwargs):
    """End the task with its outputs: SUBMIT(field=value, ...) (or positionally, in field order).

    The host checks the fields against the task's signature; this only maps positions."""
    fields = output_fields
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
    door.submit(kwargs, plain)
    raise Submitted


_OWN = {"SUBMIT": SUBMIT, "SHOW_VARS": variables.SHOW_VARS, "Image": images.Image, "Audio": images.Audio}


def install_own():
    """Bind the sandbox's own builtins (`SUBMIT`, `SHOW_VARS`, `Image`, `Audio`)."""
    for name, fn in _OWN.items():
        setattr(builtins, name, fn)
        _installed[name] = fn


def install(functions, as_globals=()):
    """Install host functions (name -> doc), those in `as_globals` also as `__main__` globals."""
    for name, doc in functions.items():
        fn = _predict_function(doc) if name == "predict" else _host_function(name, doc)
        setattr(builtins, name, fn)
        _installed[name] = fn
        if name in as_globals:
            variables.MAIN[name] = fn
            variables.host_globals.add(name)


def reinstall(names, as_globals):
    """Put back the guest functions the host names that user code replaced or shadowed
    (`llm_query = ...`, `builtins.SUBMIT = ...`); the names put back."""
    main = variables.MAIN
    replaced = []
    for name in names:
        fn = _installed.get(name)
        if fn is None:
            own = {"SUBMIT": SUBMIT, "SHOW_VARS": variables.SHOW_VARS}.get(name)
            fn = own or (_predict_function("") if name == "predict" else _host_function(name, ""))
            _installed[name] = fn
        if builtins.__dict__.get(name) is not fn:
            setattr(builtins, name, fn)
            replaced.append(name)
        if name in as_globals:
            if main.get(name) is not fn:
                main[name] = fn
                replaced.append(name)
        elif name in main:
            del main[name]
            replaced.append(name)
    return sorted(set(replaced))
