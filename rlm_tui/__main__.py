from rlm_tui.cli import run

run()
