"""How much the guest may keep in its writable folders (/workspace and /tmp together), and the
host-side bookkeeping that enforces it (`wasi_filter` and `wasi_writes` consult it).

`DiskUsage` keeps an estimate that never falls below the truth: it starts from a scan of the
folders, grows by exactly what each write, resize or creation added, and is never lowered by
a delete. When a change would pass the quota, the folders are scanned again, but only if
something may have freed space since the last scan (a delete, rename, truncation) or that
scan is over `STALE_S` old; so a guest hammering at a full quota costs at most one scan a
second. Sizes are apparent sizes
(`st_size`): a sparse file counts as big as a copy of it would be. Hard links count once.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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


def _size(n: float) -> str:
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
                f"rlm-sandbox: disk quota: /workspace and /tmp hold {_size(usage.bytes)} in {usage.files} "
                f"entr{'y' if usage.files == 1 else 'ies'} "
                f"(quota {_size(quota.max_bytes)}, {quota.max_files} entries); a write or a new file "
                f"that would pass it fails with EDQUOT. Delete files to make room.\n".encode())
        return False

    def _fits(self, more_bytes: int, more_files: int) -> bool:
        return (self.usage.bytes + more_bytes <= self.quota.max_bytes
                and self.usage.files + more_files <= self.quota.max_files)

    def grew(self, more_bytes: int = 0, more_files: int = 0) -> None:
        self.usage.bytes += max(0, more_bytes)
        self.usage.files += max(0, more_files)
