"""The disk quota on /workspace and /tmp, enforced on the host: writes, sparse files, resizes and
new entries that would pass it fail in the guest with EDQUOT, the host's folders stay within
it, space given back can be used again, and stdout is not affected."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rlm_tui.sandbox import Sandbox
from rlm_tui.sandbox.disk_quota import DiskQuota, measure

MIB = 1 << 20
QUOTA = DiskQuota(max_bytes=8 * MIB, max_files=50)


@pytest.fixture
def box(project: Path, tmp_path: Path):
    with Sandbox(project, workspace=tmp_path / "ws", timeout_s=20, disk_quota=QUOTA) as sandbox:
        assert sandbox.run("import errno, os").ok
        yield sandbox


def _host_usage(sandbox: Sandbox):
    return measure([sandbox.workspace, sandbox._scratch])


def _quota_error(sandbox: Sandbox, code: str) -> str:
    """Run `code`, which must fail with EDQUOT; the guest's error text."""
    result = sandbox.run(f"try:\n{_indent(code)}\nexcept OSError as e:\n    print('errno', e.errno == errno.EDQUOT)")
    assert result.ok, result.error
    assert "errno True" in result.stdout, result.stdout + result.stderr
    return result.stderr


def _indent(code: str) -> str:
    return "\n".join("    " + line for line in code.splitlines())


def test_defaults_are_one_gib_and_twenty_thousand_entries(shared: Sandbox) -> None:
    assert shared.disk_quota == DiskQuota(max_bytes=1 << 30, max_files=20_000)
    with pytest.raises(ValueError, match="max_bytes"):
        DiskQuota(max_bytes=0)
    with pytest.raises(ValueError, match="max_files"):
        DiskQuota(max_files=True)


def test_writing_past_the_byte_quota_fails_and_the_host_stays_within_it(box: Sandbox) -> None:
    stderr = _quota_error(box, "with open('/workspace/big.bin', 'wb') as f:\n    while True:\n        f.write(b'x' * 65536)")
    assert "disk quota" in stderr and "EDQUOT" in stderr
    assert _host_usage(box).bytes <= QUOTA.max_bytes
    assert os.path.getsize(box.workspace / "big.bin") > QUOTA.max_bytes - 2 * 65536
    assert box.run("print('still fine')").stdout == "still fine\n"  # stdout has no quota
    assert box.run("print('x' * 100_000)").ok


def test_tmp_counts_too(box: Sandbox) -> None:
    assert box.run("open('/workspace/half.bin', 'wb').write(b'x' * (5 << 20))").ok
    _quota_error(box, "open('/tmp/other.bin', 'wb').write(b'x' * (5 << 20))")
    assert _host_usage(box).bytes <= QUOTA.max_bytes


@pytest.mark.parametrize("code", [
    "f = open('/workspace/sparse.bin', 'wb')\nf.seek(2 << 30)\nf.write(b'x')\nf.close()",
    "fd = os.open('/workspace/sparse2.bin', os.O_CREAT | os.O_WRONLY)\nos.pwrite(fd, b'x', 2 << 30)",
    "open('/workspace/grown.bin', 'wb').close()\nos.truncate('/workspace/grown.bin', 2 << 30)",
    "f = open('/workspace/grown2.bin', 'wb')\nf.truncate(2 << 30)",
], ids=["seek-and-write", "pwrite-far", "truncate-up", "ftruncate-up"])
def test_sparse_files_count_in_full(box: Sandbox, code: str) -> None:
    _quota_error(box, code)
    assert all(p.stat().st_size < QUOTA.max_bytes for p in box.workspace.iterdir())


def test_appends_are_counted_even_after_a_seek(box: Sandbox) -> None:
    _quota_error(box, "with open('/workspace/log.txt', 'ab') as f:\n    while True:\n        f.write(b'y' * 65536)")
    assert box.run("os.remove('/workspace/log.txt')").ok
    code = ("fd = os.open('/workspace/app.bin', os.O_CREAT | os.O_WRONLY | os.O_APPEND)\nos.set_blocking(fd, False)\n"
            "while True:\n    os.lseek(fd, 0, os.SEEK_SET)\n    os.write(fd, b'z' * 65536)")
    _quota_error(box, code)
    assert _host_usage(box).bytes <= QUOTA.max_bytes


def test_space_given_back_can_be_used_again(box: Sandbox) -> None:
    _quota_error(box, "with open('/workspace/a.bin', 'wb') as f:\n    while True:\n        f.write(b'x' * 65536)")
    assert box.run("os.remove('/workspace/a.bin')").ok
    assert box.run("open('/workspace/b.bin', 'wb').write(b'x' * (6 << 20))").ok
    assert box.run("open('/workspace/b.bin', 'wb').write(b'x' * (7 << 20))").ok  # truncating frees first
    assert box.run("open('/workspace/b.bin', 'r+b').write(b'y' * (7 << 20))").ok  # overwriting in place grows nothing


def test_the_file_count_quota_covers_files_folders_and_links(box: Sandbox) -> None:
    _quota_error(box, "i = 0\nwhile True:\n    open(f'/workspace/f{i}', 'w').close()\n    i += 1")
    assert _host_usage(box).files == QUOTA.max_files
    assert box.run("os.remove('/workspace/f0')\nos.remove('/workspace/f1')").ok
    assert box.run("os.mkdir('/workspace/d')").ok
    assert box.run("os.symlink('f3', '/workspace/l')").ok
    _quota_error(box, "os.mkdir('/workspace/d2')")
    _quota_error(box, "os.symlink('f3', '/workspace/l2')")
    _quota_error(box, "os.open('/tmp/t', os.O_CREAT | os.O_WRONLY)")
    assert box.run("open('/workspace/f3', 'w').write('existing files still open')").ok
    assert _host_usage(box).files == QUOTA.max_files


