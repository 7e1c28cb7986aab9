"""A document worker process: reads pickled jobs on stdin, answers pickled results on stdout.

Run by `workers` as `python -m rlm_tui.documents.worker MEMORY_MB`. A job is
`(module, function, args)`, always written by the host; the answer is `("ok", value)`,
`("error", message)` for a DocumentError, `("memory", "")` or `("crash", text)`.
"""

from __future__ import annotations

import importlib
import pickle
import sys


def _limit_memory(megabytes: int) -> None:
    try:
        import resource

        limit = megabytes << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):  # not on this platform: the deadline still holds
        pass


def main() -> None:
    _limit_memory(int(sys.argv[1]))
    jobs, answers = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a library's print must not break the protocol
    from rlm_tui.documents.workers import DocumentError

    while header := jobs.read(8):
        module, name, args = pickle.loads(jobs.read(int.from_bytes(header, "big")))
        try:
            answer = ("ok", getattr(importlib.import_module(module), name)(*args))
        except DocumentError as e:
            answer = ("error", str(e))
        except MemoryError:
            answer = ("memory", "")
        except Exception as e:  # the file broke the library: reported, the worker goes on
            answer = ("crash", f"{type(e).__name__}: {e}")
        data = pickle.dumps(answer)
        answers.write(len(data).to_bytes(8, "big") + data)
        answers.flush()


if __name__ == "__main__":
    main()
