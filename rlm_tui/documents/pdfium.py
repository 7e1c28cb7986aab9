"""PDF work with PDFium (pypdfium2, Apache-2.0/BSD-3), run inside a worker process.

Every function takes the path of a private host copy of the document, the name the model knows it
by (for messages), and plain arguments, and returns plain data. Coordinates are PDF points with
the origin at the top-left of the page (x right, y down), as in the rendered images at 72 dpi.
"""

from __future__ import annotations

import ctypes
import io
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from rlm_tui.documents.workers import DocumentError

_SPACE = frozenset(" \t\r\n\x0b\x0c\xa0\u2002\u2003\u2009")


def open_document(path: str, name: str) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(path)
    except pdfium.PdfiumError as e:
        text = str(e)
        if "password" in text.lower():
            raise DocumentError(f"{name} is encrypted: it needs a password, and these tools take none") from None
        raise DocumentError(f"{name} is not a readable PDF (damaged or truncated: {text})") from None


def _pages(doc: pdfium.PdfDocument, name: str, pages: list[int]) -> list[int]:
    count = len(doc)
    for index in pages:
        if not 0 <= index < count:
            raise DocumentError(f"page {index} does not exist: {name} has {count} pages (0 to {count - 1})")
    return pages


def _box(page: pdfium.PdfPage) -> tuple[float, float, float, float]:
    return page.get_cropbox()


def info(path: str, name: str) -> dict[str, Any]:
    """Page count and sizes, metadata, table of contents."""
    doc = open_document(path, name)
    try:
        sizes = [[round(w, 2), round(h, 2)] for w, h in (doc.get_page_size(i) for i in range(len(doc)))]
        toc = []
        for mark in doc.get_toc(max_depth=8):
            dest = mark.get_dest()
            toc.append({"level": mark.level + 1, "title": mark.get_title(),
                        "page": dest.get_index() if dest is not None else None})
            if len(toc) >= 2000:
                break
        return {"pages": len(doc), "sizes": sizes, "metadata": doc.get_metadata_dict(skip_empty=True),
                "toc": toc, "version": doc.get_version()}
    finally:
        doc.close()


def _chars(textpage: pdfium.PdfTextPage) -> list[tuple[str, tuple[float, float, float, float] | None]]:
    """(character, (left, bottom, right, top) or None for generated ones) in page order."""
    out: list[tuple[str, tuple[float, float, float, float] | None]] = []
    l, b, r, t = ctypes.c_double(), ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
    raw = textpage.raw
    for i in range(pdfium_c.FPDFText_CountChars(raw)):
        char = chr(pdfium_c.FPDFText_GetUnicode(raw, i) or 0xFFFD)
        if pdfium_c.FPDFText_IsGenerated(raw, i) == 1 or not pdfium_c.FPDFText_GetCharBox(raw, i, l, r, b, t):
            out.append((char, None))
        else:
            out.append((char, (l.value, b.value, r.value, t.value)))
    return out


def _union(boxes: list[tuple[float, float, float, float]]) -> tuple[float, float, float, float]:
    return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)


def _flip(box: tuple[float, float, float, float], crop: tuple[float, float, float, float]) -> dict[str, float]:
    """(left, bottom, right, top) in PDF space as top-left-origin x0, y0, x1, y1."""
    left, bottom, right, top = box
    return {"x0": round(left - crop[0], 2), "y0": round(crop[3] - top, 2),
            "x1": round(right - crop[0], 2), "y1": round(crop[3] - bottom, 2)}


