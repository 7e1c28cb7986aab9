"""The Variables pane: the sandbox's user variables, changed rows highlighted for a moment."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from rlm_tui.tui import fmt

FLASH_SECONDS = 1.6


@dataclass(frozen=True)
class VarRow:
    name: str
    type: str
    size: int | None
    preview: str

    @classmethod
    def from_any(cls, v: Any) -> VarRow:
        get = v.get if isinstance(v, dict) else lambda k, d=None: getattr(v, k, d)
        return cls(str(get("name", "?")), str(get("type", "")), get("size"), str(get("preview", "")))


class VariablesTable(DataTable):
    DEFAULT_CSS = """
    VariablesTable {
        background: transparent;
        height: 1fr;
        scrollbar-size-vertical: 1;
        overflow-x: hidden;
        & > .datatable--header { background: transparent; color: $text-muted; text-style: bold; }
        & > .datatable--cursor { background: $boost; text-style: none; }
        &:focus > .datatable--cursor { background: $primary 30%; }
    }
    """

    @dataclass
    class VariableChosen(Message):
        row: VarRow

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, show_cursor=True, **kwargs)
        self.rows_by_name: dict[str, VarRow] = {}
        self._flash_until: dict[str, float] = {}
        self._flash_color = "yellow"
        self._preview_width = 40  # fitted to the pane: previews end in an ellipsis, never cut

    def on_mount(self) -> None:
        self.add_column("name", key="name")
        self.add_column("type", key="type")
        self.add_column("size", key="size")
        self.add_column("preview", key="preview")
        self.watch(self.app, "theme", self._on_theme, init=True)

    def _on_theme(self, _theme: str) -> None:
        self._flash_color = self.app.current_theme.accent or "yellow"
        for row in self.rows_by_name.values():
            self._write(row, flashing=row.name in self._flash_until)

    def show(self, variables: list[Any]) -> None:
        """Replace the contents with a new snapshot, highlighting what changed."""
        new = {r.name: r for r in map(VarRow.from_any, variables)}
        now = time.monotonic()
        for name in list(self.rows_by_name):
            if name not in new:
                self.remove_row(name)
                self._flash_until.pop(name, None)
        for name, row in new.items():
            old = self.rows_by_name.get(name)
            if old == row:
                continue
            self._flash_until[name] = now + FLASH_SECONDS
            if old is None:
                self.add_row(*self._cells(row, True), key=name)
            else:
                self._write(row, flashing=True)
        self.rows_by_name = new
        self._fit_previews()
        if self._flash_until:
            self.set_timer(FLASH_SECONDS + 0.05, self._unflash)

    def _unflash(self) -> None:
        now = time.monotonic()
        for name, until in list(self._flash_until.items()):
            if until <= now:
                del self._flash_until[name]
                if name in self.rows_by_name:
                    self._write(self.rows_by_name[name], flashing=False)

    def _cells(self, row: VarRow, flashing: bool) -> list[Text]:
        style = f"bold {self._flash_color}" if flashing else ""
        return [Text(row.name, style=style or "bold"), Text(row.type, style=style or "dim"),
                Text(fmt.size(row.size), style=style, justify="right"),
                Text(fmt.one_line(row.preview, self._preview_width), style=style)]

    def _write(self, row: VarRow, flashing: bool) -> None:
        for key, cell in zip(("name", "type", "size", "preview"), self._cells(row, flashing),
                             strict=True):
            self.update_cell(row.name, key, cell, update_width=True)

    def on_resize(self) -> None:
        self._fit_previews()

    def _fit_previews(self) -> None:
        """Give the preview column the width the other columns leave."""
        others = sum(c.get_render_width(self) for key, c in self.columns.items() if key != "preview")
        width = max(8, self.scrollable_content_region.width - others - 2 * self.cell_padding - 1)  # 1: a scrollbar
        if width != self._preview_width:
            self._preview_width = width
            for row in self.rows_by_name.values():
                self._write(row, flashing=row.name in self._flash_until)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        row = self.rows_by_name.get(str(event.row_key.value))
        if row is not None:
            self.post_message(self.VariableChosen(row))

    def clear_rows(self) -> None:
        self.clear()
        self.rows_by_name.clear()
        self._flash_until.clear()


def describe(row: VarRow) -> str:
    size = f" · size {row.size}" if row.size is not None else ""
    return f"## `{row.name}`\n\n`{row.type}`{size}\n\n```\n{row.preview}\n```"
