"""Project folders for tests to mount: a few files under `tmp_path/proj`."""

from __future__ import annotations

from pathlib import Path


def write_project(tmp_path: Path, files: dict[str, str | bytes] | None = None) -> Path:
    """A project folder `tmp_path/proj` holding `files` (relative path -> text or bytes)."""
    root = tmp_path / "proj"
    root.mkdir()
    for name, content in (files or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root
