"""The ported examples, run end to end against the scripted server: typed pydantic outputs and
File outputs (the spreadsheet, the redacted PDF) come back to the caller."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

import pypdfium2

from examples.document_redaction.redact import Redaction
from examples.document_redaction.redact import build as build_redaction
from examples.invoice_to_spreadsheet.invoices import Invoice
from examples.invoice_to_spreadsheet.invoices import build as build_invoices
from tests.support.scripted_server import last_user_text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def code(body: str) -> str:
    return f"Let me work.\n```python\n{body}\n```"


def chat(**fields: object) -> str:
    return "".join(f"[[ ## {k} ## ]]\n{v}\n\n" for k, v in fields.items()) + "[[ ## completed ## ]]"


def images_sent(server) -> int:
    return sum(1 for r in server.chat_requests("sub") for m in r.messages if isinstance(m.get("content"), list)
               for p in m["content"] if p.get("type") == "image_url")


INVOICES = {
    "INV-1001": {"number": "INV-1001", "date": "2026-03-02", "customer": "Acme Robotics Ltd", "total": 159.75,
                 "items": [{"description": "Servo motor M3", "quantity": 4, "unit_price": 18.5, "amount": 74.0},
                           {"description": "Controller board", "quantity": 1, "unit_price": 64.0, "amount": 64.0},
                           {"description": "Cable set", "quantity": 3, "unit_price": 7.25, "amount": 21.75}]},
    "INV-1002": {"number": "INV-1002", "date": "2026-03-09", "customer": "Borealis Labs", "total": 108.0,
                 "items": [{"description": "Sensor kit", "quantity": 2, "unit_price": 42.0, "amount": 84.0},
                           {"description": "Mounting bracket", "quantity": 10, "unit_price": 2.4, "amount": 24.0}]},
}

READ_INVOICES = '''
import asyncio
from dataclasses import dataclass
from pdf import open_pdf

@dataclass
class LineItem:
    description: str
    quantity: float
    unit_price: float
    amount: float

@dataclass
class Invoice:
    number: str
    date: str
    customer: str
    items: list[LineItem]
    total: float

docs = [open_pdf(p) for p in invoices]
pages = [(d, i) for d in docs for i in range(d.page_count)]
images = [img for d in docs for img in d.render(list(range(d.page_count)), dpi=100)]
results = await asyncio.gather(*[predict("page: Image, text: str -> invoice: Invoice", page=img, text=d.page_text(i))
                                 for img, (d, i) in zip(images, pages)])
found = [r["invoice"] for r in results]
print([f.number for f in found])
'''

WRITE_BOOK = '''
from dataclasses import asdict
from openpyxl import Workbook
from sheets import write_table, add_chart, evaluate, recalc_on_open
wb = Workbook(); ws = wb.active; ws.title = "Invoices"
lines = wb.create_sheet("Line items")
item_rows = [["Invoice", "Description", "Quantity", "Unit price", "Amount"]]
for f in found:
    for it in f.items:
        r = len(item_rows) + 1
        item_rows.append([f.number, it.description, it.quantity, it.unit_price, f"=C{r}*D{r}"])
write_table(lines, item_rows, number_formats={"Unit price": "#,##0.00", "Amount": "#,##0.00"})
n = len(item_rows)
rows = [["Invoice", "Date", "Customer", "Total"]]
rows += [[f.number, f.date, f.customer, f"=SUMIF('Line items'!A2:A{n},A{i},'Line items'!E2:E{n})"]
         for i, f in enumerate(found, start=2)]
write_table(ws, rows, number_formats={"Total": "#,##0.00"})
ws[f"C{len(rows) + 1}"] = "Grand total"; ws[f"D{len(rows) + 1}"] = f"=SUM(D2:D{len(rows)})"
add_chart(ws, "column", data=f"D1:D{len(rows)}", categories=f"A2:A{len(rows)}", anchor="F2", title="Totals")
recalc_on_open(wb); wb.save("/workspace/invoices.xlsx")
report = evaluate("/workspace/invoices.xlsx")
assert report["ok"], report["breakdown"]
checked = [abs(report["computed"][f"Invoices!D{i}"] - f.total) < 0.01 for i, f in enumerate(found, start=2)]
print(report["computed"]["Invoices!D4"], checked)
SUBMIT(extracted=[asdict(f) for f in found], spreadsheet="/workspace/invoices.xlsx")
'''


async def test_invoice_extraction_to_a_spreadsheet(scripted_server, tmp_path):
    def sub(request):
        text = last_user_text(request)
        number = re.search(r"INV-\d{4}", text).group(0)
        return chat(invoice=json.dumps(INVOICES[number]))

    scripted_server.default(sub)
    scripted_server.script("root", code(READ_INVOICES), code(WRITE_BOOK))
    rlm = build_invoices("openai/root", sub_lm="openai/sub", api_base=scripted_server.url, files_dir=tmp_path / "out")
    files = sorted((EXAMPLES / "invoice_to_spreadsheet").glob("sample_invoice_*.pdf"))
    prediction = await rlm.aforward(invoices=files)
    assert all(isinstance(i, Invoice) for i in prediction.extracted)
    assert [(i.number, i.total, len(i.items)) for i in prediction.extracted] == [("INV-1001", 159.75, 3),
                                                                                 ("INV-1002", 108.0, 2)]
    assert "267.75 [True, True]" in prediction.trajectory[1]["output"]
    book = Path(prediction.spreadsheet)
    assert book.parent == tmp_path / "out" / "spreadsheet" and book.name == "invoices.xlsx"
    with zipfile.ZipFile(book) as archive:
        sheets = {n: archive.read(n).decode() for n in archive.namelist() if n.startswith("xl/worksheets/sheet")}
        assert any(n.startswith("xl/charts/") for n in archive.namelist())
    assert any("<f>SUM(D2:D3)</f>" in s for s in sheets.values())
    assert any("<f>C2*D2</f>" in s for s in sheets.values())
    assert images_sent(scripted_server) == 2  # one rendered page per invoice reached the sub-model


FIND_AND_REDACT = '''
import asyncio
from pdf import open_pdf
doc = open_pdf(document)
pages = doc.render(list(range(doc.page_count)), dpi=100)
found = await asyncio.gather(*[predict("page: Image, text: str -> people: list[str], emails: list[str], accounts: list[str]",
                                       page=img, text=doc.page_text(i)) for i, img in enumerate(pages)])
items = []
for i, f in enumerate(found):
    for category, key in (("person", "people"), ("email", "emails"), ("account", "accounts")):
        items += [{"page": i, "text": t, "category": category} for t in f[key]]
hits = [h for t in sorted({it["text"] for it in items}) for h in doc.search(t)]
result = doc.redact("/workspace/redacted.pdf", boxes=hits)
after = open_pdf("/workspace/redacted.pdf").text()
left = [it["text"] for it in items if it["text"] in after]
print(result, left)
SUBMIT(redactions=items, redacted=result["path"])
'''


async def test_document_redaction(scripted_server, tmp_path):
    def sub(request):
        text = last_user_text(request)
        people = [n for n in ("Jane Holloway", "Tomas Reyes") if n in text]
        emails = [e for e in ("jane.holloway@example.org",) if e in text]
        accounts = [a for a in ("4417-2209-8812",) if a in text]
        return chat(people=json.dumps(people), emails=json.dumps(emails), accounts=json.dumps(accounts))

    scripted_server.default(sub)
    scripted_server.script("root", code(FIND_AND_REDACT))
    source = tmp_path / "letter.pdf"
    shutil.copyfile(EXAMPLES / "document_redaction" / "sample_letter.pdf", source)
    rlm = build_redaction("openai/root", sub_lm="openai/sub", api_base=scripted_server.url, files_dir=tmp_path / "out")
    prediction = await rlm.aforward(document=source)
    assert all(isinstance(r, Redaction) for r in prediction.redactions)
    assert {(r.page, r.category, r.text) for r in prediction.redactions} >= {
        (0, "person", "Jane Holloway"), (0, "email", "jane.holloway@example.org"), (0, "account", "4417-2209-8812"),
        (1, "person", "Tomas Reyes")}
    assert prediction.trajectory[0]["output"].rstrip().endswith("[]")  # nothing left in the redacted text
    redacted = Path(prediction.redacted)
    assert redacted.is_file() and redacted.parent == tmp_path / "out" / "redacted"
    doc = pypdfium2.PdfDocument(redacted)
    text = "\n".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    for secret in ("Holloway", "Tomas Reyes", "example.org", "4417"):
        assert secret not in text
    assert "Northside branch" in text and "REF-2026-0117" in text
    assert images_sent(scripted_server) == 2
