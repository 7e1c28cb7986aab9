"""The sandbox's temporary folders: deep trees are removed, links are not followed, closing
never raises for cleanup, and folders left by dead processes are swept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sandbox_helpers import fingerprint

from rlm_tui.sandbox import Sandbox
from rlm_tui.sandbox.folders import make_private, owner_pid, remove_tree, sweep_stale

DEPTH = 2046


def _deep_tree(root: Path, depth: int) -> None:
    fd = os.open(root, os.O_RDONLY)
    try:
        for _ in range(depth):  # deeper than PATH_MAX allows as a path: descend by descriptor
            os.mkdir("d", dir_fd=fd)
            with open(os.open("f.txt", os.O_WRONLY | os.O_CREAT, dir_fd=fd), "w") as f:
                f.write("x")
            inner = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
    finally:
        os.close(fd)


def test_a_deep_tree_with_links_out_is_removed_without_following_them(tmp_path: Path, outside: Path) -> None:
    before = fingerprint(outside)
    root = tmp_path / "deep"
    root.mkdir()
    _deep_tree(root, DEPTH)
    (root / "up").symlink_to("../../..")
    (root / "out").symlink_to(outside)
    (root / "file-link").symlink_to(outside / "secret.txt")
    (root / "locked").mkdir()
    (root / "locked" / "inner.txt").write_text("x")
    (root / "locked").chmod(0o500)
    remove_tree(root)
    assert not os.path.lexists(root)
    assert fingerprint(outside) == before
    remove_tree(root)  # already gone: nothing to do


def test_a_sandbox_with_a_deep_workspace_tree_closes_and_removes_its_folders(project: Path) -> None:
    sandbox = Sandbox(project, timeout_s=30)
    made = sandbox.run(f"import os\nos.chdir('/workspace')\nfor _ in range({DEPTH}):\n    os.mkdir('d')\n    os.chdir('d')\n"
                       "os.chdir('/tmp')\nfor _ in range(50):\n    os.mkdir('t')\n    os.chdir('t')\nos.chdir('/project')")
    assert made.ok, made.error
    workspace, scratch = sandbox.workspace, sandbox._scratch
    sandbox.close()  # used to raise RecursionError and leave both folders behind
    assert not workspace.exists() and not scratch.exists()


def test_private_folders_carry_the_owner_pid(project: Path) -> None:
    with Sandbox(project) as sandbox:
        assert owner_pid(sandbox.workspace.name) == os.getpid()
        assert owner_pid(sandbox._scratch.name) == os.getpid()


def test_folders_of_dead_processes_are_swept_and_others_kept(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f"rlm-tmp-{dead_pid}-abc"
    stale.mkdir()
    _deep_tree(stale, 30)
    stale_ws = tmp_path / f"rlm-workspace-{dead_pid}-def"
    stale_ws.mkdir()
    (stale_ws / "up").symlink_to("../..")
    mine = tmp_path / f"rlm-tmp-{os.getpid()}-ghi"
    mine.mkdir()
    alive = tmp_path / f"rlm-inputs-{os.getppid()}-jkl"
    alive.mkdir()
    outputs = tmp_path / f"rlm-outputs-{dead_pid}-mno"  # results handed to a caller: never swept
    outputs.mkdir()
    unmarked = tmp_path / "rlm-tmp-xyz"
    unmarked.mkdir()
    removed = sweep_stale(tmp_path)
    assert sorted(removed) == sorted([stale, stale_ws])
    assert not stale.exists() and not stale_ws.exists()
    assert mine.exists() and alive.exists() and outputs.exists() and unmarked.exists()


def test_make_private_names_its_kind(tmp_path: Path) -> None:
    folder = make_private("inputs")
    try:
        assert folder.name.startswith(f"rlm-inputs-{os.getpid()}-")
    finally:
        remove_tree(folder)
