"""Document redaction (ported from predict-rlm's redaction example).

The model finds personal data (people's names, email addresses, account numbers) page by page,
locates each occurrence with the pdf skill's search, and writes a redacted copy in which that
text is removed from the file, not only painted over. Run it:

    python examples/document_redaction/redact.py --model openai/gpt-4o-mini \\
        examples/document_redaction/sample_letter.pdf
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Literal

import dspy
from pydantic import BaseModel

from rlm_tui import RLM, File


class Redaction(BaseModel):
    page: int
    text: str
    category: Literal["person", "email", "account", "other"]


class RedactDocument(dspy.Signature):
    """Find the personal data in the document: names of people, email addresses and account
    numbers. Read each page (text, and the rendered page with predict when the layout matters),
    find every occurrence with search, and write a redacted copy with redact(). Check that the
    redacted copy's text no longer contains any of them before you submit."""

    document: File = dspy.InputField(desc="the PDF to redact")
    redactions: list[Redaction] = dspy.OutputField(desc="what was redacted, one entry per distinct text")
    redacted: File = dspy.OutputField(desc="the redacted PDF")


def build(lm: str = "openai/gpt-4o-mini", **kwargs: Any) -> RLM:
    return RLM(RedactDocument, lm=lm, skills=["pdf"], project=Path(__file__).parent, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--model", default="openai/gpt-4o-mini")
    parser.add_argument("--out", type=Path, default=Path("redaction-out"), help="where the redacted PDF is copied")
    args = parser.parse_args()
    prediction = build(args.model, files_dir=args.out)(document=args.file)
    for item in prediction.redactions:
        print(f"page {item.page}: {item.category}: {item.text}")
    print("redacted:", prediction.redacted)


if __name__ == "__main__":
    main()
