"""The RLM engine: the run loop, prompts, sub-calls, budgets, events, traces and chat sessions.
It drives `rlm_tui.sandbox` and `rlm_tui.lm`, and never imports textual, rich or `rlm_tui.tui`
(import-linter contracts in pyproject.toml).

| module         | job                                                                        |
|----------------|----------------------------------------------------------------------------|
| `rlm`          | `RLM`: the `dspy.Module` entry; `arun` is the one way in (chat sessions too) |
| `components`   | what an optimiser may change: root instructions, skill texts (`named_predictors`) |
| `run`          | `Run`: one run's loop: root LM -> code cell -> sandbox, until SUBMIT or budget |
| `context`      | `RunContext`: what a call tree shares (LMs, meter, events, cancellation)    |
| `prompts`      | what the root LM is told; `reply` parses what it answers                   |
| `reply`        | reasoning and the ```python blocks of a root reply                         |
| `subcalls`     | the guest functions `llm_query(_batched)`, `predict`, `rlm_query`           |
| `predict`      | typed sub-calls through `dspy.Predict` on a sub-LM                          |
| `small_model`  | what an offline model is shown after each cell                             |
| `budget`       | the meter of a call tree against the limits `config.Budget`                |
| `events`       | every event the engine emits (frozen dataclasses)                          |
| `fanout`       | `EventFanOut`: each event to the trace, then to the caller's `on_event`    |
| `trace`        | JSONL traces (`trace_blobs`: long strings once, a byte cap per run)        |
| `run_trace`    | `RunTrace`: the typed trace of a run (`prediction.trace`), from its events   |
| `calls`        | `CallGraph`: the call tree from events (TUI, replay, headless printer)     |
| `printer`      | `ProgressPrinter`: the headless progress lines on stderr (`ask`, `verbose=`) |
| `replay`       | a readable account of a run from its trace                                 |
| `session`      | `ChatSession`: one sandbox across turns, saved and resumable              |
| `session_meta` | `meta.json` of a saved session (pydantic); `session_lock`: one writer      |
| `outputs`      | parse signatures, validate and coerce what `SUBMIT(...)` hands over        |
| `schemas`      | output and input types as the root prompt shows them (pydantic expanded)   |
| `input_values` | how inputs cross into the sandbox with their types, and what the prompt says |
| `file_type`    | `File`, a signature field that is a file; `files` stages and copies them   |
| `guest_types`  | signature strings and REPL class schemas from the sandbox                 |
| `guest_paths`  | the host file a guest path names, opened without following links          |
| `skill_setup`  | the skills a run asks for -> sandbox mounts, host tools, prompt text      |
| `citations`    | `path:line` citations in answers                                           |
"""
