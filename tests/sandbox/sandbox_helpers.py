"""Helpers shared by the sandbox tests (imported by name: the test folders have no __init__.py)."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
from pathlib import Path

SECRET = "s3cr3t-outside-the-project"


def fingerprint(*roots: Path) -> str:
    """Hash of every name, type, mode, mtime, link target and content under `roots`, never
    following links."""
    digest = hashlib.sha256()
    for root in roots:
        entries = [root]
        for folder, dirs, files in os.walk(root, followlinks=False):
            entries += [Path(folder) / name for name in sorted(dirs + files)]
        for path in entries:
            st = path.lstat()
            digest.update(f"{path}|{stat.S_IFMT(st.st_mode)}|{st.st_mode:o}|{st.st_mtime_ns}|{st.st_size}\n".encode())
            if path.is_symlink():
                digest.update(os.readlink(path).encode())
            elif stat.S_ISREG(st.st_mode):
                digest.update(path.read_bytes())
    return digest.hexdigest()


def make_project(base: Path) -> tuple[Path, Path]:
    """A project folder and, beside it, an `outside` folder holding a secret."""
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    project = base / "project"
    (project / "sub" / "deeper").mkdir(parents=True)
    (project / "empty").mkdir()
    (project / "a.txt").write_text("hello\nworld\n")
    (project / "data.bin").write_bytes(bytes(range(256)) * 4)
    (project / "sub" / "c.txt").write_text("c")
    (project / "sub" / "deeper" / "d.txt").write_text("d")
    (project / "ünï.txt").write_text("ünïcode ✓")
    (project / "link_abs").symlink_to(outside / "secret.txt")
    (project / "link_rel").symlink_to(Path("..") / "outside" / "secret.txt")
    (project / "link_dir").symlink_to(outside)
    (project / "link_root").symlink_to("/")
    (project / "link_inside").symlink_to("a.txt")
    os.mkfifo(project / "pipe")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(project / "sock"))
    sock.close()
    return project, outside
