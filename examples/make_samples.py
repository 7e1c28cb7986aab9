"""Write the examples' sample documents (and the tests' PDFs): a tiny PDF writer, standard library only.

    python examples/make_samples.py          # rewrites examples/*/sample*.pdf

`pdf_bytes(pages)` takes pages as lists of `(x, y, size, text)` (points from the top-left,
Helvetica; `bold=True` in a 5th slot for Helvetica-Bold) and returns a PDF with explicit glyph
widths, optional metadata, outline (table of contents) and full-page images.
"""

from __future__ import annotations

import zlib
from pathlib import Path

PAGE_W, PAGE_H = 612, 792  # US Letter, points

# Glyph widths (1/1000 em) written into the font dictionaries; viewers place glyphs by these.
_NARROW = {"i": 222, "j": 222, "l": 222, "f": 278, "t": 278, "r": 333, "I": 278, " ": 278, ".": 278, ",": 278,
           ":": 278, ";": 278, "!": 278, "'": 191, "|": 260, "-": 333, "(": 333, ")": 333, "/": 278, "m": 833,
           "w": 722, "M": 833, "W": 944, "@": 1015, "%": 889, "#": 556, "$": 556, "&": 667}


def _width(code: int) -> int:
    char = chr(code)
    if char in _NARROW:
        return _NARROW[char]
    if char.isdigit():
        return 556
    if char.isupper():
        return 667
    return 556 if char.isalpha() else 500


WIDTHS = " ".join(str(_width(c)) for c in range(32, 127))


def _escape(text: str) -> bytes:
    raw = text.encode("latin-1", "replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def pdf_bytes(pages: list[list[tuple]], title: str | None = None, author: str | None = None,
              outline: list[tuple[str, int]] | None = None, images: dict[int, tuple[int, int, bytes]] | None = None,
              compress: bool = True, page_size: tuple[int, int] = (PAGE_W, PAGE_H)) -> bytes:
    """A PDF: `pages` of text lines, `outline` [(title, page index)], `images` {page: (w, h, rgb bytes)}
    drawn over the whole page."""
    page_w, page_h = page_size
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    def stream(data: bytes, extra: bytes = b"") -> bytes:
        if compress:
            data = zlib.compress(data)
            extra += b" /Filter /FlateDecode"
        return b"<< /Length %d%s >>\nstream\n" % (len(data), extra) + data + b"\nendstream"

    catalog = add(b"")  # filled in at the end
    pages_id = add(b"")
    fonts = {}
    for key, base in (("F1", "Helvetica"), ("F2", "Helvetica-Bold")):
        fonts[key] = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding "
                         b"/FirstChar 32 /LastChar 126 /Widths [%s] >>" % (base.encode(), WIDTHS.encode()))
    font_resources = b" ".join(b"/%s %d 0 R" % (k.encode(), v) for k, v in fonts.items())
    page_ids = []
    for number, lines in enumerate(pages):
        ops = []
        xobjects = b""
        if images and number in images:
            w, h, rgb = images[number]
            image = add(stream(rgb, b" /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB "
                                    b"/BitsPerComponent 8" % (w, h)))
            xobjects = b" /XObject << /Im0 %d 0 R >>" % image
            ops.append(b"q %d 0 0 %d 0 0 cm /Im0 Do Q" % (page_w, page_h))
        for line in lines:
            x, y, size, text = line[:4]
            font = b"F2" if len(line) > 4 and line[4] else b"F1"
            ops.append(b"BT /%s %g Tf %g %g Td (%s) Tj ET" % (font, size, x, page_h - y, _escape(text)))
        content = add(stream(b"\n".join(ops)))
        page_ids.append(add(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] /Contents %d 0 R "
                            b"/Resources << /Font << %s >>%s >> >>"
                            % (pages_id, page_w, page_h, content, font_resources, xobjects)))
    objects[pages_id - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % p for p in page_ids), len(page_ids))
    outline_ref = b""
    if outline:
        root = add(b"")
        items = [add(b"") for _ in outline]
        for i, (title_text, page) in enumerate(outline):
            links = b""
            if i > 0:
                links += b" /Prev %d 0 R" % items[i - 1]
            if i + 1 < len(items):
                links += b" /Next %d 0 R" % items[i + 1]
            objects[items[i] - 1] = (b"<< /Title (%s) /Parent %d 0 R /Dest [%d 0 R /Fit]%s >>"
                                     % (_escape(title_text), root, page_ids[page], links))
        objects[root - 1] = b"<< /Type /Outlines /First %d 0 R /Last %d 0 R /Count %d >>" % (
            items[0], items[-1], len(items))
        outline_ref = b" /Outlines %d 0 R /PageMode /UseOutlines" % root
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R%s >>" % (pages_id, outline_ref)
    info = b""
    if title or author:
        fields = b""
        if title:
            fields += b" /Title (%s)" % _escape(title)
        if author:
            fields += b" /Author (%s)" % _escape(author)
        info = b" /Info %d 0 R" % add(b"<<%s >>" % fields)
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, catalog, info, xref)
    return bytes(out)


