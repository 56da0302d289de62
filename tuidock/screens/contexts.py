"""The engine switcher (k9s's `:ctx`): every context, created and discovered, one to pick.

The list is read and every engine pinged in a thread worker (a ping waits at
most PROBE_TIMEOUT), so the dialog opens at once with "looking…" and fills
in. Each row says where the engine is and whether it answered; an unreachable
one can still be chosen (the header then says why, and the app retries), a
context whose file is broken cannot. Choosing one dismisses the dialog with
its Endpoint; the app does the switch.

The engine in use is always a row: a -H or DOCKER_HOST endpoint that is no
context is listed first (not stored), so the user sees where they are and
can come back to it after switching away.

The first row, "All engines", dismisses with AllEngines instead: the contexts
marked with space, else every reachable one (and always the current one),
for the one-table view of screens/allengines.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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

ALL_ID = " all engines"  # the all-engines option's ID: no context name starts with a space


@dataclass(frozen=True)
class AllEngines:
    """The switcher's answer for the all-engines view: which contexts it shows."""

    contexts: list[Context]


def context_label(ctx: Context, current: str, marked: bool = False) -> Text:
    text = Text("+ " if marked else "  ", style="bold")
    text.append(ctx.name, style="bold")
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


def all_label(marked: int) -> Text:
    text = Text("All engines", style="bold")
    which = f"the {marked} marked" if marked else "every reachable one"
    text.append(f"  one containers table over {which} (space marks)", style="dim")
    return text


class ContextSwitcher(ModalScreen[Endpoint | AllEngines | None]):
    BINDINGS = [  # noqa: RUF012
        Binding("escape,q", "cancel", "Cancel"),
        Binding("space", "mark", "Mark for All engines"),
    ]

    def __init__(self, config_dir: Path, current: str, session: Sequence[Endpoint] = ()) -> None:
        """`session`: the endpoints this app used (the -H or DOCKER_HOST it started
        on); those that are no context are listed first, so the one in use shows
        as current and the user can come back to it after switching away."""
        super().__init__()
        self.config_dir = config_dir
        self.current = current
        self.session = list(session)
        self.contexts: list[Context] = []  # once loaded (tests wait on it)
        self.loaded = False
        self.marked: set[str] = set()

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
            contexts = list(ContextStore(self.config_dir).all())
            names = {c.name for c in contexts}
            extra = []
            for endpoint in self.session:
                if endpoint.name not in names:
                    names.add(endpoint.name)
                    extra.append(Context(endpoint.name, endpoint, "this session's -H"))
            contexts = probe(extra + contexts)
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
        if contexts:
            options.add_option(Option(all_label(0), id=ALL_ID))
        for i, ctx in enumerate(contexts):
            options.add_option(
                Option(context_label(ctx, self.current), id=ctx.name, disabled=bool(ctx.error))
            )
            if ctx.name == self.current:
                highlight = i + 1
        if contexts:
            options.highlighted = highlight
        self.loaded = True

    def action_mark(self) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is None:
            return
        option = options.get_option_at_index(options.highlighted)
        ctx = next((c for c in self.contexts if c.name == option.id), None)
        if ctx is None or ctx.error:
            return
        self.marked ^= {ctx.name}
        options.replace_option_prompt(
            ctx.name, context_label(ctx, self.current, ctx.name in self.marked)
        )
        options.replace_option_prompt(ALL_ID, all_label(len(self.marked)))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id == ALL_ID:
            chosen = [
                c
                for c in self.contexts
                if (c.name in self.marked if self.marked else c.reachable) or c.name == self.current
            ]
            self.dismiss(AllEngines(chosen))
            return
        for ctx in self.contexts:
            if ctx.name == event.option.id:
                self.dismiss(ctx.endpoint)
                return

    def action_cancel(self) -> None:
        self.dismiss(None)
