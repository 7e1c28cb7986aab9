"""Texts shown by the TUI and (for the no-model case) the headless CLI. No textual import."""

from __future__ import annotations

from pathlib import Path

from rlm_tui.tui.commands import COMMANDS

KEYS: tuple[tuple[str, str], ...] = (
    ("enter", "send the message"),
    ("shift+enter / ctrl+j / alt+enter", "new line in the message"),
    ("up / down", "previous / next message from history (on the first / last line)"),
    ("tab", "accept the highlighted completion (/command or @path)"),
    ("escape", "cancel the running turn (the session and its variables survive)"),
    ("ctrl+c (twice)", "quit (once: copy the selection, if any)"),
    ("ctrl+q", "quit at once"),
    ("ctrl+p", "command palette"),
    ("f1", "this help"),
    ("f2 … f5", "show chat / calls / variables / files (narrow terminals)"),
    ("ctrl+y", "copy the last answer"),
    ("c (on a message or code block)", "copy it"),
    ("enter (on a call in the Calls pane)", "open its prompt and answer beside the tree"),
    ("n / ] and p / [ (in a call's view)", "next / previous call: a batch prompt by prompt"),
)


def no_model_message(config_path: Path) -> str:
    """Markdown that says exactly how to configure a model for good."""
    return f"""\
## Set a model for good

rlm-tui needs a language model to drive the REPL. Set one in **any** of these ways:

**1. The config file** `{config_path}`

```toml
model = "openai/gpt-4o-mini"        # any litellm model string
sub_model = "openai/gpt-4o-mini"    # optional: the model for llm_query()
```

For a local or self-hosted **OpenAI-compatible** server (vLLM, llama.cpp, Ollama, LM Studio…):

```toml
model = "openai/qwen2.5-coder-7b-instruct"
api_base = "http://localhost:8000/v1"
api_key = "anything"               # if the server wants one
```

**2. An environment variable**

```sh
export RLM_TUI_MODEL=anthropic/claude-sonnet-4-5
export ANTHROPIC_API_KEY=...        # the provider's usual key variable
```

**3. A flag**

```sh
rlm-tui --model openai/gpt-4o-mini
rlm-tui --model openai/my-model --api-base http://localhost:8000/v1
```

Provider keys come from the provider's own env var (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, …)
or `RLM_TUI_API_KEY` / `api_key` for `api_base`.
"""


def help_markdown() -> str:
    keys = "\n".join(f"| `{k}` | {v} |" for k, v in KEYS)
    cmds = "\n".join(f"| `{c.usage}` | {c.help} |" for c in COMMANDS)
    return f"""\
# rlm-tui

Ask a question about the project. The root model explores it from a Python REPL in a
WebAssembly sandbox (`/project` is read-only, `/workspace` is writable) and delegates to
sub-models with `llm_query`. Mention files with `@path` to point it at them.

## Keys

| key | action |
|---|---|
{keys}

## Commands

| command | what it does |
|---|---|
{cmds}

Every command is also in the **ctrl+p** palette. Start a message with `//` to send a literal `/`.
"""
