"""The small-model protocol: what an offline model is shown after each cell.

A 1.5B model loses its way in a long traceback and often fails to notice that its output already
holds the answer. For `compact` runs (``embedded/`` root models) the feedback after a cell is:

- `short_error`: a traceback cut to the failing line of the cell and the exception's last line
  (and the project's top level after a FileNotFoundError);
- `answer_nudge`: when the output holds something of the shape the question asks for (an N-digit
  number, a bare count, the path of a project file), one line saying so and, for a one-field
  signature, the SUBMIT call that hands those values in, if they answer the question. The shapes are
  read off the question's own wording ("7-digit", "how many", "which file"), never from what the
  answer is; when the question asks for one value and the output holds several, the nudge names the
  one whose sentence shares most words with the question (none on a tie);
- a note when a cell repeats an earlier one (greedy decoding, given the same history, repeats
  itself; the note changes the history), or holds only comments (the 1.5B model wrote its answer
  as comments and looped).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlm_tui.engine.prompts import output_message

_CELL_FRAME = re.compile(r'File "<cell \d+>", line (\d+)')
_DIGITS = re.compile(r"\b(\d+)-digit\b(?:\s+(\w+))?", re.IGNORECASE)
_COUNT = re.compile(r"\bhow many\b|\bthe number only\b|\bcount\b", re.IGNORECASE)
_FILE = re.compile(r"\b(?:which|what) file\b|\bfile'?s? path\b|\bpath of the file\b", re.IGNORECASE)
_BARE_NUMBER = re.compile(r"^\s*(?:[A-Za-z_ ]{0,30}[:=]\s*)?(\d+)\s*$")
_PATH_LIKE = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w-][\w.-]*\.[A-Za-z]\w{0,7})(?![\w/])")
_WORD = re.compile(r"[a-z][a-z0-9_]+")
MAX_CANDIDATES = 6


@dataclass(frozen=True)
class Shape:
    """An answer shape the question asks for, e.g. 'a 7-digit number'; `one`: the question asks
    for one such value ("the 7-digit code", not "the four 7-digit codes")."""

    name: str
    plural: str
    one: bool = False


def wanted_shapes(question: str) -> list[Shape]:
    """The answer shapes the question's wording asks for (none when it names no shape)."""
    shapes = []
    if match := _DIGITS.search(question):
        n, noun = match.group(1), match.group(2) or ""
        shapes.append(Shape(f"a {n}-digit number", f"{n}-digit numbers", one=bool(noun) and not noun.endswith("s")))
    elif _COUNT.search(question):
        shapes.append(Shape("a number", "numbers"))
    if _FILE.search(question):
        shapes.append(Shape("a file path", "file paths", one=True))  # "which file", never "which files"
    return shapes


def _candidates(shape: Shape, output: str, project: Path | None) -> list[str]:
    found: list[str] = []
    if shape.name.endswith("-digit number"):
        n = int(shape.name.split()[1].split("-")[0])
        found = re.findall(rf"(?<![\d.,])\d{{{n}}}(?![\d.,]?\d)", output)
    elif shape.name == "a number":
        lines = [line for line in output.strip().splitlines() if line.strip()]
        if lines and (match := _BARE_NUMBER.match(lines[-1])):  # what `print(count)` shows last
            found = [match.group(1)]
    elif shape.name == "a file path" and project is not None:
        found = [p for p in _PATH_LIKE.findall(output) if (project / p).is_file()]
    return list(dict.fromkeys(found))


def answer_nudge(question: str, output: str, project: Path | None = None, field: str | None = None) -> str:
    """A line pointing at answer-shaped values in `output`, or "" when there are none (or too many
    to point at). With `field` (the one output field), the line ends with the SUBMIT call that would
    hand those values in: a 1.5B model told to "call SUBMIT" printed its own mis-parsed values
    again instead, but copies a call it is shown."""
    for shape in wanted_shapes(question):
        values = _candidates(shape, output, project)
        if not 1 <= len(values) <= MAX_CANDIDATES:
            continue
        what = shape.name if len(values) == 1 else shape.plural
        seen = f"Note: the output shows {what} of the kind the question asks for: {', '.join(values)}."
        answer = ", ".join(values)
        if shape.one and len(values) > 1:  # one value is asked for: point at one, or at none
            best = _best_match(question, output, values)
            if best is None:
                return f"{seen} The question asks for one: look at the sentence around each to tell which."
            seen, answer = f"{seen} The one in the sentence nearest the question's words is {best}.", best
        if field is None:
            return f"{seen} If that answers the question, call SUBMIT now."
        return f"{seen} If that answers the question, submit it:\n```python\nSUBMIT({field}={answer!r})\n```"
    return ""


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _sentence(text: str, start: int, end: int) -> str:
    """The sentence (or line, whichever is shorter) that holds text[start:end]."""
    first = max(text.rfind(". ", 0, start), text.rfind("\n", 0, start)) + 1
    stops = [i for i in (text.find(". ", end), text.find("\n", end)) if i >= 0]
    return text[first:min(stops, default=len(text))]


