"""The Textual app. `rlm_tui.tui.app.make_app` builds it; nothing here imports textual eagerly.
It talks to the engine only through `rlm_tui.chat_api` (`backend` imports the engine lazily,
after first paint).

| module                | job                                                                  |
|-----------------------|----------------------------------------------------------------------|
| `app`                 | `RLMApp`: startup, the session, turns, keys, themes                  |
| `slash`               | what each slash command does, on the app through `SlashHost`         |
| `model_choice` | no model configured: the no-model screen; `--resume` with the saved model |
| `commands`            | slash commands as data: names, arguments, help, parsing              |
| `palette`             | the slash commands in the ctrl+p palette                             |
| `backend`             | `EngineBackend`: the real `SessionBackend`                           |
| `pump`                | `EventPump`: engine events from any thread -> one batch per interval |
| `screens.main`        | chat and prompt; calls, variables, files panes                       |
| `screens.modals`, `screens.no_model`, `screens.trust` | previews, pickers, help; no model; trust |
| `widgets.*`           | chat, iteration, answer, blocks, call tree, variables, files, prompt, status |
| `themes`              | TOML themes (built-in `themes/` + the user's)                        |
| `ignore`              | which paths the Files pane and `@path` completion skip               |
| `fuzzy`, `fmt`, `help_text` | pure helpers: completion, formatting, texts                   |
| `quiet_gc`            | full GC passes kept out of busy moments                              |
"""
