"""A file name that is not UTF-8 no longer hides its whole folder: os.listdir, os.scandir,
os.walk and the codebase index see the other entries, and the guest is told which names were
left out (once per folder, on stderr)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rlm_tui.sandbox import Sandbox

SKILL = Path(__file__).resolve().parents[2] / "skills" / "codebase"
BAD = b"bad\xff.txt"
MANY = 600  # enough names that a listing takes several fd_readdir calls


@pytest.fixture(scope="module")
def odd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("odd")
    folder = project / "odd"
    (folder / "sub").mkdir(parents=True)
    (folder / "good1.txt").write_text("one")
    (folder / "good2.py").write_text("def two():\n    return 2\n")
    (folder / "sub" / "deep.txt").write_text("deep")
    with open(os.path.join(os.fsencode(folder), BAD), "wb") as f:
        f.write(b"hidden")
    big = project / "big"
    big.mkdir()
    for i in range(MANY):
        (big / f"file-with-a-longish-name-{i:04}.txt").write_text(str(i))
    with open(os.path.join(os.fsencode(big), b"\xfe\xfe.bin"), "wb") as f:
        f.write(b"x")
    (project / "top.txt").write_text("top")
    return project


def test_listdir_scandir_and_walk_see_the_good_names(odd: Path) -> None:
    with Sandbox(odd, timeout_s=20) as sandbox:
        result = sandbox.run("import os\nsorted(os.listdir('/project/odd'))")
        assert result.ok, result.error
        assert result.stdout == "['good1.txt', 'good2.py', 'sub']\n"
        assert "/project/odd" in result.stderr and repr(BAD) in result.stderr
        result = sandbox.run("sorted((e.name, e.is_dir(), e.is_file()) for e in os.scandir('/project/odd'))")
        assert result.stdout == "[('good1.txt', False, True), ('good2.py', False, True), ('sub', True, False)]\n"
        assert result.stderr == ""  # told once per folder
        result = sandbox.run("sorted(os.path.join(r, f) for r, d, fs in os.walk('/project') for f in fs if 'longish' not in f)")
        assert result.stdout == repr(sorted(["/project/top.txt", "/project/odd/good1.txt", "/project/odd/good2.py",
                                             "/project/odd/sub/deep.txt"])) + "\n"
        assert "/project/big" in result.stderr and repr(b"\xfe\xfe.bin") in result.stderr
        assert "/project/odd" not in result.stderr
        result = sandbox.run("names = os.listdir('/project/big')\nlen(names), len(set(names))")
        assert result.stdout == f"({MANY}, {MANY})\n", result.stdout + result.stderr
        assert sandbox.run("open('/project/odd/good1.txt').read()").stdout == "'one'\n"


def test_writable_folders_too(odd: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "ok.txt").write_text("ok")
    with open(os.path.join(os.fsencode(workspace), BAD), "wb") as f:
        f.write(b"x")
    with Sandbox(odd, workspace=workspace, timeout_s=20) as sandbox:
        result = sandbox.run("import os\nopen('/workspace/new.txt', 'w').close()\nsorted(os.listdir('/workspace'))")
        assert result.stdout == "['new.txt', 'ok.txt']\n", result.stdout + (result.error or "")
        assert "/workspace" in result.stderr


def test_the_codebase_index_sees_the_folder(odd: Path) -> None:
    with Sandbox(odd, skills=SKILL, timeout_s=60) as sandbox:
        result = sandbox.run("import json\nfrom codebase import *\nindex()\nprint(json.dumps(files('odd/*')))")
        assert result.ok, result.error
        assert json.loads(result.stdout.strip().splitlines()[-1]) == ["odd/good1.txt", "odd/good2.py", "odd/sub/deep.txt"]


def test_a_path_through_a_link_is_never_listed_from_the_wrong_folder(odd: Path, tmp_path: Path) -> None:
    """`a/../b` with `a` a link names `sub/b` for WASI but `b` lexically: the host lists a folder
    only when its path names the guest's descriptor, else the listing fails as before."""
    workspace = tmp_path / "ws"
    for folder, marker in ((workspace / "b", "x_b_root"), (workspace / "sub" / "b", "x_sub_b")):
        folder.mkdir(parents=True)
        (folder / marker).write_text("x")
        with open(os.path.join(os.fsencode(folder), BAD), "wb") as f:
            f.write(b"x")
    (workspace / "sub" / "deeper").mkdir()
    (workspace / "a").symlink_to("sub/deeper")
    with Sandbox(odd, workspace=workspace, timeout_s=20) as sandbox:
        result = sandbox.run("import os\ntry:\n    print(os.listdir('/workspace/a/../b'))\nexcept OSError as e:\n    print('refused')")
        assert result.ok, result.error
        assert result.stdout in ("['x_sub_b']\n", "refused\n")
        assert sandbox.run("print(os.listdir('/workspace/b'))").stdout == "['x_b_root']\n"
