"""Benchmark: the `codebase` skill's index, search and outline on a generated 10,000-file tree,
measured INSIDE the WASM sandbox (and on the host for comparison).

    .venv/bin/python tests/bench/bench_index.py [--files 10000] [--keep DIR]

Prints the figures; no pass/fail thresholds (see DESIGN.md: benches print, they do not judge).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKILL = ROOT / "skills" / "codebase"

PY = '''"""Module {i}."""
import os

CONSTANT_{i} = {i}


class Service{i}:
    """A service."""

    def __init__(self, name, retries=3):
        self.name = name
        self.retries = retries

    def handle_request(self, request, timeout=None):
        value = helper_{j}(request)
        return process(value, self.retries)

    def close(self):
        pass


def helper_{i}(request):
    return str(request).upper()


def process(value, retries):
    for _ in range(retries):
        value = value.strip()
    return value
'''
TS = '''import {{ helper{j} }} from "./m{j}";

export interface Options{i} {{
  debug: boolean;
}}

export class Widget{i} {{
  constructor(private opts: Options{i}) {{}}

  render(target: string): string {{
    return helper{j}(target);
  }}
}}

export function make{i}(opts: Options{i}): Widget{i} {{
  return new Widget{i}(opts);
}}

export const format{i} = (value: number) => value.toFixed(2);
'''
GO = '''package pkg{d}

type Store{i} struct {{
	items map[string]int
}}

func (s *Store{i}) Get(key string) int {{
	return s.items[key]
}}

func NewStore{i}() *Store{i} {{
	return &Store{i}{{items: map[string]int{{}}}}
}}
'''
MD = "# Notes {i}\n\n" + "Some prose about the system, its handlers and services.\n" * 20


def generate(root: Path, n_files: int, seed: int = 7) -> dict[str, int]:
    """`n_files` indexed files plus ignored, vendored and binary extras; returns what was made."""
    rng = random.Random(seed)
    made = {"indexed": 0, "ignored": 0, "vendored": 0, "binary": 0}
    (root / ".gitignore").write_text("*.log\n/generated/\n!keep.log\n")
    per_dir = 40
    for i in range(n_files):
        d = i // per_dir
        folder = root / "src" / f"area{d // 25}" / f"pkg{d}"
        folder.mkdir(parents=True, exist_ok=True)
        kind = i % 4
        j = rng.randrange(max(1, i))
        if kind in (0, 1):
            (folder / f"m{i}.py").write_text(PY.format(i=i, j=j))
        elif kind == 2:
            (folder / f"m{i}.ts").write_text(TS.format(i=i, j=j))
        else:
            (folder / f"m{i}.go").write_text(GO.format(i=i, d=d))
        made["indexed"] += 1
    docs = root / "docs"
    docs.mkdir()
    for i in range(200):
        (docs / f"log{i}.log").write_text("noise\n" * 50)
        made["ignored"] += 1
    generated = root / "generated"
    generated.mkdir()
    for i in range(300):
        (generated / f"g{i}.py").write_text("x = 1\n")
        made["ignored"] += 1
    vendored = root / "node_modules" / "lib"
    vendored.mkdir(parents=True)
    for i in range(1000):
        (vendored / f"v{i}.js").write_text("module.exports = 1;\n")
        made["vendored"] += 1
    assets = root / "assets"
    assets.mkdir()
    for i in range(100):
        (assets / f"img{i}.png").write_bytes(bytes(range(256)) * 4)
        made["binary"] += 1
    (docs / "README.md").write_text(MD.format(i=0))
    (docs / "keep.log").write_text("kept\n")
    made["indexed"] += 2
    return made


GUEST = r'''
import sys, time, json
sys.path.insert(0, "/skills")
import codebase
t0 = time.perf_counter(); s = codebase.index(); t_index = time.perf_counter() - t0
t0 = time.perf_counter(); hits = codebase.search(r"def handle_request", max_results=10**6); t_search_cold = time.perf_counter() - t0
t0 = time.perf_counter(); hits2 = codebase.search(r"helper_\d+\(", max_results=10**6); t_search_warm = time.perf_counter() - t0
t0 = time.perf_counter(); o = codebase.outline("src/area0"); t_outline = time.perf_counter() - t0
t0 = time.perf_counter(); d = codebase.definitions("Store75"); t_defs = time.perf_counter() - t0
t0 = time.perf_counter(); c = codebase.callers("helper_5"); t_callers = time.perf_counter() - t0
t0 = time.perf_counter(); r = codebase.references("process"); t_refs = time.perf_counter() - t0
print(json.dumps({"files": s["files"], "skipped": s["skipped"], "index_s": t_index,
    "search_cold_s": t_search_cold, "search_hits": len(hits), "search_warm_s": t_search_warm,
    "search_warm_hits": len(hits2), "outline_files": len(codebase.files("src/area0")),
    "outline_entries": len(o), "outline_s": t_outline, "definitions_s": t_defs, "definitions": len(d),
    "callers_s": t_callers, "callers": len(c), "references_s": t_refs, "references": len(r)}))
'''


def run_guest(project: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    from rlm_tui.sandbox import Sandbox

    started = time.perf_counter()
    sandbox = Sandbox(project, skills=SKILL, timeout_s=600, memory_mb=2048)
    boot = time.perf_counter() - started
    try:
        result = sandbox.run(GUEST)
    finally:
        sandbox.close()
    if result.error:
        raise SystemExit(f"guest failed: {result.error}\n{result.stderr}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["sandbox_start_s"] = boot
    return figures


def run_host(project: Path) -> dict:
    sys.path.insert(0, str(SKILL))
    import codebase

    t0 = time.perf_counter()
    stats = codebase.index(str(project), refresh=True)
    index_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    hits = codebase.search(r"def handle_request", max_results=10**6)
    return {"files": stats["files"], "index_s": index_s, "search_cold_s": time.perf_counter() - t0,
            "search_hits": len(hits)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, help="generate the tree here and keep it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="rlm-bench-index-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        made = generate(root, args.files)
        print(f"generated {sum(made.values()):,} files ({made}) in {time.perf_counter() - t0:.1f} s")
        guest = run_guest(root)
        host = run_host(root)
        print(f"\nInside the sandbox (CPython 3.15 on WASI), {guest['files']:,} files indexed:")
        print(f"  index            {guest['index_s']:7.2f} s   (skipped: {guest['skipped']})")
        print(f"  search cold      {guest['search_cold_s']:7.2f} s   ({guest['search_hits']:,} hits; reads every file once)")
        print(f"  search warm      {guest['search_warm_s']:7.2f} s   ({guest['search_warm_hits']:,} hits; texts cached)")
        print(f"  outline          {guest['outline_s']:7.2f} s   ({guest['outline_entries']:,} definitions in {guest['outline_files']:,} files)")
        print(f"  definitions()    {guest['definitions_s']:7.2f} s   ({guest['definitions']} found)")
        print(f"  callers()        {guest['callers_s']:7.2f} s   ({guest['callers']} found)")
        print(f"  references()     {guest['references_s']:7.2f} s   ({guest['references']:,} found)")
        print(f"  (sandbox start   {guest['sandbox_start_s']:7.2f} s)")
        print(f"\nOn the host (CPython {sys.version.split()[0]}): index {host['index_s']:.2f} s, "
              f"cold search {host['search_cold_s']:.2f} s")
        print(f"guest/host ratio: index {guest['index_s'] / host['index_s']:.1f}x, "
              f"cold search {guest['search_cold_s'] / host['search_cold_s']:.1f}x")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
