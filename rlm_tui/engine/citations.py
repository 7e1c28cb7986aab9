"""Source citations in answers: `path:line`, `path:start-end`, `path#L10-L20`, `path (lines 3-5)`.

`extract_citations(text, project)` finds them and keeps only those that point at a file inside
the project (and at lines the file has), so a UI can turn each into a link that opens the file at
that line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_PATH_CHAR = r"[\w.\-@+~]"
_PATH = rf"(?:/project/|\./)?{_PATH_CHAR}+(?:/{_PATH_CHAR}+)*"
_DASH = r"\s*[-\u2013\u2014]\s*"
CITATION = re.compile(
    rf"(?<![\w./\-@+~])(?P<path>/?{_PATH})"
    rf"(?:"
    rf":L?(?P<start>\d+)(?:{_DASH}L?(?P<end>\d+)\b)?"  # path:12, path:12-20, path:L12
    rf"|#L(?P<hstart>\d+)(?:{_DASH}L?(?P<hend>\d+))?"  # path#L12-L20
    rf"|,?\s*\(?\s*lines?\s+(?P<wstart>\d+)(?:(?:{_DASH}|\s+to\s+)(?P<wend>\d+))?"  # path (lines 12-20)
    rf")",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Citation:
    """Lines `start`..`end` (1-based, inclusive; equal for one line) of `path`, a POSIX path
    relative to the project root."""

    path: str
    start: int
    end: int

    def __str__(self) -> str:
        return f"{self.path}:{self.start}" if self.end == self.start else f"{self.path}:{self.start}-{self.end}"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "start": self.start, "end": self.end, "text": str(self)}


def extract_citations(text: str, project: str | os.PathLike[str]) -> list[Citation]:
    """The citations in `text` that point into `project`, in order of appearance, without
    duplicates. Paths may be project-relative, `./`-relative, `/project/...` (the sandbox's view)
    or absolute host paths inside the project. A citation whose file does not exist, lies outside
    the project, or starts past the file's end is dropped; an end past the file's end is clamped."""
    root = Path(project).resolve()
    seen: set[Citation] = set()
    found: list[Citation] = []
    line_counts: dict[str, int | None] = {}
    for match in CITATION.finditer(text or ""):
        start = int(match.group("start") or match.group("hstart") or match.group("wstart"))
        end_text = match.group("end") or match.group("hend") or match.group("wend")
        end = int(end_text) if end_text else start
        rel = _relative(match.group("path"), root)
        if rel is None or start < 1:
            continue
        if rel not in line_counts:
            line_counts[rel] = _line_count(root / rel)
        count = line_counts[rel]
        if count is None or start > count:
            continue
        end = min(max(end, start), count)
        citation = Citation(rel, start, end)
        if citation not in seen:
            seen.add(citation)
            found.append(citation)
    return found


def _relative(path: str, root: Path) -> str | None:
    """The project-relative POSIX path of an existing file inside `root`, or None."""
    if path.startswith("/project/"):
        path = path[len("/project/"):]
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = root / candidate
    try:
        resolved = candidate.resolve()
        rel = resolved.relative_to(root)
    except (OSError, ValueError):
        return None
    if not resolved.is_file():
        return None
    return rel.as_posix()


def _line_count(path: Path) -> int | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
