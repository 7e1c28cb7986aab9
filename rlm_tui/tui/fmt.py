"""Small, pure formatting helpers shared by the panes (no textual import)."""

from __future__ import annotations

from pathlib import Path

from rlm_tui.engine import calls, narration
from rlm_tui.lm.facts import is_local as is_local  # the panes' test for "free", the engine's one


def home_short(path: str) -> str:
    """`/home/me/src/x` -> `~/src/x`; other paths as they are."""
    home = str(Path.home())
    return "~" + path[len(home):] if path == home or path.startswith(home + "/") else path


def tokens(n: int) -> str:
    """1234 -> '1.2k', 2_500_000 -> '2.5M'."""
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k".replace(".0k", "k")
    return f"{n / 1_000_000:.1f}M".replace(".0M", "M")


def cost(usd: float | None, known: bool = True, local: bool = False) -> str:
    """`$1.50`, `$0.0012`, `<$0.0001` for a tiny non-zero cost, `free` for local models."""
    if local:
        return "free"
    if usd is None or (not known and not usd):
        return "$?"
    if usd == 0:
        return "$0"
    if usd < 0.0001:
        return "<$0.0001"
    if usd < 0.01:
        return f"${usd:.4f}"
    return f"${usd:.2f}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def error_line(error: str, width: int = 60) -> str:
    """The exception line of an error (`IndexError: list index out of range`), squeezed."""
    return one_line(calls.error_line(error), width)


def one_line(text: str, width: int = 60) -> str:
    """`text` on one line, squeezed to `width` characters (as the engine's text views do)."""
    return narration.one_line(text, width)


def size(n: int | None) -> str:
    return "" if n is None else tokens(n)
