"""Capped capture of the guest's stdout and stderr."""

from __future__ import annotations

import threading


class OutputBuffer:
    """Keeps the first `limit` bytes written; counts the rest and says so when taken."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._chunks: list[bytes] = []
        self._kept = 0
        self._dropped = 0
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self._lock:
            room = self.limit - self._kept
            if room > 0:
                piece = bytes(data[:room])
                self._chunks.append(piece)
                self._kept += len(piece)
            self._dropped += max(0, len(data) - max(room, 0))

    def reset(self) -> None:
        with self._lock:
            self._chunks.clear()
            self._kept = self._dropped = 0

    def take(self) -> str:
        """The text so far (invalid UTF-8 replaced), with a truncation marker; then empty."""
        with self._lock:
            text = b"".join(self._chunks).decode("utf-8", errors="replace")
            if self._dropped:
                text += f"\n… [output truncated: {self._dropped:,} more bytes not shown]\n"
            self._chunks.clear()
            self._kept = self._dropped = 0
            return text
