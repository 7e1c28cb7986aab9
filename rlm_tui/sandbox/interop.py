"""`WasmInterpreter`: our sandbox behind DSPy's `CodeInterpreter` protocol, so that
`dspy.RLM(signature, interpreter_factory=WasmInterpreter.factory(project=...))` runs its REPL
on CPython-on-WASI instead of Pyodide under Deno.

Mapping of the protocol:
- `tools` is a plain dict that DSPy updates before and between `execute` calls; each tool is
  bound in the guest as a global (DSPy's sandbox shim looks tools up in `globals()`) and as a
  builtin, and calls the current entry of the dict. Positional arguments are bound to the
  tool's parameter names (DSPy wraps tools as keyword-only functions).
- `output_fields` (a list of `{"name", "type"?}` dicts) orders `SUBMIT`'s values; a cell that
  calls `SUBMIT(...)` returns `FinalOutput(dict)`.
- `execute` returns the cell's trailing expression's value when it is not None and JSON can
  carry it (as `PythonInterpreter` does; printed output is then not returned), else the
  printed output (a value JSON cannot carry is echoed there as its `repr`).
- A tool result that JSON cannot carry reaches the guest as its `str()`; a tool's exception
  reaches the guest as `RuntimeError("Type: message")`, as DSPy's sandbox raises it.
- DSPy callbacks (`callbacks=` and `dspy.settings.callbacks`) see `start`, `execute`,
  `invoke_tool` and `shutdown` (DSPy's `with_callbacks`).
- A guest exception raises `CodeExecutionError` (the traceback, with any output printed
  before it), a syntax error raises `SyntaxError`; both leave the session usable.
- `variables` (DSPy passes them on every call) cross over the sandbox's door as JSON, never
  inside source code, so inputs of any size the memory cap allows get in; one sent before is
  sent again only when the guest no longer holds it unchanged.
- A trap that kills the instance (time limit, stack overflow, hard cancel), in a cell or
  while loading variables, ends the session with `CodeInterpreterError`, as the protocol
  asks, unless `survive_restarts=True`, which reports it as a `CodeExecutionError` (saying
  which variables were restored and which lost) and carries on in the fresh instance. A
  restart is never silent.
"""

from __future__ import annotations

import ast
import inspect
import json
import keyword
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dspy.primitives.code_interpreter import CodeExecutionError, CodeInterpreterError, FinalOutput
from dspy.primitives.python_interpreter import _await_in_sync, _make_jsonable
from dspy.utils.callback import BaseCallback, with_callbacks

from rlm_tui.sandbox.folders import make_private, remove_tree
from rlm_tui.sandbox.results import SandboxError, SandboxRestarted
from rlm_tui.sandbox.sandbox import Sandbox

EXECUTION_INSTRUCTIONS = (
    "Python 3.15 (CPython compiled to WebAssembly/WASI) runs in a sandbox. State persists across executions. "
    "numpy, pandas, scipy, scikit-learn, networkx, sympy, pyyaml, lxml, beautifulsoup4, pypdf, openpyxl and the "
    "standard library are available; subprocesses, threads, sockets and the network are not. "
    "Files to explore are read-only under /project; /workspace is writable. The last expression of a cell is echoed."
)


