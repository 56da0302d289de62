"""A read-only table in a dialog: `top` of a container (refreshed live), `history` of an image."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from tuidock.screens.jobs import JobScreen

Rows = tuple[list[str], list[list[str]]]  # headers, rows


class TableScreen(ModalScreen[None], JobScreen):
    BINDINGS = [Binding("escape,q", "close", "Close")]  # noqa: RUF012

    def __init__(self, title: str, load: Callable[[], Rows], every: float | None = None) -> None:
        """`load` runs in a thread; with `every`, it runs again every `every` seconds."""
        super().__init__()
        self.title_text = title
        self.load = load
        self.every = every
        self.loads = 0  # for tests
        self._headers: list[str] = []
        self._busy = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="table-dialog"):
            yield Label(Text(self.title_text, style="bold"), classes="dialog-title")
            yield DataTable(id="table-view", cursor_type="row", zebra_stripes=True)
            yield Label("", id="table-note", classes="dialog-note")

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.reload()
        if self.every:
            self.set_interval(self.every, self.reload)

    def reload(self) -> None:
        if not self._busy:
            self._busy = True
            self.run_job(
                "Load",
                self.load,
                self._show,
                failed=self._show_error,
                group="tableview",
                exclusive=True,
            )

    def _show(self, loaded: Rows) -> None:
        headers, rows = loaded
        self._busy = False
        self.loads += 1
        table = self.query_one(DataTable)
        if headers != self._headers:
            table.clear(columns=True)
            table.add_columns(*headers)
            self._headers = headers
        row = table.cursor_row
        table.clear()
        table.add_rows(rows)
        if rows:
            table.move_cursor(row=min(row, len(rows) - 1), animate=False)
        self.query_one("#table-note", Label).update(
            Text(f"{len(rows)} rows" + (f" · every {self.every:g}s" if self.every else ""))
        )

    def _show_error(self, text: str) -> None:
        self._busy = False
        self.query_one("#table-note", Label).update(Text(text, style="bold red"))

    def action_close(self) -> None:
        self.dismiss(None)
