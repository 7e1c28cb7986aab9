"""Files across a run: `File` inputs staged into the sandbox, `File` outputs copied out.

    rlm = RLM("doc: File, question -> report: File", lm=..., project=".")
    rlm(doc="~/papers/a.pdf", question="...").report   # a File (a Path) on the host

- Inputs typed `File`, `list[File]` or `Optional[File]` are host paths. Each file is staged
  (hard link, else copy) into a folder mounted read-only at `/inputs`, and the model sees
  `/inputs/<field>/<name>` in its variable.
- Outputs typed `File` are paths the model wrote under `/workspace`. They are copied out to a
  host folder (`files_dir`, else a fresh temporary folder) without following any link the
  guest made: every component is opened with `O_NOFOLLOW`, and only regular files are copied.
  A path outside /workspace, a link, or a missing file is a SUBMIT error the model can fix.
  The files of one SUBMIT may hold at most the sandbox's disk quota (`max_bytes`) together,
  counted by their size as copied (a sparse file counts in full); more is a SUBMIT error too.
- Only the top-level call takes File fields: a child run's inputs come from guest code, and a
  guest-given host path must never be staged.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tempfile
import typing
from pathlib import Path
from typing import Any

from rlm_tui.engine.file_type import File
from rlm_tui.engine.outputs import OutputError, output_types
from rlm_tui.sandbox.folders import make_private, remove_tree

INPUTS = "/inputs"
WORKSPACE = "/workspace"
_CHUNK = 1 << 20


def _kind(annotation: Any) -> str | None:
    """'one', 'list' or 'optional' for File, list[File], Optional[File]; else None."""
    if annotation is File:
        return "one"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (list, tuple) and args and args[0] is File:
        return "list"
    if args and File in args and all(a is File or a is type(None) for a in args):
        return "optional"
    if any(_mentions_file(a) for a in args):
        raise ValueError(f"File may appear as File, list[File] or Optional[File], not {annotation}")
    return None


def _mentions_file(annotation: Any) -> bool:
    return annotation is File or any(_mentions_file(a) for a in typing.get_args(annotation))


class RunFiles:
    """The File fields of one run's signature, with the folders they use."""

    def __init__(self, signature: Any, depth: int = 0, files_dir: Path | None = None) -> None:
        self.inputs = {n: k for n, i in signature.input_fields.items() if (k := _kind(i.annotation))}
        self.outputs = {n: k for n, t in output_types(signature).items() if (k := _kind(t))}
        if depth > 0 and (self.inputs or self.outputs):
            raise ValueError("File fields are for the top-level call only; pass paths as str to rlm_query")
        self.files_dir = files_dir
        self._staging: Path | None = None

    def mounts(self) -> dict[str, Path]:
        """Extra mounts for a sandbox the run makes itself: /inputs when it has File inputs."""
        if not self.inputs:
            return {}
        if self._staging is None:
            self._staging = make_private("inputs")
        return {INPUTS: self._staging}

    def note(self) -> str:
        """What the model is told about its File fields (empty when there are none)."""
        lines = []
        if self.inputs:
            lines.append(f"File inputs ({', '.join(self.inputs)}) are read-only files under {INPUTS}; "
                         "their variables hold the paths.")
        if self.outputs:
            lines.append(f"File outputs ({', '.join(self.outputs)}): write each file under {WORKSPACE}/ and "
                         "SUBMIT its absolute path, e.g. '/workspace/report.md'.")
        return "\n\n" + "\n".join(lines) if lines else ""

    # -- inputs ------------------------------------------------------------------------------

    def stage(self, inputs: dict[str, Any], sandbox: Any) -> dict[str, Any]:
        """Inputs with every File value staged into the sandbox's /inputs and replaced by
        its guest path."""
        if not self.inputs:
            return inputs
        folder = getattr(sandbox, "mounts", {}).get(INPUTS)
        if folder is None:
            raise ValueError(f"File inputs need a sandbox with a read-only {INPUTS} mount "
                             f"(Sandbox(..., mounts={{'{INPUTS}': folder}}))")
        staged = dict(inputs)
        for name, kind in self.inputs.items():
            value = inputs.get(name)
            if value is None and kind == "optional":
                continue
            if kind == "list":
                if isinstance(value, (str, os.PathLike)) or not isinstance(value, (list, tuple)):
                    raise TypeError(f"input {name!r} must be a list of file paths")
                staged[name] = [_stage_one(Path(folder), name, v) for v in value]
            else:
                staged[name] = _stage_one(Path(folder), name, value)
        return staged

    def cleanup(self) -> None:
        if self._staging is not None:
            folder, self._staging = self._staging, None
            remove_tree(folder)

    # -- outputs -----------------------------------------------------------------------------

    def export(self, outputs: dict[str, Any], workspace: Path, strict: bool = True, *,
               max_bytes: int) -> dict[str, Any]:
        """Outputs with every File (a guest path under /workspace) copied out to the host and
        replaced by the copy's path, `max_bytes` at most in all. OutputError (strict) or None
        (not strict) when one cannot be."""
        if not self.outputs:
            return outputs
        exported = dict(outputs)
        problems = []
        budget = [max_bytes]  # bytes the remaining copies may still take
        for name, kind in self.outputs.items():
            value = outputs.get(name)
            if value is None:
                continue
            try:
                if kind == "list":
                    exported[name] = [self._export_one(workspace, name, v, budget) for v in value]
                else:
                    exported[name] = self._export_one(workspace, name, value, budget)
            except (OSError, ValueError) as e:
                problems.append(f"field {name!r}: {e}")
                exported[name] = None
        if problems and strict:
            raise OutputError(f"SUBMIT rejected: {'; '.join(problems)}. Write files under {WORKSPACE}/ and "
                              "SUBMIT their absolute paths.")
        return exported

    def _export_one(self, workspace: Path, name: str, value: Any, budget: list[int]) -> File:
        parts = workspace_parts(os.fspath(value))
        if self.files_dir is None:
            self.files_dir = Path(tempfile.mkdtemp(prefix="rlm-outputs-"))
        target = _unique(self.files_dir / name, parts[-1])
        budget[0] -= copy_out(workspace, parts, target, budget[0])
        return File(target)


