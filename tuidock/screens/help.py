"""Every key, as in force now (defaults merged with keys.toml)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from tuidock.keymap import DEFAULT_KEYS, KEYS_FILE, pretty_keys


def keys_table(keys: dict[str, str]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    table.add_column(style="dim", no_wrap=True)
    section = None
    for binding_id, spec in DEFAULT_KEYS.items():
        if spec.where != section:
            section = spec.where
            table.add_row(Text(section, style="bold underline"), "", "")
        table.add_row(pretty_keys(keys[binding_id]), spec.description, binding_id)
    table.add_row("", "", "")
    table.add_row(Text("Other", style="bold underline"), "", "")
    table.add_row("tab / shift+tab", "Next / previous pane", "")
    table.add_row("arrows, pgup/pgdn", "Move", "")
    table.add_row("ctrl+p", "Command palette: every action by name", "")
    table.add_row("ctrl+p ctrl+q", "In an attach session: detach (the container runs on)", "")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]  # noqa: RUF012

    def __init__(self, keys: dict[str, str], config_dir: str) -> None:
        super().__init__()
        self.keys = keys
        self.config_dir = config_dir

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="help-dialog"):
            yield Label(Text("tuidock keys", style="bold"), classes="dialog-title")
            with VerticalScroll():
                yield Static(keys_table(self.keys), id="help-keys")
            yield Label(
                Text(
                    f'Remap in {self.config_dir}/{KEYS_FILE}:  [keys]  "containers.exec" = "e,X"',
                    style="italic",
                ),
                classes="dialog-note",
            )

    def action_close(self) -> None:
        self.dismiss(None)
