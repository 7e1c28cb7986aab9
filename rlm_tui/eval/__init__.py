"""`rlm-tui eval`: answer quality, cost and time of RLM mode against direct prompting.

Task families with exact, generated ground truth (`needle`, `aggregate`, `codebase`), scoring
(`scoring`), the concurrent, resumable runner (`runner.run_eval`) and the report (`report`).
"""
