"""Disk quota on the guest's writes: the shadowed WASI calls that grow or free files.

A write or resize of a file under a writable mount is refused with EDQUOT when it could pass
the quota (`disk_quota.DiskUsage`). Its bound is the bytes written plus any gap a write past
the end would leave, so a sparse file counts in full. File sizes are the filter's record
(`FileFilter.sizes`, from its stat at open, kept up to date here) and positions come from
`fd_tell`, which costs no file system call; wasmtime's own stat calls cost tens of
microseconds each (a thread hop), so none is made per write. Append mode is the one the file
was opened with (`fcntl` does not exist in the guest and `os.set_blocking` keeps the flag).
Deletes, renames and shrinking mark space as maybe freed. Writes to stdout and stderr go
straight to the sandbox's output buffers (one host call per line, as before the shadow; a
guest that closes fd 1 still writes to its output until the number is reused); other
descriptors (read-only mounts) go straight to the real call.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from rlm_tui.sandbox.disk_quota import DiskUsage
from rlm_tui.sandbox.fastcall import MASK32, Context, RawMemory
from rlm_tui.sandbox.wasi_filter import ERRNO_DQUOT, Descriptor, FileFilter
from rlm_tui.sandbox.wasi_shim import SCRATCH_U64, RealWasi

_MASK64 = 0xFFFFFFFFFFFFFFFF
ERRNO_FAULT = 21


class WriteGuard:
    """The shadows of `fd_write`, `fd_pwrite`, `fd_filestat_set_size` and the calls that may
    free space."""

    NEEDS = ("fd_write", "fd_pwrite", "fd_tell", "fd_filestat_set_size", "path_unlink_file",
             "path_remove_directory", "path_rename")

    def __init__(self, real: RealWasi, memory: RawMemory, usage: DiskUsage, files: FileFilter) -> None:
        self.real, self.memory, self.usage, self.files = real, memory, usage, files

    def shadows(self) -> dict[str, Callable[[Context, Any], int]]:
        return {
            "fd_write": self.fd_write,
            "fd_pwrite": self.fd_pwrite,
            "fd_filestat_set_size": self.fd_filestat_set_size,
            "path_unlink_file": self._freeing("path_unlink_file", 3),
            "path_remove_directory": self._freeing("path_remove_directory", 3),
            "path_rename": self._freeing("path_rename", 6),
        }

    def _iov_bytes(self, ctx: Context, iovs: int, count: int) -> int:
        raw = self.memory.read(ctx, iovs, 8 * count)
        return sum(struct.unpack_from("<I", raw, 8 * i + 4)[0] for i in range(count))

    def _write(self, ctx: Context, entry: Descriptor, fd: int, iovs: int, count: int, offset: int | None,
               call: Callable[[], int], out: int) -> int:
        sizes = self.files.sizes
        assert entry.node is not None, "a file under a writable folder has its (dev, ino)"
        size = sizes.get(entry.node, 0)
        if entry.append:
            start = size  # an append lands at the end, whatever the offset
        elif offset is None:
            at = self.real.scratch + SCRATCH_U64
            if self.real.fd_tell(ctx, fd, at) != 0:
                return call()  # not a file with a position: the real call says why
            (start,) = struct.unpack("<Q", self.memory.read(ctx, at, 8))
        else:
            start = offset
        try:
            length = self._iov_bytes(ctx, iovs, count)
        except IndexError:  # iovecs outside guest memory
            return ERRNO_FAULT
        end = start + length
        if end > size and not self.usage.allow(end - size):
            return ERRNO_DQUOT
        errno = call()
        if errno == 0:
            (written,) = struct.unpack("<I", self.memory.read(ctx, out, 4))
            if start + written > size:
                sizes[entry.node] = start + written
                self.usage.grew(start + written - size)
        return errno

    def fd_write(self, ctx: Context, vals: Any) -> int:
        fd, iovs, count, out = vals[0].i32 & MASK32, vals[1].i32 & MASK32, vals[2].i32 & MASK32, vals[3].i32 & MASK32
        sink = self.files.stdio.get(fd)
        if sink is not None:
            return self._output(ctx, sink, iovs, count, out)
        entry = self.files.file_under_writable(fd)
        call = lambda: self.real.fd_write(ctx, fd, iovs, count, out)  # noqa: E731
        return call() if entry is None else self._write(ctx, entry, fd, iovs, count, None, call, out)

    def _output(self, ctx: Context, sink: Callable[[bytes], None], iovs: int, count: int, out: int) -> int:
        memory = self.memory
        try:
            raw = memory.read(ctx, iovs, 8 * count)
            data = b"".join(memory.read(ctx, *struct.unpack_from("<II", raw, 8 * i)) for i in range(count))
        except IndexError:
            return ERRNO_FAULT
        sink(data)
        memory.write(ctx, out, struct.pack("<I", len(data)))
        return 0

    def fd_pwrite(self, ctx: Context, vals: Any) -> int:
        fd, iovs, count, out = (vals[i].i32 & MASK32 for i in (0, 1, 2, 4))
        offset = vals[3].i64
        entry = self.files.file_under_writable(fd)
        call = lambda: self.real.fd_pwrite(ctx, fd, iovs, count, offset, out)  # noqa: E731
        return call() if entry is None else self._write(ctx, entry, fd, iovs, count, offset & _MASK64, call, out)

    def fd_filestat_set_size(self, ctx: Context, vals: Any) -> int:
        fd, new = vals[0].i32 & MASK32, vals[1].i64
        entry = self.files.file_under_writable(fd)
        if entry is None:
            return self.real.fd_filestat_set_size(ctx, fd, new)
        new &= _MASK64
        assert entry.node is not None, "a file under a writable folder has its (dev, ino)"
        size = self.files.sizes.get(entry.node, 0)
        if new > size and not self.usage.allow(new - size):
            return ERRNO_DQUOT
        errno = self.real.fd_filestat_set_size(ctx, fd, new)
        if errno == 0:
            self.files.sizes[entry.node] = new
            if new > size:
                self.usage.grew(new - size)
            else:
                self.usage.freed()
        return errno

    def _freeing(self, name: str, n: int) -> Callable[[Context, Any], int]:
        """A call that may give space back when it works in a writable folder (its first argument)."""

        def free(ctx: Context, vals: Any) -> int:
            errno = getattr(self.real, name)(ctx, *(vals[i].i32 & MASK32 for i in range(n)))
            if errno == 0 and self.files.dir_under_writable(vals[0].i32 & MASK32):
                self.usage.freed()
            return errno

        return free
