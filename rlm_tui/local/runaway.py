"""Ending a constrained root reply that has run away, so that what is left still runs.

Greedy decoding can fall into a loop: a 1.5B model asked about a source distribution wrote
``print(find('CHANGES.rst:1'))``, ``print(find('CHANGES.rst:2'))``, ... until its 1,024-token limit,
about 150 s on two cores, and the cell, cut inside a string, was a SyntaxError; the same history
then gave the same reply, iteration after iteration. `RunawayGuard` watches the reply line by line
and trips when its last lines repeat one pattern (lines equal once their numbers are ignored, in a
cycle of one to three lines). The generation then stops, and `RunawayGuard.end` ends the reply with a
comment that says why, then the closing fence: the cell keeps the complete lines it has and runs,
and the model reads in its history why that reply ended, so the next prompt differs.
"""

from __future__ import annotations

import re

REPEATED_LINES = 8  # a cycle must fill this many lines (and at least four cycles) to trip the guard
_LONGEST_CYCLE = 3
_NUMBER = re.compile(r"\d+")


def _shape(line: str) -> str:
    return _NUMBER.sub("0", line.strip())


class RunawayGuard:
    """Passes a constrained reply on line by line, and ends it well when it runs away or runs out.

    `feed` takes each generated piece and returns the complete lines to pass on (a partial line
    waits for its end); `tripped` is set once the last lines repeat one pattern. `end` returns
    the rest: the waiting text when the reply ended by itself, else a comment saying why it was
    cut and the closing fence (the partial line is dropped: the cell keeps complete lines only).
    """

    def __init__(self, repeated_lines: int = REPEATED_LINES) -> None:
        self.repeated_lines = repeated_lines
        self._shapes: list[str] = []
        self._partial = ""
        self.tripped = False

    def feed(self, text: str) -> str:
        if self.tripped:
            return ""
        *lines, self._partial = (self._partial + text).split("\n")
        passed = []
        for line in lines:
            passed.append(line + "\n")
            self._shapes.append(_shape(line))
            if self._loops():
                self.tripped = True
                self._partial = ""
                break
        return "".join(passed)

    def end(self, *, token_limit: int | None = None) -> str:
        """The rest of the reply. ``token_limit``: generation stopped there, before the reply's end."""
        if self.tripped:
            return _closing("its lines repeat one pattern over and over; loop over the values in code instead")
        if token_limit is not None:
            return _closing(f"the reply reached the {token_limit:,}-token limit; write a shorter cell")
        rest, self._partial = self._partial, ""
        return rest

    def _loops(self) -> bool:
        """Whether the last lines repeat a cycle of one to `_LONGEST_CYCLE` lines."""
        shapes = self._shapes
        for cycle in range(1, _LONGEST_CYCLE + 1):
            window = max(self.repeated_lines, 4 * cycle)
            if len(shapes) < window:
                return False
            tail = shapes[-window:]
            if all(tail[i] == tail[i + cycle] for i in range(window - cycle)):
                return True
        return False


def _closing(why: str) -> str:
    return f"# (reply cut here: {why})\n```"
