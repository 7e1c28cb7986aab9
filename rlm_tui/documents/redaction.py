"""Redaction that removes the text under the boxes, with pikepdf (MPL-2.0, on qpdf), in a worker.

Each page's content stream is parsed and replayed with the text state tracked (CTM, Tm, Tf, Tc,
Tw, Tz, Ts). Every glyph that overlaps a box is taken out of its text-showing operator and
replaced by a TJ displacement of the same advance, so the text around it stays where it was; then
opaque boxes are painted on top, annotations under a box are dropped, and qpdf rewrites the file
(unreferenced old streams are not written). The result is checked with PDFium: if any text can
still be extracted from under a box (text inside a form XObject, a font whose glyph widths are
unknown), the redaction is refused rather than handed back leaky.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pikepdf

from rlm_tui.documents.workers import DocumentError

Matrix = tuple[float, float, float, float, float, float]
Rect = tuple[float, float, float, float]  # left, bottom, right, top in PDF space
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
_SHOW = {"Tj", "TJ", "'", '"'}
_STD_MONO = ("Courier",)
ASCENT, DESCENT = 0.85, -0.25


def _mul(m: Matrix, n: Matrix) -> Matrix:
    a, b, c, d, e, f = m
    p, q, r, s, t, u = n
    return (a * p + b * r, a * q + b * s, c * p + d * r, c * q + d * s, e * p + f * r + t, e * q + f * s + u)


def _apply(m: Matrix, x: float, y: float) -> tuple[float, float]:
    return m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5]


@dataclass
class _Font:
    bytes_per_code: int
    widths: dict[int, float] | None  # glyph widths in 1/1000 text space units; None when unknown
    default: float
    scale: float = 0.001  # glyph space -> text space (Type3: FontMatrix)

    def width(self, code: int) -> float | None:
        if self.widths is None:
            return None
        return self.widths.get(code, self.default) * self.scale


def _font(resource: Any) -> _Font:
    subtype = str(resource.get("/Subtype", ""))
    if subtype == "/Type0":
        encoding = str(resource.get("/Encoding", ""))
        descendant = resource.get("/DescendantFonts", [None])[0]
        if encoding not in ("/Identity-H", "/Identity-V") or descendant is None:
            return _Font(2, None, 0.0)
        widths: dict[int, float] = {}
        w = list(descendant.get("/W", []))
        i = 0
        while i < len(w):
            first = int(w[i])
            if isinstance(w[i + 1], pikepdf.Array):
                for k, value in enumerate(w[i + 1]):
                    widths[first + k] = float(value)
                i += 2
            else:
                for code in range(first, int(w[i + 1]) + 1):
                    widths[code] = float(w[i + 2])
                i += 3
        return _Font(2, widths, float(descendant.get("/DW", 1000)))
    scale = 0.001
    if subtype == "/Type3" and "/FontMatrix" in resource:
        scale = float(resource.FontMatrix[0])
    if "/Widths" in resource:
        first = int(resource.get("/FirstChar", 0))
        widths = {first + k: float(v) for k, v in enumerate(resource.Widths)}
        missing = float(resource.get("/FontDescriptor", {}).get("/MissingWidth", 0))
        return _Font(1, widths, missing, scale * 1000 if subtype == "/Type3" else 0.001)
    if str(resource.get("/BaseFont", "")).lstrip("/").startswith(_STD_MONO):
        return _Font(1, {}, 600.0)
    return _Font(1, None, 0.0)


@dataclass
class _State:
    ctm: Matrix = IDENTITY
    font: _Font | None = None
    size: float = 0.0
    tc: float = 0.0
    tw: float = 0.0
    th: float = 1.0
    tl: float = 0.0
    rise: float = 0.0

    def copy(self) -> _State:
        return _State(**vars(self))


def _overlaps(box: Rect, rects: list[Rect]) -> bool:
    x0, y0, x1, y1 = box
    area = max((x1 - x0) * (y1 - y0), 1e-6)
    for l, b, r, t in rects:
        w, h = min(x1, r) - max(x0, l), min(y1, t) - max(y0, b)
        if w > 0 and h > 0 and (w * h / area > 0.1 or (l <= (x0 + x1) / 2 <= r and b <= (y0 + y1) / 2 <= t)):
            return True
    return False


class _Page:
    """One page's content stream, replayed and rewritten."""

    def __init__(self, page: pikepdf.Page, rects: list[Rect]) -> None:
        self.page, self.rects = page, rects
        fonts = page.obj.get("/Resources", {}).get("/Font", {})
        self.fonts = {str(k): _font(v) for k, v in fonts.items()}
        self.removed = 0

    def rewrite(self) -> list[Any]:
        state, stack = _State(), []
        tm = tlm = IDENTITY
        out: list[Any] = []
        for operands, op in pikepdf.parse_content_stream(self.page):
            name = str(op)
            if name == "q":
                stack.append(state.copy())
            elif name == "Q" and stack:
                state = stack.pop()
            elif name == "cm":
                state.ctm = _mul(tuple(float(v) for v in operands), state.ctm)  # type: ignore[arg-type]
            elif name == "BT":
                tm = tlm = IDENTITY
            elif name == "Tf":
                state.font = self.fonts.get(str(operands[0]), _Font(1, None, 0.0))
                state.size = float(operands[1])
            elif name == "Tc":
                state.tc = float(operands[0])
            elif name == "Tw":
                state.tw = float(operands[0])
            elif name == "Tz":
                state.th = float(operands[0]) / 100.0
            elif name == "TL":
                state.tl = float(operands[0])
            elif name == "Ts":
                state.rise = float(operands[0])
            elif name in ("Td", "TD"):
                tx, ty = float(operands[0]), float(operands[1])
                if name == "TD":
                    state.tl = -ty
                tm = tlm = _mul((1, 0, 0, 1, tx, ty), tlm)
            elif name == "Tm":
                tm = tlm = tuple(float(v) for v in operands)  # type: ignore[assignment]
            elif name == "T*":
                tm = tlm = _mul((1, 0, 0, 1, 0, -state.tl), tlm)
            if name in _SHOW:
                prefix = []
                if name in ("'", '"'):
                    if name == '"':
                        state.tw, state.tc = float(operands[0]), float(operands[1])
                        prefix += [([operands[0]], pikepdf.Operator("Tw")), ([operands[1]], pikepdf.Operator("Tc"))]
                    tm = tlm = _mul((1, 0, 0, 1, 0, -state.tl), tlm)
                    prefix.append(([], pikepdf.Operator("T*")))
                items = list(operands[-1]) if name == "TJ" else [operands[-1]]
                tm, replacement = self._show(items, state, tm)
                if replacement is None:
                    out.append((operands, op))
                else:
                    out += prefix + [([pikepdf.Array(replacement)], pikepdf.Operator("TJ"))]
                continue
            out.append((operands, op))
        return out

    def _show(self, items: list[Any], state: _State, tm: Matrix) -> tuple[Matrix, list[Any] | None]:
        """Advance `tm` over the shown items; the TJ items without the glyphs under a box (None: unchanged)."""
        font, size = state.font or _Font(1, None, 0.0), state.size
        trm = _mul(tm, state.ctm)
        cursor = 0.0
        kept: list[Any] = []
        changed = False
        for item in items:
            if not isinstance(item, pikepdf.String):
                cursor -= float(item) / 1000.0 * size * state.th
                kept.append(item)
                continue
            data = bytes(item)
            run = bytearray()
            n = font.bytes_per_code
            for i in range(0, len(data) - n + 1, n):
                code = int.from_bytes(data[i:i + n], "big")
                width = font.width(code)
                glyph = (0.5 if width is None else width) * size
                space = state.tw if n == 1 and code == 32 else 0.0
                advance = (glyph + state.tc + space) * state.th
                corners = [_apply(trm, cursor + dx, state.rise + dy * size)
                           for dx in (0.0, glyph * state.th) for dy in (DESCENT, ASCENT)]
                xs, ys = [p[0] for p in corners], [p[1] for p in corners]
                if _overlaps((min(xs), min(ys), max(xs), max(ys)), self.rects):
                    changed = True
                    self.removed += 1
                    if run:
                        kept.append(pikepdf.String(bytes(run)))
                        run = bytearray()
                    if size:
                        kept.append(-(advance / state.th) * 1000.0 / size if state.th else 0.0)
                else:
                    run += data[i:i + n]
                cursor += advance
            if run:
                kept.append(pikepdf.String(bytes(run)))
        tm = _mul((1, 0, 0, 1, cursor, 0), tm)
        return tm, (kept if changed else None)


