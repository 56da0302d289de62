"""Yes/no before anything destructive: `y` or Enter confirms, `n` or Esc cancels."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from tuidock.keymap import bind


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [  # noqa: RUF012
        bind("confirm.yes", "yes", priority=True),
        bind("confirm.no", "no", priority=True),
    ]

    def __init__(self, title: str, items: list[str], note: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.items = items
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="confirm-dialog"):
            yield Label(Text(self.title_text, style="bold"), classes="dialog-title")
            shown = self.items[:12]
            body = "\n".join(f"  {item}" for item in shown)
            if len(self.items) > len(shown):
                body += f"\n  … and {len(self.items) - len(shown)} more"
            yield Label(Text(body), id="confirm-items")
            if self.note:
                yield Label(Text(self.note, style="italic"), classes="dialog-note")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Yes (y)", variant="error", id="yes")
                yield Button("No (n)", variant="primary", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_yes(self) -> None:
        self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)
