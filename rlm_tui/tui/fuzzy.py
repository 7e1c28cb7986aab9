"""Fuzzy matching for `@path` and slash-command completion (pure, no textual)."""

from __future__ import annotations

from collections.abc import Iterable


def score(query: str, candidate: str) -> float | None:
    """Higher is better; None when `query` is not a subsequence of `candidate`.

    Rewards contiguous runs, matches at word/path boundaries and in the file name, and
    shorter candidates.
    """
    if not query:
        return 0.0
    q, c = query.casefold(), candidate.casefold()
    name_start = c.rfind("/") + 1
    total, pos, run = 0.0, 0, 0
    for ch in q:
        found = c.find(ch, pos)
        if found < 0:
            return None
        run = run + 1 if found == pos and pos else 1
        bonus = 1.0 + run
        if found == 0 or c[found - 1] in "/_-. ":
            bonus += 3
        if found >= name_start:
            bonus += 1
        total += bonus
        pos = found + 1
    if q in c[name_start:]:
        total += 5 + (10 if c[name_start:].startswith(q) else 0)
    return total - len(c) * 0.05


def rank(query: str, candidates: Iterable[str], limit: int = 20) -> list[str]:
    scored = []
    for cand in candidates:
        s = score(query, cand)
        if s is not None:
            scored.append((-s, cand))
    scored.sort()
    return [c for _, c in scored[:limit]]


def mention_at(text: str, cursor: int) -> tuple[int, str] | None:
    """If the cursor ends an `@word`, return (start index of '@', the word after it)."""
    start = cursor
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    word = text[start:cursor]
    if word.startswith("@") and (start == 0 or text[start - 1].isspace()):
        return start, word[1:]
    return None


def mentions(text: str) -> list[str]:
    """All `@path` mentions in a message, in order, without duplicates."""
    out: list[str] = []
    for word in text.split():
        if word.startswith("@") and len(word) > 1:
            path = word[1:].rstrip(",.;:!?)")
            if path and path not in out:
                out.append(path)
    return out
