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

import inspect
import json
import keyword
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dspy.primitives.code_interpreter import CodeExecutionError, CodeInterpreterError, FinalOutput
from dspy.primitives.python_interpreter import _await_in_sync, _make_jsonable

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
    ) -> None:
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

    def execute(self, code: str, variables: dict[str, Any] | None = None) -> Any:
        self.start()
        sandbox = self.sandbox
        assert sandbox is not None
        try:
            self._sync(sandbox)
            if variables:
                self._inject(sandbox, variables)
            result = sandbox.run(code)
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
        return result.stdout + (f"\n[stderr]\n{result.stderr}" if result.stderr else "")

    def _restarted(self, message: str) -> None:
        """Say that the instance was restarted: the end of the session, or (surviving) an error
        the model sees."""
        if not self.survive_restarts:
            self.shutdown()
            raise CodeInterpreterError(message)
        raise CodeExecutionError(message)

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

    def _sync(self, sandbox: Sandbox) -> None:
        """Bind tools added since the last call, and send changed output fields."""
        new = {name: self._tool_proxy(name) for name in self.tools if name not in self._bound}
        if new:
            sandbox.add_host_functions(new, as_globals=True)
            self._bound.update(new)
        fields = [str(f["name"] if isinstance(f, dict) else f) for f in (self.output_fields or [])]
        if fields != self._fields_sent:
            sandbox.set_output_fields(fields)
            self._fields_sent = fields

    def _tool_proxy(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            tool = self.tools.get(name)
            if tool is None:
                raise CodeInterpreterError(f"Unknown tool: {name}")
            if args:
                kwargs = _bind_positional(tool, args, kwargs)
                args = ()
            result = tool(*args, **kwargs)
            if inspect.isawaitable(result):
                result = _await_in_sync(result)
            return _make_jsonable(result)

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
    for param, value in zip(named, args, strict=False):  # fewer args than parameters is fine
        if param.name in bound:
            raise TypeError(f"{getattr(tool, '__name__', 'tool')}() got multiple values for argument {param.name!r}")
        bound[param.name] = value
    return bound


def _variable_json(value: Any) -> bytes:
    return json.dumps(_make_jsonable(value), default=_set_to_list).encode()


def _set_to_list(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} cannot be sent into the sandbox")
