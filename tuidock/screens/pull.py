"""The pull dialog: a reference in, a progress bar per layer while it comes.

The pull runs in a thread worker owned by the app, not by this dialog: Esc
closes the dialog and the pull goes on; its end is still announced (and the
images pane reloaded) by the app. `c` (or the Cancel button) stops it: the
layers stop between chunks and no image is stored. Progress events arrive from the pull's
threads many times a second; they are coalesced per layer and posted at most
every PROGRESS_EVERY seconds, so a fast pull never floods the event loop.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, ProgressBar

from tuidock.core.humanize import human_size

if TYPE_CHECKING:
    from textual.widget import Widget

    from tuidock.backends.base import PullEvent

PROGRESS_EVERY = 0.1
DONE = {"Pull complete", "Already exists"}


class PullProgressBatch(Message):
    def __init__(self, layers: dict[str, PullEvent], lines: list[str]) -> None:
        self.layers = layers
        self.lines = lines
        super().__init__()


class PullFinished(Message):
    def __init__(self, name: str, ok: bool, text: str) -> None:
        self.name = name
        self.ok = ok
        self.text = text
        super().__init__()


class ProgressRelay:
    """The pull's progress callback: coalesces events, posts batches to the dialog
    (the pull dialog, or the run dialog while it pulls a missing image)."""

    def __init__(self, screen: Widget) -> None:
        self.screen = screen
        self.lock = threading.Lock()
        self.layers: dict[str, PullEvent] = {}
        self.lines: list[str] = []
        self.last = 0.0

    def __call__(self, ev: PullEvent) -> None:
        with self.lock:
            if ev.kind == "status":
                self.lines.append(ev.status)
            else:
                prev = self.layers.get(ev.id)
                changed_phase = prev is None or prev.status != ev.status
                self.layers[ev.id] = ev
                if not changed_phase and time.monotonic() - self.last < PROGRESS_EVERY:
                    return
            self.flush_locked()

    def flush(self) -> None:
        with self.lock:
            self.flush_locked()

    def flush_locked(self) -> None:
        if not (self.layers or self.lines):
            return
        self.last = time.monotonic()
        if self.screen.is_attached:
            self.screen.post_message(PullProgressBatch(self.layers, self.lines))
        self.layers, self.lines = {}, []


class LayerRow(Horizontal):
    def __init__(self, lid: str) -> None:
        super().__init__(classes="layer-row")
        self.lid = lid

    def compose(self) -> ComposeResult:
        yield Label(self.lid, classes="layer-id")
        yield Label("Waiting", classes="layer-status")
        yield ProgressBar(total=1, show_eta=False, classes="layer-bar")
        yield Label("", classes="layer-bytes")

    def show(self, ev: PullEvent) -> None:
        self.query_one(".layer-status", Label).update(ev.status)
        bar = self.query_one(ProgressBar)
        total = max(ev.total, 1)
        done = ev.status in DONE or ev.status == "Verifying Checksum"
        bar.update(total=total, progress=total if done else min(ev.current, total))
        amount = f"{human_size(ev.current)}/{human_size(ev.total)}" if ev.total else ""
        self.query_one(".layer-bytes", Label).update(amount)


def show_layers(box: Widget, rows: dict[str, LayerRow], layers: dict[str, PullEvent]) -> None:
    """Update each layer's row in `box`, mounting a row for a layer seen first."""
    for lid, ev in layers.items():
        row = rows.get(lid)
        if row is None:
            row = rows[lid] = LayerRow(lid)
            box.mount(row)
            row.call_after_refresh(row.show, ev)  # once mounted: its bar exists
        else:
            row.show(ev)


class PullScreen(ModalScreen[None]):
    BINDINGS = [  # noqa: RUF012
        Binding("escape", "close", "Close (pull goes on)"),
        Binding("c", "cancel_pull", "Cancel the pull"),
    ]

    def __init__(self, value: str = "") -> None:
        super().__init__()
        self.value = value
        self.pulling: str | None = None
        self.rows: dict[str, LayerRow] = {}
        self.lines: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="pull-dialog"):
            yield Label(Text("Pull an image", style="bold"), classes="dialog-title")
            with Horizontal(classes="form-row"):
                yield Input(self.value, placeholder="busybox, registry:5000/app:1.0", id="pull-ref")
                yield Input(placeholder="platform (optional)", id="pull-platform")
            yield Label("", id="pull-lines")
            yield VerticalScroll(id="pull-layers")
            yield Label("Enter pulls · Esc closes (the pull goes on)", id="pull-status")
            with Horizontal(classes="form-row"):
                yield Button("Cancel pull", id="pull-cancel", variant="error")
                yield Button("Close", id="pull-close")

    def on_mount(self) -> None:
        self.query_one("#pull-close").display = False
        self.query_one("#pull-cancel").display = False
        self.query_one("#pull-ref", Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        name = self.query_one("#pull-ref", Input).value.strip()
        if not name or self.pulling:
            return
        platform = self.query_one("#pull-platform", Input).value.strip() or None
        self.pulling = name
        for inp in self.query(Input):
            inp.disabled = True
        self.query_one("#pull-status", Label).update(
            Text(f"Pulling {name}… · c cancels · Esc closes (the pull goes on)")
        )
        cancel = self.query_one("#pull-cancel", Button)
        cancel.display = True
        cancel.focus()
        self.app.start_pull(name, platform, ProgressRelay(self))  # type: ignore[attr-defined]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_pull":
            # Only while a pull runs (and never while typing a name).
            return self.pulling is not None and self.query_one("#pull-cancel").display
        return True

    def action_cancel_pull(self) -> None:
        if self.pulling and self.app.cancel_pull(self.pulling):  # type: ignore[attr-defined]
            self.query_one("#pull-status", Label).update(Text(f"Cancelling {self.pulling}…"))

    def on_pull_progress_batch(self, message: PullProgressBatch) -> None:
        if message.lines:
            self.lines.extend(message.lines)
            self.query_one("#pull-lines", Label).update(Text("\n".join(self.lines[-6:])))
        show_layers(self.query_one("#pull-layers", VerticalScroll), self.rows, message.layers)

    def finished(self, ok: bool, text: str) -> None:
        """Called by the app when the pull ends (only while this dialog is open)."""
        self.query_one("#pull-status", Label).update(
            Text(text, style="bold green" if ok else "bold red")
        )
        self.query_one("#pull-cancel").display = False
        button = self.query_one("#pull-close", Button)
        button.display = True
        button.focus()
        if not ok:
            self.pulling = None
            for inp in self.query(Input):
                inp.disabled = False

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "pull-cancel":
            self.action_cancel_pull()
            return
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