class WasmInterpreter:
    """DSPy `CodeInterpreter` on an rlm-tui `Sandbox` (created lazily by `start`)."""

    execution_instructions = EXECUTION_INSTRUCTIONS

    def __init__(
        self,
        project: str | Path | None = None,
        tools: dict[str, Callable[..., Any]] | None = None,
        output_fields: list[dict] | None = None,
        *,
        workspace: str | Path | None = None,
        skills: str | Path | None = None,
        timeout_s: float = 120.0,
        memory_mb: int = 1024,
        output_limit: int = 100_000,
        survive_restarts: bool = False,
        callbacks: list[BaseCallback] | None = None,
    ) -> None:
        self.callbacks = list(callbacks or [])  # DSPy's `with_callbacks` reads them here
        self.tools: dict[str, Callable[..., Any]] = dict(tools or {})
        self.output_fields = output_fields
        self.project = project
        self.workspace = workspace
        self.skills = skills
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.output_limit = output_limit
        self.survive_restarts = survive_restarts
        self.sandbox: Sandbox | None = None
        self._empty_project: Path | None = None
        self._bound: set[str] = set()
        self._fields_sent: list[str] | None = None
        self._ended = False

    @classmethod
    def factory(cls, **kwargs: Any) -> Callable[[], WasmInterpreter]:
        """A zero-argument factory for `dspy.RLM(interpreter_factory=...)` that also carries
        `execution_instructions` (RLM reads them off the factory for its prompt)."""

        def make() -> WasmInterpreter:
            return cls(**kwargs)

        make.execution_instructions = cls.execution_instructions  # type: ignore[attr-defined]
        return make

    # -- protocol ------------------------------------------------------------------------

    @with_callbacks
    def start(self) -> None:
        if self._ended:
            raise CodeInterpreterError("this WasmInterpreter session has ended; create a new interpreter")
        if self.sandbox is not None:
            return
        project = self.project
        if project is None:
            self._empty_project = make_private("dspy-project")
            project = self._empty_project
        try:
            self.sandbox = Sandbox(
                project, workspace=self.workspace, skills=self.skills, timeout_s=self.timeout_s,
                memory_mb=self.memory_mb, output_limit=self.output_limit,
            )
        except (SandboxError, OSError, RuntimeError) as e:
            self._cleanup()
            raise CodeInterpreterError(f"could not start the WASM sandbox: {e}") from e

    @with_callbacks
    def execute(self, code: str, variables: dict[str, Any] | None = None) -> Any:
        self.start()
        sandbox = self.sandbox
        assert sandbox is not None
        self._value = _NO_VALUE
        try:
            self._sync(sandbox)
            if variables:
                self._inject(sandbox, variables)
            result = sandbox.run(_report_trailing_value(code))
        except SandboxRestarted as e:
            self._restarted(str(e))
        except SandboxError as e:
            raise CodeInterpreterError(str(e)) from e
        if result.restarted:
            self._restarted(result.error or "the sandbox was restarted")
        if result.submitted is not None:
            return FinalOutput(result.submitted)
        if result.error is not None:
            if result.error_type == "SyntaxError":
                raise SyntaxError(f"Invalid Python syntax. message: {result.error}")
            printed = f"\n(output before the error:)\n{result.stdout}" if result.stdout else ""
            raise CodeExecutionError(f"{result.error_type}: {result.error}{printed}")
        if self._value is not _NO_VALUE:
            return self._value
        return result.stdout + (f"\n[stderr]\n{result.stderr}" if result.stderr else "")

    def _restarted(self, message: str) -> None:
        """Say that the instance was restarted: the end of the session, or (surviving) an error
        the model sees."""
        if not self.survive_restarts:
            self.shutdown()
            raise CodeInterpreterError(message)
        raise CodeExecutionError(message)

    @with_callbacks
    def shutdown(self) -> None:
        self._ended = True
        if self.sandbox is not None:
            self.sandbox.close()
            self.sandbox = None
        self._cleanup()

    def __enter__(self) -> WasmInterpreter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def __call__(self, code: str, variables: dict[str, Any] | None = None) -> Any:
        return self.execute(code, variables)

    # -- helpers -------------------------------------------------------------------------

    def _cleanup(self) -> None:
        if self._empty_project is not None:
            folder, self._empty_project = self._empty_project, None
            remove_tree(folder)

    @with_callbacks
    def invoke_tool(self, tool_name: str, kwargs: dict[str, Any]) -> Any:
        """Call tool `tool_name` for guest code (DSPy's name for it, seen by its callbacks)."""
        tool = self.tools.get(tool_name)
        if tool is None:
            raise CodeInterpreterError(f"Unknown tool: {tool_name}")
        result = tool(**kwargs)
        return _await_in_sync(result) if inspect.isawaitable(result) else result

    def _sync(self, sandbox: Sandbox) -> None:
        """Bind tools added since the last call, and send changed output fields."""
        if _VALUE_FUNCTION not in self._bound:
            sandbox.add_host_functions({_VALUE_FUNCTION: self._keep_value})
            self._bound.add(_VALUE_FUNCTION)
        new = {name: self._tool_proxy(name) for name in self.tools if name not in self._bound}
        if new:
            sandbox.add_host_functions(new, as_globals=True)
            self._bound.update(new)
        fields = [str(f["name"] if isinstance(f, dict) else f) for f in (self.output_fields or [])]
        if fields != self._fields_sent:
            sandbox.set_output_fields(fields)
            self._fields_sent = fields

    def _keep_value(self, value: Any) -> None:
        self._value = value

    def _tool_proxy(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if args:  # a wrong call is the guest's TypeError, as with DSPy's typed tool wrappers
                kwargs = _bind_positional(self.tools.get(name, _no_tool), args, kwargs)
            try:
                result = _make_jsonable(self.invoke_tool(name, kwargs))
            except Exception as e:  # guest code written for dspy.RLM catches RuntimeError
                raise RuntimeError(f"{type(e).__name__}: {e}") from e
            try:
                json.dumps(result, allow_nan=False)
            except (TypeError, ValueError):
                return str(result)
            return result

        call.__name__ = name
        call.__doc__ = getattr(self.tools.get(name), "__doc__", None)
        return call

    def _inject(self, sandbox: Sandbox, variables: dict[str, Any]) -> None:
        for name in variables:
            if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
                raise CodeInterpreterError(f"Invalid variable name: {name!r}")
        try:
            sandbox.set_variables(variables, _variable_json)
        except (TypeError, ValueError) as e:
            raise CodeInterpreterError(f"Unsupported variable value: {e}") from e
        except SandboxRestarted:
            raise
        except SandboxError as e:
            raise CodeInterpreterError(f"could not inject variables: {e}") from e


_NO_VALUE: Any = object()
_VALUE_FUNCTION = "__rlm_dspy_value__"  # takes the trailing expression's value to the host
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def _report_trailing_value(code: str) -> str:
    """`code` with its trailing expression kept and handed to the host after the cell, the
    lines before it unchanged (tracebacks keep their line numbers); unparsable code as given
    (the sandbox reports its syntax error)."""
    code = code.replace("\r\n", "\n").replace("\r", "\n")
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    last = tree.body[-1] if tree.body else None
    if not isinstance(last, ast.Expr):
        return code
    lines = code.split("\n")
    before = lines[last.lineno - 1].encode()[: last.col_offset].decode()  # `a = 1; a + 1` (offsets in bytes)
    expr = ast.get_source_segment(code, last.value, padded=False)
    wait = "await " if _is_async(tree) else ""  # host functions return awaitables in async cells
    return "\n".join([  # `_`, as a REPL binds the last value (and as a traceback then shows it)
        *lines[: last.lineno - 1], f"{before}_ = ({expr})",
        "if _ is not None:",
        "    try:", f"        {wait}{_VALUE_FUNCTION}(_)",
        "    except TypeError:", "        print(repr(_))",
    ])


def _is_async(tree: ast.Module) -> bool:
    """Does the cell itself await (top level, outside functions and classes)?"""
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Await, ast.AsyncFor, ast.AsyncWith)):
            return True
        if isinstance(node, ast.comprehension) and node.is_async:
            return True
        if not isinstance(node, _SCOPES):
            pending.extend(ast.iter_child_nodes(node))
    return False


