"""Host tools of the pdf skill: PDFium (pypdfium2) for layout and rendering, pikepdf for redaction.

Each takes guest paths (/project, /inputs or /workspace; checked on the host, links refused) and
runs the work in bounded worker processes (rlm_tui.documents). The guest module `pdf` wraps them.
"""

from __future__ import annotations

from typing import Any

from rlm_tui.documents import pdf_tools as _pdf


def pdf_info(path: str) -> dict:
    """Page count, page sizes (points), metadata and table of contents of a PDF."""
    return _pdf.info(path)


def pdf_layout(path: str, pages: Any = None) -> list:
    """Per page (0-based): text, words and blocks with boxes in points from the top-left."""
    return _pdf.layout(path, pages)


def pdf_search(path: str, query: str, pages: Any = None, match_case: bool = False, whole_word: bool = False) -> list:
    """Every match of `query`: {page, text, x0, y0, x1, y1} (one box per line a match covers)."""
    return _pdf.search(path, query, pages, match_case, whole_word)


def pdf_render(path: str, pages: Any = None, dpi: float = 150, region: Any = None, grayscale: bool = False,
               out_dir: str = "/workspace/pages") -> list:
    """Render pages (or a region [x0, y0, x1, y1] in points) to PNG files under /workspace; their paths."""
    return _pdf.render(path, pages, dpi, region, grayscale, out_dir)


def pdf_redact(path: str, out: str, boxes: Any = None, terms: Any = None, fill: Any = (0, 0, 0)) -> dict:
    """Write `out` (under /workspace) with the text under `boxes` and under each match of `terms` removed."""
    return _pdf.redact(path, out, boxes, terms, fill)
