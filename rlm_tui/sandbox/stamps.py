"""Change detection for the big files in the cache (the image, the compiled module), cheap
enough for every start.

Hashing them costs ~0.35 s (image) and ~0.8 s (compiled module) on this hardware; a `stat`
costs microseconds. So a file's sha256 is checked once and recorded with its identity: device,
inode, size, mtime and ctime (in ns). Any write, rename over, copy or `touch` changes the
ctime, which a process without root cannot set back, so a start that finds the same identity
knows the bytes are the ones that were hashed. A changed identity means hashing again: the
same sha256 is recorded anew (a backup restore, a hard link made), another one is refused.
Not detected: a change made by root that also resets the clock, or a filesystem that does not
keep ctime; the image is re-hashed against its pinned sha256 once a day for those.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from rlm_tui.download import sha256_file


def identity(path: Path) -> list[int]:
    """What changes whenever the file's bytes can have changed."""
    st = os.stat(path)
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def write_json(path: Path, data: dict[str, Any]) -> bool:
    """Replace `path` atomically (a unique temporary name; a hard-linked original stays as it
    was); False when the folder is not writable."""
    staged = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        staged.write_text(json.dumps(data))
        os.replace(staged, path)
        return True
    except OSError:
        return False
    finally:
        staged.unlink(missing_ok=True)


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256.json")


def record(path: Path, digest: str) -> None:
    """Remember that `path` has sha256 `digest` now (in `<file>.sha256.json`)."""
    write_json(sidecar(path), {"sha256": digest, "identity": identity(path)})


def still_recorded(path: Path) -> bool:
    """True when `path` is provably the file recorded in its sidecar: the same identity, or
    else the same sha256 (then the new identity is recorded). A file without a sidecar (made
    by an older version) is adopted as it is and recorded."""
    note = read_json(sidecar(path))
    current = identity(path)
    if note.get("identity") == current:
        return True
    digest = sha256_file(path)
    if note and note.get("sha256") != digest:
        return False
    if identity(path) == current:
        write_json(sidecar(path), {"sha256": digest, "identity": current})
    return True
