"""Alt on named keys from terminals that send Meta as an ESC prefix (tmux, xterm, Konsole).

Textual 8.2.8 drops the alt of an ESC-prefixed named key: alt+enter (ESC CR) arrives as a
plain enter, so the prompt sent the message instead of inserting a newline (Textualize/textual
#6663, open). `AltKeyParser` keeps it; `install()` makes the terminal and web drivers use it.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual import events
from textual._xterm_parser import XTermParser

KEPT = frozenset({"enter", "backspace", "tab", "delete", "space"})  # named keys whose alt is kept


class AltKeyParser(XTermParser):
    def _sequence_to_key_events(self, sequence: str, alt: bool = False) -> Iterable[events.Key]:
        for key in super()._sequence_to_key_events(sequence, alt):
            if alt and key.key in KEPT:
                yield events.Key(f"alt+{key.key}", None)
            else:
                yield key


def install() -> None:
    """Use `AltKeyParser` wherever Textual's drivers parse terminal input (idempotent)."""
    from textual.drivers import linux_driver, linux_inline_driver, web_driver

    for module in (linux_driver, linux_inline_driver, web_driver):
        module.XTermParser = AltKeyParser  # type: ignore[attr-defined, misc]
