"""The run dialog: the fields of `run` -> a RunSpec, pulled if missing, then run.

The dialog owns the whole run: it asks the backend to check the options
(check_run: the engine's own parsers and messages, so a bad port reads as
it does on the command line), pulls the image with a bar per layer when it
is not local, runs it, and only then closes. On any error it stays open
with what was typed and shows the error under the fields. Values are kept
as typed (`512m`, `8080:80`): parsing them is the backend's job.

The network list is the backend's (`network ls`: the default bridge, then
user networks) plus none and host; bridge is preselected as on the CLI.
Restart policy and limits sit in a collapsed "Advanced" section.
"""

from __future__ import annotations

import shlex
import threading
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Collapsible, Input, Label, Select

from tuidock.backends.base import RunOutcome, RunSpec
from tuidock.errors import NotFound
from tuidock.screens.pull import LayerRow, ProgressRelay, PullProgressBatch, show_layers

if TYPE_CHECKING:
    from tuidock.app import TuidockApp
    from tuidock.backends.base import Backend, NetworkSummary

SPECIAL_NETWORKS = ("none", "host")


def split_words(text: str, what: str) -> list[str]:
    """Shell words of one field; ValueError naming the field."""
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"{what}: cannot parse: {exc}") from None


def parse_form(fields: dict[str, str], tty: bool = False, detach: bool = True) -> RunSpec:
    """The dialog's fields (by the part of their ID after "run-") as a RunSpec;
    ValueError with a message for what the dialog itself can tell is wrong."""
    image = fields.get("image", "").strip()
    if not image:
        raise ValueError("an image is needed")
    env = split_words(fields.get("env", ""), "environment")
    for item in env:
        if "=" not in item or item.startswith("="):
            raise ValueError(f"env entries are KEY=VALUE: {item!r}")
    return RunSpec(
        image=image,
        command=split_words(fields.get("command", ""), "command"),
        name=fields.get("name", "").strip() or None,
        env=env,
        network=fields.get("network") or "bridge",
        ports=split_words(fields.get("ports", ""), "ports"),
        volumes=split_words(fields.get("volumes", ""), "volumes"),
        restart=fields.get("restart", "").strip() or "no",
        memory=fields.get("memory", "").strip(),
        cpus=fields.get("cpus", "").strip(),
        pids_limit=fields.get("pids", "").strip(),
        tty=tty,
        detach=detach,
    )


def network_options(networks: list[NetworkSummary]) -> list[tuple[str, str]]:
    """The Select's choices: the backend's networks (bridge first), then none and host."""
    names = [n.name for n in networks if n.name not in SPECIAL_NETWORKS]
    if "bridge" not in names:
        names.insert(0, "bridge")
    out = [(f"network: {n}" + (" (default)" if n == "bridge" else ""), n) for n in names]
    return out + [(f"network: {n}", n) for n in SPECIAL_NETWORKS]


