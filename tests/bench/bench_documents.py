"""Benchmark: rendering a 50-page PDF to images for `predict`, through the pdf skill in the WASM
sandbox, against the same host library (pypdfium2 + Pillow PNG) alone, side by side.

    .venv/bin/python tests/bench/bench_documents.py [--pages 50] [--dpi 150] [--repeat 3]

The skill's figure is a sandbox cell `doc.render(range(50))` ending with 50 `Image` objects in the
guest (the PNG bytes read into guest memory, ready for `predict(..., page=img)`): path checks, the
private copy, the worker processes, writing the PNGs under /workspace and reading them back
included. The library's figure renders and encodes the same pages in one process. Prints the
figures and the ratio; no pass/fail threshold (benches print, they do not judge). Under 2 minutes.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from examples.make_samples import pdf_bytes  # noqa: E402


def make_pdf(path: Path, pages: int) -> None:
    words = "invoice total amount customer shipment order delivery account balance payment".split()
    body = []
    for p in range(pages):
        lines = [(56, 60, 16, f"Report section {p + 1}", True)]
        lines += [(56, 90 + 15 * i, 10, " ".join(words[(p + i + k) % len(words)] for k in range(12)) + f" {p}.{i}")
                  for i in range(44)]
        body.append(lines)
    path.write_bytes(pdf_bytes(body, title="Benchmark"))


def library_alone(path: Path, pages: int, dpi: float) -> float:
    import pypdfium2

    started = time.perf_counter()
    doc = pypdfium2.PdfDocument(str(path))
    images = []
    for i in range(pages):
        page = doc[i]
        bitmap = page.render(scale=dpi / 72)
        buffer = io.BytesIO()
        bitmap.to_pil().save(buffer, format="PNG", compress_level=3)
        images.append(buffer.getvalue())
        page.close()
    doc.close()
    return time.perf_counter() - started


def through_the_skill(folder: Path, pages: int, dpi: float, repeat: int) -> tuple[float, list[float]]:
    from rlm_tui.engine.guest_paths import mounted, sandbox_mounts
    from rlm_tui.engine.skill_setup import prepare_skills
    from rlm_tui.sandbox import Sandbox

    prepared = prepare_skills(folder, ["pdf"], {})
    box: Sandbox | None = None

    def wrap(fn):
        def call(*args, **kwargs):
            with mounted(sandbox_mounts(box)):
                return fn(*args, **kwargs)
        call.__doc__ = fn.__doc__
        return call

    tools = {name: wrap(fn) for name, fn in prepared.tools.items()}
    with Sandbox(folder, skills=prepared.folder, host_functions=tools, timeout_s=120) as box:
        box.run(f"import sys; sys.path[:0] = {prepared.sys_path!r}\nfrom pdf import open_pdf")
        cell = (f"doc = open_pdf('/project/bench.pdf')\nimgs = doc.render(range({pages}), dpi={dpi})\n"
                "assert len(imgs) == {pages} and all(i.mime == 'image/png' for i in imgs)").replace("{pages}", str(pages))
        times = []
        for _ in range(repeat + 1):  # the first one starts the worker processes
            result = box.run(cell)
            if result.error:
                raise SystemExit(result.error)
            times.append(result.duration_s)
    return times[0], times[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--dpi", type=float, default=150)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="rlm-bench-docs-"))
    make_pdf(folder / "bench.pdf", args.pages)
    alone = [library_alone(folder / "bench.pdf", args.pages, args.dpi) for _ in range(args.repeat)]
    cold, warm = through_the_skill(folder, args.pages, args.dpi, args.repeat)
    lib, skill = statistics.median(alone), statistics.median(warm)
    print(f"{args.pages}-page PDF rendered to PNG at {args.dpi:g} dpi (median of {args.repeat})")
    print(f"{'host library alone (pypdfium2 + PNG, one process)':58s} {lib:7.2f} s")
    print(f"{'pdf skill, sandbox cell -> Images in the guest':58s} {skill:7.2f} s   (first call, workers starting: {cold:.2f} s)")
    print(f"ratio skill / library: {skill / lib:.2f}x")


if __name__ == "__main__":
    main()
