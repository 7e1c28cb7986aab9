"""Scoring answers against exact ground truth: exact match (0 or 1) or F1 over sets of items.

Answers are free text from either mode, so each scorer first pulls the items it cares about out
of the text (codes, numbers, names, paths, pairs) and then compares them with the truth.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

_INT = re.compile(r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?![\w])|(?<![\w.])-?\d+(?![\w.])")
_PATH = re.compile(r"[\w./\\-]+\.py\b")
_NAME_SPLIT = re.compile(r"[,;\n]|\band\b|\s-\s")
_IDENT = re.compile(r"[A-Za-z_][\w.]*")


def f1(predicted: Iterable[str], expected: Iterable[str],
       same: Callable[[str, str], bool] = lambda a, b: a == b) -> float:
    """F1 of two sets under `same` (1.0 when both are empty)."""
    pred, gold = list(dict.fromkeys(predicted)), list(dict.fromkeys(expected))
    if not pred and not gold:
        return 1.0
    if not pred or not gold:
        return 0.0
    precision = sum(any(same(p, g) for g in gold) for p in pred) / len(pred)
    recall = sum(any(same(p, g) for p in pred) for g in gold) / len(gold)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def codes(text: str, digits: int = 7) -> list[str]:
    return re.findall(rf"(?<!\d)\d{{{digits}}}(?!\d)", text or "")


def exact_code(answer: str, expected: str) -> float:
    """1 when the answer names exactly the expected code (and no other code)."""
    return 1.0 if set(codes(answer, len(expected))) == {expected} else 0.0


def codes_f1(answer: str, expected: list[str]) -> float:
    return f1(codes(answer, len(expected[0]) if expected else 7), expected)


def integers(text: str) -> list[int]:
    return [int(m.replace(",", "")) for m in _INT.findall(text or "")]


def exact_int(answer: str, expected: int) -> float:
    """1 when the answer's number is the expected one: the only number, or the last one
    ("There are 12 ... so the answer is 14" counts 14)."""
    found = integers(answer)
    return 1.0 if found and found[-1] == int(expected) else 0.0


def names(text: str) -> list[str]:
    """Items of a list answer: split on commas, semicolons, newlines and 'and'; markdown, bullets
    and call parentheses stripped; one identifier (dots allowed) per item."""
    out = []
    for part in _NAME_SPLIT.split(text or ""):
        part = part.strip().strip("`*'\"[]").strip()  # not "_": a private name starts with one
        part = re.sub(r"^(?:\d+[.)]|[-*\u2022])\s*", "", part)
        found = _IDENT.findall(part.replace("`", "").replace("()", ""))
        if found:
            out.append(found[0].strip("."))
    return out


def same_name(a: str, b: str) -> bool:
    """'invoke' matches 'Context.invoke'; 'click.core.Context.invoke' matches 'Context.invoke'."""
    a, b = a.lower(), b.lower()
    return a == b or b.endswith("." + a) or a.endswith("." + b)


def names_f1(answer: str, expected: list[str]) -> float:
    return f1(names(answer), expected, same_name)


def user_names(text: str, pattern: str) -> list[str]:
    return re.findall(pattern, text or "")


def exact_path(answer: str, expected: str) -> float:
    """1 when the answer names the expected file (a path with the same trailing parts, at least
    the file name and its folder, or the full path) and no other .py file."""
    found = {p.replace("\\", "/").lstrip("./") for p in _PATH.findall(answer or "")}
    found = {p.removeprefix("project/") for p in found}
    if not found:
        return 0.0
    def matches(p: str) -> bool:
        return p == expected or expected.endswith("/" + p) and "/" in p or p.endswith("/" + expected)
    return 1.0 if all(matches(p) for p in found) else 0.0


def pairs_f1(answer: str, expected: list[list[str]], name_pattern: str) -> float:
    """F1 over unordered pairs; a pair is two names joined by ',', '+', '&', '-', '/', 'and' or 'with'."""
    regex = re.compile(rf"({name_pattern})\W{{0,3}}(?:,|\+|&|/|-|\band\b|\bwith\b)\W{{0,3}}({name_pattern})")
    found = {tuple(sorted((a, b))) for a, b in regex.findall(answer or "") if a != b}
    gold = {tuple(sorted(p)) for p in expected}
    return f1(["|".join(p) for p in found], ["|".join(p) for p in gold])
