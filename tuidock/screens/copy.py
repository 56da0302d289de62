"""The copy dialog: files from a container to the host, or from the host into it (docker cp).

Three fields, plain inputs without completion: the direction (a radio set),
the path in the container, the path on the host. The host path starts as
~/Downloads when that directory exists, else the home directory, for a copy
out; a copy in starts with it empty (the source is the user's to name).
Paths keep docker cp's rules, applied by the backend: a trailing "/." copies
a directory's contents, a missing parent directory is an error.

The dialog does not call the backend itself: Copy hands a CopyRequest to
`submit`, which the main screen runs as a job (screens/jobs.py), so the UI
stays responsive and the job outlives the dialog: Esc during a copy closes
the dialog and the outcome still comes as a notice. While the dialog is
open the main screen calls back `show_error` (the error under the fields,
what was typed kept) or `finished` (the dialog closes). Empty fields are
refused here before any job starts.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet

from tuidock.core.humanize import human_size


@dataclass(frozen=True)
class CopyRequest:
    out: bool  # True: container -> host
    container_path: str
    host_path: str  # with ~ expanded


def default_host_dir() -> str:
    """Where a copy out lands unless the user says otherwise: ~/Downloads, else ~."""
    home = os.path.expanduser("~")
    downloads = os.path.join(home, "Downloads")
    return downloads if os.path.isdir(downloads) else home


def copied_text(files: int, size: int, dest: str) -> str:
    """The notice after a copy: "copied 3 files, 12.4 kB to /root/Downloads/etc"."""
    noun = "file" if files == 1 else "files"
    return f"copied {files} {noun}, {human_size(size)} to {dest}"


class CopyDialog(ModalScreen[None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]  # noqa: RUF012

    def __init__(self, container: str, submit: Callable[[CopyRequest], object]) -> None:
        super().__init__()
        self.container = container
        self.submit = submit
        self.busy = False
        self.default_host = default_host_dir()

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="copy-dialog"):
            yield Label(Text(f"Copy files: {self.container}", style="bold"), classes="dialog-title")
            with RadioSet(id="copy-direction"):
                yield RadioButton("From the container to the host", True, id="copy-out")
                yield RadioButton("From the host into the container", id="copy-in")
            yield Label("Path in the container (a trailing /. copies a directory's contents)")
            yield Input(placeholder="/etc/hostname", id="copy-container")
            yield Label("Path on the host", id="copy-host-label")
            yield Input(self.default_host, placeholder="~/Downloads", id="copy-host")
            yield Label("", id="copy-status")
            yield Label("", id="copy-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Copy", variant="primary", id="copy-ok")
                yield Button("Cancel", id="copy-cancel")

    def on_mount(self) -> None:
        self.query_one("#copy-container", Input).focus()

    @property
    def out(self) -> bool:
        return self.query_one("#copy-out", RadioButton).value

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        host = self.query_one("#copy-host", Input)
        # Only the default follows the direction; a path the user typed stays.
        if self.out and not host.value:
            host.value = self.default_host
        elif not self.out and host.value == self.default_host:
            host.value = ""
        self.query_one("#copy-host-label", Label).update(
            "Path on the host" if self.out else "Path on the host to copy from"
        )

    def on_input_submitted(self) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "copy-ok":
            self._submit()
        else:
            self.action_cancel()

    def _submit(self) -> None:
        if self.busy:
            return
        cpath = self.query_one("#copy-container", Input).value.strip()
        hpath = os.path.expanduser(self.query_one("#copy-host", Input).value.strip())
        if not cpath:
            self.show_error("Give the path in the container.")
            return
        if not hpath:
            self.show_error("Give the path on the host.")
            return
        self.busy = True
        self.query_one("#copy-ok", Button).disabled = True
        self.query_one("#copy-error", Label).update("")
        where = f"{self.container}:{cpath} to {hpath}" if self.out else f"{hpath} to {cpath}"
        self.query_one("#copy-status", Label).update(Text(f"Copying {where}…"))
        self.submit(CopyRequest(self.out, cpath, hpath))

    def show_error(self, text: str) -> None:
        self.busy = False
        self.query_one("#copy-ok", Button).disabled = False
        self.query_one("#copy-status", Label).update("")
        self.query_one("#copy-error", Label).update(Text(text, style="bold red"))

    @property
    def error(self) -> str:
        """The error shown under the fields ("" when none); tests read it."""
        return str(self.query_one("#copy-error", Label).content)

    def finished(self) -> None:
        if self.is_current:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
