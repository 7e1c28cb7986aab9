"""The guest's cell runner (module `_rlm`); it runs *inside* the WASM CPython.

The host boots the guest modules once per instance (rlm_tui/sandbox/boot.py): `_rlm_door`
(the door to the host), `_rlm_variables` (variable rows, `SHOW_VARS`), `_rlm_loop` (async
cells), `_rlm_images` (`Image`), `_rlm_functions` (host functions, `predict`, `SUBMIT`), this
module, and, loaded on first use, `_rlm_typed` (typed `predict`) and `_rlm_state`
(checkpoints, restores, inputs). Every cell then goes through `run_cell(source)`: it runs
the code in `__main__` (trailing expression echoed, top-level `await` allowed), posts back
the error and a snapshot of the user's variables (door op `result`), and checkpoints what
changed.

Host functions block until the host answers, except when called from async code: there they
return an awaitable, and the calls run in parallel on the host. The rule for users: in a
cell that uses `await`, await the sub-call functions.
"""

import ast
import linecache
import os
import sys

import _rlm_door as door
import _rlm_functions as functions
import _rlm_loop as loop
import _rlm_state as state
import _rlm_variables as variables

keep_limit = 16 << 20  # the largest variable a checkpoint keeps (the host sets it, and checks it too)
_cells = 0
_LAST = "__rlm_last__"
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def setup(host_functions, output_fields=None, as_globals=(), limit=None):
    """Install host functions (some also as __main__ globals), SUBMIT's fields and the checkpoint limit."""
    global keep_limit
    if output_fields is not None:
        functions.output_fields[:] = list(output_fields)
    if limit is not None:
        keep_limit = int(limit)
    functions.install(host_functions, as_globals)


def _sleep(seconds):
    """time.sleep that the host can cut short (cancel, or the cell's time limit)."""
    seconds = float(seconds)
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    if seconds != seconds:
        raise ValueError("Invalid value NaN (not a number)")
    door.sleep(min(seconds, 1e9))


def _execute(source, filename):
    """Run a cell as one unit (so an `await` anywhere makes all of it async code), its
    trailing expression kept aside to be echoed."""
    main = variables.MAIN
    tree = ast.parse(source, filename, "exec")
    last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    if last is not None:
        keep = ast.Assign(targets=[ast.Name(_LAST, ast.Store())], value=last.value)
        tree.body[-1] = ast.fix_missing_locations(ast.copy_location(keep, last))
    main.pop(_LAST, None)
    if any(isinstance(node, _DEFINITIONS) for node in tree.body):
        state.note_definitions(tree, source, filename)
    try:
        loop.run(compile(tree, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT))
        value = main.get(_LAST)
    finally:
        main.pop(_LAST, None)
    if value is not None:
        main["_"] = value
        print(repr(value))


def _format_error(exc):
    import traceback  # ~50 ms to import here: only when a cell fails

    frames = traceback.extract_tb(exc.__traceback__)
    keep = [i for i, f in enumerate(frames) if f.filename.startswith("<cell")]
    tb = exc.__traceback__
    for _ in range(keep[0] if keep else len(frames)):
        tb = tb.tb_next
    lines = traceback.format_exception(type(exc), exc, tb)
    return "".join(lines).rstrip("\n")


def _error_text(exc):
    try:
        return _format_error(exc)
    except BaseException:  # an exception whose own __str__ or traceback breaks
        return f"{variables.type_name(type(exc))}: <the error could not be shown>"


def run_cell(source, protect=(), as_globals=()):
    """Run one cell of the host's and post its result back, then checkpoint what changed.

    `protect` names the guest functions the host installed (`as_globals` those also bound in
    `__main__`): whatever the cell did to them, they are put back before and after it."""
    global _cells
    _cells += 1
    functions.reinstall(protect, as_globals)
    filename = f"<cell {_cells}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    error = None
    submitted = False
    try:
        _execute(source, filename)
    except functions.Submitted:
        submitted = True
    except BaseException as exc:  # SystemExit and KeyboardInterrupt end the cell, not the session
        error = (variables.type_name(type(exc)), _error_text(exc))
    finally:
        loop.drop_calls(error is None)
        replaced = functions.reinstall(protect, as_globals)
        if replaced:
            one = len(replaced) == 1
            print(f"note: {', '.join(replaced)} {'is a sandbox function' if one else 'are sandbox functions'} "
                  f"and {'was' if one else 'were'} put back; give your own values other names.", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
    rows = variables.snapshot()
    door.result(error, rows)
    if submitted:  # the run ends here: nothing to keep
        return
    try:
        state.checkpoint(rows)
    except BaseException as exc:
        print(f"note: the variables could not be checkpointed ({variables.type_name(type(exc))}); "
              "a restart may lose this cell's changes.", file=sys.stderr)


def _boot():
    sys.stdout.reconfigure(line_buffering=True, errors="backslashreplace")
    sys.stderr.reconfigure(line_buffering=True, errors="backslashreplace")
    functions.install_own()
    import time

    time.sleep = _sleep
    for path in ("/skills",):
        if os.path.isdir(path) and path not in sys.path:
            sys.path.append(path)
    if os.path.isdir("/project"):
        os.chdir("/project")


_boot()
