"""Yes/no before anything destructive: `y` or Enter confirms, `n` or Esc cancels.

A dialog can offer named choices instead of a plain yes ("Untag", "Force"),
each with its own key; the first is what `y`/Enter picks, and the result is
the chosen choice's name (False on cancel).
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from tuidock.keymap import bind


class ConfirmScreen(ModalScreen["bool | str"]):
    BINDINGS = [  # noqa: RUF012
        bind("confirm.yes", "yes", priority=True),
        bind("confirm.no", "no", priority=True),
    ]

    def __init__(
        self,
        title: str,
        items: list[str],
        note: str = "",
        choices: list[tuple[str, str, str]] | None = None,
    ) -> None:
        """`choices`: (name, button label, key) shown instead of Yes."""
        super().__init__()
        self.title_text = title
        self.items = items
        self.note = note
        self.choices = choices or []

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
                if not self.choices:
                    yield Button("Yes (y)", variant="error", id="yes")
                for name, label, key in self.choices:
                    yield Button(f"{label} ({key})", variant="error", id=f"choice-{name}")
                yield Button("No (n)", variant="primary", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        button = event.button.id or ""
        if button.startswith("choice-"):
            self.dismiss(button.removeprefix("choice-"))
        else:
            self.dismiss(button == "yes")

    def on_key(self, event: events.Key) -> None:
        for name, _label, key in self.choices:
            if event.key == key:
                event.stop()
                self.dismiss(name)
                return

    def action_yes(self) -> None:
        self.dismiss(self.choices[0][0] if self.choices else True)

    def action_no(self) -> None:
        self.dismiss(False)
