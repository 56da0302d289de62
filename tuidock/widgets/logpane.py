"""The logs pane: a title with the state, a search input, the LogView, and the log follower.

The follower (the backend's LogFollower) is driven by one thread worker for
the container shown; switching containers cancels it (exclusive group) and
starts another. It asks for new lines every TAIL_POLL seconds; the local
backend's answer is a stat and an empty read when nothing was written, so
following costs next to nothing while idle.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Label
from textual.worker import get_current_worker

from tuidock.widgets.filterinput import FilterInput
from tuidock.widgets.logview import LogStatus, LogView, newest_within

if TYPE_CHECKING:
    from tuidock.backends.base import Backend, LogLine

TAIL_POLL = 0.3
ALL = "*"  # the pane's `cid` while it shows every container's log


def pause_after(busy: float) -> float:
    """The follower's sleep after a read that took `busy` seconds: reading a
    flooding log (parsing in Python, holding the GIL) takes at most about a
    third of the time, so the UI thread keeps answering keys."""
    return max(TAIL_POLL, 2 * busy)


class LogPane(Vertical):
    class Batch(Message):
        def __init__(self, cid: str, lines: list[LogLine], first: bool) -> None:
            # Never more than the view keeps: a flood's backlog is cut here, in
            # the worker, so the UI thread neither receives nor frees it.
            self.lines, self.dropped = newest_within(lines)
            self.cid = cid
            self.first = first
            super().__init__()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.cid: str | None = None
        self.name_shown = ""
        # The container selected in the list: shown again when the all-containers
        # stream is switched off.
        self._selected: tuple[str | None, str] = (None, "")
        self._backend: Backend | None = None
        self._names: Callable[[], dict[str, str]] = dict

    def compose(self) -> ComposeResult:
        yield Label("Logs: select a container", id="logs-title", classes="pane-title")
        search = FilterInput(placeholder="search (regex; Enter apply, Esc clear)", id="log-search")
        search.display = False
        yield search
        yield LogView(id="logview")

    @property
    def view(self) -> LogView:
        return self.query_one(LogView)

    # -- which container ------------------------------------------------------------------

    @property
    def selected_name(self) -> str:
        """The name of the container selected in the list, as last told."""
        return self._selected[1]

    def show_container(self, cid: str | None, name: str = "") -> None:
        self._selected = (cid, name)
        if self.cid == ALL:
            return
        if cid == self.cid:
            if cid is not None and name != self.name_shown:  # renamed: same log, new title
                self.name_shown = name
                self._update_title(self.view.status())
            return
        self.cid = cid
        self.name_shown = name
        self.view.clear()
        if cid is None or self._backend is None:
            self.workers.cancel_group(self, "logtail")
            self._update_title(self.view.status())
            return
        self._tail(self._backend, cid)

    @work(thread=True, exclusive=True, group="logtail", exit_on_error=False)
    def _tail(self, backend: Backend, cid: str) -> None:
        worker = get_current_worker()
        tail = backend.follow_log(cid)
        first = True
        try:
            while not worker.is_cancelled:
                started = time.monotonic()
                lines = tail.read_new()
                if lines or first:
                    self.post_message(self.Batch(cid, lines, first))
                    first = False
                del lines  # a flood's batch is freed here, not when the next one comes
                if tail.gone():
                    return  # the container was removed
                time.sleep(pause_after(time.monotonic() - started))
        finally:
            tail.close()

    def set_backend(self, backend: Backend, names: Callable[[], dict[str, str]]) -> None:
        """Where the logs come from, and who names the containers in the
        all-containers stream."""
        self._backend = backend
        self._names = names

    @on(LogView.AllRequested)
    def toggle_all(self) -> None:
        if self.cid == ALL:
            self.cid = ""  # neither ALL nor any container: the next show_container shows
            self.show_container(*self._selected)
            return
        if self._backend is None:
            return
        self.cid = ALL
        self.name_shown = "all containers"
        self.view.clear()
        self._tail_all(self._backend, self._names)

    @work(thread=True, exclusive=True, group="logtail", exit_on_error=False)
    def _tail_all(self, backend: Backend, names: Callable[[], dict[str, str]]) -> None:
        worker = get_current_worker()
        tails = backend.follow_all_logs()
        first = True
        try:
            while not worker.is_cancelled:
                started = time.monotonic()
                lines = tails.read_new(names())
                if lines or first:
                    self.post_message(self.Batch(ALL, lines, first))
                    first = False
                del lines
                time.sleep(pause_after(time.monotonic() - started))
        finally:
            tails.close()

    def on_log_pane_batch(self, message: LogPane.Batch) -> None:
        if message.cid == self.cid:
            self.view.append(message.lines, message.dropped)
            if message.first:
                self._update_title(self.view.status())

    # -- search -------------------------------------------------------------------------

    @on(LogView.SearchRequested)
    def _open_search(self) -> None:
        self.query_one("#log-search", FilterInput).open(self.view.search_text)

    @on(FilterInput.Changed, "#log-search")
    def _search_changed(self, event: FilterInput.Changed) -> None:
        event.stop()
        # Live highlight as the user types, but only while the scan is cheap.
        if len(self.view.lines) <= 20_000:
            self.view.set_search(event.value)

    @on(FilterInput.Closed, "#log-search")
    def _search_closed(self, event: FilterInput.Closed) -> None:
        event.stop()
        self.view.set_search(event.input.value if event.applied else "")
        self.view.focus()

    @on(FilterInput.Submitted, "#log-search")
    def _search_submitted(self, event: FilterInput.Submitted) -> None:
        event.stop()

    # -- title ----------------------------------------------------------------------------

    @on(LogView.StatusChanged)
    def _status(self, event: LogView.StatusChanged) -> None:
        self._update_title(event.status)

    def _update_title(self, st: LogStatus) -> None:
        if self.cid is None:
            text = "Logs: select a container"
        else:
            count = f"{st.lines} line{'' if st.lines == 1 else 's'}"
            if st.dropped:
                count += f" (older {st.dropped} dropped)"
            parts = [f"Logs: {self.name_shown}", count]
            if st.search:
                where = f"{st.current}/{st.matches}" if st.current else f"{st.matches}"
                parts.append(f"/{st.search}/ {where} matches")
            flags = [
                name
                for name, on_ in (
                    ("follow", st.follow),
                    ("wrap", st.wrap),
                    ("timestamps", st.timestamps),
                )
                if on_
            ]
            if flags:
                parts.append(" ".join(flags))
            text = " · ".join(parts)
        label = self.query_one("#logs-title", Label)
        if getattr(label, "_shown_text", None) != text:
            label._shown_text = text  # type: ignore[attr-defined]
            label.update(Text(text), layout=False)  # fixed size: no relayout
