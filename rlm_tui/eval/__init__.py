"""`rlm-tui eval`: answer quality, cost and time of RLM mode against direct prompting.

Generated task families with exact ground truth (`needle`, `aggregate`, `codebase`), published
benchmarks read from local files (`datasets`), scoring (`scoring`), the two modes (`modes`), the
concurrent, resumable runner with its cost stop (`runner.run_eval`), the dry-run estimate
(`estimate`), the report (`report`), the chart (`charts`) and side-by-side runs (`compare`).
"""