def workspace_parts(guest_path: str) -> list[str]:
    """The components of a guest path under /workspace (ValueError otherwise)."""
    if not guest_path.startswith("/"):
        raise ValueError(f"{guest_path!r} is not an absolute path under {WORKSPACE}/")
    normal = posixpath.normpath(guest_path)
    if not normal.startswith(WORKSPACE + "/") or normal.startswith("//"):
        raise ValueError(f"{guest_path!r} is not under {WORKSPACE}/")
    parts = normal[len(WORKSPACE) + 1:].split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"{guest_path!r} is not a plain path under {WORKSPACE}/")
    return parts


def open_regular(root: Path, parts: list[str]) -> int:
    """A read-only descriptor of the regular file `root/parts...`, following no link on the
    way (every component is opened with `O_NOFOLLOW`). ValueError says why it cannot be."""
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    directory = getattr(os, "O_DIRECTORY", 0)
    if not nofollow or os.open not in os.supports_dir_fd:
        raise OSError("this platform cannot open files without following links")
    fd = os.open(root, os.O_RDONLY | directory)
    try:
        for part in parts[:-1]:
            try:
                inner = os.open(part, os.O_RDONLY | directory | nofollow, dir_fd=fd)
            except OSError as e:
                raise ValueError(f"{part!r} is not a folder (links are not followed): {e.strerror}") from None
            os.close(fd)
            fd = inner
        try:
            source = os.open(parts[-1], os.O_RDONLY | nofollow | getattr(os, "O_NONBLOCK", 0), dir_fd=fd)
        except OSError as e:
            raise ValueError(f"cannot open {'/'.join(parts)!r} (links are not followed): {e.strerror}") from None
    finally:
        os.close(fd)
    if not stat.S_ISREG(os.fstat(source).st_mode):
        os.close(source)
        raise ValueError(f"{'/'.join(parts)!r} is not a regular file")
    return source


def copy_out(root: Path, parts: list[str], target: Path, max_bytes: int) -> int:
    """Copy the regular file `root/parts...` to `target`, following no link on the way; its
    size (ValueError if over `max_bytes`)."""
    source = open_regular(root, parts)
    try:
        st = os.fstat(source)
        if st.st_size > max_bytes:
            raise ValueError(f"{'/'.join(parts)!r} is {st.st_size:,} bytes (as copied: holes in a sparse file count), "
                             f"more than the {max_bytes:,} bytes left of the sandbox's disk quota for this SUBMIT's files")
        target.parent.mkdir(parents=True, exist_ok=True)
        copied = 0
        with open(target, "xb") as out:
            while copied < st.st_size and (chunk := os.read(source, min(_CHUNK, st.st_size - copied))):
                out.write(chunk)
                copied += len(chunk)
        return copied
    finally:
        os.close(source)


def _stage_one(folder: Path, field: str, value: Any) -> str:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"input {field!r} must be a file path, not {type(value).__name__}")
    source = Path(value).expanduser()
    if not source.is_file():
        raise ValueError(f"input {field!r}: {str(source)!r} is not a file")
    target = _unique(folder / field, source.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source.resolve(), target)
    except OSError:
        shutil.copyfile(source, target)
    return f"{INPUTS}/{field}/{target.name}"


def _unique(folder: Path, name: str) -> Path:
    """`folder/name`, or `folder/stem-2.ext`... when taken."""
    candidate = folder / name
    stem, suffix = os.path.splitext(name)
    n = 2
    while os.path.lexists(candidate):
        candidate = folder / f"{stem}-{n}{suffix}"
        n += 1
    return candidate
