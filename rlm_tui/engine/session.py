"""`ChatSession`: one sandbox kept across turns, saved to disk, resumable."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlm_tui import redact
from rlm_tui.chat_api import SavedSession, TurnResult, VarInfo
from rlm_tui.config import Budget, Settings
from rlm_tui.engine.context import Cancelled
from rlm_tui.engine.events import (
    CodeCell,
    Event,
    RunStarted,
    Status,
    SubCallFinished,
    SubCallStarted,
)
from rlm_tui.engine.fanout import EventFanOut
from rlm_tui.engine.session_lock import SessionLock
from rlm_tui.engine.session_meta import SavedTurn, SessionMeta
from rlm_tui.engine.trace import read_trace
from rlm_tui.engine.trace_blobs import text_key
from rlm_tui.lm.facts import CHARS_PER_TOKEN, context_window
from rlm_tui.paths import data_dir
from rlm_tui.sandbox import Sandbox

GUEST_FUNCTIONS = ("llm_query", "llm_query_batched", "predict", "rlm_query", "rlm_query_batched")


@dataclass
class _Turn:
    question: str
    answer: str
    partial: bool
    messages: list[dict[str, str]] = field(default_factory=list)


def sessions_dir() -> Path:
    return data_dir() / "sessions"


class ChatSession:
    """A chat over one project: variables survive between turns; every event is traced.

    An open session (from `start()` or `resume()` to `close()`) holds its folder's lock: a
    second opener anywhere gets `SessionLocked` naming this process.
    """

    def __init__(self, settings: Settings, project: Path, on_event: Callable[[Event], None],
                 session_id: str | None = None) -> None:
        self.settings = settings
        self.project = Path(project).resolve()
        self.session_id = session_id or time.strftime("%Y%m%d-%H%M%S-") + f"{time.time_ns() % 10**6:06d}"
        self.folder = sessions_dir() / self.session_id
        self.workspace = self.folder / "workspace"
        self.trace_path = self.folder / "trace.jsonl"
        self.variables: list[VarInfo] = []
        self.budget: Budget = settings.budget.model_copy()  # each turn's limits; /budget changes them
        self.events = EventFanOut(on_event, self.trace_path)  # every event of every turn: traced, then on_event
        self._sandbox: Sandbox | None = None
        self._rlm: Any = None
        self._turns: list[_Turn] = []
        self._ctx: Any = None
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._folder_lock = SessionLock(self.folder)

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Import the LM stack and start the sandbox (compiling it the very first time)."""
        self._folder_lock.acquire()  # SessionLocked when another process has it open
        try:
            self.events.open()
            self._status("Starting the sandbox…")
            self._rlm = await asyncio.to_thread(self._build_rlm)
            for note in self._rlm.skills.notes:  # host tools left off, packages trusted on first use
                self._status(note)
            names = [*GUEST_FUNCTIONS, "load_skill", *self._rlm.skills.tools]
            self._sandbox = await asyncio.to_thread(
                Sandbox, self.project, workspace=self.workspace, skills=self._rlm.skills.folder,
                host_functions=_idle_functions(names),
                timeout_s=self.settings.cell_timeout_s, memory_mb=self.settings.memory_mb,
                disk_quota=self.settings.disk_quota, output_fields=["answer"], progress=self._status,
            )
        except BaseException:
            await self.close()
            raise
        self._status("Sandbox ready")
        self._save_meta()

    def _build_rlm(self, settings: Settings | None = None) -> Any:
        from rlm_tui.engine.rlm import RLM

        return RLM.from_settings(settings or self.settings, project=self.project, on_event=self.events)

    async def close(self) -> None:
        if self._sandbox is not None:
            await asyncio.to_thread(self._sandbox.close)
            self._sandbox = None
        self.events.close()
        self._folder_lock.release()

    def set_models(self, model: str | None = None, sub_model: str | None = None) -> None:
        """Switch models for the next turn."""
        self._use(self.settings.with_overrides(model=model, sub_model=sub_model))

    def set_skills(self, skills: list[str]) -> None:
        """Enable exactly `skills` from the next turn: their instructions in the prompt, their
        modules and packages under /skills, their host tools. A skill that cannot load raises
        `SkillError` (a ValueError) and nothing changes."""
        self._use(self.settings.model_copy(update={"skills": list(skills)}))

    def _use(self, settings: Settings) -> None:
        """Rebuild the RLM with `settings` (before start, only keep them for it). The open
        sandbox mounts the first staging of /skills: it gets the new staging's contents, guest
        stubs for new host tools (bound at each turn) and idle ones for dropped tools."""
        if self._rlm is None:
            self.settings = settings
            return
        rlm, old_tools = self._build_rlm(settings), set(self._rlm.skills.tools)
        self.settings, self._rlm = settings, rlm
        sandbox, staged = self._sandbox, rlm.skills
        if sandbox is None or sandbox.skills is None or sandbox.skills == staged.folder:
            return
        for part in ("modules", "packages"):
            shutil.rmtree(sandbox.skills / part, ignore_errors=True)
            shutil.move(staged.folder / part, sandbox.skills / part)
        shutil.rmtree(staged.folder, ignore_errors=True)
        staged.folder = sandbox.skills  # child runs' sandboxes mount the same folder
        sandbox.host_functions.update(_idle_functions(sorted(old_tools - set(staged.tools))))
        if new_tools := [name for name in staged.tools if name not in sandbox.host_functions]:
            sandbox.add_host_functions(_idle_functions(new_tools))
        sandbox.run("__import__('importlib').invalidate_caches()")  # /skills/modules changed

    # -- turns -------------------------------------------------------------------------------

    @property
    def turns(self) -> list[tuple[str, str]]:
        """The questions and answers so far, oldest first (a resumed session's included)."""
        return [(t.question, t.answer) for t in self._turns]

    async def ask(self, question: str, context_paths: list[str] | None = None, *,
                  signature: str | None = None, budget: Budget | None = None) -> TurnResult:
        """One turn. `signature` (its one input field gets `question`) and `budget` replace the
        session's own (`self.budget`) for this turn only; a bad signature raises ValueError before anything runs."""
        if self._sandbox is None or self._rlm is None:
            raise RuntimeError("call start() before ask()")
        from rlm_tui.engine.outputs import make_signature

        turn_signature = self._rlm.signature if signature is None else make_signature(signature)
        if len(turn_signature.input_fields) != 1:
            raise ValueError(f"a chat turn's signature takes one input (the question), not "
                             f"{', '.join(turn_signature.input_fields)}")
        self._loop = asyncio.get_running_loop()
        ctx = self._ctx = self._rlm.new_context(budget or self.budget)
        window = await asyncio.to_thread(context_window, self._rlm.lm.model)  # may import litellm
        prior, summary = self._history(window)
        self._task = asyncio.current_task()
        try:
            prediction = await self._rlm.arun(
                {next(iter(turn_signature.input_fields)): question}, sandbox=self._sandbox, ctx=ctx,
                signature=turn_signature, prior_messages=prior, history_summary=summary,
                context_paths=context_paths)
        except (Cancelled, asyncio.CancelledError):
            if (current := asyncio.current_task()) is not None:
                current.uncancel()
            return TurnResult("", {}, False, ctx.used(), "cancelled", cancelled=True)
        except Exception as e:
            return TurnResult("", {}, False, ctx.used(), f"{type(e).__name__}: {e}")
        finally:
            self._task = None
            self.variables = self._sandbox.variables() if self._sandbox and not self._sandbox.closed else []
        outputs = {name: prediction[name] for name in turn_signature.output_fields}
        answer = _answer_text(outputs)
        self._turns.append(_Turn(question, answer, prediction.partial, prediction.messages))
        self._save_meta()
        return TurnResult(answer, outputs, prediction.partial, prediction.usage)

    def cancel(self) -> None:
        """Stop the running turn from any thread; the sandbox and its variables survive."""
        ctx, task, loop = self._ctx, self._task, self._loop
        if ctx is not None:
            ctx.cancel_event.set()
        if self._sandbox is not None:
            self._sandbox.cancel()
        if task is not None and loop is not None:
            loop.call_soon_threadsafe(task.cancel)

    def _history(self, window_tokens: int) -> tuple[list[dict[str, str]], str]:
        """Earlier turns in full while they fit half the window, else as a compact summary."""
        full = [m for turn in self._turns for m in turn.messages]
        limit = window_tokens * CHARS_PER_TOKEN // 2
        if sum(len(m["content"]) for m in full) <= limit:
            return full, ""
        summary = "\n".join(f"{i}. Q: {t.question[:300]}\n   A: {t.answer[:500]}{' (partial)' if t.partial else ''}"
                            for i, t in enumerate(self._turns, 1))
        return [], summary

    # -- events and persistence ------------------------------------------------------------

    def save(self) -> None:
        """Write the session's meta.json now (it is also written after every turn)."""
        self._save_meta()

    def _status(self, message: str) -> None:
        self.events(Status(run_id=self.session_id, call_id=self.session_id, message=message))

    def _save_meta(self) -> None:
        meta = SessionMeta(
            id=self.session_id, project=str(self.project), updated=time.time(),
            title=self._turns[0].question[:80] if self._turns else "(new session)",
            turns=[SavedTurn(question=t.question, answer=t.answer, partial=t.partial, messages=t.messages)
                   for t in self._turns],
            model=self.settings.model, sub_model=self.settings.sub_model,
            api_base=self.settings.api_base,
        )
        with self._lock:
            _write_atomically(self.folder / "meta.json", json.dumps(redact.scrub_data(meta.model_dump())))

    @staticmethod
    def list_saved() -> list[SavedSession]:
        found = []
        for meta_file in sessions_dir().glob("*/meta.json"):
            try:
                meta = SessionMeta.read(meta_file)
                found.append(SavedSession(meta.id, meta.title, meta.updated, meta_file.parent,
                                          project=meta.project, model=meta.model,
                                          sub_model=meta.sub_model, api_base=meta.api_base))
            except (OSError, ValueError):
                continue
        return sorted(found, key=lambda s: s.updated, reverse=True)

    @classmethod
    async def resume(cls, session_id: str | None, settings: Settings,
                     on_event: Callable[[Event], None], project: Path | None = None) -> ChatSession:
        """Reopen a saved session (the newest when `session_id` is None) and rebuild its sandbox
        by re-running its cells; sub-LM calls inside them replay their recorded answers."""
        saved = cls.list_saved()
        if not saved:
            raise ValueError(f"no saved sessions in {sessions_dir()}")
        match = saved[0] if session_id is None else next((s for s in saved if s.id == session_id), None)
        if match is None:
            raise ValueError(f"no saved session {session_id!r}; known: {', '.join(s.id for s in saved[:10])}")
        lock = SessionLock(match.path)
        lock.acquire()  # before reading: nobody else writes the session while it is open here
        try:
            meta = SessionMeta.read(match.path / "meta.json")
            session = cls(settings, project or Path(meta.project), on_event, session_id=match.id)
        except BaseException:
            lock.release()
            raise
        session._folder_lock = lock
        try:
            session._turns = [_Turn(t.question, t.answer, t.partial, t.messages) for t in meta.turns]
            events = read_trace(session.trace_path) if session.trace_path.exists() else []
            await session.start()
            await session._replay_cells(events)
        except BaseException:
            await session.close()
            raise
        return session

    async def _replay_cells(self, events: list[Event]) -> None:
        """Each root turn again: its inputs set as it set them, then its cells re-run."""
        from rlm_tui.engine.input_values import encode_input

        roots = {e.call_id for e in events if isinstance(e, RunStarted) and e.depth == 0}
        steps = [e for e in events if (isinstance(e, RunStarted) and e.call_id in roots)
                 or (isinstance(e, CodeCell) and e.parent_id in roots)]
        cells = sum(1 for e in steps if isinstance(e, CodeCell))
        if not cells:
            return
        sandbox = self._sandbox
        assert sandbox is not None, "the sandbox starts before its cells are replayed"
        self._status(f"Restoring the sandbox: re-running {cells} cells…")
        sandbox.host_functions.update(_replay_functions(events))
        for step in steps:
            if isinstance(step, RunStarted):
                inputs = {k: step.task if k == "question" and step.task else v for k, v in step.inputs.items()}
                await sandbox.in_thread(sandbox.set_variables, inputs, encode_input)
            else:
                await sandbox.in_thread(sandbox.run, step.code)
        sandbox.host_functions.update(_idle_functions(list(sandbox.host_functions)))
        self.variables = await sandbox.in_thread(sandbox.variables)
        self._status(f"Restored {len(self.variables)} variables")


