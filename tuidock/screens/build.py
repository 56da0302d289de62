"""The build dialog: context, Dockerfile, tags, build args, no-cache; the output below.

The form and the build's output share one dialog, so a failed build keeps
what was typed next to what went wrong. The build runs in a thread worker of
this dialog; its lines (`Step 3/7 : RUN ...` and each RUN's output) are
collected under a lock and drained into the Log every OUTPUT_EVERY seconds,
so a chatty RUN never floods the event loop. The last `Step` line stays
shown above the output. Esc (or Cancel build) sets the build's cancel event:
the backend stops the running step and leaves nothing of it; Esc with no
build running closes. A build that succeeds closes the dialog with its
outcome (the main screen selects the new image); one that fails shows a
one-line error naming the Dockerfile and line, and the form stays as it was.
"""

from __future__ import annotations

import os
import re
import shlex
import threading
from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Log

from tuidock.backends.base import Backend, BuildOutcome, BuildSpec

OUTPUT_EVERY = 0.1
STEP_RE = re.compile(r"^Step \d+/\d+ : ")
# "Dockerfile:3: ..." in a message, or a hint that is only that place and the line.
WHERE_RE = re.compile(r"^(\S+:\d+):\s")


@dataclass
class BuildForm:
    """What the dialog holds, kept by the main screen between openings."""

    context: str = ""
    dockerfile: str = ""
    tags: str = ""
    build_args: str = ""
    no_cache: bool = False


def default_dockerfile(context: str) -> str:
    return os.path.join(context, "Dockerfile")


def parse_form(form: BuildForm) -> BuildSpec:
    """The dialog's fields as a BuildSpec; ValueError with a message for the user."""
    context = form.context.strip()
    if not context:
        raise ValueError("a context directory is needed")
    context = os.path.expanduser(context)
    try:
        tags = shlex.split(form.tags)
        arg_items = shlex.split(form.build_args)
    except ValueError as exc:
        raise ValueError(f"cannot parse: {exc}") from None
    build_args: dict[str, str] = {}
    for item in arg_items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ValueError(f"build args are KEY=VALUE: {item!r}")
        build_args[key] = value
    dockerfile = os.path.expanduser(form.dockerfile.strip()) or None
    return BuildSpec(
        context=context,
        dockerfile=dockerfile,
        tags=tuple(tags),
        build_args=build_args,
        no_cache=form.no_cache,
    )


def error_line(exc: BaseException) -> str:
    """One line naming the Dockerfile and line where the error says them."""
    message = (getattr(exc, "message", None) or str(exc) or type(exc).__name__).splitlines()[0]
    if WHERE_RE.match(message):
        return message
    where = WHERE_RE.match(getattr(exc, "hint", None) or "")
    return f"{where.group(1)}: {message}" if where else message


