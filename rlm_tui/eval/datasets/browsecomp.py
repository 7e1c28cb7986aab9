"""BrowseComp-Plus (Chen et al., 2025; arXiv 2508.06600): deep-research questions over a fixed web
corpus, in the RLM paper's setting: each question gets `--docs` documents (1000 in the paper) that
always include its evidence, gold and hard-negative documents, filled up at random from the corpus.

Published on the Hugging Face hub as `Tevatron/browsecomp-plus` (the queries, obfuscated: the
project's `scripts_build_index/decrypt_dataset.py` writes `browsecomp_plus_decrypted.jsonl`) and
`Tevatron/browsecomp-plus-corpus` (about 100K documents, Parquet). PATH is a folder holding the
decrypted queries as one top-level `*.jsonl` and the corpus under `corpus/` (`*.parquet` or
`*.jsonl`). Query fields read: `query_id`, `query`, `answer`, `evidence_docs`, `gold_docs`,
`negative_docs` (lists of ``{docid, text, url}``). Corpus fields read: `docid`, `text`, `url`.

The corpus is split once into one file per document (`<docid>.txt`, its URL on the first line)
under rlm-tui's data folder. For each question the chosen documents are hard-linked into a fresh
folder that is mounted read-only at `/corpus` in the RLM's sandbox: never pasted into a prompt.
Direct prompting gets the same documents concatenated (truncated to its window, as the paper's
base models were).

Scoring, BrowseComp-Plus's rule: an LM judge (the sub-model unless `--judge-model`) reads the
question, the response and the correct answer and says whether the response's final answer is
semantically the correct one (small numeric margins allowed, extra correct detail allowed); the
verdict line ``correct: yes`` scores 1, anything else 0.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr

from rlm_tui.eval.datasets.base import DatasetFamily, Entry, tokens_of
from rlm_tui.eval.datasets.records import DatasetError, data_files, scan, validate
from rlm_tui.eval.tasks import CHARS_PER_TOKEN, Instance, Judged, Task
from rlm_tui.paths import data_dir

DEFAULT_DOCS = 1000
_VERDICT = re.compile(r"correct\**\s*:\**\s*(yes|no)\b", re.IGNORECASE)
ANSWER_FORMAT = ("\n\nYour response should be in the following format:\n"
                 "Explanation: {your explanation for your final answer}\n"
                 "Exact Answer: {your succinct, final answer}\n"
                 "Confidence: {your confidence score between 0% and 100% for your answer}")
JUDGE_PROMPT = """You grade an answer to a research question against the known correct answer.

Question: {question}

Response: {response}

Correct answer: {correct}

Take the final answer the response gives. It is correct when it means the same as the correct
answer: a different spelling or wording is fine, more precise or more detailed is fine when the
extra detail is right, and a number within a small margin of error is fine. It is incorrect when
it differs, is ambiguous, hedges between answers, or is missing. Do not solve the question
yourself and do not argue for another answer.

