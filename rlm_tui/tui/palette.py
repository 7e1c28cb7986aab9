"""The slash commands in the ctrl+p command palette."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from rlm_tui.tui import commands


class RLMCommands(Provider):
    def _run(self, command: commands.SlashCommand) -> None:
        app = self.app
        if command.args and command.name not in ("theme", "resume", "budget", "export", "skills"):
            # needs an argument: put the command in the prompt for the user to finish
            prompt = app.main.prompt_area.input  # type: ignore[attr-defined]
            prompt.load_text(f"/{command.name} ")
            prompt.move_cursor(prompt.document.end)
            prompt.focus()
            return
        app.run_slash(commands.ParsedCommand(command, command.name, ""))  # type: ignore[attr-defined]

    def _title(self, command: commands.SlashCommand) -> str:
        return f"/{command.name}"

    async def discover(self) -> Hits:
        for command in commands.COMMANDS:
            yield DiscoveryHit(self._title(command), partial(self._run, command), help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in commands.COMMANDS:
            title = self._title(command)
            score = max(matcher.match(title), matcher.match(f"{title} {command.help}"))
            if score > 0:  # the description is the hit's help line, so it is not in the title too
                yield Hit(score, matcher.highlight(title), partial(self._run, command),
                          help=command.help)