class BuildScreen(ModalScreen[BuildOutcome | None]):
    BINDINGS = [Binding("escape", "escape", "Cancel the build / close")]  # noqa: RUF012

    DEFAULT_CSS = """
    #build-dialog { height: 90%; }
    #build-output { height: 1fr; min-height: 5; border: round $panel-lighten-2; }
    #build-step { text-style: bold; height: 1; }
    #build-status { height: auto; }
    """

    def __init__(self, form: BuildForm | None = None) -> None:
        super().__init__()
        self.form = form or BuildForm(context=os.getcwd())
        if not self.form.dockerfile:
            self.form.dockerfile = default_dockerfile(self.form.context)
        self.cancel: threading.Event | None = None
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self.step = ""  # the last "Step N/M : ..." line, for the label and tests

    def compose(self) -> ComposeResult:
        f = self.form
        with Vertical(classes="dialog wide", id="build-dialog"):
            yield Label(
                Text("Build an image from a Dockerfile", style="bold"), classes="dialog-title"
            )
            with Horizontal(classes="form-row"):
                yield Input(f.context, placeholder="context directory", id="build-context")
                yield Input(f.dockerfile, placeholder="<context>/Dockerfile", id="build-file")
            with Horizontal(classes="form-row"):
                yield Input(f.tags, placeholder="tags: app:1 app:latest", id="build-tags")
                yield Input(f.build_args, placeholder="build args: KEY=VALUE ...", id="build-args")
            yield Checkbox("No cache (run every step again)", f.no_cache, id="build-nocache")
            yield Label("", id="build-step")
            yield Log(id="build-output", max_lines=5000)
            yield Label("Enter builds · Esc closes", id="build-status")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Build", variant="primary", id="build-ok")
                yield Button("Cancel build", variant="error", id="build-cancel")
                yield Button("Close", id="build-close")

    def on_mount(self) -> None:
        self.query_one("#build-cancel").display = False
        self.query_one("#build-context", Input).focus()
        self.set_interval(OUTPUT_EVERY, self._drain)

    def on_unmount(self) -> None:
        if self.cancel is not None:
            self.cancel.set()

    @property
    def building(self) -> bool:
        return self.cancel is not None

    # -- the form --------------------------------------------------------------------------

    def read_form(self) -> BuildForm:
        return BuildForm(
            context=self.query_one("#build-context", Input).value,
            dockerfile=self.query_one("#build-file", Input).value,
            tags=self.query_one("#build-tags", Input).value,
            build_args=self.query_one("#build-args", Input).value,
            no_cache=self.query_one("#build-nocache", Checkbox).value,
        )

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "build-context":
            return
        # The Dockerfile follows the context until the user types another one.
        file_input = self.query_one("#build-file", Input)
        if file_input.value in ("", default_dockerfile(self.form.context)):
            file_input.value = default_dockerfile(event.value)
        self.form.context = event.value

    def on_input_submitted(self) -> None:
        self._start()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "build-ok":
            self._start()
        elif event.button.id == "build-cancel":
            self.action_cancel_build()
        else:
            self.action_escape()

    def _set_status(self, text: str, style: str = "") -> None:
        self.query_one("#build-status", Label).update(Text(text, style=style))

    def _set_building(self, on: bool) -> None:
        for widget in self.query(Input):
            widget.disabled = on
        self.query_one("#build-nocache", Checkbox).disabled = on
        self.query_one("#build-ok").display = not on
        self.query_one("#build-close").display = not on
        cancel = self.query_one("#build-cancel", Button)
        cancel.display = on
        if on:
            cancel.focus()

    # -- the build -----------------------------------------------------------------------------

    def _start(self) -> None:
        if self.building:
            return
        self.form = self.read_form()
        try:
            spec = parse_form(self.form)
        except ValueError as exc:
            self._set_status(str(exc), "bold red")
            return
        self.cancel = threading.Event()
        self.step = ""
        self.query_one("#build-step", Label).update("")
        self.query_one("#build-output", Log).clear()
        self._set_status("Building… · Esc cancels")
        self._set_building(True)
        self._build(self.app.leases.acquire(self.app.backend), spec, self.cancel)

    def action_cancel_build(self) -> None:
        if self.cancel is not None and not self.cancel.is_set():
            self.cancel.set()
            self._set_status("Cancelling…")

    def action_escape(self) -> None:
        if self.building:
            self.action_cancel_build()
        else:
            self.dismiss(None)

    def _collect(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)

    def _drain(self) -> None:
        with self._lock:
            lines, self._lines = self._lines, []
        if not lines:
            return
        for line in lines:
            if STEP_RE.match(line):
                self.step = line
        self.query_one("#build-step", Label).update(Text(self.step))
        self.query_one("#build-output", Log).write_lines(lines)

    @work(thread=True, group="build", exit_on_error=False)
    def _build(self, backend: Backend, spec: BuildSpec, cancel: threading.Event) -> None:
        # `backend` is leased for this build: an engine switch meanwhile does not close it.
        try:
            outcome = backend.build(spec, self._collect, cancel)
        except Exception as exc:
            text = "Build cancelled" if cancel.is_set() else error_line(exc)
            self.app.call_from_thread(self._finished, None, text)
            return
        finally:
            self.app.leases.release(backend)
        self.app.call_from_thread(self._finished, outcome, "")

    def _finished(self, outcome: BuildOutcome | None, error: str) -> None:
        self.cancel = None
        if not self.is_attached:
            return
        self._drain()
        if outcome is not None:
            self.dismiss(outcome)
            return
        self._set_building(False)
        cancelled = error == "Build cancelled"
        self._set_status(error, "bold yellow" if cancelled else "bold red")
        if not cancelled:
            self.notify(error, severity="error", title="Build failed")
        self.query_one("#build-context", Input).focus()
