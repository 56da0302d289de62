"""The logs pane: a title with the state, a search input, the LogView, and the log follower.

The follower (the backend's LogFollower) is driven by one thread worker for
the container shown; switching containers cancels it (exclusive group) and
starts another. It asks for new lines every TAIL_POLL seconds; the local
backend's answer is a stat and an empty read when nothing was written, so
following costs next to nothing while idle.

Everything per line that can leave the UI thread does: the follower parses
in its worker, and the Batch message is built there too (cut to the budget,
each line's width measured), so a flood costs the UI thread one extend and
a repaint of the rows on screen per poll. A flood faster than a poll reads
is passed over by the follower (`skipped`): the batch says there is a gap.

Read-back: when the view's top is reached it posts OlderWanted; another
worker calls the follower's read_before (it reads files of its own, or asks
the engine for a --since/--until window) and the lines go to view.prepend.

Windows: L cycles the lines read at first (all, last 100, last 1000; a
tail window reads nothing back), S the age (all, 5 minutes, 1 hour); each
change follows the container anew.

The all-containers stream (A) is the same machinery over the backend's
AllLogsFollower: its batches merge the containers' logs by time, each line
prefixed "name | "; it passes a flood over as one container's follower does
(a gap); read-back asks it for the merged lines before the top one (each
container read back before that line's stamp, by file place or by
since/until windows). L and S apply as `docker compose logs --tail N
--since D` does: the last N lines of each container, not of the merge (3
containers and L 100 show up to 300 lines), and no line older than D in any.
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
from tuidock.widgets.logview import LogStatus, LogView, line_cost, line_widths, newest_within

if TYPE_CHECKING:
    from tuidock.backends.base import AllLogsFollower, Backend, LogFollower, LogLine

TAIL_POLL = 0.3
ALL = "*"  # the pane's `cid` while it shows every container's log
TAILS: tuple[int | None, ...] = (None, 100, 1000)  # L cycles; None: all
SINCES: tuple[tuple[str, float], ...] = (("", 0.0), ("5m", 300.0), ("1h", 3600.0))  # S cycles
READ_BACK = 1 << 20  # bytes read back per OlderWanted: a few screens of history


def stamp_ago(seconds: float, now: float | None = None) -> str:
    """RFC 3339 UTC with nanoseconds, as the logs' stamps are written (they sort as text)."""
    t = (time.time() if now is None else now) - seconds
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


# The poll while a flood is passed over: nobody reads 10 MB/s, and each batch
# costs the UI thread a repaint of the pane; two a second show it moving.
FLOOD_POLL = 0.5


def pause_after(busy: float, flood: bool = False) -> float:
    """The follower's sleep after a read that took `busy` seconds: reading a
    flooding log (parsing in Python, holding the GIL) takes at most about a
    third of the time, so the UI thread keeps answering keys."""
    return max(FLOOD_POLL if flood else TAIL_POLL, 2 * busy)


