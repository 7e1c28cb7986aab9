"""The pdf skill's host side: guest paths checked, limits applied, work sent to the workers.

The document is read through `guest_paths` (under /project, /inputs or /workspace, no link
followed, at most `MAX_FILE_BYTES`) into a private temporary copy the workers open; outputs are
written back under /workspace the same way. Page counts, dpi and pixels are checked before any
rendering starts.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import tempfile
from collections.abc import Iterator
from typing import Any

from rlm_tui.documents.workers import WORKERS, DocumentError, run_all
from rlm_tui.engine import guest_paths

MAX_FILE_BYTES = 256 << 20
MAX_RENDER_PAGES = 100
MAX_LAYOUT_PAGES = 500
MAX_DPI = 400
MAX_PIXELS = 40_000_000
MAX_HITS = 5000
TIMEOUT_S = 50.0
PDFIUM = "rlm_tui.documents.pdfium:"  # run in the workers only: the host never loads PDFium


@contextlib.contextmanager
def private_copy(guest_path: str) -> Iterator[str]:
    """A host-only copy of the guest's PDF, removed afterwards."""
    data = guest_paths.read_bytes(guest_path, MAX_FILE_BYTES)
    if b"%PDF-" not in data[:1024]:
        raise DocumentError(f"{guest_path} is not a PDF (no %PDF- header)")
    fd, path = tempfile.mkstemp(prefix="rlm-doc-", suffix=".pdf")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        del data
        yield path
    finally:
        os.unlink(path)


def _pages(pages: Any, count: int, limit: int, name: str, what: str) -> list[int]:
    if pages is None:
        chosen = list(range(count))
    elif isinstance(pages, int) and not isinstance(pages, bool):
        chosen = [pages]
    elif isinstance(pages, list) and all(isinstance(p, int) and not isinstance(p, bool) for p in pages):
        chosen = list(dict.fromkeys(pages))
    else:
        raise DocumentError(f"pages must be a page index or a list of them (0-based), not {pages!r}")
    for index in chosen:
        if not 0 <= index < count:
            raise DocumentError(f"page {index} does not exist: {name} has {count} pages (0 to {count - 1})")
    if len(chosen) > limit:
        raise DocumentError(f"{what} {len(chosen)} pages of {name} at once is over the limit of {limit} per call; "
                            f"ask for fewer, e.g. pages=list(range(0, {limit}))")
    return chosen


