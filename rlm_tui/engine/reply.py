"""Parse the root LM's reply: its reasoning, and the code of its ```python blocks.

One left-to-right pass. Inside a block the text is read as Python source, so that a fence
inside a string literal (an answer that itself contains a ```python example) or a comment
does not end the block; a ``` outside strings and comments does. If a block's string literal
never closes (broken code), that block and every later one fall back to ending at the first
fence, as a plain fence parser would. Every search starts where the last one ended, so the
work is linear in the reply's length (`Scan.chars_scanned` counts it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

FENCE = "```"
_LANGUAGE = re.compile(r"(?:python|py|repl)", re.IGNORECASE)
_CODE_TOKEN = re.compile(r"```|#|\"\"\"|'''|\"|'")  # what changes the lexical state of code
_STRING_END = {q: re.compile(r"\\.|" + re.escape(q) + ("" if len(q) == 3 else r"|\n"), re.DOTALL)
               for q in ('"""', "'''", '"', "'")}


@dataclass(frozen=True)
class ParsedReply:
    reasoning: str
    code: str | None


@dataclass
class Scan:
    """The blocks and the text around them; `chars_scanned` is the work the scan did."""

    blocks: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    chars_scanned: int = 0


def parse_reply(text: str) -> ParsedReply:
    """Reasoning and the code of every ```python / ```py / ```repl block (joined in order)."""
    found = scan(text)
    code = "\n\n".join(b for b in (block.strip("\n") for block in found.blocks) if b.strip())
    return ParsedReply("".join(found.outside).strip(), code or None)


def scan(text: str) -> Scan:
    result = Scan()
    pos = 0  # everything before pos is accounted for
    look = 0  # where the next opener may start
    newline = -1  # the next newline at or after the last opener looked at (-1: not searched yet)
    lexical = True  # False once a block's string never closed: later blocks end at the first fence
    while True:
        opener = text.find(FENCE, look)
        result.chars_scanned += (len(text) if opener < 0 else opener) - look + 1
        if opener < 0:
            break
        after = opener + len(FENCE)
        if _LANGUAGE.match(text, after) is None:
            look = opener + 1  # a longer run of backticks may hold an opener further on
            continue
        if newline < after:
            newline = text.find("\n", after)
            result.chars_scanned += (len(text) if newline < 0 else newline) - after + 1
            if newline < 0:  # an opener needs its own line: none can follow
                break
        result.outside.append(text[pos:opener])
        start = newline + 1
        end = _code_end(text, start, result) if lexical else -1
        if lexical and end == -2:
            lexical = False
        if not lexical:
            end = text.find(FENCE, start)
            result.chars_scanned += (len(text) if end < 0 else end) - start + 1
        if end < 0:
            result.blocks.append(text[start:])
            pos = len(text)
            break
        result.blocks.append(text[start:end])
        pos = look = end + len(FENCE)
    result.outside.append(text[pos:])
    return result


def _code_end(text: str, pos: int, result: Scan) -> int:
    """Where the block starting at `pos` is closed: the index of its fence, -1 when the text
    ends in code (an unclosed block), -2 when it ends inside a string literal."""
    while True:
        token = _CODE_TOKEN.search(text, pos)
        result.chars_scanned += (len(text) if token is None else token.end()) - pos + 1
        if token is None:
            return -1
        kind = token.group()
        if kind == FENCE:
            return token.start()
        if kind == "#":
            pos = text.find("\n", token.end())
            result.chars_scanned += (len(text) if pos < 0 else pos) - token.end() + 1
            if pos < 0:
                return -1
            continue
        pos = _string_end(text, token.end(), kind, result)
        if pos < 0:
            return -2


def _string_end(text: str, pos: int, quote: str, result: Scan) -> int:
    """The index after the string literal opened by `quote` before `pos`; -1 if it never closes.
    A one-quote string also ends at a newline (unclosed: broken code, not a fence to keep)."""
    end = _STRING_END[quote]
    while True:
        match = end.search(text, pos)
        result.chars_scanned += (len(text) if match is None else match.end()) - pos + 1
        if match is None:
            return -1 if len(quote) == 3 else len(text)
        if match.group()[0] != "\\":
            return match.end()
        pos = match.end()
