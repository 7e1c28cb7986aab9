"""The pdf skill: every function through a real run (scripted LM), and every bad input."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pikepdf
import pypdfium2
import pytest

from examples.make_samples import letter_pages, pdf_bytes
from rlm_tui.documents import pdf_tools
from rlm_tui.documents.workers import DocumentError
from rlm_tui.engine.guest_paths import GuestPathError, mounted
from rlm_tui.engine.rlm import RLM
from tests.engine.test_engine import code


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "letter.pdf").write_bytes(pdf_bytes(letter_pages(), title="Account review", author="Northside Bank",
                                                outline=[("Letter", 0), ("Contacts", 1)]))
    table = [[(56, 72, 12, "Item", True), (300, 72, 12, "Qty", True), (420, 72, 12, "Price", True)],
             ]
    rows = [("Bolt", "12", "0.40"), ("Nut", "30", "0.10"), ("Washer", "100", "0.05")]
    lines = table[0] + [(x, 92 + 18 * i, 12, v) for i, row in enumerate(rows) for x, v in zip((56, 300, 420), row, strict=True)]
    (root / "parts.pdf").write_bytes(pdf_bytes([lines]))
    return root


def run_cells(server, project, *cells, signature="question -> answer"):
    server.script("root", *(code(c) for c in cells))
    rlm = RLM(signature, lm="openai/root", sub_lm="openai/sub", api_base=server.url, project=project,
              skills=["pdf"], tool_timeout_s=120)
    return rlm


async def test_pdf_skill_reads_searches_tables_renders_and_redacts(scripted_server, project):
    cell = (
        "from pdf import open_pdf, merge_pdfs, extract_pages\n"
        "doc = open_pdf('/project/letter.pdf')\n"
        "out = {'pages': doc.page_count, 'meta': doc.metadata, 'toc': doc.toc}\n"
        "out['text'] = doc.text()\n"
        "out['words'] = doc.words(0)[:3]\n"
        "out['blocks'] = [b['text'] for b in doc.blocks(0)]\n"
        "out['hits'] = doc.search('Jane Holloway')\n"
        "out['tables'] = open_pdf('/project/parts.pdf').tables(0)\n"
        "imgs = doc.render([0, 1], dpi=72)\n"
        "out['images'] = [(repr(i), i.mime, len(i.data)) for i in imgs]\n"
        "out['region'] = len(doc.render(0, dpi=144, region=[50, 90, 300, 180])[0].data)\n"
        "r = doc.redact('/workspace/red.pdf', boxes=out['hits'], terms=['4417-2209-8812'])\n"
        "out['redact'] = r\n"
        "out['after'] = open_pdf('/workspace/red.pdf').text()\n"
        "merge_pdfs(['/project/letter.pdf', '/project/parts.pdf'], '/workspace/merged.pdf')\n"
        "extract_pages('/workspace/merged.pdf', [2], '/workspace/one.pdf')\n"
        "out['merged'] = open_pdf('/workspace/merged.pdf').page_count\n"
        "out['one'] = open_pdf('/workspace/one.pdf').text()\n"
        "import json\nSUBMIT(answer=json.dumps(out))")
    prediction = await run_cells(scripted_server, project, cell).aforward(question="pdf")
    out = json.loads(prediction.answer)
    assert out["pages"] == 2 and out["meta"] == {"Title": "Account review", "Author": "Northside Bank"}
    assert out["toc"] == [{"level": 1, "title": "Letter", "page": 0}, {"level": 1, "title": "Contacts", "page": 1}]
    assert "--- page 0 ---\nAccount review" in out["text"] and "REF-2026-0117" in out["text"]
    assert [w["text"] for w in out["words"]] == ["Account", "review", "Dear"]
    first = out["words"][0]
    assert 55 < first["x0"] < 58 and 58 < first["y0"] < 63 and first["page"] == 0
    assert out["blocks"][1] == "Dear Ms. Jane Holloway,"
    assert [(h["page"], h["text"]) for h in out["hits"]] == [(0, "Jane Holloway"), (1, "Jane Holloway")]
    assert out["tables"] == [[["Item", "Qty", "Price"], ["Bolt", "12", "0.40"], ["Nut", "30", "0.10"],
                              ["Washer", "100", "0.05"]]]
    assert [tuple(i[:2]) for i in out["images"]] == [("Image('/workspace/pages/letter-p0001-72dpi.png')", "image/png"),
                                                    ("Image('/workspace/pages/letter-p0002-72dpi.png')", "image/png")]
    assert out["region"] > 1000
    assert out["redact"]["pages"] == [0, 1] and out["redact"]["glyphs_removed"] >= 2 * 13 + 14
    assert "Jane Holloway" not in out["after"] and "4417" not in out["after"]
    assert "Dear Ms. ," in out["after"] and "Tomas Reyes" in out["after"]
    assert out["merged"] == 3 and "Washer" in out["one"]


def _page_png_size(data: bytes) -> tuple[int, int]:
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.fixture
def mounts(tmp_path: Path, project: Path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    with mounted({"/project": project, "/workspace": workspace}):
        yield project, workspace


def test_redacted_text_cannot_be_extracted_by_other_readers(mounts):
    project, workspace = mounts
    pdf_tools.redact("/project/letter.pdf", "/workspace/out.pdf", terms=["jane.holloway@example.org", "Holloway"])
    data = (workspace / "out.pdf").read_bytes()
    assert b"holloway" not in data.lower()  # not even in an uncompressed stream
    with pikepdf.open(workspace / "out.pdf") as pdf:
        raw = b"".join(pdf.pages[i].obj.Contents.read_bytes() for i in range(2))
    assert b"Holloway" not in raw and b"Tomas" in raw
    doc = pypdfium2.PdfDocument(workspace / "out.pdf")
    text = "".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    assert "Holloway" not in text and "example.org" not in text and "Northside" in text


def test_render_dimensions_follow_dpi(mounts):
    _, workspace = mounts
    [path] = pdf_tools.render("/project/letter.pdf", pages=[1], dpi=100)
    width, height = _page_png_size((workspace / path.removeprefix("/workspace/")).read_bytes())
    assert (width, height) == (850, 1100)


# -- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path, message", [
    ("/etc/passwd", "outside /project, /inputs, /workspace"),
    ("/project/../../etc/passwd", "'..' and '.' are not allowed"),
    ("relative.pdf", "not an absolute path"),
    ("/project/missing.pdf", "No such file"),
    ("/project/link.pdf", "links are not followed"),
    ("/project/inner/letter.pdf", "links are not followed"),
])
def test_paths_outside_the_mounts_and_links_are_refused(mounts, tmp_path, path, message):
    project, _ = mounts
    secret = tmp_path / "secret.pdf"
    secret.write_bytes(pdf_bytes([[(56, 72, 12, "secret")]]))
    os.symlink(secret, project / "link.pdf")
    os.symlink(tmp_path, project / "inner")
    with pytest.raises(GuestPathError, match=message):
        pdf_tools.info(path)


def test_outputs_go_only_under_workspace_and_never_through_a_link(mounts, tmp_path):
    project, workspace = mounts
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, workspace / "escape")
    os.symlink(outside / "x.pdf", workspace / "x.pdf")
    with pytest.raises(GuestPathError, match="outside /workspace"):
        pdf_tools.redact("/project/letter.pdf", "/project/out.pdf", terms=["Jane"])
    with pytest.raises(GuestPathError, match="links are not followed"):
        pdf_tools.redact("/project/letter.pdf", "/workspace/escape/out.pdf", terms=["Jane"])
    with pytest.raises(GuestPathError, match="links are not followed"):
        pdf_tools.redact("/project/letter.pdf", "/workspace/x.pdf", terms=["Jane"])
    with pytest.raises(GuestPathError, match="links are not followed"):
        pdf_tools.render("/project/letter.pdf", pages=[0], out_dir="/workspace/escape")
    assert list(outside.iterdir()) == []


def test_encrypted_corrupt_truncated_and_non_pdf_files(mounts, tmp_path):
    project, _ = mounts
    with pikepdf.open(project / "letter.pdf") as pdf:
        pdf.save(project / "locked.pdf", encryption=pikepdf.Encryption(user="pw", owner="pw"))
    data = (project / "letter.pdf").read_bytes()
    (project / "truncated.pdf").write_bytes(data[: len(data) // 3])
    (project / "corrupt.pdf").write_bytes(b"%PDF-1.7\n" + os.urandom(4000))
    (project / "notes.pdf").write_bytes(b"just some text\n")
    with pytest.raises(DocumentError, match=r"/project/locked.pdf is encrypted"):
        pdf_tools.info("/project/locked.pdf")
    with pytest.raises(DocumentError, match=r"/project/locked.pdf is encrypted"):
        pdf_tools.redact("/project/locked.pdf", "/workspace/o.pdf", boxes=[{"page": 0, "x0": 1, "y0": 1, "x1": 9, "y1": 9}])
    for name in ("truncated", "corrupt"):
        try:
            info = pdf_tools.info(f"/project/{name}.pdf")
        except DocumentError as e:
            assert f"/project/{name}.pdf is not a readable PDF" in str(e)
        else:  # PDFium repaired what it could: the rest still reads without error
            assert info["pages"] >= 0
            pdf_tools.layout(f"/project/{name}.pdf")
    with pytest.raises(DocumentError, match=r"/project/notes.pdf is not a PDF"):
        pdf_tools.info("/project/notes.pdf")


def test_two_thousand_pages_are_read_but_calls_are_bounded(mounts):
    project, _ = mounts
    (project / "long.pdf").write_bytes(pdf_bytes([[(56, 72, 12, f"page {i}")] for i in range(2000)]))
    started = time.monotonic()
    assert pdf_tools.info("/project/long.pdf")["pages"] == 2000
    with pytest.raises(DocumentError, match=r"rendering 2000 pages of /project/long.pdf at once is over the limit of 100"):
        pdf_tools.render("/project/long.pdf")
    with pytest.raises(DocumentError, match=r"over the limit of 500 per call"):
        pdf_tools.layout("/project/long.pdf")
    assert pdf_tools.layout("/project/long.pdf", list(range(1500, 1502)))[1]["text"] == "page 1501"
    assert [h["page"] for h in pdf_tools.search("/project/long.pdf", "page 1999")] == [1999]
    with pytest.raises(DocumentError, match="page 2000 does not exist: /project/long.pdf has 2000 pages"):
        pdf_tools.render("/project/long.pdf", pages=[2000])
    assert time.monotonic() - started < 30


def test_big_image_only_scan_is_bounded_and_says_it_has_no_text(mounts):
    project, _ = mounts
    side = 2900  # 4 pages of 25 MB raw RGB: a 100 MB scan with no text layer
    images = {i: (side, side, os.urandom(side * side * 3)) for i in range(4)}
    (project / "scan.pdf").write_bytes(pdf_bytes([[] for _ in range(4)], images=images, compress=False,
                                                 page_size=(2900, 2900)))  # a 40-inch poster scan
    assert (project / "scan.pdf").stat().st_size > 100_000_000
    started = time.monotonic()
    layout = pdf_tools.layout("/project/scan.pdf", [0])
    assert layout[0]["words"] == [] and layout[0]["text"] == ""
    [path] = pdf_tools.render("/project/scan.pdf", pages=[3], dpi=50)
    assert path.endswith("scan-p0004-50dpi.png")
    with pytest.raises(DocumentError, match=r"page 0 of /project/scan.pdf at 200 dpi is 65 megapixels, over the 40 MP"):
        pdf_tools.render("/project/scan.pdf", pages=[0], dpi=200)
    assert time.monotonic() - started < 60


def test_bad_arguments_are_explained(mounts):
    with pytest.raises(DocumentError, match="dpi must be between 10 and 400"):
        pdf_tools.render("/project/letter.pdf", dpi=5000)
    with pytest.raises(DocumentError, match="region must be"):
        pdf_tools.render("/project/letter.pdf", region="top")
    with pytest.raises(DocumentError, match="pages must be a page index"):
        pdf_tools.layout("/project/letter.pdf", pages="all")
    with pytest.raises(DocumentError, match="nothing to redact"):
        pdf_tools.redact("/project/letter.pdf", "/workspace/o.pdf", terms=["not in the letter"])
    with pytest.raises(DocumentError, match="bad box"):
        pdf_tools.redact("/project/letter.pdf", "/workspace/o.pdf", boxes=[{"page": 0}])


def test_a_hung_worker_is_stopped_at_its_deadline(mounts, monkeypatch):
    from rlm_tui.documents import workers

    started = time.monotonic()
    with pytest.raises(DocumentError, match="did not finish within 1 s and was stopped"):
        workers.run_all("time:sleep", [(30,)], 1.0, "sleeping")
    assert time.monotonic() - started < 5


def test_host_tools_need_a_run(project):
    with pytest.raises(GuestPathError, match="can only be called from a run's sandbox"):
        pdf_tools.info("/project/letter.pdf")


async def test_a_bad_input_is_an_error_the_model_sees_and_the_run_goes_on(scripted_server, project):
    (project / "broken.pdf").write_bytes(b"%PDF-1.4\n" + b"\0" * 100)
    cell = ("from pdf import open_pdf\n"
            "try:\n    open_pdf('/project/broken.pdf')\nexcept Exception as e:\n    err = f'{type(e).__name__}: {e}'\n"
            "SUBMIT(answer=err + ' | ' + str(open_pdf('/project/letter.pdf').page_count))")
    prediction = await run_cells(scripted_server, project, cell).aforward(question="broken")
    assert prediction.answer.startswith("DocumentError: /project/broken.pdf is not a readable PDF")
    assert prediction.answer.endswith("| 2")
