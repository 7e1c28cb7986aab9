"""The security battery: every attempt to leave the sandbox, write to the project, reach the
host's environment, processes or network fails, and the host's files are byte-identical after.

Each case is guest code that prints ESCAPED if the attempt worked. The test asserts it did
not, that the secret outside the project never shows up in any output, that the instance
survived (no restart), and that the fingerprint (names, types, modes, mtimes, link targets,
contents) of the project, the folder beside it and the interpreter image is unchanged.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest
from sandbox_helpers import SECRET, fingerprint

from rlm_tui.paths import cache_dir
from rlm_tui.sandbox import Sandbox

ENV_SECRET = "env-s3cr3t-value"


def _raises(attempt: str) -> str:
    return f"{attempt}\nprint('ESCAPED')"


# (case id, guest code). `_raises` cases must raise; the others print ESCAPED themselves.
ESCAPES = [
    ("dotdot-absolute", _raises("open('/project/../outside/secret.txt').read()")),
    ("dotdot-relative-to-cwd", _raises("open('../outside/secret.txt').read()")),
    ("dotdot-many", _raises("open('/project/' + '../' * 12 + 'etc/passwd').read()")),
    ("dotdot-through-subdir", _raises("open('/project/sub/../../outside/secret.txt').read()")),
    ("host-absolute-path-of-secret", _raises("open(OUTSIDE_SECRET).read()")),
    ("host-absolute-path-of-project", _raises("open(HOST_PROJECT + '/a.txt').read()")),
    ("listdir-guest-root", _raises("os.listdir('/')")),
    ("listdir-project-parent", _raises("os.listdir('/project/..')")),
    ("chdir-above-project", _raises("os.chdir('/project')\nos.chdir('..')\nos.listdir('.')")),
    ("host-symlink-absolute", _raises("open('/project/link_abs').read()")),
    ("host-symlink-relative", _raises("open('/project/link_rel').read()")),
    ("host-symlink-to-dir", _raises("os.listdir('/project/link_dir')")),
    ("host-symlink-dir-then-file", _raises("open('/project/link_dir/secret.txt').read()")),
    ("host-symlink-to-root", _raises("os.listdir('/project/link_root/etc')")),
    ("host-symlink-stat-follows", _raises("os.stat('/project/link_abs')")),
    ("guest-symlink-absolute", _raises("os.symlink('/etc/passwd', '/workspace/g1')\nopen('/workspace/g1').read()")),
    ("guest-symlink-dotdot", _raises("os.symlink('../' * 12 + OUTSIDE_SECRET.lstrip('/'), '/workspace/g2')\nopen('/workspace/g2').read()")),
    ("guest-symlink-host-path", _raises("os.symlink(OUTSIDE_SECRET, '/workspace/g3')\nopen('/workspace/g3').read()")),
    ("guest-symlink-parent-dir", _raises("os.symlink('..', '/workspace/g4')\nos.listdir('/workspace/g4')")),
    ("guest-symlink-chain", _raises("os.symlink('g5b', '/workspace/g5a')\nos.symlink('../outside', '/workspace/g5b')\nos.listdir('/workspace/g5a')")),
    ("guest-symlink-into-project-write", _raises("os.symlink('/project/a.txt', '/workspace/g6')\nopen('/workspace/g6', 'a').write('x')")),
]

WRITES = [
    ("write", _raises("open('/project/a.txt', 'w').write('x')")),
    ("append", _raises("open('/project/a.txt', 'a').write('x')")),
    ("read-plus", _raises("f = open('/project/a.txt', 'r+')\nf.write('x')\nf.close()")),
    ("os-rdwr", _raises("fd = os.open('/project/a.txt', os.O_RDWR)\nos.write(fd, b'x')")),
    ("os-wronly", _raises("fd = os.open('/project/a.txt', os.O_WRONLY)\nos.write(fd, b'x')")),
    ("open-trunc-flag", _raises("os.open('/project/a.txt', os.O_WRONLY | os.O_TRUNC)")),
    ("truncate", _raises("os.truncate('/project/a.txt', 0)")),
    ("ftruncate", _raises("fd = os.open('/project/a.txt', os.O_RDONLY)\nos.ftruncate(fd, 0)")),
    ("write-to-readonly-fd", _raises("fd = os.open('/project/a.txt', os.O_RDONLY)\nos.write(fd, b'x')")),
    ("create-exclusive", _raises("open('/project/new.txt', 'x')")),
    ("create-os-open", _raises("os.open('/project/new2.txt', os.O_CREAT | os.O_WRONLY)")),
    ("create-in-subdir", _raises("open('/project/sub/deeper/new.txt', 'w')")),
    ("rename", _raises("os.rename('/project/a.txt', '/project/b.txt')")),
    ("rename-out-to-workspace", _raises("os.rename('/project/a.txt', '/workspace/stolen.txt')")),
    ("rename-in-from-workspace", _raises("open('/workspace/in.txt', 'w').write('x')\nos.rename('/workspace/in.txt', '/project/in.txt')")),
    ("replace-over-project-file", _raises("open('/workspace/rep.txt', 'w').write('x')\nos.replace('/workspace/rep.txt', '/project/a.txt')")),
    ("rename-dir", _raises("os.rename('/project/sub', '/project/sub2')")),
    ("hard-link-in-project", _raises("os.link('/project/a.txt', '/project/hard.txt')")),
    ("hard-link-to-workspace", _raises("os.link('/project/a.txt', '/workspace/hard.txt')\nopen('/workspace/hard.txt', 'a').write('x')")),
    ("unlink", _raises("os.unlink('/project/a.txt')")),
    ("remove-in-subdir", _raises("os.remove('/project/sub/c.txt')")),
    ("unlink-symlink", _raises("os.unlink('/project/link_abs')")),
    ("mkdir", _raises("os.mkdir('/project/newdir')")),
    ("makedirs", _raises("os.makedirs('/project/sub/x/y')")),
    ("rmdir", _raises("os.rmdir('/project/empty')")),
    ("rmtree", _raises("import shutil\nshutil.rmtree('/project/sub')")),
    ("utime", _raises("os.utime('/project/a.txt', (0, 0))")),
    ("utime-now", _raises("os.utime('/project/a.txt')")),
    ("utime-dir", _raises("os.utime('/project/sub', (0, 0))")),
    ("chmod", "os.chmod('/project/a.txt', 0o777)\nprint('ESCAPED' if os.stat('/project/a.txt').st_mode & 0o777 else 'no effect')"),
    ("chmod-dir", "os.chmod('/project/sub', 0o700)\nprint('ESCAPED' if os.stat('/project/sub').st_mode & 0o777 else 'no effect')"),
    ("symlink-absolute-in-project", _raises("os.symlink('/etc/passwd', '/project/evil')")),
    ("symlink-relative-in-project", _raises("os.symlink('a.txt', '/project/evil2')")),
    ("dir-fd-write", _raises("d = os.open('/project', os.O_RDONLY)\nfd = os.open('a.txt', os.O_WRONLY, dir_fd=d)\nos.write(fd, b'x')")),
    ("dir-fd-create", _raises("d = os.open('/project', os.O_RDONLY)\nos.open('x.txt', os.O_CREAT | os.O_WRONLY, dir_fd=d)")),
    ("pathlib-write-text", _raises("import pathlib\npathlib.Path('/project/sub/c.txt').write_text('x')")),
    ("shutil-copy-into-project", _raises("import shutil\nshutil.copy('/project/a.txt', '/project/copy.txt')")),
    ("sqlite-create-in-project", _raises("import sqlite3\nsqlite3.connect('/project/db.sqlite').execute('create table t(x)')")),
    ("write-interpreter-image", _raises("open('/usr/local/lib/python315.zip', 'ab').write(b'x')")),
]

HOST_ACCESS = [
    ("env-secret", "print('ESCAPED' if 'RLM_TEST_SECRET' in os.environ or ENV_SECRET in repr(dict(os.environ)) else 'clean')"),
    ("env-host-path", "print('ESCAPED' if os.environ.get('PATH') or os.environ.get('USER') else 'clean')"),
    ("socket-create", _raises("import socket\nsocket.socket(socket.AF_INET, socket.SOCK_STREAM)")),
    ("socket-connect-host-listener", _raises("import socket\nsocket.create_connection(('127.0.0.1', LISTEN_PORT), timeout=1)")),
    ("urllib-host-listener", _raises("import urllib.request\nurllib.request.urlopen(f'http://127.0.0.1:{LISTEN_PORT}/', timeout=1)")),
    ("subprocess-run", _raises("import subprocess\nsubprocess.run(['cat', '/etc/passwd'])")),
    ("os-system", _raises("os.system('touch /tmp/pwned')")),
    ("os-popen", _raises("os.popen('ls')")),
    ("fork", _raises("os.fork()")),
    ("execv", _raises("os.execv('/bin/sh', ['sh'])")),
    ("thread-start", _raises("import threading\nthreading.Thread(target=print).start()")),
    ("multiprocessing", _raises("import multiprocessing\nmultiprocessing.Process(target=print).start()")),
    ("ctypes-libc", _raises("import ctypes\nctypes.CDLL('libc.so.6')")),
    ("proc-self-environ", _raises("open('/proc/self/environ').read()")),
    ("proc-self-maps", _raises("open('/proc/self/maps').read()")),
    ("proc-listdir", _raises("os.listdir('/proc')")),
    ("etc-passwd", _raises("open('/etc/passwd').read()")),
    ("root-home", _raises("os.listdir('/root')")),
    ("host-cache-dir", _raises("os.listdir(HOST_CACHE)")),
    ("dev-mem", _raises("open('/dev/mem', 'rb').read(1)")),
    ("sys-dir", _raises("os.listdir('/sys')")),
]

CASES = ESCAPES + WRITES + HOST_ACCESS


@pytest.fixture(scope="module")
def listener():
    """A TCP server on the host; nothing from the guest may reach it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    accepted: list = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept())
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


