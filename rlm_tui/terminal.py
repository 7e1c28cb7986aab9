"""Text bound for a terminal: keys scrubbed, control sequences dropped.

Guest output, LM text and file names can carry escape sequences: an OSC 52 sequence writes
the user's clipboard, others retitle the window, move the cursor or rewrite what was printed
(`\\r`). `printable` keeps `\\n` and `\\t` and drops every other C0 and C1 control, whole
ANSI sequences (CSI, OSC, DCS, SOS, PM, APC, 7- and 8-bit) and DEL. `say` is the one way the
command line prints anything that did not come from rlm-tui itself.
"""

from __future__ import annotations

import re
import sys
from typing import TextIO

from rlm_tui.redact import scrub

_SEQUENCE = re.compile(
    r"""
      (?:\x1b\[|\x9b) [0-?]* [ -/]* [@-~]                           # CSI ... final byte
    | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]) [^\x07\x1b\x90\x98\x9c-\x9f]* (?:\x07|\x1b\\|\x9c)  # OSC/DCS/SOS/PM/APC ... BEL or ST
    | \x1b [ -/]* [0-~]                                            # any other escape sequence
    """,
    re.VERBOSE,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # all C0 but \t and \n, DEL, all C1


def printable(text: str) -> str:
    """`text` without terminal control sequences or control characters (but \\n and \\t)."""
    return _CONTROL.sub("", _SEQUENCE.sub("", text))


def say(text: str, stream: TextIO | None = None, end: str = "\n") -> None:
    """Print `text` to `stream` (stdout by default), scrubbed of keys and made printable;
    characters the stream cannot encode are replaced, never raised."""
    stream = stream or sys.stdout
    line = printable(scrub(text)) + end
    try:
        stream.write(line)
    except UnicodeEncodeError:
        encoding = getattr(stream, "encoding", None) or "utf-8"
        stream.write(line.encode(encoding, errors="replace").decode(encoding, errors="replace"))
    stream.flush()


def err(text: str) -> None:
    """`say` on stderr."""
    say(text, sys.stderr)
