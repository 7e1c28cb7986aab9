"""A fake chat session and backend implementing `rlm_tui.chat_api`'s Protocols with its real types;
the session emits realistic events from a thread."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlm_tui.chat_api import SavedSession, TurnResult, VarInfo
from rlm_tui.config import Budget
from rlm_tui.engine import events as ev
from rlm_tui.usage import Usage


@dataclass
class Step:
    code: str | None = "print(len(open('/project/README.md').read()))"  # None: a reply with no cell
    reasoning: str = "Let me look at the README first."
    stdout: str = "42\n"
    error: str | None = None
    subcalls: int = 0
    batched: bool = False  # the sub-calls are one llm_query_batched
    failed: int = 0  # how many of the sub-calls fail
    variables: list[tuple[str, str, int | None, str]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # written into the workspace


@dataclass
class Turn:
    steps: list[Step] = field(default_factory=lambda: [Step()])
    answer: str = "The project is **small**."
    lm_error: str | None = None  # the root LM fails after the steps
    partial: bool = False
    hang: bool = False  # wait until cancelled


class FakeSession:
    def __init__(self, backend: FakeBackend, settings: Any, project: Path, on_event,
                 session_id: str | None = None) -> None:
        self.backend = backend
        self.settings = settings
        self.project = project
        self.on_event = on_event
        self.session_id = session_id or ev.new_id()
        self.workspace = backend.root / "workspaces" / self.session_id
        self.trace_path = backend.root / "traces" / f"{self.session_id}.jsonl"
        self.variables: list[VarInfo] = []
        self.budget: Budget = settings.budget.model_copy()
        self.saves = 0
        self.models = (settings.model, settings.sub_model)
        self.skills = list(settings.skills)
        self._cancel = threading.Event()
        self.asked: list[tuple[str, list[str]]] = []
        self.closed = False
        self.started = False

    def emit(self, e: ev.Event) -> None:
        self.trace_path.parent.mkdir(parents=True, exist_ok=True)
        with self.trace_path.open("a") as f:
            f.write(e.to_json() + "\n")
        self.on_event(e)

    async def start(self) -> None:
        self.workspace.mkdir(parents=True, exist_ok=True)
        run = ev.new_id()
        self.emit(ev.Status(run_id=run, call_id=run, message="starting the sandbox"))
        await asyncio.sleep(self.backend.start_delay)
        self.emit(ev.Status(run_id=run, call_id=run, message="sandbox ready"))
        self.started = True
        self._save_meta()

    def _save_meta(self) -> None:
        """What the real session's meta.json records of the models (read by `list_saved`)."""
        meta = self.backend.root / "meta" / f"{self.session_id}.json"
        meta.parent.mkdir(parents=True, exist_ok=True)
        title = self.asked[0][0][:80] if self.asked else "(new session)"
        meta.write_text(json.dumps(dict(model=self.settings.model, sub_model=self.settings.sub_model,
                                        api_base=self.settings.api_base, project=str(self.project),
                                        title=title)))

    def cancel(self) -> None:
        self._cancel.set()

    def set_models(self, model: str | None = None, sub_model: str | None = None) -> None:
        self.models = (model or self.models[0], sub_model or self.models[1])

    def set_skills(self, skills: list[str]) -> None:
        self.skills = list(skills)

    def save(self) -> None:
        self.saves += 1
        self._save_meta()

    async def close(self) -> None:
        self.closed = True

    async def ask(self, question: str, context_paths: list[str] | None = None) -> TurnResult:
        self.asked.append((question, list(context_paths or [])))
        turn = self.backend.turns.pop(0) if self.backend.turns else Turn()
        self._cancel.clear()
        try:
            return await asyncio.to_thread(self._run, question, turn)
        finally:
            self._save_meta()  # as the real session saves after every turn

    def _run(self, question: str, turn: Turn) -> TurnResult:  # noqa: C901 - a script
        d = self.backend.delay
        run = ev.new_id()
        e = dict(run_id=run)
        self.emit(ev.RunStarted(**e, call_id=run, task="question -> answer",
                                inputs={"question": question}, model=self.models[0] or "fake/root",
                                sub_model=self.models[1] or "fake/sub", project=str(self.project)))
        usage = Usage()
        no_code = 0
        for i, step in enumerate(turn.steps, 1):
            it, lm = ev.new_id(), ev.new_id()
            self.emit(ev.IterationStarted(**e, call_id=it, parent_id=run, iteration=i))
            self.emit(ev.LMCallStarted(**e, call_id=lm, parent_id=it, model="fake/root",
                                       role="root", prompt=f"Task: {question}\n(iteration {i})"))
            text = step.reasoning + ("" if step.code is None else f"\n```python\n{step.code}\n```")
            for chunk in (text[:10], text[10:]):
                self.emit(ev.LMToken(**e, call_id=lm, parent_id=it, text=chunk))
                time.sleep(d)
            self.emit(ev.LMCallFinished(**e, call_id=lm, parent_id=it, model="fake/root",
                                        role="root", response=text, prompt_tokens=100,
                                        completion_tokens=20, cost_usd=0.001, latency_s=d))
            usage = usage + Usage(100, 20, 0.001, d, 1)
            if step.code is None:
                no_code += 1
                self.emit(ev.CodeMissing(**e, call_id=it, parent_id=run, iteration=i, in_a_row=no_code))
                continue
            no_code = 0
            cell = ev.new_id()
            self.emit(ev.CodeCell(**e, call_id=cell, parent_id=it, iteration=i,
                                  reasoning=step.reasoning, code=step.code))
            subs = [ev.new_id() for _ in range(step.subcalls)]
            host = it
            if step.batched:
                host = ev.new_id()
                self.emit(ev.SubCallStarted(**e, call_id=host, parent_id=it, function="llm_query_batched",
                                            model="fake/sub", prompt=f"{len(subs)} prompts"))
            for n, sid in enumerate(subs):
                self.emit(ev.SubCallStarted(**e, call_id=sid, parent_id=host, function="llm_query",
                                            model="fake/sub", prompt=f"summarise chunk {n}"))
            while turn.hang and not self._cancel.is_set():
                time.sleep(0.02)
            if self._cancel.is_set():
                self.emit(ev.RunFailed(**e, call_id=run, error="cancelled", error_type="Cancelled",
                                       cancelled=True))
                return TurnResult("", {}, False, usage, None, cancelled=True)
            time.sleep(d)
            for n, sid in enumerate(subs):
                failed = n < step.failed
                self.emit(ev.SubCallFinished(**e, call_id=sid, parent_id=host, function="llm_query",
                                             model="fake/sub", response="" if failed else f"summary {n}",
                                             error="RateLimitError: 429 Too Many Requests" if failed else None,
                                             duration_s=d, prompt_tokens=0 if failed else 50,
                                             completion_tokens=0 if failed else 5,
                                             cost_usd=None if failed else 0.0001))
            if step.batched:
                shown = f"{len(subs)} answers" + (f", {step.failed} failed" if step.failed else "")
                self.emit(ev.SubCallFinished(**e, call_id=host, parent_id=it, function="llm_query_batched",
                                             model="fake/sub", response=shown, duration_s=d))
            for name, content in step.files.items():
                (self.workspace / name).write_text(content)
            self.emit(ev.CellOutput(**e, call_id=cell, parent_id=it, iteration=i,
                                    stdout=step.stdout, stderr="", error=step.error, duration_s=d))
            if step.variables:
                self.variables = [VarInfo(*v) for v in step.variables]
                self.emit(ev.VariablesChanged(**e, call_id=cell, parent_id=it, variables=[
                    dict(name=v[0], type=v[1], size=v[2], preview=v[3]) for v in step.variables]))
        if turn.lm_error:
            self.emit(ev.RunFailed(**e, call_id=run, error=turn.lm_error, error_type="APIError"))
            return TurnResult("", {}, False, usage, turn.lm_error)
        self.emit(ev.Submitted(**e, call_id=run, parent_id=run, outputs={"answer": turn.answer}))
        self.emit(ev.RunFinished(**e, call_id=run, outputs={"answer": turn.answer},
                                 partial=turn.partial,
                                 usage=usage, duration_s=d))
        return TurnResult(turn.answer, {"answer": turn.answer}, turn.partial, usage)