class RunScreen(ModalScreen[RunOutcome | None]):
    """Dismissed with the outcome once the container runs; None on cancel."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]  # noqa: RUF012

    if TYPE_CHECKING:
        app: TuidockApp  # type: ignore[assignment]

    def __init__(self, image: str = "") -> None:
        super().__init__()
        self.image = image
        self.spec: RunSpec | None = None  # what the last Run asked for
        self.busy = False
        self.cancel_pull = threading.Event()
        self.rows: dict[str, LayerRow] = {}

    def compose(self) -> ComposeResult:
        # Scrolls to the focused field; not a Tab stop of its own.
        with VerticalScroll(classes="dialog wide", id="run-dialog", can_focus=False):
            yield Label(Text("Run a container", style="bold"), classes="dialog-title")
            yield Label("Image (pulled first if it is not local)")
            yield Input(self.image, placeholder="busybox", id="run-image")
            yield Label("Name (optional)")
            yield Input(placeholder="a random name if empty", id="run-name")
            yield Label("Command (optional, shell words; empty: the image's)")
            yield Input(placeholder="sh -c 'while true; do date; sleep 1; done'", id="run-command")
            yield Label("Environment (KEY=VALUE, space separated)")
            yield Input(placeholder="A=1 B='two words'", id="run-env")
            with Horizontal(classes="form-row"):
                yield Select(
                    network_options([]), value="bridge", allow_blank=False, id="run-network"
                )
                yield Input(placeholder="ports: 8080:80 127.0.0.1:53:53/udp", id="run-ports")
            yield Input(
                placeholder="volumes: /host/dir:/data:ro name:/cache /anon", id="run-volumes"
            )
            with Collapsible(title="Advanced: restart policy, limits, TTY", id="run-advanced"):
                with Horizontal(classes="form-row"):
                    yield Input(
                        placeholder="restart: no, always, unless-stopped, on-failure[:N]",
                        id="run-restart",
                    )
                    yield Input(placeholder="memory: 512m, 1g", id="run-memory")
                with Horizontal(classes="form-row"):
                    yield Input(placeholder="cpus: 0.5", id="run-cpus")
                    yield Input(placeholder="pids limit: 100 (-1 unlimited)", id="run-pids")
                yield Checkbox("Allocate a TTY (-t)", False, id="run-tty")
            yield Checkbox("Detach (off: follow its logs in the logs pane)", True, id="run-detach")
            yield Label("", id="run-status")
            yield Vertical(id="run-layers")
            yield Label("", id="run-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Run", variant="primary", id="run-ok")
                yield Button("Cancel", id="run-cancel")

    def on_mount(self) -> None:
        self.query_one("#run-image" if not self.image else "#run-name", Input).focus()
        self._load_networks()

    @work(thread=True, group="run-networks", exit_on_error=False)
    def _load_networks(self) -> None:
        try:
            networks = self.app.backend.list_networks()
        except Exception as exc:
            self.app.call_from_thread(self._show_error, exc)
            return
        self.app.call_from_thread(self._set_networks, networks)

    def _set_networks(self, networks: list[NetworkSummary]) -> None:
        select = self.query_one("#run-network", Select)
        keep = select.value
        options = network_options(networks)
        select.set_options(options)
        select.value = keep if any(v == keep for _, v in options) else "bridge"

    # -- fields ---------------------------------------------------------------------------------

    def fields(self) -> dict[str, str]:
        out = {inp.id.removeprefix("run-"): inp.value for inp in self.query(Input) if inp.id}
        out["network"] = str(self.query_one("#run-network", Select).value)
        return out

    def on_input_submitted(self) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "run-ok":
            self._submit()
        else:
            self.action_cancel()

    def _submit(self) -> None:
        if self.busy:
            return
        try:
            spec = parse_form(
                self.fields(),
                tty=self.query_one("#run-tty", Checkbox).value,
                detach=self.query_one("#run-detach", Checkbox).value,
            )
        except ValueError as exc:
            self._show_error(exc)
            return
        self.spec = spec
        self._set_busy(True, f"Starting {spec.image}…")
        self.cancel_pull.clear()
        self._run(self.app.leases.acquire(self.app.backend), spec)

    def _set_busy(self, busy: bool, status: str = "") -> None:
        self.busy = busy
        self.query_one("#run-ok", Button).disabled = busy
        self.query_one("#run-status", Label).update(Text(status))
        if busy:
            self.query_one("#run-error", Label).update("")

    def _show_error(self, exc: BaseException) -> None:
        from tuidock.screens.jobs import error_text

        self._set_busy(False)
        text = str(exc) if isinstance(exc, ValueError) else error_text(exc, self.app.user_keymap)
        self.query_one("#run-error", Label).update(Text(text, style="bold red"))

    # -- the run, in a thread ------------------------------------------------------------------

    @work(thread=True, group="run", exit_on_error=False)
    def _run(self, backend: Backend, spec: RunSpec) -> None:
        # `backend` is leased for this run: an engine switch meanwhile does not close it.
        try:
            backend.check_run(spec)  # a bad field fails before a pull
            try:
                backend.inspect_image(spec.image)
            except NotFound:
                self.app.call_from_thread(self._set_busy, True, f"Pulling {spec.image}…")
                backend.pull(spec.image, None, ProgressRelay(self), self.cancel_pull)
                self.app.call_from_thread(self._set_busy, True, f"Starting {spec.image}…")
            outcome = backend.run(spec)
        except Exception as exc:
            if self.is_attached:
                self.app.call_from_thread(self._show_error, exc)
            return
        finally:
            self.app.leases.release(backend)
        self.app.call_from_thread(self._ran, outcome)

    def _ran(self, outcome: RunOutcome) -> None:
        if self.is_current:  # else Esc closed it while the run went on: the list shows it
            self.dismiss(outcome)

    def on_pull_progress_batch(self, message: PullProgressBatch) -> None:
        if message.lines:
            self.query_one("#run-status", Label).update(Text(message.lines[-1]))
        show_layers(self.query_one("#run-layers", Vertical), self.rows, message.layers)

    def action_cancel(self) -> None:
        self.cancel_pull.set()  # a pull under way stops with nothing stored
        self.dismiss(None)
