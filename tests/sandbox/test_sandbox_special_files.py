"""FIFOs, sockets and device nodes in the project (made on the host) are refused by the host:
every route the guest has to `open` fails fast with an OSError, nothing blocks the host, no
device is read, and the sandbox stays usable. The guest-side guard of earlier versions is gone:
these tests run against the host-side filter alone.

The cases run in a child process under a timeout, so a route that blocks the host shows up as
a named failure instead of a hung test run.
"""

from __future__ import annotations

import json
import os
import pty
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rlm_tui.sandbox import Sandbox

CHILD_TIMEOUT_S = 60

# Guest code opening PATH (a guest path); each must raise quickly.
ROUTES = {
    "builtin-open": "open(PATH).read(1)",
    "open-binary-unbuffered": "open(PATH, 'rb', buffering=0).read(1)",
    "_io.FileIO": "import _io\n_io.FileIO(PATH).read(1)",
    "posix.open": "import posix\nposix.open(PATH, posix.O_RDONLY)",
    "os.open-nonblock": "os.open(PATH, os.O_RDONLY | os.O_NONBLOCK)",
    "os.open-write-nonblock": "os.open(PATH, os.O_WRONLY | os.O_NONBLOCK)",
    "opener-posix.open": "import posix\nopen(PATH, 'rb', opener=posix.open).read(1)",
    "io.open_code": "import io\nio.open_code(PATH).read(1)",
    "pathlib": "import pathlib\npathlib.Path(PATH).read_bytes()",
    "sqlite-uri-ro": "import sqlite3\nsqlite3.connect(f'file:{PATH}?mode=ro', uri=True).execute('select * from sqlite_master').fetchall()",
    "dir-fd": "d = os.open(os.path.dirname(PATH), os.O_RDONLY)\nos.open(os.path.basename(PATH), os.O_RDONLY, dir_fd=d)",
}

CHILD = """
import json, os, sys, time
from rlm_tui.sandbox import Sandbox
project, workspace, cases = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
with Sandbox(project, workspace=workspace, timeout_s=5) as sandbox:
    assert sandbox.run("import os").ok
    for case, code in cases:
        started = time.monotonic()
        result = sandbox.run(code)
        print(json.dumps({"case": case, "seconds": time.monotonic() - started, "error_type": result.error_type,
                          "error": result.error, "stdout": result.stdout, "restarted": result.restarted}), flush=True)
    print(json.dumps({"case": "alive", "stdout": sandbox.run("open('/project/a.txt').read()").stdout}), flush=True)
"""


def _device(rdev_of: str, kind: int) -> int | None:
    try:
        st = os.stat(rdev_of)
    except OSError:
        return None
    return st.st_rdev if stat.S_IFMT(st.st_mode) == kind else None


def _disk() -> int | None:
    """The block device holding `/` if /dev has it (what a node in the project could read the
    host's files through), else any block device."""
    devices = [rdev for name in sorted(os.listdir("/dev")) if (rdev := _device(f"/dev/{name}", stat.S_IFBLK)) is not None]
    root = os.stat("/").st_dev
    return root if root in devices else (devices[0] if devices else None)


@pytest.fixture(scope="module")
def special(tmp_path_factory: pytest.TempPathFactory):
    """A project and a workspace holding special files, with the names of those it holds."""
    base = tmp_path_factory.mktemp("special")
    project, workspace = base / "project", base / "workspace"
    project.mkdir()
    workspace.mkdir()
    (project / "a.txt").write_text("fine")
    names = ["pipe"]
    os.mkfifo(project / "pipe")
    os.mkfifo(workspace / "wpipe")
    (project / "link_to_pipe").symlink_to("pipe")
    names.append("link_to_pipe")
    master, slave = pty.openpty()
    nodes = {
        "zero": (stat.S_IFCHR, _device("/dev/zero", stat.S_IFCHR)),
        "null": (stat.S_IFCHR, _device("/dev/null", stat.S_IFCHR)),
        "tty": (stat.S_IFCHR, os.fstat(slave).st_rdev),
        "disk": (stat.S_IFBLK, _disk()),
    }
    for name, (kind, rdev) in nodes.items():
        if rdev is None:
            continue
        try:
            os.mknod(project / name, kind | 0o666, rdev)
        except (PermissionError, OSError):
            continue
        names.append(name)
    if "zero" in names:
        (project / "link_to_zero").symlink_to("zero")
        names.append("link_to_zero")
    yield project, workspace, names
    os.close(master)
    os.close(slave)


