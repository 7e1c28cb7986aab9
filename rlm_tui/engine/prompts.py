"""Root prompts: what the root LM is told (its replies are parsed in `reply`)."""

from __future__ import annotations

import re
from typing import Any

from rlm_tui.chat_api import VarInfo
from rlm_tui.engine.input_values import json_note, preview_value
from rlm_tui.engine.outputs import output_types
from rlm_tui.engine.schemas import field_desc, outputs_text

TRUNCATION_MARKER = "\n… [{hidden:,} more characters truncated; print a smaller slice to see them]"

GUEST_FUNCTIONS = """\
- `llm_query(prompt: str, model: str | None = None) -> str`: ask a sub-LM one question (it sees only the prompt you give it; it can take ~100K characters).
- `llm_query_batched(prompts: list[str], model: str | None = None) -> list[str]`: many independent prompts in parallel; a failed prompt returns an "ERROR: ..." string in its slot.
- `predict(signature: str, **inputs) -> dict`: a typed sub-LM call, e.g. `r = predict("text -> sentiment: Literal['pos','neg'], score: float", text=t)`; read `r.score` or `r['score']`. Output types may be dataclasses/TypedDicts/Enums you define in the REPL (results come back as instances); images go in as `Image('/project/pic.png')` (or bytes, a data URI, an https URL) in a field typed `Image`, sounds as `Audio(...)` in a field typed `Audio`.
- Parallel calls: in a cell that uses `await`, await every sub-call function: `rs = await asyncio.gather(*[predict(...) for x in xs])` runs them all at once (plain calls in cells without `await` block as usual).
- `rlm_query(question: str, **inputs) -> str`: hand a sub-task to a child RLM with its own REPL over the same project.
- `rlm_query_batched(questions: list[str]) -> list[str]`: many independent sub-tasks to child RLMs in parallel; a failed one returns an "ERROR: ..." string in its slot.
- `SUBMIT(**outputs)`: finish with your final outputs (typed, see below). Call it only when you are done.
- `SHOW_VARS()`: list your variables."""

SYSTEM = """\
You are a Recursive Language Model (RLM). You answer by writing Python code that runs in a \
persistent REPL (CPython 3.15 in a WebAssembly sandbox, no network). You never see the project \
in this prompt: explore it with code.

Files:
- `/project` (the current directory): the user's project, read-only.
- `/workspace`: writable; save intermediate results or output files here.
{skills_mount}
Functions available in the REPL (already defined):
{functions}
{roles}
Your outputs: SUBMIT({outputs})
{output_notes}
How to work:
1. Each reply: brief reasoning, then exactly one ```python code block. It runs, and you see what it \
prints (long output is truncated to {output_limit:,} characters, so print summaries and slices).
2. Variables persist between code blocks. Inputs are already bound as variables.
3. Use `llm_query`/`llm_query_batched` for semantic work over chunks of text; use plain Python \
(os.walk, re, ast, pandas, ...) for search and counting. Verify before you answer.
4. When you are confident, call `SUBMIT(...)` with every output field; values must match the types.

{skills}"""

COMPACT_SYSTEM = """\
You answer a question about the files in /project (the current directory, read-only) by writing \
Python that runs in a persistent REPL; variables persist between replies. Each reply is one \
```python block that starts with a short # comment saying what it does. You then see what it \
printed (cut at {output_limit:,} characters) and reply again, until you call SUBMIT.

{helpers}- llm_query(prompt) -> str: ask a helper model about text you put in the prompt.
- SUBMIT({outputs}): your final answer. Call it as soon as an output shows the answer.
{output_notes}
Example, in another project:
Question: When did the Harwick bridge open? Answer with the year only.
```python
# Find the lines that mention the bridge.
find("Harwick bridge")
```
Output:
find('Harwick bridge'): 1 line
towns/harwick.txt:12: The Harwick bridge opened in 1887 after ten years of work.
```python
# The line gives the year.
SUBMIT(answer="1887")
```{code_example}"""

# After the compact example, when the code helpers are there: a small model copies the first move
# it is shown, and started code questions with find() on the question's words.
COMPACT_CODE_EXAMPLE = """
Another, about code:
Question: Which functions call `save_config`? List their qualified names.
```python
# Find the calls of save_config.
callers("save_config")
```
Output:
[{'path': 'app/cli.py', 'line': 40, 'caller': 'main', 'text': '    save_config(cfg)'}, \
{'path': 'app/ui.py', 'line': 12, 'caller': 'Window.close', 'text': '        save_config(self.cfg)'}]
```python
# The callers are main and Window.close.
SUBMIT(answer="main, Window.close")
```"""

COMPACT_HELPERS = """\
Helpers, already imported (paths relative to /project). For a question about code (where a name is \
defined, what calls it, which defs take a parameter), start with definitions, callers or outline; \
for other text, start with find and the names and key words of the question.
- definitions(name): where a class or function is defined: [{path, line, kind, qualname, params}]; \
params lists a def's parameter names.
- callers(name): every call of name(...): [{path, line, caller, text}]; caller is the qualname \
of the def the call is in.
- outline(path): every class and def in a file or folder (nested ones too), the same fields.
- find(*terms): print every line that holds a term, as path:line: text, one group per term in \
the order given, and return those lines as strings.
- print(read(path, start, end)): the numbered lines start..end of a file.
"""

COMPACT_NO_HELPERS = """\
Use plain Python to explore (os.listdir, open, re).
"""

