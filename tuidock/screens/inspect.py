"""`inspect` as a JSON tree: Enter/space folds, Esc or q closes."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Tree


class InspectScreen(ModalScreen[None]):
    BINDINGS = [  # noqa: RUF012
        Binding("escape,q", "close", "Close"),
        Binding("E", "expand_all", "Expand all"),
        Binding("C", "collapse_all", "Collapse all"),
    ]

    def __init__(self, title: str, data: object) -> None:
        super().__init__()
        self.title_text = title
        self.data = data

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="inspect-dialog"):
            yield Label(Text(self.title_text, style="bold"), classes="dialog-title")
            tree: Tree[object] = Tree(self.title_text, id="inspect-tree")
            tree.show_root = False
            tree.add_json(self.data)
            tree.root.expand()
            for child in tree.root.children:
                child.expand()
            yield tree

    def on_mount(self) -> None:
        self.query_one(Tree).focus()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_expand_all(self) -> None:
        self.query_one(Tree).root.expand_all()

    def action_collapse_all(self) -> None:
        tree = self.query_one(Tree)
        for child in tree.root.children:
            child.collapse_all()