# -- the examples' documents ---------------------------------------------------------------------

def invoice_pages(number: str, customer: str, items: list[tuple[str, int, float]], date: str) -> list[list[tuple]]:
    """One invoice page: header, customer, an item table (description, quantity, unit price), totals."""
    lines: list[tuple] = [(56, 72, 22, "INVOICE", True), (400, 72, 11, f"Invoice no. {number}"),
                          (400, 88, 11, f"Date: {date}"), (56, 130, 11, "Bill to:", True), (56, 146, 11, customer),
                          (56, 200, 11, "Description", True), (330, 200, 11, "Qty", True),
                          (390, 200, 11, "Unit price", True), (480, 200, 11, "Amount", True)]
    y = 220
    total = 0.0
    for description, quantity, price in items:
        amount = quantity * price
        total += amount
        lines += [(56, y, 11, description), (330, y, 11, str(quantity)), (390, y, 11, f"{price:.2f}"),
                  (480, y, 11, f"{amount:.2f}")]
        y += 18
    lines += [(390, y + 20, 11, "Total", True), (480, y + 20, 11, f"{total:.2f}", True),
              (56, y + 70, 9, "Payment due within 30 days. Thank you for your business.")]
    return [lines]


def letter_pages() -> list[list[tuple]]:
    """A two-page letter with names, an email address and an account number to redact."""
    first = [(56, 72, 16, "Account review", True), (56, 110, 11, "Dear Ms. Jane Holloway,"),
             (56, 134, 11, "We reviewed account 4417-2209-8812 held at the Northside branch."),
             (56, 152, 11, "Please confirm by writing to jane.holloway@example.org within ten days."),
             (56, 170, 11, "The balance of the account is unchanged since the last statement.")]
    second = [(56, 72, 11, "Summary of contacts:", True), (56, 96, 11, "Primary: Jane Holloway (customer)"),
              (56, 114, 11, "Advisor: Tomas Reyes, Northside branch"),
              (56, 138, 11, "Reference for this letter: REF-2026-0117.")]
    return [first, second]


def main() -> None:
    here = Path(__file__).resolve().parent
    invoices = here / "invoice_to_spreadsheet"
    invoices.mkdir(exist_ok=True)
    (invoices / "sample_invoice_1.pdf").write_bytes(pdf_bytes(invoice_pages(
        "INV-1001", "Acme Robotics Ltd, 12 Harbour Road, Leeds",
        [("Servo motor M3", 4, 18.5), ("Controller board", 1, 64.0), ("Cable set", 3, 7.25)], "2026-03-02"),
        title="Invoice INV-1001", author="Widget Supply Co"))
    (invoices / "sample_invoice_2.pdf").write_bytes(pdf_bytes(invoice_pages(
        "INV-1002", "Borealis Labs, 3 Mill Lane, York",
        [("Sensor kit", 2, 42.0), ("Mounting bracket", 10, 2.4)], "2026-03-09"),
        title="Invoice INV-1002", author="Widget Supply Co"))
    redaction = here / "document_redaction"
    redaction.mkdir(exist_ok=True)
    (redaction / "sample_letter.pdf").write_bytes(pdf_bytes(letter_pages(), title="Account review",
                                                            author="Northside Bank",
                                                            outline=[("Letter", 0), ("Contacts", 1)]))


if __name__ == "__main__":
    main()
