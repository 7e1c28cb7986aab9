"""The Textual app. `rlm_tui.tui.app.make_app` builds it; nothing here imports textual eagerly."""
