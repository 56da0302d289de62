"""A one-line input shown on demand above a list or the log: Enter applies, Esc clears."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input


class FilterInput(Input):
    BINDINGS = [Binding("escape", "clear_and_close", "Clear", show=True)]  # noqa: RUF012

    class Closed(Message):
        """The user left the input: with Enter (`applied`) or Esc (cleared)."""

        def __init__(self, input: FilterInput, applied: bool) -> None:
            self.input = input
            self.applied = applied
            super().__init__()

        @property
        def control(self) -> FilterInput:
            return self.input

    def open(self, value: str | None = None) -> None:
        if value is not None:
            self.value = value
        self.display = True
        self.focus()

    def action_clear_and_close(self) -> None:
        self.value = ""
        self.display = False
        self.post_message(self.Closed(self, applied=False))

    async def action_submit(self) -> None:
        await super().action_submit()
        self.display = False  # the pane's title shows what is applied
        self.post_message(self.Closed(self, applied=True))
