"""The engine over the protocols other tools speak: MCP for agents, ACP for editors.

Both drive `ChatSession` (one sandbox kept across turns, the same engine entry the TUI uses)
and read the engine's one event stream; neither has a loop or a way to build a run of its own.

    requests.py    what a client may ask for (budget, signature), checked against the settings
    pool.py        the open sessions: one turn at a time each, cancellation, shutdown
    progress.py    events -> progress lines (EventChannel from any thread, TurnMeter)
    mcp_server.py  `rlm-tui mcp [PROJECT]`: tools ask / session_ask / session_close
    acp_updates.py events -> ACP session updates (tool calls, plan, usage)
    acp_agent.py   `rlm-tui acp`: a session per working directory, prompt turns, cancel
"""
