"""The docx and spreadsheet skills in the sandbox: every function, formulas evaluated, and the
bad inputs (a docx zip bomb, an .xlsx with a million rows) refused quickly, the run going on."""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import pytest

from rlm_tui.engine.rlm import RLM
from tests.engine.test_engine import code


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    return root


async def run(server, project, skills, cell):
    server.script("root", code(cell))
    rlm = RLM(lm="openai/root", sub_lm="openai/sub", api_base=server.url, project=project, skills=skills)
    prediction = await rlm.aforward(question="go")
    return json.loads(prediction.answer)


async def test_docx_from_markdown_and_back(scripted_server, project):
    cell = '''
from worddoc import markdown_to_docx, read_docx, docx_to_markdown
import json
md = """# Findings
Revenue grew **12%** in the *north*; see `table 1` and [the notes](https://example.org/n).

| Region | Revenue |
|---|---|
| North | 1,200 |
| South | 900 |

- first point
- second point

1. step one
> a quote

```
code block
```
---
## Next
Last paragraph
continued here.
"""
path = markdown_to_docx(md, "/workspace/report.docx", title="Findings", author="rlm")
d = read_docx(path)
SUBMIT(answer=json.dumps({"path": path, "doc": d, "md": docx_to_markdown(path)}))
'''
    out = await run(scripted_server, project, ["docx"], cell)
    doc = out["doc"]
    assert out["path"] == "/workspace/report.docx" and doc["core"] == {"title": "Findings", "author": "rlm"}
    styles = [(p["style"], p["text"]) for p in doc["paragraphs"]]
    assert ("Title", "Findings") in styles and ("Heading 1", "Next") in styles
    assert ("Normal", "Revenue grew 12% in the north; see table 1 and the notes (https://example.org/n).") in styles
    assert ("List Bullet", "second point") in styles and ("List Number", "step one") in styles
    assert ("Quote", "a quote") in styles and ("Normal", "Last paragraph continued here.") in styles
    assert doc["tables"] == [[["Region", "Revenue"], ["North", "1,200"], ["South", "900"]]]
    assert out["md"].startswith("# Findings\n") and "| North | 1,200 |" in out["md"] and "- first point" in out["md"]


def _zip_bomb(path: Path, megabytes: int) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w") as f:
            chunk = b"\0" * (1 << 20)
            for _ in range(megabytes):
                f.write(chunk)


def _big_xlsx(path: Path, rows: int) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
            'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.worksheet+xml"/></Types>'))
        archive.writestr("_rels/.rels", (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
            '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
            '2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'))
        archive.writestr("xl/workbook.xml", (
            '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
            '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
            '<sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>'))
        archive.writestr("xl/_rels/workbook.xml.rels", (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
            '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
            '2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'))
        with archive.open("xl/worksheets/sheet1.xml", "w") as f:
            f.write(f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                    f'spreadsheetml/2006/main"><dimension ref="A1:B{rows}"/><sheetData>'.encode())
            for start in range(1, rows + 1, 10_000):
                f.write("".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c><c r="B{r}"><v>{r * 7 % 1000}</v></c></row>'
                                for r in range(start, min(rows, start + 9_999) + 1)).encode())
            f.write(b"</sheetData></worksheet>")


async def test_zip_bomb_docx_and_a_million_row_xlsx_are_refused_quickly(scripted_server, project):
    _zip_bomb(project / "bomb.docx", 260)
    _big_xlsx(project / "huge.xlsx", 1_000_000)
    assert (project / "bomb.docx").stat().st_size < 2_000_000
    cell = '''
import json, time
from worddoc import read_docx
from sheets import read_sheet, describe
out = {}
for name, fn in (("docx", lambda: read_docx("/project/bomb.docx")), ("xlsx", lambda: read_sheet("/project/huge.xlsx")),
                 ("describe", lambda: describe("/project/huge.xlsx"))):
    t = time.monotonic()
    try:
        fn()
        out[name] = "no error"
    except Exception as e:
        out[name] = f"{type(e).__name__}: {e}"
    out[name + "_s"] = time.monotonic() - t
out["after"] = "still running"
SUBMIT(answer=json.dumps(out))
'''
    started = time.monotonic()
    out = await run(scripted_server, project, ["docx", "spreadsheet"], cell)
    assert out["docx"].startswith("DocumentTooLarge: /project/bomb.docx would unpack to 273 MB, over the limit")
    assert out["xlsx"].startswith("ValueError: /project/huge.xlsx has 1,000,000 rows in sheet1.xml, over max_rows=100,000")
    assert out["describe"].startswith("ValueError: /project/huge.xlsx is too large to describe")
    assert max(out["docx_s"], out["xlsx_s"], out["describe_s"]) < 5
    assert out["after"] == "still running" and time.monotonic() - started < 60


