"""How much the guest may keep in its writable folders (/workspace and /tmp together), and the
host-side bookkeeping that enforces it.

`DiskUsage` keeps an estimate that never falls below the truth: it starts from a scan of the
folders, grows by exactly what each write, resize or creation added (the WASI filter measures
the file before and after), and is never lowered by a delete. When a change would pass the
quota, the folders are scanned again, but only if something may have freed space since the
last scan (a delete, rename, truncation) or that scan is over `STALE_S` old; so a guest
hammering at a full quota costs at most one scan a second. Sizes are apparent sizes
(`st_size`): a sparse file counts as big as a copy of it would be. Hard links count once.
"""

from __future__ import annotations

import os
import stat
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlm_tui.sandbox.fastcall import MASK32, Context, RawMemory
from rlm_tui.sandbox.wasi_shim import SCRATCH_STAT, SCRATCH_U64, RealWasi

STALE_S = 1.0


@dataclass(frozen=True)
class DiskQuota:
    """Limits on the guest's writable folders: total bytes of files, and entries (files,
    folders and links) in them."""

    max_bytes: int = 1 << 30
    max_files: int = 20_000

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_files"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"DiskQuota.{name} must be a positive int, not {value!r}")


@dataclass
class Usage:
    bytes: int = 0
    files: int = 0


def measure(roots: list[Path]) -> Usage:
    """Bytes of regular files (each inode once) and entries under `roots`, following no link."""
    usage, seen = Usage(), set()
    stack = [str(root) for root in roots]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    usage.files += 1
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if stat.S_ISDIR(st.st_mode):
                        stack.append(entry.path)
                    elif stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
                        seen.add((st.st_dev, st.st_ino))
                        usage.bytes += st.st_size
        except OSError:
            continue
    return usage


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


class DiskUsage:
    """The running estimate for one instance; `report` gets one line for the guest's stderr
    each time the quota starts refusing."""

    def __init__(self, quota: DiskQuota, roots: list[Path], report: Callable[[bytes], None]) -> None:
        self.quota = quota
        self.roots = roots
        self._report = report
        self.scans = 0
        self._refusing = False
        self._rescan()

    def _rescan(self) -> None:
        self.usage = measure(self.roots)
        self.scans += 1
        self._scanned_at = time.monotonic()
        self._maybe_freed = False

    def freed(self) -> None:
        """Something may have given space back (delete, rename over a file, truncation)."""
        self._maybe_freed = True

    def allow(self, more_bytes: int, more_files: int = 0) -> bool:
        """Whether `more_bytes` and `more_files` fit; False also tells the guest why (once
        until something fits again)."""
        if self._fits(more_bytes, more_files):
            self._refusing = False
            return True
        if self._maybe_freed or time.monotonic() - self._scanned_at > STALE_S:
            self._rescan()
            if self._fits(more_bytes, more_files):
                self._refusing = False
                return True
        if not self._refusing:
            self._refusing = True
            quota, usage = self.quota, self.usage
            self._report(
                f"rlm-sandbox: disk quota: /workspace and /tmp hold {_size(usage.bytes)} in {usage.files} entries "
                f"(quota {_size(quota.max_bytes)}, {quota.max_files} entries); a write or a new file "
                f"that would pass it fails with EDQUOT. Delete files to make room.\n".encode())
        return False

    def _fits(self, more_bytes: int, more_files: int) -> bool:
        return (self.usage.bytes + more_bytes <= self.quota.max_bytes
                and self.usage.files + more_files <= self.quota.max_files)

    def grew(self, more_bytes: int = 0, more_files: int = 0) -> None:
        self.usage.bytes += max(0, more_bytes)
        self.usage.files += max(0, more_files)


ERRNO_DQUOT = 19
_MASK64 = 0xFFFFFFFFFFFFFFFF
_SIZE_AT = 32  # offset of `size` in a WASI filestat