def test_existing_workspace_content_counts(project: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "old.bin").write_bytes(b"x" * (7 * MIB))
    with Sandbox(project, workspace=workspace, timeout_s=20, disk_quota=QUOTA) as sandbox:
        assert sandbox.run("import errno, os").ok
        _quota_error(sandbox, "open('/workspace/new.bin', 'wb').write(b'x' * (2 << 20))")
        assert sandbox.run("open('/workspace/new.bin', 'wb').write(b'x' * (512 << 10))").ok


def test_the_quota_holds_after_a_restart(box: Sandbox) -> None:
    assert box.run("open('/workspace/half.bin', 'wb').write(b'x' * (6 << 20))").ok
    assert box.run("import time\nwhile True: pass", timeout_s=0.3).restarted
    assert box.run("import errno, os").ok
    _quota_error(box, "open('/workspace/more.bin', 'wb').write(b'x' * (3 << 20))")


# -- File outputs copied out of the workspace ---------------------------------------------------------


def _sparse(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        f.truncate(size)


def test_file_outputs_count_their_copied_size_and_stay_within_the_quota(tmp_path: Path) -> None:
    from rlm_tui.engine.files import RunFiles
    from rlm_tui.engine.outputs import OutputError, make_signature

    workspace, out = tmp_path / "ws", tmp_path / "out"
    workspace.mkdir()
    _sparse(workspace / "sparse.bin", 2 << 30)  # made on the host: takes no disk, would copy as 2 GiB
    (workspace / "small.txt").write_bytes(b"x" * (3 * MIB))
    files = RunFiles(make_signature("question -> report: File, tables: list[File]"), files_dir=out)
    with pytest.raises(OutputError, match=r"sparse\.bin.* 2,147,483,648 bytes .*sparse file"):
        files.export({"report": "/workspace/sparse.bin", "tables": []}, workspace, max_bytes=8 * MIB)
    assert not any(p.is_file() and p.stat().st_size > MIB for p in out.rglob("*"))
    with pytest.raises(OutputError, match=r"small\.txt.* 3,145,728 bytes"):  # 3 x 3 MiB > 8 MiB
        files.export({"report": "/workspace/small.txt", "tables": ["/workspace/small.txt"] * 2}, workspace,
                     max_bytes=8 * MIB)
    exported = files.export({"report": "/workspace/small.txt", "tables": ["/workspace/small.txt"]}, workspace,
                            max_bytes=8 * MIB)
    assert exported["report"].stat().st_size == exported["tables"][0].stat().st_size == 3 * MIB


# -- settings and the engine ----------------------------------------------------------------------------


def test_settings_set_the_quota_from_file_env_and_flags(tmp_path: Path) -> None:
    from rlm_tui.config import load_settings

    (tmp_path / "config.toml").write_text("workspace_mb = 8\nworkspace_files = 50\n")
    settings = load_settings(tmp_path / "config.toml", env={"RLM_TUI_WORKSPACE_FILES": "70"})
    assert settings.disk_quota == DiskQuota(max_bytes=8 * MIB, max_files=70)
    assert load_settings(tmp_path / "none.toml", env={}).disk_quota == DiskQuota()


async def test_the_engine_gives_its_sandbox_the_quota(scripted_server, project: Path) -> None:
    from tests.engine.test_engine import code, make_rlm

    scripted_server.script("root", code(
        "import errno\nopen('/workspace/a.bin', 'wb').write(b'x' * (3 << 20))\n"
        "try:\n    open('/workspace/b.bin', 'wb').write(b'x' * (3 << 20))\nexcept OSError as e:\n"
        "    print('EDQUOT', e.errno == errno.EDQUOT)\nSUBMIT(answer='done')"))
    rlm, _ = make_rlm(scripted_server, project, disk_quota=DiskQuota(max_bytes=4 * MIB, max_files=50))
    prediction = await rlm.aforward(question="fill it")
    assert "EDQUOT True" in prediction.trajectory[0]["output"]


def test_a_file_that_reuses_stdouts_number_gets_its_writes_and_they_count(box: Sandbox) -> None:
    # WASI hands out freed descriptors oldest first: open (and keep) until stdout's number comes back
    code = ("os.close(1)\nkept = []\nwhile (fd := os.open('/workspace/as-stdout.txt', os.O_CREAT | os.O_WRONLY)) != 1:\n"
            "    kept.append(fd)\n    assert len(kept) < 64\n"
            "n = os.write(fd, b'into the file')\n"
            "try:\n    os.write(fd, b'x' * (9 << 20))\nexcept OSError as e:\n    n = f'{n} {e.errno == errno.EDQUOT}'\n"
            "os.close(fd)\nos.write(2, f'fd {fd} n {n}\\n'.encode())")
    result = box.run(code)  # the runner itself then fails to flush the closed stdout: a restart
    assert "fd 1 n 13 True\n" in result.stderr, result.stderr
    assert (box.workspace / "as-stdout.txt").read_bytes() == b"into the file"
    assert "into the file" not in result.stdout