def _crop(page: pikepdf.Page) -> Rect:
    box = page.obj.get("/CropBox", page.obj.get("/MediaBox"))
    x0, y0, x1, y1 = (float(v) for v in box)
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def redact(path: str, name: str, boxes: dict[int, list[list[float]]], fill: list[float]) -> tuple[bytes, int]:
    """The redacted PDF's bytes and how many glyphs were removed. `boxes`: page -> [[x0, y0, x1, y1]]
    in points from the top-left."""
    try:
        pdf = pikepdf.open(path)
    except pikepdf.PasswordError:
        raise DocumentError(f"{name} is encrypted: it needs a password, and these tools take none") from None
    except pikepdf.PdfError as e:
        raise DocumentError(f"{name} is not a readable PDF (damaged or truncated: {e})") from None
    removed = 0
    pdf_rects: dict[int, list[Rect]] = {}
    with pdf:
        for index, page_boxes in boxes.items():
            if not 0 <= index < len(pdf.pages):
                raise DocumentError(f"page {index} does not exist: {name} has {len(pdf.pages)} pages")
            page = pdf.pages[index]
            cx0, cy0, cx1, cy1 = _crop(page)
            rects = [(cx0 + x0, cy1 - y1, cx0 + x1, cy1 - y0) for x0, y0, x1, y1 in page_boxes]
            pdf_rects[index] = rects
            editor = _Page(page, rects)
            ops = editor.rewrite()
            removed += editor.removed
            paint: list[Any] = [([], pikepdf.Operator("Q")), ([], pikepdf.Operator("q")),
                     ([*fill[:3]], pikepdf.Operator("rg"))]
            paint += [([l, b, r - l, t - b], pikepdf.Operator("re")) for l, b, r, t in rects]
            paint += [([], pikepdf.Operator("f")), ([], pikepdf.Operator("Q"))]
            content = b"q\n" + pikepdf.unparse_content_stream(ops) + b"\n" + pikepdf.unparse_content_stream(paint)
            page.obj.Contents = pdf.make_stream(content)
            if "/Annots" in page.obj:
                keep = [a for a in page.obj.Annots
                        if "/Rect" not in a or not _overlaps(_norm(a.Rect), rects)]
                page.obj.Annots = pikepdf.Array(keep)
        buffer = io.BytesIO()
        pdf.save(buffer, compress_streams=True)
    data = buffer.getvalue()
    _verify(data, name, pdf_rects)
    return data, removed


def _norm(rect: Any) -> Rect:
    x0, y0, x1, y1 = (float(v) for v in rect)
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def _verify(data: bytes, name: str, rects: dict[int, list[Rect]]) -> None:
    """Refuse when PDFium can still extract text from under a box."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(data)
    try:
        for index, page_rects in rects.items():
            page = doc[index]
            textpage = page.get_textpage()
            try:
                for l, b, r, t in page_rects:
                    left = textpage.get_text_bounded(l + 0.5, b + 0.5, r - 0.5, t - 0.5).strip()
                    if any(c.isalnum() for c in left):
                        raise DocumentError(f"page {index} of {name}: text {left[:40]!r} under a box could not be "
                                            "removed (inside a form XObject, or a font without glyph widths); "
                                            "the redacted file was not written")
            finally:
                textpage.close()
                page.close()
    finally:
        doc.close()
