"""The run dialog: image, name, command, env, network, ports, detach -> RunSpec.

Ports are shown but disabled: publishing needs bridge networking, which the
engine does not have yet (`-p` is refused with an error), so the field says
so instead of failing after the user filled it in.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select

from tuidock.backends.base import RunSpec

PORTS_NOTE = "ports: needs bridge networking (not available yet); use network host"


@dataclass
class RunRequest:
    options: RunSpec
    detach: bool


def parse_form(image: str, name: str, command: str, env: str, network: str) -> RunSpec:
    """The dialog's fields as a RunSpec; ValueError with a message for the user."""
    image = image.strip()
    if not image:
        raise ValueError("an image is needed")
    try:
        cmd = shlex.split(command)
        env_items = shlex.split(env)
    except ValueError as exc:
        raise ValueError(f"cannot parse: {exc}") from None
    for item in env_items:
        if "=" not in item or item.startswith("="):
            raise ValueError(f"env entries are KEY=VALUE: {item!r}")
    return RunSpec(
        image=image,
        command=cmd,
        name=name.strip() or None,
        env=env_items,
        network=network,
    )


class RunScreen(ModalScreen[RunRequest | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]  # noqa: RUF012

    def __init__(self, image: str = "") -> None:
        super().__init__()
        self.image = image

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="run-dialog"):
            yield Label(Text("Run a container", style="bold"), classes="dialog-title")
            yield Label("Image")
            yield Input(self.image, placeholder="busybox", id="run-image")
            yield Label("Name (optional)")
            yield Input(placeholder="a random name if empty", id="run-name")
            yield Label("Command (optional, shell words; empty: the image's)")
            yield Input(placeholder="sh -c 'while true; do date; sleep 1; done'", id="run-command")
            yield Label("Environment (KEY=VALUE, space separated)")
            yield Input(placeholder="A=1 B='two words'", id="run-env")
            with Horizontal(classes="form-row"):
                yield Select(
                    [("network: none", "none"), ("network: host", "host")],
                    value="none",
                    allow_blank=False,
                    id="run-network",
                )
                yield Input(placeholder=PORTS_NOTE, id="run-ports", disabled=True)
            yield Checkbox("Detach (off: follow its logs in the logs pane)", True, id="run-detach")
            yield Label("", id="run-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Run", variant="primary", id="run-ok")
                yield Button("Cancel", id="run-cancel")

    def on_mount(self) -> None:
        self.query_one("#run-image" if not self.image else "#run-name", Input).focus()

    def on_input_submitted(self) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "run-ok":
            self._submit()
        else:
            self.dismiss(None)

    def _submit(self) -> None:
        try:
            opts = parse_form(
                self.query_one("#run-image", Input).value,
                self.query_one("#run-name", Input).value,
                self.query_one("#run-command", Input).value,
                self.query_one("#run-env", Input).value,
                str(self.query_one("#run-network", Select).value),
            )
        except ValueError as exc:
            self.query_one("#run-error", Label).update(Text(str(exc), style="bold red"))
            return
        self.dismiss(RunRequest(opts, self.query_one("#run-detach", Checkbox).value))

    def action_cancel(self) -> None:
        self.dismiss(None)