def _no_tool(**kwargs: Any) -> None:
    """Stands in for a tool that is gone, so `invoke_tool` reports it by name."""


def _bind_positional(tool: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Turn positional arguments into keywords by the tool's signature (DSPy's tool wrappers
    take keywords only, while sandbox code calls `llm_query('...')`)."""
    try:
        params = list(inspect.signature(tool).parameters.values())
    except (TypeError, ValueError):
        raise TypeError(f"{getattr(tool, '__name__', 'tool')}() takes keyword arguments only") from None
    named = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if len(args) > len(named):
        raise TypeError(f"{getattr(tool, '__name__', 'tool')}() takes {len(named)} arguments but {len(args)} were given")
    bound = dict(kwargs)
    for param, value in zip(named, args):
        if param.name in bound:
            raise TypeError(f"{getattr(tool, '__name__', 'tool')}() got multiple values for argument {param.name!r}")
        bound[param.name] = value
    return bound


def _variable_json(value: Any) -> bytes:
    return json.dumps(_make_jsonable(_sets_as_lists(value)), default=_set_to_list).encode()


def _sets_as_lists(value: Any) -> Any:
    """Sets (at any depth in dicts, lists and tuples) as lists, sorted where their items sort,
    as DSPy's `PythonInterpreter` sends them, so their order is the same on every run."""
    if isinstance(value, (set, frozenset)):
        items = [_sets_as_lists(v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if type(value) is dict:
        return {k: _sets_as_lists(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(_sets_as_lists(v) for v in value)
    return value


def _set_to_list(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} cannot be sent into the sandbox")
