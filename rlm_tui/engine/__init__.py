"""The RLM engine: loop, prompts, sub-calls, budgets, events, traces. Never imports textual."""