def _chunks(items: list[int]) -> list[list[int]]:
    size = max(1, -(-len(items) // WORKERS))
    return [items[i:i + size] for i in range(0, len(items), size)]


def info(path: str) -> dict[str, Any]:
    with private_copy(path) as copy:
        return run_all(PDFIUM + "info", [(copy, path)], TIMEOUT_S, f"reading {path}")[0]


def layout(path: str, pages: Any = None) -> list[dict[str, Any]]:
    with private_copy(path) as copy:
        count = run_all(PDFIUM + "info", [(copy, path)], TIMEOUT_S, f"reading {path}")[0]["pages"]
        chosen = _pages(pages, count, MAX_LAYOUT_PAGES, path, "reading the text of")
        parts = run_all(PDFIUM + "layout", [(copy, path, c) for c in _chunks(chosen)], TIMEOUT_S,
                        f"reading the text of {path}")
    return [page for part in parts for page in part]


def search(path: str, query: str, pages: Any = None, match_case: bool = False,
           whole_word: bool = False) -> list[dict[str, Any]]:
    if not isinstance(query, str) or not query.strip():
        raise DocumentError("search needs a non-empty query string")
    with private_copy(path) as copy:
        count = run_all(PDFIUM + "info", [(copy, path)], TIMEOUT_S, f"reading {path}")[0]["pages"]
        chosen = _pages(pages, count, 10 * MAX_LAYOUT_PAGES, path, "searching")
        parts = run_all(PDFIUM + "search", [(copy, path, query, c, bool(match_case), bool(whole_word), MAX_HITS)
                                            for c in _chunks(chosen)], TIMEOUT_S, f"searching {path}")
    return [hit for part in parts for hit in part][:MAX_HITS]


def render(path: str, pages: Any = None, dpi: float = 150, region: Any = None, grayscale: bool = False,
           out_dir: str = "/workspace/pages") -> list[str]:
    """Guest paths of the PNGs written under `out_dir` (one per page, in the order asked)."""
    if not isinstance(dpi, (int, float)) or not 10 <= dpi <= MAX_DPI:
        raise DocumentError(f"dpi must be between 10 and {MAX_DPI}, not {dpi!r}")
    if region is not None and (not isinstance(region, (list, tuple)) or len(region) != 4
                               or not all(isinstance(v, (int, float)) for v in region)):
        raise DocumentError(f"region must be [x0, y0, x1, y1] in points from the page's top-left, not {region!r}")
    guest_paths.split(out_dir + "/x.png", (guest_paths.WRITABLE,))  # a bad folder fails before any work
    stem = posixpath.splitext(posixpath.basename(path))[0] or "page"
    with private_copy(path) as copy:
        count = run_all(PDFIUM + "info", [(copy, path)], TIMEOUT_S, f"reading {path}")[0]["pages"]
        chosen = _pages(pages, count, MAX_RENDER_PAGES, path, "rendering")
        parts = run_all(PDFIUM + "render", [(copy, path, c, float(dpi), list(region) if region else None,
                                             bool(grayscale), MAX_PIXELS) for c in _chunks(chosen)],
                        TIMEOUT_S, f"rendering {path}")
    images = [image for part in parts for image in part]
    suffix = "" if region is None else "-region"
    return [guest_paths.write_bytes(f"{out_dir.rstrip('/')}/{stem}-p{index + 1:04d}-{dpi:g}dpi{suffix}.png", png)
            for index, png in zip(chosen, images, strict=True)]


def _boxes(boxes: Any) -> dict[int, list[list[float]]]:
    """{page: [[x0, y0, x1, y1]]} from dicts with page/x0/y0/x1/y1 (words, search hits)."""
    out: dict[int, list[list[float]]] = {}
    if not isinstance(boxes, list):
        raise DocumentError("boxes must be a list of {'page', 'x0', 'y0', 'x1', 'y1'} dicts (words or search hits)")
    for box in boxes:
        try:
            page = int(box["page"])
            coords = [float(box[k]) for k in ("x0", "y0", "x1", "y1")]
        except (KeyError, TypeError, ValueError):
            raise DocumentError(f"bad box {box!r}: each box needs page, x0, y0, x1, y1 (points from the top-left)") from None
        if coords[2] <= coords[0] or coords[3] <= coords[1]:
            raise DocumentError(f"box {box!r} is empty (x1 must be > x0 and y1 > y0)")
        out.setdefault(page, []).append(coords)
    return out


def redact(path: str, out: str, boxes: Any = None, terms: Any = None, fill: Any = (0, 0, 0),
           pad: float = 1.0) -> dict[str, Any]:
    """Write `out` (under /workspace) with the text under `boxes` and under every match of `terms`
    removed and painted over."""
    guest_paths.split(out, (guest_paths.WRITABLE,))
    if not (isinstance(fill, (list, tuple)) and len(fill) == 3 and all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in fill)):
        raise DocumentError(f"fill must be [r, g, b] with values from 0 to 1, not {fill!r}")
    chosen = _boxes(list(boxes or []))
    hits = []
    for term in terms or []:
        hits += search(path, term)
    for page, rects in _boxes([{**h} for h in hits]).items():
        chosen.setdefault(page, []).extend(rects)
    if not chosen:
        raise DocumentError("nothing to redact: give boxes, or terms that occur in the document")
    padded = {p: [[x0 - pad, y0 - pad, x1 + pad, y1 + pad] for x0, y0, x1, y1 in rects] for p, rects in chosen.items()}
    with private_copy(path) as copy:
        data, removed = run_all("rlm_tui.documents.redaction:redact", [(copy, path, padded, [float(v) for v in fill])], TIMEOUT_S,
                                f"redacting {path}")[0]
    written = guest_paths.write_bytes(out, data)
    return {"path": written, "boxes": sum(len(r) for r in padded.values()), "pages": sorted(padded),
            "glyphs_removed": removed, "terms_found": len(hits)}
