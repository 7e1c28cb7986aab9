"""Host-side filter on the guest's file system calls (shadowed WASI imports).

- Special files: every guest open goes through `path_open`. Before the real one runs, the
  target is looked up with the real `path_filestat_get` (same directory, same lookup flags,
  so links resolve the same way): only regular files and directories are opened, a missing
  path only with O_CREAT. A FIFO, socket, character or block device (a tty, /dev/zero's
  numbers, a disk) gets EACCES without being opened, so nothing blocks the host or reads a
  device. Where the lookup did not settle the type (a file created now, a link the lookup
  did not follow) the opened descriptor is checked too. Not caught: a host process swapping
  a file for a FIFO or device between the lookup and the open (checking every descriptor
  after its open as well cost ~25-45 us, a fifth of an open, for a race no guest can cause).
- Descriptors: the filter knows, for every folder the guest holds open (from a preopen or a
  `path_open`) and every file it opened under a writable mount, which mount and which path
  inside it it names, and the size of those files (for the quota).
- Odd names: wasmtime's `fd_readdir` fails the whole listing with EILSEQ when one name is
  not UTF-8. Then the filter lists that folder itself on the host (opened from the mount's
  root without following any link, checked to be the guest's folder), leaves out the names
  that cannot be shown, and tells the guest once on stderr which ones it hid.
- Quota: creating an entry (O_CREAT, mkdir, symlink, link) in a writable mount is checked
  against `DiskUsage`; `wasi_writes` checks the writes.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlm_tui.sandbox.disk_quota import DiskUsage
from rlm_tui.sandbox.fastcall import MASK32, Context, RawMemory
from rlm_tui.sandbox.wasi_shim import SCRATCH_BYTES, SCRATCH_PATH, SCRATCH_STAT, RealWasi

# WASI preview 1 numbers
ERRNO_ACCES, ERRNO_DQUOT, ERRNO_ILSEQ, ERRNO_NOENT = 2, 19, 25, 44
LOOKUP_SYMLINK_FOLLOW = 1
O_CREAT, O_TRUNC = 1, 8
FDFLAGS_APPEND = 1
FILETYPE_DIRECTORY, FILETYPE_REGULAR, FILETYPE_SYMLINK = 3, 4, 7
_DIRENT = struct.Struct("<QQIB3x")  # d_next, d_ino, d_namlen, d_type
FIRST_PREOPEN = 3


@dataclass(frozen=True)
class Mount:
    """A host folder preopened at a guest path."""

    host: Path
    guest: str
    writable: bool


@dataclass
class Descriptor:
    mount: int  # index into the mounts
    parts: tuple[str, ...] | None  # path inside the mount; None when it cannot be known
    is_dir: bool
    node: tuple[int, int] | None = None  # WASI's (dev, ino) of a file
    append: bool = False


def join_parts(base: tuple[str, ...] | None, path: str) -> tuple[str, ...] | None:
    """`base` + a relative guest path, lexically; None if it climbs out of the mount."""
    if base is None or path.startswith("/"):
        return None
    parts = list(base)
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return tuple(parts)


class FileFilter:
    """The shadowed `path_open` and `fd_readdir`, and the descriptor table they keep."""

    NEEDS = ("path_open", "fd_readdir", "path_filestat_get", "fd_filestat_get", "fd_close", "fd_prestat_get",
             "fd_prestat_dir_name", "path_create_directory", "path_symlink", "path_link")

    def __init__(self, real: RealWasi, memory: RawMemory, mounts: list[Mount], usage: DiskUsage,
                 stdio: dict[int, Callable[[bytes], None]]) -> None:
        self.real = real
        self.memory = memory
        self.mounts = mounts
        self.usage = usage
        self.stdio = stdio  # descriptor -> where its writes go while it is the guest's stdout/stderr
        self.report = stdio[2]
        self.fds: dict[int, Descriptor] = {}
        self.hidden: dict[str, list[bytes]] = {}  # guest folder -> names left out of its listing (as told)
        self.sizes: dict[tuple[int, int], int] = {}  # size of each file opened under a writable mount
        self._listings: dict[int, list[tuple[bytes, int, int]]] = {}

    def shadows(self) -> dict[str, Callable[[Context, Any], int]]:
        return {
            "path_open": self.path_open,
            "fd_readdir": self.fd_readdir,
            "path_create_directory": self._creating(0, self.real_call("path_create_directory", 3)),
            "path_symlink": self._creating(2, self.real_call("path_symlink", 5)),
            "path_link": self._creating(4, self.real_call("path_link", 7)),
        }

    def real_call(self, name: str, n: int) -> Callable[[Context, Any], int]:
        """The real `name` with the guest's own i32 arguments."""

        def call(ctx: Context, vals: Any) -> int:
            return getattr(self.real, name)(ctx, *(vals[i].i32 & MASK32 for i in range(n)))

        return call

    def bind(self, ctx: Context) -> None:
        """Start the descriptor table from the preopens (checked against the mounts, in order)."""
        scratch = self.real.scratch
        for index, mount in enumerate(self.mounts):
            fd = FIRST_PREOPEN + index
            if self.real.fd_prestat_get(ctx, fd, scratch) != 0:
                raise RuntimeError(f"WASI preopen {fd} is missing (expected {mount.guest})")
            (length,) = struct.unpack("<I", self.memory.read(ctx, scratch + 4, 4))
            if length > SCRATCH_BYTES - SCRATCH_PATH or self.real.fd_prestat_dir_name(ctx, fd, scratch + SCRATCH_PATH, length):
                raise RuntimeError(f"WASI preopen {fd} cannot be read")
            name = self.memory.read(ctx, scratch + SCRATCH_PATH, length).decode()
            if name != mount.guest:
                raise RuntimeError(f"WASI preopen {fd} is {name!r}, expected {mount.guest!r}")
            self.fds[fd] = Descriptor(index, (), True)

    def dir_under_writable(self, fd: int) -> bool:
        entry = self.fds.get(fd)
        return entry is not None and entry.is_dir and self.mounts[entry.mount].writable

    def file_under_writable(self, fd: int) -> Descriptor | None:
        entry = self.fds.get(fd)
        return entry if entry is not None and not entry.is_dir and self.mounts[entry.mount].writable else None

    # -- path_open ---------------------------------------------------------------------------

    def _stat(self, ctx: Context) -> tuple[tuple[int, int], int, int]:
        """(dev, ino), filetype and size from the filestat in scratch (dev u64, ino u64,
        filetype u8, nlink u64, size u64, then three timestamps)."""
        dev, ino, kind, _nlink, size = struct.unpack("<QQB7xQQ", self.memory.read(ctx, self.real.scratch + SCRATCH_STAT, 40))
        return (dev, ino), kind, size

    def path_open(self, ctx: Context, vals: Any) -> int:
        dirfd, lookup, path, path_len = vals[0].i32 & MASK32, vals[1].i32 & MASK32, vals[2].i32 & MASK32, vals[3].i32 & MASK32
        oflags, out = vals[4].i32 & MASK32, vals[8].i32 & MASK32
        real, stat_at = self.real, self.real.scratch + SCRATCH_STAT
        parent = self.fds.get(dirfd)
        writable = parent is not None and parent.is_dir and self.mounts[parent.mount].writable
        errno = real.path_filestat_get(ctx, dirfd, lookup & LOOKUP_SYMLINK_FOLLOW, path, path_len, stat_at)
        if errno == ERRNO_NOENT and oflags & O_CREAT:
            if writable and not self.usage.allow(0, 1):
                return ERRNO_DQUOT
            node, kind, size = None, FILETYPE_REGULAR, 0
        elif errno != 0:
            return errno
        else:
            node, kind, size = self._stat(ctx)
            if kind not in (FILETYPE_DIRECTORY, FILETYPE_REGULAR, FILETYPE_SYMLINK):
                return ERRNO_ACCES  # FIFO, socket, device: never opened
            if kind == FILETYPE_REGULAR and oflags & O_TRUNC and writable:
                self.usage.freed()
                size = 0
        errno = real.path_open(ctx, dirfd, lookup, path, path_len, oflags, vals[5].i64, vals[6].i64,
                               vals[7].i32 & MASK32, out)
        if errno != 0:
            return errno
        (fd,) = struct.unpack("<I", self.memory.read(ctx, out, 4))
        self.stdio.pop(fd, None)  # a closed stdout's number, reused: a file from now on
        if node is None or kind == FILETYPE_SYMLINK:
            # created now, or opened through a link the lookup did not follow: ask the descriptor
            if real.fd_filestat_get(ctx, fd, stat_at) != 0 or (found := self._stat(ctx))[1] not in (
                    FILETYPE_DIRECTORY, FILETYPE_REGULAR):
                real.fd_close(ctx, fd)
                return ERRNO_ACCES
            if node is None and writable:
                self.usage.grew(0, 1)
            node, kind, size = found
        is_dir = kind == FILETYPE_DIRECTORY
        if parent is None or not (is_dir or writable):  # nothing to keep about a read-only file
            self.fds.pop(fd, None)
            return 0
        self._listings.pop(fd, None)
        try:
            parts = join_parts(parent.parts, self.memory.read(ctx, path, path_len).decode())
        except UnicodeDecodeError:
            parts = None
        self.fds[fd] = Descriptor(parent.mount, parts, is_dir, node, bool(vals[7].i32 & FDFLAGS_APPEND))
        if not is_dir:
            if len(self.sizes) > 2 * len(self.fds) + 1024:  # forget files no descriptor names
                named = {d.node for d in self.fds.values()}
                self.sizes = {n: s for n, s in self.sizes.items() if n in named}
            self.sizes[node] = size
        return 0

    def _creating(self, dirfd_arg: int, call: Callable[[Context, Any], int]) -> Callable[[Context, Any], int]:
        """A call that makes one new entry in the directory `vals[dirfd_arg]`."""

        def create(ctx: Context, vals: Any) -> int:
            counted = self.dir_under_writable(vals[dirfd_arg].i32 & MASK32)
            if counted and not self.usage.allow(0, 1):
                return ERRNO_DQUOT
            errno = call(ctx, vals)
            if errno == 0 and counted:
                self.usage.grew(0, 1)
            return errno

        return create

    # -- fd_readdir --------------------------------------------------------------------------

    def fd_readdir(self, ctx: Context, vals: Any) -> int:
        fd, buf, buf_len = (vals[i].i32 & MASK32 for i in range(3))
        cookie, out = vals[3].i64 & 0xFFFFFFFFFFFFFFFF, vals[4].i32 & MASK32
        errno = self.real.fd_readdir(ctx, fd, buf, buf_len, vals[3].i64, out)
        if errno != ERRNO_ILSEQ:
            return errno
        entries = self._listings.get(fd) if cookie else None
        if entries is None:
            entries = self._list(ctx, fd)
            if entries is None:
                return errno
            self._listings[fd] = entries
        blob = b"".join(_DIRENT.pack(i + 1, ino, len(name), kind) + name
                        for i, (name, kind, ino) in enumerate(entries) if i >= cookie)[:buf_len]
        self.memory.write(ctx, buf, blob)
        self.memory.write(ctx, out, struct.pack("<I", len(blob)))
        return 0

    def _list(self, ctx: Context, fd: int) -> list[tuple[bytes, int, int]] | None:
        """The folder behind `fd`, listed on the host without the names WASI cannot carry
        (None when the folder cannot be found on the host for sure)."""
        entry = self.fds.get(fd)
        if entry is None or entry.parts is None or not entry.is_dir:
            return None
        real, stat_at, path_at = self.real, self.real.scratch + SCRATCH_STAT, self.real.scratch + SCRATCH_PATH
        rel = "/".join(entry.parts).encode() or b"."
        if real.fd_filestat_get(ctx, fd, stat_at) != 0 or len(rel) > SCRATCH_BYTES - SCRATCH_PATH:
            return None
        own = self._stat(ctx)[0]
        self.memory.write(ctx, path_at, rel)
        if (real.path_filestat_get(ctx, FIRST_PREOPEN + entry.mount, 0, path_at, len(rel), stat_at) != 0
                or self._stat(ctx)[0] != own):
            return None  # the path no longer names the guest's folder (renamed, or a link on the way)
        mount = self.mounts[entry.mount]
        try:
            names = _list_host(mount.host, entry.parts)
        except (OSError, ValueError):
            return None
        entries = [(b".", FILETYPE_DIRECTORY, own[1]), (b"..", FILETYPE_DIRECTORY, own[1])]
        hidden = []
        for name in names:
            try:
                encoded = name.encode("utf-8")
            except UnicodeEncodeError:
                hidden.append(os.fsencode(name))
                continue
            if len(encoded) > SCRATCH_BYTES - SCRATCH_PATH:
                continue
            self.memory.write(ctx, path_at, encoded)
            if real.path_filestat_get(ctx, fd, 0, path_at, len(encoded), stat_at) == 0:
                (_dev, ino), kind, _size = self._stat(ctx)
                entries.append((encoded, kind, ino))
        guest = mount.guest + "".join("/" + p for p in entry.parts)
        if hidden and guest not in self.hidden:
            self.hidden[guest] = hidden
            shown = ", ".join(repr(n) for n in hidden[:20]) + (f" and {len(hidden) - 20} more" if len(hidden) > 20 else "")
            self.report(f"rlm-sandbox: {guest}: {len(hidden)} name(s) there are not valid UTF-8 and are left out "
                        f"of its listing: {shown}\n".encode())
        return entries


def _list_host(root: Path, parts: tuple[str, ...]) -> list[str]:
    """Names in `root/parts...`, opening every component without following links."""
    flags = os.O_RDONLY | os.O_DIRECTORY
    fd = os.open(root, flags)
    try:
        for part in parts:
            inner = os.open(part, flags | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
        return os.listdir(fd)
    finally:
        os.close(fd)