# Run once in the sandbox of a compact run: the helpers the compact prompt names (the codebase skill's).
COMPACT_IMPORTS = "from codebase import find, read, definitions, outline, callers"
COMPACT_QUESTION_CHARS = 2000  # a str input up to this long is shown whole, not as a preview


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + TRUNCATION_MARKER.format(hidden=len(text) - limit)


def describe_inputs(inputs: dict[str, Any], descs: dict[str, str] | None = None) -> str:
    """One line per input: type, length, its field's desc and a short preview, never the whole value."""
    lines = []
    descs = descs or {}
    for name, value in inputs.items():
        text = value if isinstance(value, str) else repr(preview_value(value))
        length = f", {len(value):,} chars" if isinstance(value, str) else (
            f", {len(value):,} items" if hasattr(value, "__len__") else "")
        preview = text[:200].replace("\n", "\\n") + ("…" if len(text) > 200 else "")
        desc = f"; {descs[name]}" if descs.get(name) else ""
        if note := json_note(value):
            desc += f"; in the REPL: {note}"
        lines.append(f"- `{name}` ({type(value).__name__}{length}{desc}): {preview}")
    return "\n".join(lines) or "(none)"


def describe_variables(variables: list[VarInfo], skip: set[str]) -> str:
    rows = [f"- `{v.name}`: {v.type}{'' if v.size is None else f' [{v.size}]'} = {v.preview}"
            for v in variables if v.name not in skip]
    return "\n".join(rows[:40]) + ("\n- …" if len(rows) > 40 else "")


def system_prompt(
    signature: Any,
    *,
    output_limit: int,
    roles: dict[str, str],
    skills_text: str = "",
    has_skills_mount: bool = False,
    compact: bool = False,
    compact_helpers: bool = False,
    template: str | None = None,
) -> str:
    """The root LM's system prompt. `template` (an `RLM(system_prompt=...)`) replaces `SYSTEM` (or
    `COMPACT_SYSTEM`); the placeholders it names (`{outputs}`, `{functions}`, `{output_limit:,}`...)
    are filled in, and any other braces are left as written."""
    outputs, notes = outputs_text(output_types(signature), signature.output_fields)
    role_text = ""
    if roles:
        role_text = "Named sub-LM roles for `model=`: " + ", ".join(f"`{r}` ({m})" for r, m in roles.items()) + "\n"
    values: dict[str, Any] = dict(
        functions=GUEST_FUNCTIONS, roles=role_text, outputs=outputs, output_limit=output_limit,
        output_notes=notes + "\n" if notes else "",
        skills_mount="- `/skills`: skill modules, importable.\n" if has_skills_mount else "", skills=skills_text,
        helpers=COMPACT_HELPERS if compact_helpers else COMPACT_NO_HELPERS,
        code_example=COMPACT_CODE_EXAMPLE if compact_helpers else "",
    )
    if template is None:
        template = COMPACT_SYSTEM if compact else SYSTEM
    filled = _PLACEHOLDER.sub(lambda m: format(values[m[1]], m[2] or ""), template)
    return filled if compact else filled.rstrip() + "\n"


_PLACEHOLDER = re.compile(r"\{(functions|roles|outputs|output_notes|output_limit|skills_mount|skills|helpers|code_example)(?::([^{}]*))?\}")


def task_prompt(signature: Any, inputs: dict[str, Any], variables: list[VarInfo], history_summary: str,
                context_paths: list[str], *, compact: bool = False, listing: str = "") -> str:
    """The first user message. `compact`: short text inputs are shown whole (a small model will not
    print a truncated question to read the rest); `listing`: the project's top level."""
    parts = []
    if signature.instructions and not signature.instructions.startswith("Given the fields"):
        parts.append(f"Task: {signature.instructions}")
    if history_summary:
        parts.append(f"Earlier turns in this session:\n{history_summary}")
    shown = {name: value for name, value in inputs.items()
             if compact and isinstance(value, str) and len(value) <= COMPACT_QUESTION_CHARS}
    for name, value in shown.items():
        parts.append(f"{name.capitalize()}: {value}")
    rest = {name: value for name, value in inputs.items() if name not in shown}
    if rest or not shown:
        descs = {name: field_desc(info) for name, info in signature.input_fields.items()}
        parts.append(f"Inputs (bound as REPL variables):\n{describe_inputs(rest, descs)}")
    others = describe_variables(variables, skip=set(inputs))
    if others:
        parts.append(f"Other variables already in the REPL:\n{others}")
    if listing:
        parts.append(f"At the top of /project: {listing}")
    if context_paths:
        parts.append("The user points at these paths: " + ", ".join(f"/project/{p.lstrip('/')}" for p in context_paths))
    parts.append("Start by exploring; reply with reasoning and one ```python block.")
    return "\n\n".join(parts)


def output_message(stdout: str, stderr: str, error: str | None, limit: int) -> str:
    """What the root LM sees after a cell ran."""
    parts = []
    if stdout:
        parts.append(stdout.rstrip("\n"))
    if stderr:
        parts.append("[stderr]\n" + stderr.rstrip("\n"))
    if error:
        parts.append("[error]\n" + error)
    body = truncate("\n".join(parts), limit) if parts else "(no output; print() what you want to see)"
    return f"Output:\n{body}"


NO_CODE = ("Your reply had no ```python code block. Reply with brief reasoning and exactly one "
           "```python block; call SUBMIT(...) inside it when you are done.")

EXTRACT = ("You are out of budget ({reason}). Do not write code. Based on everything above, give your "
           "best final outputs now as a JSON object with exactly these keys: {fields}.")