Reply in exactly this form:
extracted_final_answer: <the response's final answer, or None>
reasoning: <one or two sentences>
correct: <yes or no>"""


class Doc(BaseModel):
    model_config = ConfigDict(extra="ignore")

    docid: StrictStr | StrictInt
    text: StrictStr | None = None
    url: StrictStr | None = None


class BrowseCompQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    query_id: StrictStr | StrictInt
    query: StrictStr
    answer: StrictStr
    evidence_docs: list[Doc] = []
    gold_docs: list[Doc] = []
    negative_docs: list[Doc] = []


class CorpusDoc(BaseModel):
    model_config = ConfigDict(extra="ignore")

    docid: StrictStr | StrictInt
    text: StrictStr
    url: StrictStr | None = None


def doc_file(docid: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", docid)
    return f"{safe}.txt" if safe == docid else f"{safe}-{hashlib.sha256(docid.encode()).hexdigest()[:8]}.txt"


def doc_text(url: str | None, text: str) -> str:
    return f"{url or ''}\n{text}"


class Corpus:
    """The corpus as one file per document, made once from the published files."""

    def __init__(self, files: list[Path], store: Path) -> None:
        stamp = hashlib.sha256(json.dumps(
            [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files]).encode()).hexdigest()[:16]
        self.folder = store / stamp
        self.docs = self.folder / "docs"
        self.files = files
        self._index: dict[str, int] | None = None  # docid -> characters

    def index(self) -> dict[str, int]:
        if self._index is None:
            done = self.folder / "index.json"
            if not done.is_file():
                self._prepare(done)
            self._index = json.loads(done.read_text(encoding="utf-8"))
        return self._index

    def _prepare(self, done: Path) -> None:
        print(f"rlm-tui eval: splitting the BrowseComp-Plus corpus into one file per document in {self.docs} "
              "(once)", file=sys.stderr)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.docs.mkdir(parents=True)
        index: dict[str, int] = {}
        for file in self.files:
            for ref, row in scan(file):
                doc = validate(CorpusDoc, row, ref)
                text = doc_text(doc.url, doc.text)
                (self.docs / doc_file(str(doc.docid))).write_text(text, encoding="utf-8")
                index[str(doc.docid)] = len(text)
        partial = done.with_suffix(".partial")
        partial.write_text(json.dumps(index), encoding="utf-8")
        partial.rename(done)  # written last: an interrupted split is redone, never half-used


class BrowseCompFamily(DatasetFamily):
    name = "browsecomp-plus"

    def __init__(self, path: str | Path, *, limit: int | None = None, subset: str | None = None,
                 docs: int = DEFAULT_DOCS, store: Path | None = None) -> None:
        super().__init__(path, limit=limit, subset=subset)
        if docs < 1:
            raise DatasetError("--docs must be at least 1")
        self.docs = docs
        self.store = store or data_dir() / "eval" / "browsecomp-plus"
        self._corpus: Corpus | None = None

    def corpus(self) -> Corpus:
        if self._corpus is None:
            folder = self.path / "corpus"
            if not folder.is_dir():
                raise DatasetError(f"{self.path}: no corpus/ folder: download Tevatron/browsecomp-plus-corpus "
                                   f"into {folder} (its *.parquet files, or a JSONL of docid/text/url)")
            try:
                files = data_files(folder, (".parquet", ".jsonl"))
            except DatasetError:
                raise DatasetError(f"{folder}: the corpus folder has no *.parquet or *.jsonl files") from None
            self._corpus = Corpus(files, self.store)
        return self._corpus

    def entries_from(self, path: Path) -> list[Entry]:
        if not path.is_dir():
            raise DatasetError(f"{path}: expected a folder with the decrypted queries (*.jsonl) and corpus/")
        queries = sorted(p for p in path.glob("*.jsonl") if p.is_file())
        if len(queries) != 1:
            found = ", ".join(p.name for p in queries) or "none"
            raise DatasetError(f"{path}: expected one queries file (browsecomp_plus_decrypted.jsonl) at the top "
                               f"of the folder, found {found}")
        index = self.corpus().index()
        average = sum(index.values()) / len(index) if index else 0
        entries = []
        for ref, row in scan(queries[0]):
            query = validate(BrowseCompQuery, row, ref)
            own = [*query.evidence_docs, *query.gold_docs, *query.negative_docs]
            for doc in own:
                if str(doc.docid) not in index and doc.text is None:
                    raise DatasetError(f"{ref.where}: document {doc.docid} is neither in the corpus nor given "
                                       "with its text")
            count = max(self.docs, len({str(d.docid) for d in own}))
            meta = {"query": query.query, "answer": query.answer,
                    "own": [d.model_dump() for d in own]}
            entries.append(Entry(str(query.query_id), "all", int(count * average) // CHARS_PER_TOKEN, ref, meta))
        return entries

    def chosen(self, entry: Entry, seed: int) -> list[Doc]:
        """The question's own documents, filled up at random from the corpus, shuffled."""
        own = {str(d["docid"]): Doc.model_validate(d) for d in entry.meta["own"]}
        rng = random.Random(f"{seed}:{self.name}:{entry.key}")
        others = sorted(set(self.corpus().index()) - set(own))
        fill = rng.sample(others, min(len(others), max(0, self.docs - len(own))))
        docs = [*own.values(), *(Doc(docid=d) for d in fill)]
        rng.shuffle(docs)
        return docs

    def instance(self, entry: Entry, task: Task) -> Instance:
        corpus = self.corpus()
        folder = Path(tempfile.mkdtemp(prefix="rlm-corpus-"))
        parts = []
        for doc in self.chosen(entry, task.seed):
            docid = str(doc.docid)
            target = folder / doc_file(docid)
            source = corpus.docs / doc_file(docid)
            if source.is_file():
                try:
                    os.link(source, target)
                except OSError:
                    shutil.copyfile(source, target)
                text = source.read_text(encoding="utf-8")
            else:  # a query's own document missing from the corpus: its text came with the query
                text = doc_text(doc.url, doc.text or "")
                target.write_text(text, encoding="utf-8")
            parts.append(f"[document {docid}]\n{text}")
        context = "\n\n".join(parts)
        count = len(parts)
        return Instance(
            task=task, question=entry.meta["query"] + ANSWER_FORMAT,
            expected={"question": entry.meta["query"], "answer": entry.meta["answer"]},
            scoring="browsecomp-plus",
            rlm_preamble=(f"The documents for this question are mounted read-only at /corpus: {count:,} files, "
                          f"one per document (`/corpus/<docid>.txt`; its first line is the document's URL), "
                          f"about {tokens_of(context):,} tokens in all. "),
            direct_context=context, mounts={"/corpus": folder}, judge=judge,
            cleanup=lambda: shutil.rmtree(folder, ignore_errors=True),
        )


def verdict(reply: str) -> float:
    match = _VERDICT.search(reply or "")
    return 1.0 if match and match.group(1).lower() == "yes" else 0.0


async def judge(answer: Any, expected: Any, lm: Any) -> Judged:
    """The judge's verdict on `answer`; `expected` holds the question and the correct answer."""
    question, correct = expected["question"], expected["answer"]
    prompt = JUDGE_PROMPT.format(question=question, response=str(answer or ""), correct=correct)
    completion = await lm.acomplete([{"role": "user", "content": prompt}])
    usage = completion.usage
    return Judged(verdict(completion.text), completion.text.strip(), usage.prompt_tokens,
                  usage.completion_tokens, usage.cost_usd)