class LogPane(Vertical):
    class Batch(Message):
        def __init__(self, cid: str, lines: list[LogLine], first: bool, gap: bool = False) -> None:
            # Never more than the view keeps: a flood's backlog is cut here, in
            # the worker, so the UI thread neither receives nor frees it; the
            # widths are measured here too.
            self.lines, self.dropped = newest_within(lines)
            self.widths = line_widths(self.lines)
            self.cost = sum(map(line_cost, self.lines))
            self.cid = cid
            self.first = first
            self.gap = gap
            super().__init__()

    class Older(Message):
        """Lines read back from before what the view holds."""

        def __init__(self, cid: str, lines: list[LogLine], more: bool) -> None:
            self.cid = cid
            self.lines = lines
            self.more = more
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
        # The shown container's follower (or the all-containers one), for read-back.
        self._follower: LogFollower | AllLogsFollower | None = None
        self.tail_choice = 0  # index into TAILS
        self.since_choice = 0  # index into SINCES
        self._since = ""  # the since window's stamp, fixed when following starts

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
        self._follow_anew()

    def _follow_anew(self) -> None:
        """Clear the view and follow self.cid from the start of its window."""
        self.view.clear()
        self._follower = None
        self.workers.cancel_group(self, "logback")
        cid = self.cid
        if cid is None or self._backend is None:
            self.workers.cancel_group(self, "logtail")
            self._update_title(self.view.status())
            return
        seconds = SINCES[self.since_choice][1]
        self._since = stamp_ago(seconds) if seconds else ""
        tail = TAILS[self.tail_choice]
        self.view.can_read_back = tail is None
        if cid == ALL:
            self._tail_all(self._backend, self._names, self._since, tail)
            return
        self._tail(self._backend, cid, self._since, tail)

    @work(thread=True, exclusive=True, group="logtail", exit_on_error=False)
    def _tail(self, backend: Backend, cid: str, since: str, tail_n: int | None) -> None:
        worker = get_current_worker()
        tail = backend.follow_log(cid, since=since, tail=tail_n)
        self.app.call_from_thread(self._set_follower, cid, tail)
        first = True
        skipped = 0
        try:
            while not worker.is_cancelled:
                started = time.monotonic()
                lines = tail.read_new()
                gap = tail.skipped != skipped and not first
                skipped = tail.skipped
                if lines or first or gap:
                    self.post_message(self.Batch(cid, lines, first, gap))
                    first = False
                del lines  # a flood's batch is freed here, not when the next one comes
                if tail.gone():
                    return  # the container was removed
                time.sleep(pause_after(time.monotonic() - started, gap))
        finally:
            tail.close()

    def _set_follower(self, cid: str, follower: LogFollower | AllLogsFollower) -> None:
        if cid == self.cid:
            self._follower = follower

    # -- reading back ---------------------------------------------------------------------

    @on(LogView.OlderWanted)
    def _older_wanted(self, event: LogView.OlderWanted) -> None:
        event.stop()
        follower = self._follower
        if follower is None or self.cid is None:
            self.view.prepend([], more=False)
            return
        self._read_back(follower, self.cid, event.first, self._since)

    @work(thread=True, exclusive=True, group="logback", exit_on_error=False)
    def _read_back(
        self, follower: LogFollower | AllLogsFollower, cid: str, first: LogLine, since: str
    ) -> None:
        try:
            lines = follower.read_before(first, READ_BACK)
        except Exception as exc:  # the engine went away, the file was removed: say so, stop
            self.app.call_from_thread(self.app.notify, f"logs: {exc}", severity="warning")
            lines = []
        more = bool(lines)
        if since:
            kept = [line for line in lines if line.time >= since]
            more = more and len(kept) == len(lines)
            lines = kept
        if not get_current_worker().is_cancelled:
            self.post_message(self.Older(cid, lines, more))

    def on_log_pane_older(self, message: LogPane.Older) -> None:
        if message.cid == self.cid:
            self.view.prepend(message.lines, message.more)

    @on(LogView.ReloadWanted)
    def _reload(self, event: LogView.ReloadWanted) -> None:
        event.stop()
        self._follow_anew()

    @on(LogView.WindowRequested)
    def _window(self, event: LogView.WindowRequested) -> None:
        event.stop()
        if event.which == "tail":
            self.tail_choice = (self.tail_choice + 1) % len(TAILS)
        else:
            self.since_choice = (self.since_choice + 1) % len(SINCES)
        if self.cid is not None:
            self._follow_anew()
        else:
            self._update_title(self.view.status())

    def window_text(self) -> str:
        parts = []
        if TAILS[self.tail_choice] is not None:
            parts.append(f"last {TAILS[self.tail_choice]}")
        if SINCES[self.since_choice][0]:
            parts.append(f"since {SINCES[self.since_choice][0]}")
        return " ".join(parts)

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
        self._follow_anew()

    @work(thread=True, exclusive=True, group="logtail", exit_on_error=False)
    def _tail_all(
        self,
        backend: Backend,
        names: Callable[[], dict[str, str]],
        since: str,
        tail_n: int | None,
    ) -> None:
        worker = get_current_worker()
        tails = backend.follow_all_logs(since=since, tail=tail_n)
        self.app.call_from_thread(self._set_follower, ALL, tails)
        first = True
        skipped = 0
        try:
            while not worker.is_cancelled:
                started = time.monotonic()
                lines = tails.read_new(names())
                gap = tails.skipped != skipped and not first
                skipped = tails.skipped
                if lines or first or gap:
                    self.post_message(self.Batch(ALL, lines, first, gap))
                    first = False
                del lines
                time.sleep(pause_after(time.monotonic() - started, gap))
        finally:
            tails.close()

    def on_log_pane_batch(self, message: LogPane.Batch) -> None:
        if message.cid == self.cid:
            if message.first:
                self.view.older = self.view.can_read_back
            self.view.append(
                message.lines, message.dropped, message.widths, message.gap, message.cost
            )
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
            if st.loading:
                count += " reading back"
            elif st.older and not st.follow:
                count += " ↑ more"
            if st.newer_cut:
                count += " (newest not held: G)"
            parts = [f"Logs: {self.name_shown}", count]
            if window := self.window_text():
                parts.append(window)
            if st.search:
                where = f"{st.current}/{st.matches}" if st.current else f"{st.matches}"
                parts.append(f"/{st.search}/ {where} matches")
            flags = [
                name
                for name, on_ in (
                    ("filter", st.filter),
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
