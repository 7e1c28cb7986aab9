"""rlm-tui: Recursive Language Models over a local project, in the terminal."""
