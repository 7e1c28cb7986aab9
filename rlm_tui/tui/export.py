"""Where `/export` writes a conversation: `<data dir>/exports/` by default, or a path the user
names (relative to the current directory). Never inside the mounted project (the model would
read the export on its next turn) and never over an existing file (`name-1.md`, `name-2.md`...)."""

from __future__ import annotations

from pathlib import Path

from rlm_tui.paths import data_dir

MAX_SUFFIX = 999


class ExportRefused(ValueError):
    """The named path cannot take the export; the message says why and where to put it."""


def default_export_dir() -> Path:
    return data_dir() / "exports"


def export_target(arg: str, project: Path, session_id: str, cwd: Path | None = None) -> Path:
    """The file `/export [arg]` writes to (before any numeric suffix): a folder named by `arg`
    gets `rlm-tui-<session>.md` inside it. `ExportRefused` for a path inside `project`."""
    name = f"rlm-tui-{session_id}.md"
    if not arg:
        return default_export_dir() / name
    path = Path(arg).expanduser()
    if not path.is_absolute():
        path = (cwd or Path.cwd()) / path
    if arg.endswith(("/", "\\")) or path.is_dir():
        path = path / name
    path = path.resolve()  # links and `..` too: the check is on the file really written
    project = project.resolve()
    if path.is_relative_to(project):
        raise ExportRefused(f"Not exported: {path} is inside the project {project}, which the model "
                            f"reads. Name a path outside it (e.g. /export ~/{name}), or give none to "
                            f"write to {default_export_dir()}.")
    return path


def write_new(path: Path, text: str) -> Path:
    """Write `text` to `path`, or to `path-1`, `path-2`... when it exists (checked and created in
    one step, so nothing is ever overwritten); the path written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for n in range(MAX_SUFFIX + 1):
        candidate = path if n == 0 else path.with_name(f"{path.stem}-{n}{path.suffix}")
        try:
            with candidate.open("x", encoding="utf-8") as file:
                file.write(text)
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"{path} and its numbered copies up to -{MAX_SUFFIX} all exist")