async def test_spreadsheet_formulas_styles_charts_and_checks(scripted_server, project):
    cell = '''
import json
from openpyxl import Workbook, load_workbook
from sheets import write_table, add_chart, evaluate, recalc_on_open, read_sheet, describe
wb = Workbook(); ws = wb.active; ws.title = "Invoices"
rows = [["Invoice", "Customer", "Amount", "VAT"]]
data = [("INV-1", "Acme", 120.0), ("INV-2", "Borealis", 80.5), ("INV-3", "Acme", 10)]
rows += [[n, c, a, f"=C{i}*Rates!B1"] for i, (n, c, a) in enumerate(data, start=2)]
rng = write_table(ws, rows, number_formats={"Amount": "#,##0.00", "D": "#,##0.00"})
rates = wb.create_sheet("Rates"); rates["A1"] = "VAT"; rates["B1"] = 0.2
ws["C5"] = "=SUM(C2:C4)"; ws["D5"] = "=SUM(D2:D4)"
ws["E2"] = '=IF(C2>100,"big","small")'; ws["E3"] = "=C3/0"; ws["E4"] = '=VLOOKUP("INV-3",A2:C4,3,FALSE)'
ws["F2"] = '=SUMIF(B2:B4,"Acme",C2:C4)'; ws["F3"] = '=COUNTIF(C2:C4,">50")'; ws["F4"] = "=ROUND(AVERAGE(C2:C4),2)"
ws["G2"] = "=G3+1"; ws["G3"] = "=G2+1"; ws["G4"] = "=NOSUCHFN(1)"
ws["H2"] = '=INDEX(B2:B4,MATCH("INV-2",A2:A4,0))&"!"'; ws["H3"] = "=IFERROR(1/0,-1)"; ws["H4"] = "=-2^2+10%"
add_chart(ws, "column", data="C1:C4", categories="A2:A4", anchor="J2", title="Amounts")
add_chart(ws, "pie", data="C1:C4", categories="A2:A4", anchor="J20")
recalc_on_open(wb)
wb.save("/workspace/book.xlsx")
report = evaluate("/workspace/book.xlsx")
wb2 = load_workbook("/workspace/book.xlsx")
ws2 = wb2["Invoices"]
out = {"range": rng, "report": report, "rows": read_sheet("/workspace/book.xlsx", values=False)[:2],
       "describe": describe("/workspace/book.xlsx"),
       "styles": [ws2["A1"].font.b, ws2["A1"].fill.fgColor.rgb, ws2["C2"].number_format, ws2.freeze_panes,
                  ws2.auto_filter.ref], "full_calc": bool(wb2.calculation.fullCalcOnLoad)}
SUBMIT(answer=json.dumps(out))
'''
    out = await run(scripted_server, project, ["spreadsheet"], cell)
    computed = out["report"]["computed"]
    assert out["range"] == "A1:D4"
    assert computed["Invoices!D2"] == pytest.approx(24.0) and computed["Invoices!C5"] == pytest.approx(210.5)
    assert computed["Invoices!D5"] == pytest.approx(42.1)
    assert computed["Invoices!E2"] == "big" and computed["Invoices!E3"] == "#DIV/0!" and computed["Invoices!E4"] == 10
    assert computed["Invoices!F2"] == 130 and computed["Invoices!F3"] == 2 and computed["Invoices!F4"] == 70.17
    assert computed["Invoices!G2"] == "#CIRCULAR!" or computed["Invoices!G3"] == "#CIRCULAR!"
    assert computed["Invoices!G4"] == "#NAME?" and out["report"]["unsupported"] == ["NOSUCHFN"]
    assert computed["Invoices!H2"] == "Borealis!" and computed["Invoices!H3"] == -1
    assert computed["Invoices!H4"] == pytest.approx(4.1)
    assert out["report"]["ok"] is False and out["report"]["breakdown"]["#DIV/0!"] == {"count": 1, "cells": ["Invoices!E3"]}
    assert out["rows"] == [["Invoice", "Customer", "Amount", "VAT", None, None, None, None],
                           ["INV-1", "Acme", 120, "=C2*Rates!B1", '=IF(C2>100,"big","small")',
                            '=SUMIF(B2:B4,"Acme",C2:C4)', "=G3+1", '=INDEX(B2:B4,MATCH("INV-2",A2:A4,0))&"!"']]
    assert out["describe"]["sheets"][0]["charts"] == 2 and out["describe"]["sheets"][0]["formulas"] == 17
    assert out["styles"] == [True, "00D9E1F2", "#,##0.00", "A2", "A1:D4"] and out["full_calc"] is True