@pytest.fixture(scope="module")
def jail(tree: tuple[Path, Path], listener, tmp_path_factory: pytest.TempPathFactory):
    project, outside = tree
    os.environ["RLM_TEST_SECRET"] = ENV_SECRET
    try:
        sandbox = Sandbox(project, workspace=tmp_path_factory.mktemp("jail-ws"), timeout_s=10)
    finally:
        del os.environ["RLM_TEST_SECRET"]
    setup = (
        f"import os\nOUTSIDE_SECRET = {str(outside / 'secret.txt')!r}\nHOST_PROJECT = {str(project)!r}\n"
        f"HOST_CACHE = {str(cache_dir())!r}\nLISTEN_PORT = {listener[0]}\nENV_SECRET = {ENV_SECRET!r}"
    )
    assert sandbox.run(setup).ok
    with sandbox:
        yield sandbox


def _image_stamp(sandbox: Sandbox) -> list[tuple[str, int, int]]:
    lib = sandbox._shared.image.lib
    return [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(lib.rglob("*"))]


@pytest.mark.parametrize(("case", "code"), CASES, ids=[c for c, _ in CASES])
def test_attempt_fails_and_host_is_unchanged(jail: Sandbox, tree: tuple[Path, Path], listener, case: str, code: str) -> None:
    project, outside = tree
    before, image_before = fingerprint(project, outside), _image_stamp(jail)
    result = jail.run(code)
    shown = f"{result.stdout}\n{result.stderr}\n{result.error}"
    assert "ESCAPED" not in result.stdout, f"{case} worked:\n{shown}"
    if code.endswith("print('ESCAPED')"):
        assert result.error is not None, f"{case} raised nothing"
    else:
        assert result.ok and result.stdout.strip() in ("no effect", "clean"), shown
    assert SECRET not in shown and ENV_SECRET not in shown
    assert not result.restarted, result.error
    assert fingerprint(project, outside) == before, f"{case} changed the host's files"
    assert _image_stamp(jail) == image_before
    assert listener[1] == [], f"{case} reached the host's network"
    assert not Path("/tmp/pwned").exists()


def test_battery_is_big_enough() -> None:
    assert len(CASES) >= 40


def test_sandbox_still_works_after_the_battery(jail: Sandbox) -> None:
    assert jail.run("open('/project/a.txt').read()").stdout == repr("hello\nworld\n") + "\n"
