"""Read, render, search, redact and combine PDFs (runs inside the sandbox).

Layout and rendering come from the skill's host tools (`pdf_info`, `pdf_layout`, `pdf_search`,
`pdf_render`, `pdf_redact`: PDFium and qpdf, compiled code on the host); tables are rebuilt here
from word positions, and merging or splitting uses pypdf. Pages are 0-based; boxes are
{x0, y0, x1, y1} in points from the page's top-left.
"""

import statistics

_LAYOUT_BATCH = 500


class Document:
    """An open PDF: `open_pdf(path)`."""

    def __init__(self, path):
        self.path = str(path)
        info = pdf_info(self.path)  # noqa: F821  (a host tool)
        self.page_count = info["pages"]
        self.sizes = info["sizes"]
        self.metadata = info["metadata"]
        self.toc = info["toc"]
        self._layout = {}

    def __len__(self):
        return self.page_count

    def __repr__(self):
        return f"<Document {self.path!r}: {self.page_count} pages>"

    def _pages(self, pages):
        if pages is None:
            return list(range(self.page_count))
        return [pages] if isinstance(pages, int) else list(pages)

    def layout(self, pages=None):
        """[{page, width, height, text, words, blocks}] for the pages asked (fetched once, cached)."""
        wanted = self._pages(pages)
        missing = [p for p in wanted if p not in self._layout]
        for start in range(0, len(missing), _LAYOUT_BATCH):
            for page in pdf_layout(self.path, missing[start:start + _LAYOUT_BATCH]):  # noqa: F821
                self._layout[page["page"]] = page
        return [self._layout[p] for p in wanted]

    def text(self, pages=None):
        """The text of the pages, each after a '--- page N ---' line (N 0-based)."""
        parts = []
        for page in self.layout(pages):
            body = page["text"].strip() or "(no text layer: an image-only page; render it and use predict)"
            parts.append(f"--- page {page['page']} ---\n{body}")
        return "\n".join(parts)

    def page_text(self, page):
        return self.layout(page)[0]["text"]

    def words(self, page):
        """[{text, x0, y0, x1, y1, line, block}] in reading order."""
        return [dict(w, page=page) for w in self.layout(page)[0]["words"]]

    def blocks(self, page):
        """[{block, text, x0, y0, x1, y1}]: paragraphs, by vertical gaps between lines."""
        return [dict(b, page=page) for b in self.layout(page)[0]["blocks"]]

    def search(self, query, pages=None, match_case=False, whole_word=False):
        """[{page, text, x0, y0, x1, y1}] for every match (pass them to redact)."""
        return pdf_search(self.path, query, None if pages is None else self._pages(pages),  # noqa: F821
                          match_case, whole_word)

    def tables(self, page, min_rows=2):
        """Tables rebuilt from word positions: a list of tables, each a list of rows of cell texts."""
        return find_tables(self.words(page), min_rows=min_rows)

    def render(self, pages=None, dpi=150, region=None, grayscale=False, out_dir="/workspace/pages"):
        """Images of the pages (rendered in parallel on the host), ready for predict(..., page=img)."""
        paths = pdf_render(self.path, self._pages(pages), dpi, region, grayscale, out_dir)  # noqa: F821
        return [Image(p) for p in paths]  # noqa: F821  (a sandbox builtin)

    def redact(self, out, boxes=None, terms=None, fill=(0, 0, 0)):
        """Write a copy to `out` (under /workspace) with the text under `boxes` (and under every match
        of `terms`) removed, not just covered. Returns {path, boxes, pages, glyphs_removed, terms_found}."""
        return pdf_redact(self.path, out, boxes, terms, list(fill))  # noqa: F821


def open_pdf(path):
    """Open a PDF under /project, /inputs or /workspace."""
    return Document(path)


def _rows(words):
    """Words grouped into visual rows (by vertical overlap), each sorted left to right."""
    rows = []
    for word in sorted(words, key=lambda w: ((w["y0"] + w["y1"]) / 2, w["x0"])):
        middle = (word["y0"] + word["y1"]) / 2
        if rows and rows[-1]["y0"] <= middle <= rows[-1]["y1"]:
            rows[-1]["words"].append(word)
            rows[-1]["y1"] = max(rows[-1]["y1"], word["y1"])
        else:
            rows.append({"y0": word["y0"], "y1": word["y1"], "words": [word]})
    for row in rows:
        row["words"].sort(key=lambda w: w["x0"])
    return rows


def _cells(row, gap):
    cells = []
    for word in row["words"]:
        if cells and word["x0"] - cells[-1]["x1"] <= gap:
            cells[-1]["text"] += " " + word["text"]
            cells[-1]["x1"] = word["x1"]
        else:
            cells.append({"text": word["text"], "x0": word["x0"], "x1": word["x1"]})
    return cells


def find_tables(words, min_rows=2):
    """Runs of at least `min_rows` rows that split into 2+ cells, aligned to the widest row's columns."""
    if not words:
        return []
    height = statistics.median(w["y1"] - w["y0"] for w in words) or 10.0
    rows = [(r, _cells(r, 1.2 * height)) for r in _rows(words)]
    tables, run = [], []
    for row, cells in rows + [(None, [])]:
        close = run and row is not None and row["y0"] - run[-1][0]["y1"] < 2.5 * height
        if len(cells) >= 2 and (not run or close):
            run.append((row, cells))
            continue
        if len(run) >= min_rows:
            tables.append(_align([c for _, c in run]))
        run = [(row, cells)] if len(cells) >= 2 else []
    return tables


def _align(rows):
    header = max(rows, key=len)
    columns = [(c["x0"], c["x1"]) for c in header]
    table = []
    for cells in rows:
        out = [""] * len(columns)
        for cell in cells:
            def score(i):
                x0, x1 = columns[i]
                overlap = min(x1, cell["x1"]) - max(x0, cell["x0"])
                return (overlap, -abs((x0 + x1) / 2 - (cell["x0"] + cell["x1"]) / 2))
            best = max(range(len(columns)), key=score)
            out[best] = (out[best] + " " + cell["text"]).strip()
        table.append(out)
    return table


def merge_pdfs(paths, out):
    """Concatenate PDFs into `out` (pypdf, in the sandbox); returns `out`."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for path in paths:
        writer.append(path)
    with open(out, "wb") as f:
        writer.write(f)
    return out


def extract_pages(path, pages, out):
    """A new PDF at `out` with only `pages` (0-based, in the order given); returns `out`."""
    from pypdf import PdfReader, PdfWriter

    reader, writer = PdfReader(path), PdfWriter()
    for index in pages:
        writer.add_page(reader.pages[index])
    with open(out, "wb") as f:
        writer.write(f)
    return out
