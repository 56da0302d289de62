"""The engine switcher (k9s's `:ctx`): every context, created and discovered, one to pick.

The list is read and every engine pinged in a thread worker (a ping waits at
most PROBE_TIMEOUT), so the dialog opens at once with "looking…" and fills
in. Each row says where the engine is and whether it answered; an unreachable
one can still be chosen (the header then says why, and the app retries), a
context whose file is broken cannot. Choosing one dismisses the dialog with
its Endpoint; the app does the switch.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from tuidock.backends.contexts import Context, ContextStore, probe
from tuidock.backends.endpoint import Endpoint


def context_label(ctx: Context, current: str) -> Text:
    text = Text(ctx.name, style="bold")
    if ctx.name == current:
        text.append(" *", style="bold")
    text.append(f"  {ctx.endpoint.host or ctx.endpoint.display}")
    if ctx.discovered:
        text.append("  (discovered)", style="dim")
    if ctx.error:
        text.append(f"  {ctx.error}", style="red")
    elif ctx.reachable is True:
        text.append("  reachable", style="green")
    elif ctx.reachable is False:
        text.append(f"  unreachable: {ctx.reason}", style="red")
    elif ctx.reason:
        text.append(f"  {ctx.reason}", style="dim")
    return text


class ContextSwitcher(ModalScreen[Endpoint | None]):
    BINDINGS = [Binding("escape,q", "cancel", "Cancel")]  # noqa: RUF012

    def __init__(self, config_dir: Path, current: str) -> None:
        super().__init__()
        self.config_dir = config_dir
        self.current = current
        self.contexts: list[Context] = []  # once loaded (tests wait on it)
        self.loaded = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="contexts-dialog"):
            yield Label(Text("Switch engine (context)", style="bold"), classes="dialog-title")
            yield OptionList(Option("looking for engines…", disabled=True), id="contexts-list")
            yield Label(
                "Enter switches; created with 'tuidock context create'", classes="dialog-note"
            )

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self._load()

    @work(thread=True, exclusive=True, group="contexts", exit_on_error=False)
    def _load(self) -> None:
        try:
            contexts = probe(ContextStore(self.config_dir).all())
        except Exception as exc:  # a config dir that cannot be read: say so in the list
            self.app.call_from_thread(self._show, [], getattr(exc, "message", None) or str(exc))
            return
        self.app.call_from_thread(self._show, contexts, "")

    def _show(self, contexts: list[Context], error: str) -> None:
        self.contexts = contexts
        options = self.query_one(OptionList)
        options.clear_options()
        if error:
            options.add_option(Option(Text(error, style="red"), disabled=True))
        highlight = 0
        for i, ctx in enumerate(contexts):
            options.add_option(
                Option(context_label(ctx, self.current), id=ctx.name, disabled=bool(ctx.error))
            )
            if ctx.name == self.current:
                highlight = i
        if contexts:
            options.highlighted = highlight
        self.loaded = True

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        for ctx in self.contexts:
            if ctx.name == event.option.id:
                self.dismiss(ctx.endpoint)
                return

    def action_cancel(self) -> None:
        self.dismiss(None)
