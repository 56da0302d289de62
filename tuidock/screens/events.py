"""The live events view (`docker events` in a dialog), filtered by type, container and image.

It opens the backend's EventFollower from BACKLOG seconds ago, so what just
happened (the start that failed, the kill a moment ago) is there on opening,
then polls it every POLL seconds in a job: one read of the events log
(local engine) or of a buffer filled by the events stream (Docker, Podman).
Every event read is kept (the newest KEEP); the filters only choose what the
table shows, so changing one re-renders from what is kept and loses nothing.
The follower is closed with the dialog.

Filters, as the main lists' filter boxes: the text typed is looked for
(case-insensitive) in the container's name and ID, or in the image's
name and ID; the type is one of `docker events`' types, or any.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label, Select

from tuidock.screens.jobs import JobScreen

if TYPE_CHECKING:
    from tuidock.backends.base import EventFollower, EventRecord

BACKLOG = 15 * 60  # seconds of past events shown on opening
POLL = 0.5
KEEP = 5000
TYPES = ("container", "image", "network", "volume")
ACTION_STYLE = {
    "start": "green",
    "die": "red",
    "kill": "bold red",
    "oom": "bold red",
    "destroy": "red",
    "delete": "red",
    "pause": "yellow",
    "unpause": "yellow",
    "create": "cyan",
    "pull": "cyan",
}


def matches(event: EventRecord, type_: str, container: str, image: str) -> bool:
    """Whether the event passes the filters; "" is no filter."""
    if type_ and event.type != type_:
        return False
    if container:
        want = container.casefold()
        if event.type == "container":
            candidates = (event.actor_id, event.name)
        else:  # a network connect or a volume mount names its container
            candidates = (event.attributes.get("container", ""),)
        if not any(want in c.casefold() for c in candidates if c):
            return False
    if image:
        want = image.casefold()
        candidates = (event.image, event.actor_id if event.type == "image" else "")
        if not any(want in c.casefold() for c in candidates if c):
            return False
    return True


def event_cells(event: EventRecord) -> tuple[str, str, Text, str, str]:
    """TIME, TYPE, ACTION, ACTOR (its name, else its short ID), the other attributes."""
    stamp = time.strftime("%H:%M:%S", time.localtime(event.time_ns / 1e9))
    actor = event.name or event.actor_id.removeprefix("sha256:")[:12]
    action = Text(event.action, style=ACTION_STYLE.get(event.action.split(":")[0], ""))
    attrs = ", ".join(f"{k}={v}" for k, v in sorted(event.attributes.items()) if k != "name")
    return stamp, event.type, action, actor, attrs


class EventsScreen(ModalScreen[None], JobScreen):
    DEFAULT_CSS = """
    #events-dialog { height: 90%; }
    #events-filters { height: auto; }
    #events-filters Select { width: 24; }
    #events-filters Input { width: 1fr; }
    #events-table { height: 1fr; }
    """
    BINDINGS = [  # noqa: RUF012
        Binding("escape", "close", "Close"),
        Binding("ctrl+l", "clear", "Clear"),
    ]

    def __init__(self, since_ns: int | None = None) -> None:
        super().__init__()
        self.since_ns = time.time_ns() - BACKLOG * 1_000_000_000 if since_ns is None else since_ns
        self.follower: EventFollower | None = None
        self.events: deque[EventRecord] = deque(maxlen=KEEP)
        self.polls = 0  # for tests
        self._busy = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="events-dialog"):
            yield Label(Text("Events", style="bold"), classes="dialog-title")
            with Horizontal(id="events-filters"):
                yield Select(
                    [(t, t) for t in TYPES], prompt="any type", id="events-type", allow_blank=True
                )
                yield Input(placeholder="container (name or ID)", id="events-container")
                yield Input(placeholder="image (name or ID)", id="events-image")
            yield DataTable(id="events-table", cursor_type="row", zebra_stripes=True)
            yield Label("", id="events-note", classes="dialog-note")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("TIME", "TYPE", "ACTION", "ACTOR", "ATTRIBUTES")
        table.focus()
        backend = self.app.backend  # type: ignore[attr-defined]
        since = self.since_ns
        self.run_job(
            "Events", lambda: backend.follow_events(since), self._opened, failed=self._failed
        )

    def _opened(self, follower: EventFollower) -> None:
        if not self.is_attached:
            threading.Thread(target=follower.close, daemon=True).start()
            return
        self.follower = follower
        self._poll()
        self.set_interval(POLL, self._poll)

    def _poll(self) -> None:
        follower = self.follower
        if follower is None or self._busy:
            return
        self._busy = True
        self.run_job(
            "Events", follower.read_new, self._read, failed=self._failed, group="events-poll"
        )

    def _read(self, records: list[EventRecord]) -> None:
        self._busy = False
        self.polls += 1
        if not records:
            self._note()
            return
        self.events.extend(records)
        table = self.query_one(DataTable)
        follow = table.cursor_row >= table.row_count - 1
        if len(self.events) == KEEP:
            self._redraw()  # the oldest rows went: redraw from what is kept
        else:
            type_, container, image = self.filters()
            for event in records:
                if matches(event, type_, container, image):
                    table.add_row(*event_cells(event))
        if follow and table.row_count:
            table.move_cursor(row=table.row_count - 1, animate=False)
        self._note()

    def _failed(self, text: str) -> None:
        self._busy = False
        self.query_one("#events-note", Label).update(Text(text, style="bold red"))

    def filters(self) -> tuple[str, str, str]:
        value = self.query_one("#events-type", Select).value
        type_ = value if isinstance(value, str) else ""
        return (
            type_,
            self.query_one("#events-container", Input).value.strip(),
            self.query_one("#events-image", Input).value.strip(),
        )

    def shown(self) -> list[EventRecord]:
        """The kept events the filters let through, oldest first (what the table shows)."""
        type_, container, image = self.filters()
        return [e for e in self.events if matches(e, type_, container, image)]

    def _redraw(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for event in self.shown():
            table.add_row(*event_cells(event))
        if table.row_count:
            table.move_cursor(row=table.row_count - 1, animate=False)
        self._note()

    def _note(self) -> None:
        rows = self.query_one(DataTable).row_count
        self.query_one("#events-note", Label).update(
            Text(f"{rows} of {len(self.events)} events · live · Esc closes, ctrl+l clears")
        )

    @on(Select.Changed, "#events-type")
    @on(Input.Changed)
    def _filters_changed(self) -> None:
        self._redraw()

    def action_clear(self) -> None:
        self.events.clear()
        self._redraw()

    def action_close(self) -> None:
        self.dismiss(None)

    def on_unmount(self) -> None:
        follower, self.follower = self.follower, None
        if follower is not None:
            # Off the UI's thread: closing a network stream may wait on its reader.
            threading.Thread(target=follower.close, daemon=True).start()
