"""Bounded worker processes for document work on the host.

PDFium and qpdf are compiled code fed with files from the guest. They run in worker processes
(`python -m rlm_tui.documents.worker`, so the caller's main module is never re-imported) with an
address-space limit (`MEMORY_MB`) and a wall-clock deadline per call; a crash, a hang or a
memory blow-up kills that worker and comes back as a `DocumentError`, and the host process never
sees it. Idle workers are kept for the next call (a start costs ~0.3 s); jobs of one call run in
parallel on up to `WORKERS` of them.
"""

from __future__ import annotations

import concurrent.futures
import os
import pickle
import select
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

WORKERS = max(1, min(4, os.cpu_count() or 1))
MEMORY_MB = 2048
_idle: list[_Worker] = []
_lock = threading.Lock()


class DocumentError(ValueError):
    """A document a host tool cannot (or may not) work on; written for the model."""


class _Gone(Exception):
    """The worker died or did not answer in time."""


class _Worker:
    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        self.proc = subprocess.Popen([sys.executable, "-m", "rlm_tui.documents.worker", str(MEMORY_MB)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=env, close_fds=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def call(self, target: str, args: tuple[Any, ...], deadline: float) -> tuple[str, Any]:
        module, _, name = target.partition(":")
        data = pickle.dumps((module, name, args))
        stdin = self.proc.stdin
        assert stdin is not None, "the worker is started with a pipe on stdin"
        try:
            stdin.write(len(data).to_bytes(8, "big") + data)
            stdin.flush()
        except (BrokenPipeError, OSError):
            raise _Gone("the worker exited") from None
        size = int.from_bytes(self._read(8, deadline), "big")
        return pickle.loads(self._read(size, deadline))

    def _read(self, count: int, deadline: float) -> bytes:
        stdout = self.proc.stdout
        assert stdout is not None, "the worker is started with a pipe on stdout"
        fd = stdout.fileno()
        chunks, left = [], count
        while left:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise _Gone("timeout")
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                raise _Gone("the worker exited")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def _take() -> _Worker:
    with _lock:
        while _idle:
            worker = _idle.pop()
            if worker.alive():
                return worker
    return _Worker()


def _give(worker: _Worker) -> None:
    with _lock:
        if len(_idle) < WORKERS:
            _idle.append(worker)
            return
    worker.kill()


def stop() -> None:
    """End the idle workers (the next call starts fresh ones)."""
    with _lock:
        workers = list(_idle)
        _idle.clear()
    for worker in workers:
        worker.kill()


def _one(target: str, job: tuple[Any, ...], deadline: float, timeout_s: float, what: str) -> Any:
    worker = _take()
    try:
        status, value = worker.call(target, job, deadline)
    except _Gone as e:
        worker.kill()
        if str(e) == "timeout":
            raise DocumentError(f"{what} did not finish within {timeout_s:g} s and was stopped") from None
        raise DocumentError(f"{what} crashed the document worker (over its {MEMORY_MB} MB memory limit, "
                            "or a damaged file)") from None
    _give(worker)
    if status == "ok":
        return value
    if status == "memory":
        raise DocumentError(f"{what} needed more than the worker's {MEMORY_MB} MB of memory")
    raise DocumentError(value if status == "error" else f"{what} failed: {value}")


def run_all(target: str, jobs: Sequence[tuple[Any, ...]], timeout_s: float, what: str) -> list[Any]:
    """`module:function` called with each job's arguments, in parallel worker processes (the host
    never imports the libraries), results in order."""
    deadline = time.monotonic() + timeout_s
    if len(jobs) == 1:
        return [_one(target, jobs[0], deadline, timeout_s, what)]
    with concurrent.futures.ThreadPoolExecutor(min(len(jobs), WORKERS)) as pool:
        futures = [pool.submit(_one, target, job, deadline, timeout_s, what) for job in jobs]
        return [future.result() for future in futures]