def _best_match(question: str, output: str, values: list[str]) -> str | None:
    """Of several values, the one whose sentence holds the most of the question's
    words; ``None`` on a tie (every candidate stands in a sentence of the same kind, so the words the
    sentences share tie and a name from the question tells them apart, or nothing does)."""
    asked = _words(question)
    scores = {}
    for value in values:
        best = 0
        for match in re.finditer(rf"(?<![\w/.-]){re.escape(value)}(?![\w/])", output):
            best = max(best, len(asked & _words(_sentence(output, match.start(), match.end()))))
        scores[value] = best
    ranked = sorted(values, key=lambda v: -scores[v])
    return ranked[0] if scores[ranked[0]] > scores[ranked[1]] else None


def project_listing(project: Path, limit: int = 30) -> str:
    """The project's top-level entries, folders marked with '/', hidden ones left out."""
    try:
        entries = sorted((e for e in project.iterdir() if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError:
        return ""
    names = [e.name + ("/" if e.is_dir() else "") for e in entries[:limit]]
    more = f", … ({len(entries) - limit} more)" if len(entries) > limit else ""
    return ", ".join(names) + more


def short_error(error: str, code: str, project: Path | None = None) -> str:
    """The failing line of the cell and the exception, from a traceback (with the project's top
    level when a file was not found); other errors as they are."""
    lines = [line for line in error.strip().splitlines() if line.strip()]
    frames = _CELL_FRAME.findall(error)
    if not lines or not frames:
        return error.strip()
    number = int(frames[-1])
    source = code.splitlines()
    where = f"line {number}: {source[number - 1].strip()}" if 0 < number <= len(source) else f"line {number}"
    text = f"{where}\n{lines[-1].strip()}"
    if project is not None and lines[-1].startswith("FileNotFoundError") and (listing := project_listing(project)):
        text += f"\nAt the top of /project: {listing}"
    return text


def submit_field(signature: Any) -> str | None:
    """The signature's output field when it has just one and it is a str (the nudge's SUBMIT call
    passes a string), else ``None``."""
    fields = signature.output_fields
    if len(fields) != 1:
        return None
    name, info = next(iter(fields.items()))
    return name if info.annotation is str else None


def _statements(code: str) -> list[str]:
    """The cell's lines without comment-only and blank lines, stripped."""
    return [line.strip() for line in code.splitlines() if line.strip() and not line.strip().startswith("#")]


def repeats(code: str, earlier: list[str | None]) -> bool:
    """Whether `code` runs the same statements as an earlier cell: a small model looping on one
    cell rewrites its opening # comment each time, so comments and blank lines do not count."""
    mine = _statements(code)
    return any(other is not None and _statements(other) == mine for other in earlier)


REPEATED = ("This cell is the same code as an earlier one, so it printed the same. If that output answers the "
            "question, call SUBMIT with the answer taken from it; if not, try something else.")


COMMENTS_ONLY = ("This cell holds only comments, so nothing ran: write the code that prints what you need, or "
                 "call SUBMIT with your answer.")


def cell_feedback(stdout: str, stderr: str, error: str | None, limit: int, *, code: str, question: str,
                  project: Path | None, repeated: bool = False, field: str | None = None) -> str:
    """The output message a small model sees: short errors; a nudge when the answer is in sight; a
    note when it ran the same code again (greedy decoding repeats itself) or a cell of comments only. `field`: the signature's
    one output field, if it has one (the nudge then shows the SUBMIT call)."""
    message = output_message(stdout, stderr, short_error(error, code, project) if error else None, limit)
    notes = [COMMENTS_ONLY] if not _statements(code) else [REPEATED] if repeated else []
    if not error and (nudge := answer_nudge(question, stdout, project, field)):
        notes.append(nudge)
    return "\n\n".join([message, *notes])
