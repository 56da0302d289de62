"""Every verb of a resource from one menu (as podman-tui has): Enter or `x` on a row.

The menu lists what applies to the row's state (no "Start" for a running
container), each with the key that does the same from the list, so the
menu also teaches the keys. Letters jump straight to an entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option


@dataclass(frozen=True)
class Verb:
    id: str
    label: str
    key: str = ""  # the list's own key for it, shown as a hint
    danger: bool = False


class ActionMenu(ModalScreen[str | None]):
    BINDINGS = [Binding("escape,q", "cancel", "Cancel")]  # noqa: RUF012

    def __init__(self, title: str, verbs: list[Verb]) -> None:
        super().__init__()
        self.title_text = title
        self.verbs = verbs

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="menu-dialog"):
            yield Label(Text(self.title_text, style="bold"), classes="dialog-title")
            options = []
            for verb in self.verbs:
                text = Text(verb.label, style="bold red" if verb.danger else "")
                if verb.key:
                    text.append(f"  {verb.key}", style="dim")
                options.append(Option(text, id=verb.id))
            yield OptionList(*options, id="menu-options")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def on_key(self, event) -> None:  # type: ignore[no-untyped-def]
        # A letter jumps to the next entry starting with it (Enter still chooses).
        char = event.character
        if not char or not char.isalpha() or len(char) != 1:
            return
        options = self.query_one(OptionList)
        n = len(self.verbs)
        start = (options.highlighted if options.highlighted is not None else -1) + 1
        for i in range(n):
            verb = self.verbs[(start + i) % n]
            if verb.label.lower().startswith(char.lower()):
                options.highlighted = (start + i) % n
                event.stop()
                return

    def action_cancel(self) -> None:
        self.dismiss(None)
