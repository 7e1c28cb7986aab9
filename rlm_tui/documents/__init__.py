"""Host-side document work for the built-in document skills: PDFium rendering and layout, qpdf
redaction, each in bounded worker processes, over files the guest can already see."""