class FakeBackend:
    def __init__(self, root: Path, turns: list[Turn] | None = None, delay: float = 0.005,
                 start_delay: float = 0.01, fail_start: str | None = None,
                 project: Path = Path(".")) -> None:
        self.root = root
        self.project = project
        self.turns = list(turns or [])
        self.delay = delay
        self.start_delay = start_delay
        self.fail_start = fail_start
        self.sessions: list[FakeSession] = []

    def create(self, settings, project, on_event) -> FakeSession:
        if self.fail_start:
            raise RuntimeError(self.fail_start)
        s = FakeSession(self, settings, project, on_event)
        self.sessions.append(s)
        return s

    async def resume(self, session_id, settings, on_event) -> FakeSession:
        saved = self.list_saved()
        if session_id is None and saved:
            session_id = saved[0].id
        if session_id not in {s.id for s in saved}:
            raise ValueError(f"no saved session {session_id!r}")
        s = FakeSession(self, settings, self.project, on_event, session_id=session_id)
        self.sessions.append(s)
        await s.start()
        return s

    def list_saved(self) -> list[SavedSession]:
        traces = sorted((self.root / "traces").glob("*.jsonl")) if (self.root / "traces").is_dir() else []
        found = [SavedSession(**{"title": f"session {p.stem}", **self._meta(p.stem)}, id=p.stem,
                              updated=p.stat().st_mtime, path=p) for p in traces]
        return sorted(found, key=lambda s: s.updated, reverse=True)

    def _meta(self, session_id: str) -> dict[str, Any]:
        meta = self.root / "meta" / f"{session_id}.json"
        return json.loads(meta.read_text()) if meta.is_file() else {}

    def warm(self) -> None:
        pass