def _write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a uniquely named temporary file in the same folder, so
    a reader sees the old or the new file, never half of one, and concurrent saves never collide."""
    fd, staged = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(staged, path)
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise


def _answer_text(outputs: dict[str, Any]) -> str:
    if set(outputs) == {"answer"}:
        return str(outputs["answer"])
    return "\n".join(f"**{k}**: {v}" for k, v in outputs.items())


def _idle_functions(names: list[str]) -> dict[str, Callable[..., Any]]:
    def idle(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("sub-LM functions and tools are available only while a turn runs")

    return dict.fromkeys(names, idle)


class ReplayStopped(Exception):
    """Raised in a cell being replayed where the original run stopped: at a call that failed
    (with its error) or never finished (the turn was cancelled), so the sandbox ends up with
    exactly the variables it had."""


def _replay_functions(events: list[Event]) -> dict[str, Callable[..., Any]]:
    """Guest functions that answer with what the original run got: `llm_query` and a batch's
    `rlm_query` by prompt (batched calls finish out of order; matched by hash, as a long prompt
    may be stored as its hash alone), `predict` and `rlm_query` in call order. A recorded failure
    fails again (an "ERROR: ..." slot in a batch); a call with no recorded end stops the cell."""
    prompts = {e.call_id: text_key(e.prompt) for e in events if isinstance(e, SubCallStarted)}
    batches = {e.call_id for e in events if isinstance(e, SubCallStarted) and e.function == "rlm_query_batched"}
    by_prompt: dict[str, deque[SubCallFinished]] = defaultdict(deque)
    by_question: dict[str, deque[SubCallFinished]] = defaultdict(deque)
    in_order: dict[str, deque[SubCallFinished]] = defaultdict(deque)
    for e in events:
        if isinstance(e, SubCallFinished):
            if e.function == "llm_query":
                by_prompt[prompts.get(e.call_id, "")].append(e)
            elif e.function == "rlm_query" and e.parent_id in batches:
                by_question[prompts.get(e.call_id, "")].append(e)
            elif e.function in ("predict", "rlm_query"):
                in_order[e.function].append(e)

    def next_of(queue: deque[SubCallFinished] | None) -> SubCallFinished:
        if not queue:
            raise ReplayStopped("this call had not finished when the turn stopped")
        return queue.popleft()

    def llm_query(prompt: str, *_args: Any, **_kwargs: Any) -> str:
        done = next_of(by_prompt.get(text_key(prompt)) if isinstance(prompt, str) else None)
        if done.error is not None:
            raise ReplayStopped(done.error)
        return done.response

    def batch(answers: dict[str, deque[SubCallFinished]], prompts: list[str]) -> list[str]:
        finished = [next_of(answers.get(text_key(p)) if isinstance(p, str) else None) for p in prompts]
        return [f"ERROR: {d.error}" if d.error is not None else d.response for d in finished]

    def llm_query_batched(prompts: list[str], *_args: Any, **_kwargs: Any) -> list[str]:
        return batch(by_prompt, prompts)

    def recorded(function: str, decode: Callable[[str], Any]) -> Callable[..., Any]:
        def answer(*_args: Any, **_kwargs: Any) -> Any:
            done = next_of(in_order[function])
            if done.error is not None:
                raise ReplayStopped(done.error)
            return decode(done.response)
        return answer

    return {
        "llm_query": llm_query,
        "llm_query_batched": llm_query_batched,
        "predict": recorded("predict", json.loads),
        "rlm_query": recorded("rlm_query", str),
        "rlm_query_batched": lambda questions, *a, **k: batch(by_question, questions),
    }
