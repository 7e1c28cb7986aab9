"""One RLM run: the root LM writes code cells until it SUBMITs or a budget runs out."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dspy

from rlm_tui.engine.budget import BudgetExceeded, child_memory_mb
from rlm_tui.engine.context import Cancelled, RunContext
from rlm_tui.engine.events import (
    BudgetExhausted,
    CellOutput,
    CodeCell,
    CodeMissing,
    IterationStarted,
    RunFailed,
    RunFinished,
    RunStarted,
    Status,
    SubmitRejected,
    Submitted,
    VariablesChanged,
    new_id,
)
from rlm_tui.engine.files import RunFiles
from rlm_tui.engine.input_values import encode_input
from rlm_tui.engine.outputs import (
    OutputError,
    coerce,
    jsonable,
    make_signature,
    output_types,
    validate_outputs,
)
from rlm_tui.engine.prompts import (
    COMPACT_IMPORTS,
    EXTRACT,
    NO_CODE,
    output_message,
    system_prompt,
    task_prompt,
)
from rlm_tui.engine.reply import parse_reply
from rlm_tui.engine.schemas import guest_classes, install_classes_source
from rlm_tui.engine.small_model import cell_feedback, project_listing, repeats, submit_field
from rlm_tui.engine.subcalls import GuestFunctions
from rlm_tui.lm.client import Completion, ContextWindowError
from rlm_tui.lm.facts import CHARS_PER_TOKEN, context_window
from rlm_tui.lm.warm import warm_up
from rlm_tui.local.reply_grammar import root_replies
from rlm_tui.sandbox import CellResult, Sandbox, SandboxError
from rlm_tui.sandbox.door import SOFT_TIMEOUT_GRACE_S

log = logging.getLogger(__name__)
COMPACT_AT, COMPACT_TO = 0.8, 0.5  # past this share of the root window (4 chars a token), compact to that
ELIDED = "\n… [older output elided to fit the context window]"


@dataclass
class Step:
    """One iteration as it enters the history."""

    reasoning: str
    code: str | None
    output: str

    def to_dict(self) -> dict[str, Any]:
        return {"reasoning": self.reasoning, "code": self.code, "output": self.output}


@dataclass
class Outcome:
    outputs: dict[str, Any]
    partial: bool
    trajectory: list[Step] = field(default_factory=list)
    budget_reason: str | None = None


class Run:
    """Drives one signature to SUBMIT on a sandbox; child runs for `rlm_query` share the context."""

    def __init__(
        self,
        ctx: RunContext,
        signature: type[dspy.Signature],
        inputs: dict[str, Any],
        sandbox: Sandbox | None = None,
        *,
        depth: int = 0,
        parent_id: str | None = None,
        prior_messages: list[dict[str, str]] | None = None,
        history_summary: str = "",
        context_paths: list[str] | None = None,
        files_dir: Path | None = None,
    ) -> None:
        self.ctx = ctx
        self.signature = signature
        self.inputs = inputs
        self.depth = depth
        self.parent_id = parent_id
        self.call_id = new_id()
        self.iteration_id = self.call_id
        self.functions = GuestFunctions(ctx, self)
        self.files = RunFiles(signature, depth, files_dir)  # File fields: staged inputs, copied-out outputs
        self._own_sandbox = sandbox is None
        self.sandbox = sandbox
        self.prior_messages = prior_messages or []
        self.history_summary = history_summary
        self.context_paths = context_paths or []
        self.steps: list[Step] = []
        self.messages: list[dict[str, str]] = []
        self._memory_mb = 0  # what this run's sandbox holds of the tree's memory pool

    # -- public ------------------------------------------------------------------------------

    async def execute(self) -> Outcome:
        ctx = self.ctx
        ctx.loop = ctx.loop or asyncio.get_running_loop()
        started = time.monotonic()
        ctx.emit(RunStarted(
            run_id=ctx.run_id, call_id=self.call_id, parent_id=self.parent_id,
            task=str(self.inputs.get("question", "")) or self.signature.signature,
            inputs={k: _preview(v) for k, v in self.inputs.items()},
            model=ctx.lm.model, sub_model=ctx.sub_lm.model, project=str(ctx.project), depth=self.depth,
        ))
        try:
            await self._prepare_sandbox()
            outcome = await self._loop()
        except Cancelled as e:
            self._fail(e, cancelled=True)
            raise
        except asyncio.CancelledError:
            self._fail(Cancelled("the turn was cancelled"), cancelled=True)
            raise
        except Exception as e:
            self._fail(e)
            raise
        finally:
            await self._release()
        ctx.emit(RunFinished(
            run_id=ctx.run_id, call_id=self.call_id, parent_id=self.parent_id,
            outputs=jsonable(outcome.outputs), partial=outcome.partial, usage=ctx.used(),
            duration_s=time.monotonic() - started,
        ))
        return outcome

    async def _release(self) -> None:
        """Close the run's own sandbox and remove staged files. A failure is logged and reported
        as a Status event, never raised: it must not replace the run's result."""
        steps = [self._give_memory, self.files.cleanup]
        if self._own_sandbox and self.sandbox is not None:
            steps.insert(0, self.sandbox.close)
        for step in steps:
            try:
                await asyncio.to_thread(step)
            except Exception as e:
                log.warning("cleanup after run %s failed: %s", self.call_id, e, exc_info=True)
                self._status(f"cleanup after the run failed: {type(e).__name__}: {e}")

    def _status(self, message: str) -> None:
        """Progress of a slow step (image download, first compile, model load); any thread."""
        self.ctx.emit(Status(run_id=self.ctx.run_id, call_id=self.call_id, parent_id=self.parent_id,
                             message=message))

    @property
    def box(self) -> Sandbox:
        """The run's sandbox, once `_prepare_sandbox` has made or adopted it."""
        assert self.sandbox is not None, "the sandbox is prepared before any cell runs"
        return self.sandbox

    @property
    def own_messages(self) -> list[dict[str, str]]:
        """This run's exchange: its task prompt onwards (no system prompt, no earlier turns)."""
        return self.messages[1 + len(self.prior_messages):]

    def _give_memory(self) -> None:
        self.ctx.memory_pool.give(self._memory_mb)
        self._memory_mb = 0

    async def spawn_child(self, question: str, signature: str | None, inputs: dict[str, Any],
                          *, parent_id: str) -> tuple[dict[str, Any], bool]:
        if (exceeded := self.ctx.meter.exhausted()) is not None:
            raise exceeded  # before a sandbox is started for a child that could not run
        sig = make_signature(signature or "question -> answer")
        child_inputs = dict(inputs)
        first_input = next(iter(sig.input_fields))
        child_inputs.setdefault(first_input, question)
        child = Run(self.ctx, sig, child_inputs, depth=self.depth + 1, parent_id=parent_id)
        outcome = await child.execute()
        return outcome.outputs, outcome.partial

    # -- the loop ------------------------------------------------------------------------------

    async def _prepare_sandbox(self) -> None:
        ctx = self.ctx
        if self.sandbox is None:
            if self.depth == 0:
                self._memory_mb = ctx.memory_pool.take(ctx.memory_mb, ctx.memory_mb)
            else:
                self._memory_mb = ctx.memory_pool.take(child_memory_mb(ctx.memory_mb))
            self.sandbox = await asyncio.to_thread(
                Sandbox, ctx.project, skills=ctx.skills_dir, host_functions=self.functions.as_dict(),
                timeout_s=ctx.cell_timeout_s, memory_mb=self._memory_mb, disk_quota=ctx.disk_quota,
                output_fields=list(self.signature.output_fields), mounts=self.files.mounts(),
                progress=self._status,
            )
        else:  # the caller's sandbox (a chat session's): kept open, its variables kept
            self._memory_mb = ctx.memory_pool.take(self.sandbox.memory_mb, self.sandbox.memory_mb)
            self.sandbox.host_functions.update(self.functions.as_dict())
            fields = list(self.signature.output_fields)
            if self.sandbox.output_fields != fields:
                await self.box.in_thread(self.box.set_output_fields, fields)
        await self._install_output_classes()
        if ctx.skills_path:
            sys_path = "__import__('sys').path"
            await self.box.in_thread(self.box.run, f"{sys_path}.__setitem__(slice(0, 0), "
                                    f"[p for p in {ctx.skills_path!r} if p not in {sys_path}])")
        self._compact_helpers = False
        if ctx.compact_prompt:  # the helpers a small model's prompt names, imported for it
            imported = await self.box.in_thread(self.box.run, COMPACT_IMPORTS)
            self._compact_helpers = imported.error is None
        self.inputs = await asyncio.to_thread(self.files.stage, self.inputs, self.sandbox)
        if self.inputs:  # over the sandbox's door, never pasted into source code: any size fits
            try:
                self._variables = await self.box.in_thread(self.box.set_variables, self.inputs, encode_input)
            except SandboxError as e:
                raise RuntimeError(f"could not load the inputs into the sandbox: {e}") from e
        else:
            self._variables = []

    async def _loop(self) -> Outcome:
        ctx = self.ctx
        await asyncio.to_thread(warm_up, ctx.lm.model, self._status)  # imports litellm: seconds, once
        self._window_tokens = await asyncio.to_thread(context_window, ctx.lm.model)
        system = system_prompt(
            self.signature, output_limit=ctx.output_limit,
            roles={name: lm.model for name, lm in ctx.roles.items()},
            skills_text=ctx.skills_text, has_skills_mount=ctx.skills_dir is not None,
            compact=ctx.compact_prompt, compact_helpers=self._compact_helpers, template=ctx.system_prompt,
        )
        self.messages = [{"role": "system", "content": system}, *self.prior_messages,
                         {"role": "user", "content": task_prompt(
                             self.signature, self.inputs, self._variables, self.history_summary,
                             self.context_paths, compact=ctx.compact_prompt,
                             listing=project_listing(ctx.project) if ctx.compact_prompt else "")
                         + self.files.note()}]
        iteration = no_code = 0  # no_code: replies in a row without a code cell
        while True:
            ctx.check_cancel()
            if (exceeded := ctx.meter.exhausted()) is not None:
                return await self._extract(exceeded)
            iteration += 1
            ctx.meter.add_iteration()
            self.iteration_id = new_id()
            ctx.emit(IterationStarted(run_id=ctx.run_id, call_id=self.iteration_id,
                                      parent_id=self.call_id, iteration=iteration))
            try:
                completion = await self._root_reply()
            except BudgetExceeded as refused:
                return await self._extract(refused)
            reply = parse_reply(completion.text)
            self.messages.append({"role": "assistant", "content": completion.text})
            if reply.code is None:
                no_code += 1
                ctx.emit(CodeMissing(run_id=ctx.run_id, call_id=self.iteration_id, parent_id=self.call_id,
                                     iteration=iteration, in_a_row=no_code))
                self.steps.append(Step(reply.reasoning, None, NO_CODE))
                self.messages.append({"role": "user", "content": NO_CODE})
                continue
            no_code = 0
            ctx.emit(CodeCell(run_id=ctx.run_id, call_id=self.iteration_id, parent_id=self.call_id,
                              iteration=iteration, reasoning=reply.reasoning, code=reply.code))
            result = await self._run_cell(reply.code)
            ctx.check_cancel()
            self._emit_cell(iteration, result)
            if ctx.compact_prompt:  # a small model: short errors, a nudge when the answer is in sight
                feedback = cell_feedback(result.stdout, result.stderr, result.error, ctx.output_limit,
                                         code=reply.code, question=self._question(), project=ctx.project,
                                         repeated=repeats(reply.code, [s.code for s in self.steps]),
                                         field=submit_field(self.signature))
            else:
                feedback = output_message(result.stdout, result.stderr, result.error, ctx.output_limit)
            if result.submitted is not None:
                try:
                    outputs = validate_outputs(self.signature, result.submitted)
                    outputs = await asyncio.to_thread(self.files.export, outputs, self.box.workspace,
                                                      max_bytes=self.box.disk_quota.max_bytes)
                except OutputError as e:
                    ctx.emit(SubmitRejected(run_id=ctx.run_id, call_id=self.iteration_id,
                                            parent_id=self.call_id, error=str(e)))
                    feedback = f"{feedback}\n\n{e}"
                else:
                    self.steps.append(Step(reply.reasoning, reply.code, feedback))
                    ctx.emit(Submitted(run_id=ctx.run_id, call_id=self.iteration_id,
                                       parent_id=self.call_id, outputs=jsonable(outputs)))
                    return Outcome(outputs, False, self.steps)
            self.steps.append(Step(reply.reasoning, reply.code, feedback))
            self.messages.append({"role": "user", "content": feedback})

    async def _root_reply(self) -> Completion:
        """The root LM's next reply; when the prompt still overflows the window (the 4-chars-a-token
        estimate was off), the history is compacted harder and the call made once more."""
        try:
            return await self._send_root()
        except ContextWindowError:
            if not self._compact(COMPACT_TO / 2):
                raise
        return await self._send_root()

    async def _send_root(self) -> Completion:
        ctx = self.ctx
        with root_replies(ctx.lm.model):  # an offline model's reply: reasoning + one code block
            return await ctx.complete(ctx.lm, self._window(), role="root" if self.depth == 0 else f"root@{self.depth}",
                                      call_id=new_id(), parent_id=self.iteration_id, stream=True)

    async def _install_output_classes(self) -> None:
        """The pydantic output models as guest classes of the same name (`SUBMIT(result=Result(...))`)."""
        if classes := guest_classes(output_types(self.signature)):
            await self.box.in_thread(self.box.run, install_classes_source(classes))

    async def _run_cell(self, code: str) -> CellResult:
        """Run a cell within the turn's deadline: its own time limit is cut to the time left,
        and at the deadline the cell is cancelled, which also ends its waits on host calls.
        After a restart the output classes are installed again in the fresh instance."""
        result = await self._timed_cell(code)
        if result.restarted:
            await self._install_output_classes()
        return result

    async def _timed_cell(self, code: str) -> CellResult:
        left = self.ctx.meter.seconds_left()
        if left is None:
            return await self.box.in_thread(self.box.run, code)
        timeout = max(0.05, min(self.ctx.cell_timeout_s, left))
        # The cell's own limit stops it softly at the deadline; the watchdog, a moment later, ends
        # what that limit cannot (waits on host calls) without cutting the cell's unwinding short.
        watchdog = asyncio.get_running_loop().call_later(max(0.0, left) + SOFT_TIMEOUT_GRACE_S,
                                                         self.box.cancel)
        try:
            return await self.box.in_thread(self.box.run, code, timeout)
        finally:
            watchdog.cancel()

    def _emit_cell(self, iteration: int, result: CellResult) -> None:
        ctx = self.ctx
        ctx.emit(CellOutput(run_id=ctx.run_id, call_id=self.iteration_id, parent_id=self.call_id,
                            iteration=iteration, stdout=result.stdout, stderr=result.stderr,
                            error=result.error, duration_s=result.duration_s, restarted=result.restarted))
        ctx.emit(VariablesChanged(run_id=ctx.run_id, call_id=self.iteration_id, parent_id=self.call_id,
                                  variables=[vars(v) for v in result.variables]))

    async def _extract(self, exceeded: BudgetExceeded) -> Outcome:
        """Budget spent: one last call turns the history into outputs, marked partial.

        At the root it is the one call allowed past the call, token and cost limits, within
        the time kept for it at the end of `max_seconds`. A child run's extract step is an
        ordinary call: when the budget refuses it, the child fails with that refusal."""
        ctx = self.ctx
        ctx.emit(BudgetExhausted(run_id=ctx.run_id, call_id=self.call_id, parent_id=self.parent_id,
                                 budget=exceeded.budget, limit=exceeded.limit, used=exceeded.used))
        names = list(self.signature.output_fields)
        prompt = EXTRACT.format(reason=str(exceeded), fields=", ".join(names))
        messages = [*self._window(), {"role": "user", "content": prompt}]
        root = self.depth == 0
        left = ctx.meter.seconds_left(extract=True)
        if root and left is not None and left <= 0:
            text = "(no answer: the time budget ran out with no time left for the extract step)"
        else:
            try:
                completion = await ctx.complete(ctx.lm, messages, role="extract", call_id=new_id(),
                                                parent_id=self.call_id, extract=root)
                text = completion.text
            except BudgetExceeded as e:
                if not root:
                    raise
                text = (f"(no answer: the extract step did not finish within the "
                        f"{ctx.meter.extract_allowance:g} s kept for it: {e})")
            except Exception as e:  # best effort: fall back to an explicit placeholder
                text = f"(no answer: the budget ran out and the extract step failed: {e})"
        outputs = self.files.export(self._parse_extract(text), self.box.workspace, strict=False,
                                    max_bytes=self.box.disk_quota.max_bytes)
        return Outcome(outputs, True, self.steps, exceeded.budget)

    def _parse_extract(self, text: str) -> dict[str, Any]:
        """Fields from the extract reply's JSON; a str field falls back to the raw text."""
        match = re.search(r"\{.*\}", text, re.DOTALL)
        data: dict[str, Any] = {}
        if match:
            try:
                data = json.loads(match.group(0))
            except ValueError:
                data = {}
        outputs: dict[str, Any] = {}
        for name, annotation in output_types(self.signature).items():
            value = data.get(name, text.strip() if annotation is str else None)
            try:
                outputs[name] = coerce(annotation, value)
            except ValueError:
                outputs[name] = value
        return outputs

    def _question(self) -> str:
        """The text inputs, which say what answer is wanted."""
        return "\n".join(v for v in self.inputs.values() if isinstance(v, str))

    def _window(self) -> list[dict[str, str]]:
        """The messages, compacted when they near the root model's window (see `_compact`)."""
        if self._history_chars() > COMPACT_AT * self._window_tokens * CHARS_PER_TOKEN:
            self._compact(COMPACT_TO)
        return self.messages

    def _history_chars(self) -> int:
        return sum(len(m["content"]) for m in self.messages)

    def _compact(self, fraction: float) -> bool:
        """Elide the oldest cell outputs, in place, until the history is `fraction` of the window;
        whether anything was elided. Compacting seldom and by a lot keeps the prompt's prefix the
        same from one iteration to the next, so a prefix cache (llama.cpp's, a provider's) keeps
        working; the trajectory keeps every output whole."""
        target = fraction * self._window_tokens * CHARS_PER_TOKEN
        total = self._history_chars()
        elided = False
        for m in self.messages[2:-4]:  # keep the system prompt, the task and the latest exchanges
            if total <= target:
                break
            if m["role"] == "user" and len(m["content"]) > 300 and not m["content"].endswith(ELIDED):
                total -= len(m["content"]) - 40 - len(ELIDED)
                m["content"] = m["content"][:40] + ELIDED
                elided = True
        return elided

    def _fail(self, error: Exception, cancelled: bool = False) -> None:
        self.ctx.emit(RunFailed(run_id=self.ctx.run_id, call_id=self.call_id, parent_id=self.parent_id,
                                error=str(error), error_type=type(error).__name__, cancelled=cancelled))


def _preview(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 300 else text[:297] + "..."
