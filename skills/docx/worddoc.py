"""Word documents in the sandbox: read a .docx, write one from Markdown (python-docx, pure Python).

A .docx is a zip: before python-docx opens one, `check_archive` refuses archives that would unpack
to more than `MAX_UNPACKED` bytes or at a suspicious ratio (a zip bomb), naming the file.
"""

import re
import zipfile

MAX_UNPACKED = 200 << 20
MAX_RATIO = 150
MAX_MEMBERS = 20_000
_INLINE = re.compile(r"(\*\*[^*]+\*\*|__[^_]+__|\*[^*\s][^*]*\*|_[^_\s][^_]*_|`[^`]+`|\[[^\]]+\]\([^)\s]+\))")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


class DocumentTooLarge(ValueError):
    """An archive that would unpack to too much (a zip bomb, or simply too big)."""


def check_archive(path, max_unpacked=MAX_UNPACKED):
    """Refuse a zip (docx, xlsx) that would unpack past `max_unpacked` bytes or looks like a bomb."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError(f"{path} is not a .docx/.xlsx file (not a zip archive)") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise DocumentTooLarge(f"{path} has {len(members)} parts, over the limit of {MAX_MEMBERS}")
        total = sum(m.file_size for m in members)
        packed = sum(m.compress_size for m in members) or 1
        if total > max_unpacked:
            raise DocumentTooLarge(f"{path} would unpack to {total / 1e6:.0f} MB, over the limit of "
                                   f"{max_unpacked / 1e6:.0f} MB (a zip bomb?); refused")
        if total > (1 << 20) and total / packed > MAX_RATIO:
            raise DocumentTooLarge(f"{path} would unpack {total / packed:.0f}x its size ({total / 1e6:.0f} MB): "
                                   "a zip bomb; refused")
    return total


def read_docx(path):
    """{'core': {title, author, ...}, 'paragraphs': [{style, text}], 'tables': [[[cell, ...], ...]]}."""
    import docx

    check_archive(path)
    document = docx.Document(path)
    props = document.core_properties
    core = {k: getattr(props, k) for k in ("title", "author", "subject", "keywords", "last_modified_by")
            if getattr(props, k)}
    paragraphs = [{"style": p.style.name if p.style is not None else "", "text": p.text}
                  for p in document.paragraphs if p.text.strip()]
    tables = [[[cell.text for cell in row.cells] for row in table.rows] for table in document.tables]
    return {"core": core, "paragraphs": paragraphs, "tables": tables}


def docx_to_markdown(path):
    """The document's headings, paragraphs, lists and tables as Markdown text."""
    content = read_docx(path)
    lines = []
    for p in content["paragraphs"]:
        style, text = p["style"], p["text"]
        level = re.match(r"Heading (\d)", style)
        if style == "Title":
            lines.append(f"# {text}")
        elif level:
            lines.append("#" * min(6, int(level.group(1)) + 1) + " " + text)
        elif style.startswith("List Bullet"):
            lines.append(f"- {text}")
        elif style.startswith("List Number"):
            lines.append(f"1. {text}")
        else:
            lines.append(text)
        lines.append("")
    for table in content["tables"]:
        if table:
            lines.append("| " + " | ".join(table[0]) + " |")
            lines.append("|" + "---|" * len(table[0]))
            lines += ["| " + " | ".join(row) + " |" for row in table[1:]]
            lines.append("")
    return "\n".join(lines).strip() + "\n"


def _runs(paragraph, text):
    """Inline Markdown (bold, italic, code, links) as runs of `paragraph`."""
    for part in _INLINE.split(text):
        if not part:
            continue
        if (part.startswith("**") and part.endswith("**")) or (part.startswith("__") and part.endswith("__")):
            paragraph.add_run(part[2:-2]).bold = True
        elif part.startswith("`") and part.endswith("`"):
            paragraph.add_run(part[1:-1]).font.name = "Courier New"
        elif part.startswith("[") and part.endswith(")"):
            label, url = part[1:].split("](", 1)
            run = paragraph.add_run(label)
            run.underline = True
            paragraph.add_run(f" ({url[:-1]})")
        elif len(part) > 2 and part[0] in "*_" and part[-1] == part[0]:
            paragraph.add_run(part[1:-1]).italic = True
        else:
            paragraph.add_run(part)


def _cells(line):
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|"):
        line = line[:-1]
    return [c.strip() for c in line.split("|")]


def markdown_to_docx(markdown, out, title=None, author=None):
    """Write `out` (.docx under /workspace) from Markdown: headings, paragraphs, **bold**, *italic*,
    `code`, links, bullet and numbered lists, block quotes, fenced code, pipe tables, images
    (`![alt](/workspace/chart.png)`) and `---` page breaks. Returns `out`."""
    import docx
    from docx.enum.text import WD_BREAK
    from docx.shared import Inches, Pt

    document = docx.Document()
    if title:
        document.core_properties.title = title
    if author:
        document.core_properties.author = author
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            code = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                code.append(lines[i])
                i += 1
            paragraph = document.add_paragraph()
            run = paragraph.add_run("\n".join(code))
            run.font.name, run.font.size = "Courier New", Pt(9)
        elif not stripped:
            pass
        elif re.match(r"^#{1,6}\s", stripped):
            level = len(stripped) - len(stripped.lstrip("#"))
            heading = document.add_heading(level=max(0, level - 1))
            _runs(heading, stripped[level:].strip())
        elif stripped in ("---", "***", "___"):
            document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
        elif stripped.startswith("|") and i + 1 < len(lines) and _TABLE_RULE.match(lines[i + 1]):
            header = _cells(stripped)
            rows = []
            i += 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            table = document.add_table(rows=1 + len(rows), cols=len(header))
            table.style = "Table Grid"
            for r, values in enumerate([header, *rows]):
                for c in range(len(header)):
                    cell = table.rows[r].cells[c]
                    _runs(cell.paragraphs[0], values[c] if c < len(values) else "")
                    if r == 0:
                        for run in cell.paragraphs[0].runs:
                            run.bold = True
            continue
        elif re.match(r"^!\[[^\]]*\]\([^)]+\)$", stripped):
            path = stripped[stripped.index("(") + 1:-1]
            document.add_picture(path, width=Inches(6))
        elif re.match(r"^[-*+]\s", stripped):
            _runs(document.add_paragraph(style="List Bullet"), stripped[2:].strip())
        elif re.match(r"^\d+[.)]\s", stripped):
            _runs(document.add_paragraph(style="List Number"), re.sub(r"^\d+[.)]\s", "", stripped))
        elif stripped.startswith(">"):
            _runs(document.add_paragraph(style="Quote"), stripped.lstrip("> ").strip())
        else:
            text = [stripped]
            while i + 1 < len(lines) and lines[i + 1].strip() and not re.match(
                    r"^(#{1,6}\s|[-*+]\s|\d+[.)]\s|>|\||```|!\[)", lines[i + 1].strip()):
                i += 1
                text.append(lines[i].strip())
            _runs(document.add_paragraph(), " ".join(text))
        i += 1
    document.save(out)
    return out
