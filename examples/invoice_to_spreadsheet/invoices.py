"""Invoice extraction to a spreadsheet (ported from predict-rlm's invoice example).

The model renders each invoice page, reads it with typed `predict` calls in parallel, and builds
an .xlsx with an Invoices sheet and a Line items sheet whose amounts and totals are formulas,
checked with the spreadsheet skill's `evaluate`. Run it:

    python examples/invoice_to_spreadsheet/invoices.py --model openai/gpt-4o-mini \\
        examples/invoice_to_spreadsheet/sample_invoice_*.pdf
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import dspy
from pydantic import BaseModel

from rlm_tui import RLM, File


class LineItem(BaseModel):
    description: str
    quantity: float
    unit_price: float
    amount: float


class Invoice(BaseModel):
    number: str
    date: str
    customer: str
    items: list[LineItem]
    total: float


class InvoicesToSpreadsheet(dspy.Signature):
    """Extract every invoice from the PDFs. Render each page and read it with predict (pass the page
    image and its text), in parallel. Then write an .xlsx with a sheet 'Invoices' (number, date,
    customer, total) and a sheet 'Line items' (invoice, description, quantity, unit price, amount),
    where amounts and totals are Excel formulas; check it with evaluate() before you submit."""

    invoices: list[File] = dspy.InputField(desc="invoice PDFs")
    extracted: list[Invoice] = dspy.OutputField(desc="the invoices, in the order of the files")
    spreadsheet: File = dspy.OutputField(desc="the .xlsx workbook")


def build(lm: str = "openai/gpt-4o-mini", **kwargs: Any) -> RLM:
    return RLM(InvoicesToSpreadsheet, lm=lm, skills=["pdf", "spreadsheet"], project=Path(__file__).parent, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--model", default="openai/gpt-4o-mini")
    parser.add_argument("--out", type=Path, default=Path("invoices-out"), help="where the spreadsheet is copied")
    args = parser.parse_args()
    prediction = build(args.model, files_dir=args.out)(invoices=args.files)
    for invoice in prediction.extracted:
        print(f"{invoice.number}  {invoice.date}  {invoice.customer}  {invoice.total:.2f}")
    print("spreadsheet:", prediction.spreadsheet)


if __name__ == "__main__":
    main()
