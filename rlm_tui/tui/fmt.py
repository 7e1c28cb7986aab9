"""Small, pure formatting helpers shared by the panes (no textual import)."""

from __future__ import annotations


def tokens(n: int) -> str:
    """1234 -> '1.2k', 2_500_000 -> '2.5M'."""
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k".replace(".0k", "k")
    return f"{n / 1_000_000:.1f}M".replace(".0M", "M")


def cost(usd: float | None, known: bool = True) -> str:
    if usd is None or (not known and not usd):
        return "$?"
    if usd == 0:
        return "$0"
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


def one_line(text: str, width: int = 60) -> str:
    """First non-empty line of `text`, squeezed to `width` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def size(n: int | None) -> str:
    return "" if n is None else tokens(n)