class WriteGuard:
    """Shadowed WASI calls that grow or free files: writes and resizes of a file under a
    writable mount are measured (size before, position, size after) and refused with EDQUOT
    when they could pass the quota; deletes and renames mark space as maybe freed. Other
    descriptors (stdout, stderr, read-only mounts) go straight to the real call."""

    NEEDS = ("fd_write", "fd_pwrite", "fd_tell", "fd_filestat_get", "fd_filestat_set_size",
             "path_unlink_file", "path_remove_directory", "path_rename")

    def __init__(self, real: RealWasi, memory: RawMemory, usage: DiskUsage,
                 file_under_writable: Callable[[int], bool], dir_under_writable: Callable[[int], bool]) -> None:
        self.real, self.memory, self.usage = real, memory, usage
        self._is_file = file_under_writable
        self._is_dir = dir_under_writable

    def shadows(self) -> dict[str, Callable[[Context, Any], int]]:
        return {
            "fd_write": self.fd_write,
            "fd_pwrite": self.fd_pwrite,
            "fd_filestat_set_size": self.fd_filestat_set_size,
            "path_unlink_file": self._freeing("path_unlink_file", 0, 3),
            "path_remove_directory": self._freeing("path_remove_directory", 0, 3),
            "path_rename": self._freeing("path_rename", 0, 6),
        }

    def _u64(self, ctx: Context, errno: int, at: int) -> int | None:
        return None if errno else struct.unpack("<Q", self.memory.read(ctx, at, 8))[0]

    def _size(self, ctx: Context, fd: int) -> int | None:
        at = self.real.scratch + SCRATCH_STAT
        return self._u64(ctx, self.real.fd_filestat_get(ctx, fd, at), at + _SIZE_AT)

    def _iov_bytes(self, ctx: Context, iovs: int, count: int) -> int:
        raw = self.memory.read(ctx, iovs, 8 * count)
        return sum(struct.unpack_from("<I", raw, 8 * i + 4)[0] for i in range(count))

    def _grow(self, ctx: Context, fd: int, length: int, offset: int | None, call: Callable[[], int]) -> int:
        before = self._size(ctx, fd)
        if before is None:
            return call()  # not a file we can measure (a bad descriptor): the real call says why
        if offset is None:
            at = self.real.scratch + SCRATCH_U64
            offset = self._u64(ctx, self.real.fd_tell(ctx, fd, at), at) or 0
        bound = length + max(0, offset - before)  # in append mode the write lands at the end: <= length
        if bound and not self.usage.allow(bound):
            return ERRNO_DQUOT
        errno = call()
        after = self._size(ctx, fd)
        if after is not None:
            self.usage.grew(after - before)
        return errno

    def fd_write(self, ctx: Context, vals: Any) -> int:
        fd, iovs, count, out = (vals[i].i32 & MASK32 for i in range(4))
        call = lambda: self.real.fd_write(ctx, fd, iovs, count, out)  # noqa: E731
        if not self._is_file(fd):
            return call()
        return self._grow(ctx, fd, self._iov_bytes(ctx, iovs, count), None, call)

    def fd_pwrite(self, ctx: Context, vals: Any) -> int:
        fd, iovs, count, out = (vals[i].i32 & MASK32 for i in (0, 1, 2, 4))
        offset = vals[3].i64
        call = lambda: self.real.fd_pwrite(ctx, fd, iovs, count, offset, out)  # noqa: E731
        if not self._is_file(fd):
            return call()
        return self._grow(ctx, fd, self._iov_bytes(ctx, iovs, count), offset & _MASK64, call)

    def fd_filestat_set_size(self, ctx: Context, vals: Any) -> int:
        fd, size = vals[0].i32 & MASK32, vals[1].i64
        call = lambda: self.real.fd_filestat_set_size(ctx, fd, size)  # noqa: E731
        if not self._is_file(fd):
            return call()
        before = self._size(ctx, fd)
        if before is not None and (size & _MASK64) < before:
            self.usage.freed()
        return self._grow(ctx, fd, 0, size & _MASK64, call)

    def _freeing(self, name: str, dirfd_arg: int, n: int) -> Callable[[Context, Any], int]:
        def free(ctx: Context, vals: Any) -> int:
            errno = getattr(self.real, name)(ctx, *(vals[i].i32 & MASK32 for i in range(n)))
            if errno == 0 and self._is_dir(vals[dirfd_arg].i32 & MASK32):
                self.usage.freed()
            return errno

        return free