def _run_child(project: Path, workspace: Path, cases: list[tuple[str, str]]) -> dict[str, dict]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")])}
    try:
        done = subprocess.run([sys.executable, "-c", CHILD, str(project), str(workspace), json.dumps(cases)],
                              capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, env=env)
        out, err = done.stdout, done.stderr
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        finished = {r["case"] for r in rows}
        hung = next((case for case, _ in cases if case not in finished), "the end of the run")
        pytest.fail(f"the host hung at {hung!r} (finished: {len(finished)} of {len(cases)})")
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert rows and rows[-1]["case"] == "alive", err[-3000:]
    return {r["case"]: r for r in rows}


def test_every_route_to_a_special_file_fails_fast_and_the_host_never_blocks(special) -> None:
    project, workspace, names = special
    targets = [f"/project/{name}" for name in names] + ["/workspace/wpipe"]
    cases = [(f"{route} {target}", f"PATH = {target!r}\n{code}") for target in targets for route, code in ROUTES.items()]
    cases += [("write /workspace/wpipe", "open('/workspace/wpipe', 'w').write('x')"),
              ("append /workspace/wpipe", "open('/workspace/wpipe', 'ab').write(b'x')")]
    rows = _run_child(project, workspace, cases)
    failures = []
    for case, _ in cases:
        row = rows[case]
        ok_types = ("OperationalError",) if case.startswith("sqlite") else ()
        error_type = row["error_type"] or ""
        is_os_error = error_type in ("PermissionError", "OSError", "FileNotFoundError", "IsADirectoryError") + ok_types
        if not is_os_error or row["restarted"] or row["seconds"] > 2.0 or row["stdout"]:
            failures.append(f"{case}: {error_type} after {row['seconds']:.2f} s, restarted={row['restarted']}, "
                            f"stdout={row['stdout']!r}, error={(row['error'] or '')[-300:]}")
    assert not failures, "\n".join(failures)
    assert rows["alive"]["stdout"] == "'fine'\n"


def test_special_files_are_still_listed_and_stat_works(special) -> None:
    project, _, names = special
    with Sandbox(project, timeout_s=5) as sandbox:
        result = sandbox.run("import os\nsorted(os.listdir('/project'))")
        assert result.ok, result.error
        assert all(repr(name) in result.stdout for name in names)
        assert sandbox.run("os.stat('/project/pipe').st_size").stdout == "0\n"


def test_the_guest_guard_is_gone_so_the_host_alone_refuses(special) -> None:
    """Earlier versions wrapped `open` in the guest; the host filter must hold on its own."""
    project, _, _ = special
    with Sandbox(project, timeout_s=5) as sandbox:
        result = sandbox.run("import io, os\n[type(f).__name__ for f in (open, io.open, os.open)]")
        assert result.stdout == repr(["builtin_function_or_method"] * 3) + "\n", result.stdout
        result = sandbox.run("open('/project/pipe')")
        assert result.error_type == "PermissionError" and "<rlm-prelude>" not in (result.error or ""), result.error


def test_regular_files_directories_and_creation_still_work(special, tmp_path: Path) -> None:
    project, _, _ = special
    with Sandbox(project, workspace=tmp_path, timeout_s=5) as sandbox:
        code = textwrap.dedent("""\
            import os, sqlite3
            a = open('/project/a.txt').read()
            d = os.open('/project', os.O_RDONLY)
            os.close(d)
            open('/workspace/new.txt', 'x').write('made')
            os.open('/workspace/new2.txt', os.O_CREAT | os.O_WRONLY | os.O_EXCL)
            db = sqlite3.connect('/workspace/db.sqlite')
            db.execute('create table t(x)')
            db.execute('insert into t values (1)')
            db.commit()
            print(a, open('/workspace/new.txt').read(), db.execute('select x from t').fetchall())
        """)
        result = sandbox.run(code)
        assert result.ok, result.error
        assert result.stdout == "fine made [(1,)]\n"
        assert sandbox.run("open('/project/missing.txt')").error_type == "FileNotFoundError"


def test_the_shims_wasi_signatures_match_the_interpreters_imports() -> None:
    from rlm_tui.sandbox.wasi_shim import WASI, WASI_PARAMS
    from rlm_tui.sandbox.wasm_module import shared_module

    imported = {i.name: tuple(str(p) for p in i.type.params) for i in shared_module().module.imports if i.module == WASI}
    assert {name: imported[name] for name in WASI_PARAMS} == WASI_PARAMS