def _page_layout(page: pdfium.PdfPage, index: int) -> dict[str, Any]:
    crop = _box(page)
    textpage = page.get_textpage()
    try:
        chars = _chars(textpage)
        text = textpage.get_text_range().replace("\r\n", "\n").replace("\r", "\n")
    finally:
        textpage.close()
    words: list[dict[str, Any]] = []
    lines: list[list[dict[str, Any]]] = [[]]
    current: list[tuple[str, tuple[float, float, float, float]]] = []

    def end_word() -> None:
        if current:
            box = _union([c[1] for c in current])
            word = {"text": "".join(c[0] for c in current), **_flip(box, crop), "line": len(lines) - 1}
            words.append(word)
            lines[-1].append(word)
            current.clear()

    for char, box in chars:
        if char in ("\r", "\n"):
            end_word()
            if lines[-1]:
                lines.append([])
        elif char in _SPACE or box is None:
            end_word()
        else:
            current.append((char, box))
    end_word()
    lines = [line for line in lines if line]
    blocks: list[dict[str, Any]] = []
    for number, line in enumerate(lines):
        top, bottom = min(w["y0"] for w in line), max(w["y1"] for w in line)
        for w in line:
            w["line"] = number
        previous = blocks[-1] if blocks else None
        height = bottom - top
        if previous is None or top - previous["y1"] > 0.6 * max(height, 1.0) or top < previous["y0"] - 1:
            blocks.append({"block": len(blocks), "x0": min(w["x0"] for w in line), "y0": top,
                           "x1": max(w["x1"] for w in line), "y1": bottom, "lines": []})
        block = blocks[-1]
        block["lines"].append(" ".join(w["text"] for w in line))
        block.update(x0=min(block["x0"], *(w["x0"] for w in line)), x1=max(block["x1"], *(w["x1"] for w in line)),
                     y1=max(block["y1"], bottom))
        for w in line:
            w["block"] = block["block"]
    for block in blocks:
        block["text"] = "\n".join(block.pop("lines"))
    return {"page": index, "width": round(crop[2] - crop[0], 2), "height": round(crop[3] - crop[1], 2),
            "text": text, "words": words, "blocks": blocks}


def layout(path: str, name: str, pages: list[int]) -> list[dict[str, Any]]:
    """Per page: text, words and blocks with positions."""
    doc = open_document(path, name)
    try:
        out = []
        for index in _pages(doc, name, pages):
            page = doc[index]
            try:
                out.append(_page_layout(page, index))
            finally:
                page.close()
        return out
    finally:
        doc.close()


def search(path: str, name: str, query: str, pages: list[int], match_case: bool, whole_word: bool,
           limit: int) -> list[dict[str, Any]]:
    """Every match of `query`: page, matched text, and a box per line it covers."""
    doc = open_document(path, name)
    hits: list[dict[str, Any]] = []
    try:
        for index in _pages(doc, name, pages):
            page = doc[index]
            textpage = page.get_textpage()
            try:
                crop = _box(page)
                chars = _chars(textpage)
                searcher = textpage.search(query, match_case=match_case, match_whole_word=whole_word)
                while (found := searcher.get_next()) is not None and len(hits) < limit:
                    start, count = found
                    span = chars[start:start + count]
                    rows: list[list[tuple[float, float, float, float]]] = []
                    for _, box in span:  # a new row where a box does not overlap the row's height
                        if box is None:
                            continue
                        if rows:
                            row = _union(rows[-1])
                            if min(row[3], box[3]) - max(row[1], box[1]) > 0.3 * min(row[3] - row[1], box[3] - box[1]):
                                rows[-1].append(box)
                                continue
                        rows.append([box])
                    for boxes in rows:
                        hits.append({"page": index, "text": "".join(c for c, _ in span), **_flip(_union(boxes), crop)})
                searcher.close()
            finally:
                textpage.close()
                page.close()
        return hits
    finally:
        doc.close()


def render(path: str, name: str, pages: list[int], dpi: float, region: list[float] | None, grayscale: bool,
           max_pixels: int) -> list[bytes]:
    """PNG bytes of each page (or of `region` = [x0, y0, x1, y1] in points) at `dpi`."""
    scale = dpi / 72.0
    doc = open_document(path, name)
    try:
        images = []
        for index in _pages(doc, name, pages):
            page = doc[index]
            try:
                width, height = page.get_size()
                crop = (0.0, 0.0, 0.0, 0.0)
                if region is not None:
                    x0, y0, x1, y1 = (max(0.0, float(v)) for v in region)
                    x1, y1 = min(x1, width), min(y1, height)
                    if x1 <= x0 or y1 <= y0:
                        raise DocumentError(f"region {region} is empty on page {index} of {name} "
                                            f"({width:.0f} x {height:.0f} points)")
                    crop = (x0, height - y1, width - x1, y0)
                    width, height = x1 - x0, y1 - y0
                pixels = width * scale * height * scale
                if pixels > max_pixels:
                    raise DocumentError(f"page {index} of {name} at {dpi:g} dpi is {pixels / 1e6:.0f} megapixels, over "
                                        f"the {max_pixels / 1e6:.0f} MP limit: lower dpi or render a region")
                bitmap = page.render(scale=scale, crop=crop, grayscale=grayscale)
                buffer = io.BytesIO()
                bitmap.to_pil().save(buffer, format="PNG", compress_level=3)
                bitmap.close()
                images.append(buffer.getvalue())
            finally:
                page.close()
        return images
    finally:
        doc.close()
