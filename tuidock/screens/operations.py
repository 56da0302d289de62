"""What the keys do on the main screen: backend operations, dialogs, shells.

A mixin of MainScreen, kept apart from the layout and the poller. Every
backend call runs as a job (screens.jobs): a thread worker whose outcome
comes back as a message, shown as a notice, and a poll or a reload is
asked for right after, so the tables show the new state without waiting
for the next tick.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on

from tuidock.screens.build import BuildForm, BuildScreen
from tuidock.screens.confirm import ConfirmScreen
from tuidock.screens.help import HelpScreen
from tuidock.screens.inspect import InspectScreen
from tuidock.screens.jobs import JobScreen, error_text
from tuidock.screens.prompt import PromptScreen
from tuidock.screens.pull import PullScreen
from tuidock.screens.run import RunScreen
from tuidock.widgets import images as imagerows
from tuidock.widgets.containers import ContainersTable
from tuidock.widgets.images import ImagesTable
from tuidock.widgets.logpane import LogPane
from tuidock.widgets.logview import LogView
from tuidock.widgets.resourcetable import ResourceTable
from tuidock.widgets.shell import EMBEDDING_ERROR, ShellTabs, ShellTerminal

if TYPE_CHECKING:
    from tuidock.app import TuidockApp
    from tuidock.backends.base import (
        Backend,
        BuildOutcome,
        ContainerSummary,
        ImageSummary,
        RemoveOutcome,
        RunOutcome,
    )

__all__ = ["CONTAINER_OPS", "Operations", "container_call", "error_text"]


# verb -> (status shown while it runs, past tense for the notice)
CONTAINER_OPS = {
    "start": ("starting…", "started"),
    "stop": ("stopping…", "stopped"),
    "restart": ("restarting…", "restarted"),
    "pause": ("pausing…", "paused"),
    "unpause": ("unpausing…", "unpaused"),
    "kill": ("killing…", "killed"),
    "rm": ("removing…", "removed"),
}


def container_call(
    backend: Backend, verb: str, cid: str, timeout: int | None
) -> Callable[[], object]:
    """The backend call of a CONTAINER_OPS verb on one container, for a job to run."""
    calls: dict[str, Callable[[], object]] = {
        "start": lambda: backend.start(cid),
        "stop": lambda: backend.stop(cid, timeout),
        "restart": lambda: backend.restart(cid, timeout),
        "pause": lambda: backend.pause(cid),
        "unpause": lambda: backend.unpause(cid),
        "kill": lambda: backend.kill(cid),
        "rm": lambda: backend.remove(cid, force=True),
    }
    return calls[verb]


class Operations(JobScreen):
    """The base of MainScreen (which provides infos, pending, poll_now, ...).

    A Screen subclass rather than a plain mixin: Textual finds `@on` handlers
    only on classes made by its metaclass.
    """

    infos: dict[str, ContainerSummary]
    image_records: list[ImageSummary]
    pending: dict[str, str]
    _want_select: str | None = None
    _want_image: str | None = None  # an images row key to select once listed
    _build_form: BuildForm | None = None  # the build dialog's last input

    if TYPE_CHECKING:
        app: TuidockApp  # type: ignore[assignment]

        def poll_now(self) -> None: ...
        def reload_images(self) -> None: ...
        def action_focus_logs(self) -> None: ...

    # -- images --------------------------------------------------------------------------

    def action_pull(self) -> None:
        self.app.push_screen(PullScreen())

    def action_build(self) -> None:
        screen = BuildScreen(self._build_form)

        def done(outcome: BuildOutcome | None) -> None:
            self._build_form = screen.form
            if outcome is None:
                return
            tag = outcome.tags[0] if outcome.tags else ""
            self._want_image = f"{outcome.image_id}|{tag}"
            named = f" as {imagerows.label(self._want_image)}" if tag else ""
            self.notify(f"Successfully built {outcome.short_id}{named}", title="Build")
            self.reload_images()
            self.query_one(ImagesTable).focus()

        self.app.push_screen(screen, done)

    def action_help(self) -> None:
        from tuidock.keymap import effective_keys

        self.app.push_screen(
            HelpScreen(effective_keys(self.app.user_keymap), str(self.app.config_dir))
        )

    @on(ResourceTable.DeleteRequested, "#images")
    def _delete_images(self, event: ResourceTable.DeleteRequested) -> None:
        keys = event.keys
        records = {r.id: r for r in self.image_records}
        infos = list(self.infos.values())
        items: list[str] = []
        in_use: set[str] = set()  # keys of rows whose image a container uses
        last_tag = False  # a row in use whose removal takes the image's last tag
        for key in keys:
            image_id, _, tag = key.partition("|")
            rec = records.get(image_id)
            users = imagerows.users_of(rec, infos) if rec is not None else []
            if not users:
                items.append(imagerows.label(key))
                continue
            in_use.add(key)
            last_tag = last_tag or not tag or len(rec.repo_tags) < 2  # type: ignore[union-attr]
            used = ", ".join(f"{u.name} ({u.status})" for u in users[:4])
            more = f" and {len(users) - 4} more" if len(users) > 4 else ""
            items.append(f"{imagerows.label(key)}: used by {used}{more}")
        title = f"Delete {len(keys)} image{'s' if len(keys) > 1 else ''}?"
        if not in_use:
            note, choices = "", None
        elif last_tag:
            note = (
                "In use by containers: Force removes the tags; the image stays "
                "until its containers are removed."
            )
            choices = [("force", "Force", "f")]
        else:
            note = "In use by containers: Untag removes this name only; Force removes every tag."
            choices = [("untag", "Untag", "u"), ("force", "Force", "f")]

        def answered(choice: bool | str | None) -> None:
            if not choice:
                return
            force = choice == "force"
            # Force on a row in use takes every tag of its image (`rmi -f <ID>`).
            names = [
                key.partition("|")[0] if force and key in in_use else imagerows.removal_name(key)
                for key in keys
            ]
            self._remove_images(names, force)
            self.query_one(ImagesTable).action_clear_marks()

        self.app.push_screen(ConfirmScreen(title, items, note, choices), answered)

    def _remove_images(self, names: list[str], force: bool = False) -> None:
        def removed(report: RemoveOutcome) -> None:
            if report.untagged or report.deleted:
                self.notify(
                    f"untagged {len(report.untagged)}, deleted {len(report.deleted)}",
                    title="Images",
                )
            for err in report.errors:
                self.notify(err, severity="error", title="Delete failed")

        backend = self.app.backend
        self.run_job(
            "Delete", lambda: backend.remove_images(names, force=force), removed, self.reload_images
        )

    # -- inspect ------------------------------------------------------------------------------

    @on(ResourceTable.InspectRequested)
    def _inspect(self, event: ResourceTable.InspectRequested) -> None:
        self._load_inspect(event.table.id or "", event.key)

    def _load_inspect(self, table: str, key: str) -> None:
        if table not in ("images", "containers", "volumes", "networks"):
            return  # the disk view's rows are totals, nothing to inspect
        backend = self.app.backend

        def load() -> tuple[str, dict]:
            if table == "images":
                data = backend.inspect_image(key.partition("|")[0])
                return f"image {imagerows.label(key)}", data
            if table == "volumes":
                return f"volume {key}", backend.inspect_volume(key)
            if table == "networks":
                return f"network {key}", backend.inspect_network(key)
            data = backend.inspect_container(key)
            return f"container {data.get('Name', key[:12]).lstrip('/')}", data

        self.run_job("Inspect", load, lambda loaded: self.app.push_screen(InspectScreen(*loaded)))

    # -- run -----------------------------------------------------------------------------------

    def action_run(self) -> None:
        image = self.query_one(ImagesTable).current_image or ""
        if image and "|" not in image and image.startswith("sha256:"):
            image = image.removeprefix("sha256:")[:12]
        dialog = RunScreen(image)

        def answered(outcome: RunOutcome | None) -> None:
            if outcome is None or dialog.spec is None:
                return
            for w in outcome.warnings:
                self.notify(w, severity="warning")
            self.notify(f"started {dialog.spec.name or outcome.id[:12]}", title="Run")
            self._after_run(outcome.id, dialog.spec.detach)

        self.app.push_screen(dialog, answered)

    def _after_run(self, cid: str, detach: bool) -> None:
        self._want_select = cid
        self.poll_now()
        if not detach:
            self.action_focus_logs()

    # -- containers: lifecycle -------------------------------------------------------------------

    def _selected_containers(self) -> list[str]:
        return [cid for cid in self.query_one(ContainersTable).selection() if cid in self.infos]

    def action_start_stop(self) -> None:
        for cid in self._selected_containers():
            self._container_op("stop" if self.infos[cid].can_stop else "start", cid)

    def action_restart(self) -> None:
        for cid in self._selected_containers():
            self._container_op("restart", cid)

    @on(ResourceTable.DeleteRequested, "#containers")
    def _delete_containers(self, event: ResourceTable.DeleteRequested) -> None:
        ids = [cid for cid in event.keys if cid in self.infos]
        if not ids:
            return
        running = [c for c in ids if self.infos[c].active]
        note = f"{len(running)} running: they will be killed" if running else ""

        def answered(yes: bool | None) -> None:
            if yes:
                self.query_one(ContainersTable).action_clear_marks()
                for cid in ids:
                    self._container_op("rm", cid)

        names = [f"{self.infos[c].name} ({c[:12]}, {self.infos[c].status})" for c in ids]
        self.app.push_screen(
            ConfirmScreen(
                f"Remove {len(ids)} container{'s' if len(ids) > 1 else ''}?", names, note
            ),
            answered,
        )

    def _container_op(self, verb: str, cid: str) -> None:
        if cid in self.pending or verb not in CONTAINER_OPS:
            return
        self.pending[cid] = CONTAINER_OPS[verb][0]
        self.poll_now()
        backend = self.app.backend
        timeout = self.app.ui.stop_timeout
        name = self.infos[cid].name if cid in self.infos else cid[:12]

        def finished() -> None:
            self.pending.pop(cid, None)
            self.poll_now()

        self.run_job(
            f"{verb} {name}",
            container_call(backend, verb, cid, timeout),
            lambda _: self.notify(f"{CONTAINER_OPS[verb][1]} {name}", title="Containers"),
            finished,
        )

    # -- shells -------------------------------------------------------------------------------------

    def _shell_target(self) -> ContainerSummary | None:
        cid = self.query_one(ContainersTable).current_key
        info = self.infos.get(cid) if cid else None
        if info is None:
            self.notify("select a container first", severity="warning")
            return None
        return info

    def shell_tabs(self) -> ShellTabs:
        tabs = getattr(self, "_shell_tabs", None)
        if tabs is None:
            from textual.widgets import TabbedContent

            tabs = self._shell_tabs = ShellTabs(self.query_one("#bottom", TabbedContent))
        return tabs

    async def action_exec(self) -> None:
        info = self._shell_target()
        if info is None:
            return
        tabs = self.shell_tabs()
        if tabs.get(info.id) is not None:
            self._before_shell = self.focused
            tabs.show(info.id)
            return
        if not info.can_exec:
            self.notify(f"{info.name} is not running", severity="warning")
            return
        if EMBEDDING_ERROR or self.app.ui.shell == "fullscreen":
            if EMBEDDING_ERROR:
                self.notify(EMBEDDING_ERROR + "; using the full screen", severity="warning")
            self.action_exec_full()
            return
        command = self._command_for(info)
        if command is None:
            return
        self._before_shell = self.focused
        try:
            await tabs.open(info.id, info.name, command)
        except Exception as exc:
            self.notify(f"embedded shell failed ({exc}); using the full screen", severity="warning")
            await tabs.close(info.id)
            self.action_exec_full()

    def _command_for(self, info: ContainerSummary) -> list[str] | None:
        """The exec command line; None (and a notice) if the container has no shell."""
        try:
            return self.app.shell_command(info)
        except Exception as exc:
            self.notify(error_text(exc), severity="error", title=f"No shell in {info.name}")
            return None

    def action_exec_full(self) -> None:
        """Hand the whole terminal to the exec; the UI comes back when it ends."""
        info = self._shell_target()
        if info is None:
            return
        command = self._command_for(info)
        if command is None:
            return
        try:
            with self.app.suspend():
                code = subprocess.call(command)
        except Exception as exc:
            self.notify(f"cannot suspend the UI for the shell: {exc}", severity="error")
            return
        if code:
            self.notify(f"shell in {info.name} exited with {code}", severity="warning")

    async def action_attach(self) -> None:
        """The container's main process in the shell pane (`docker attach`):
        ctrl-p ctrl-q in it detaches, the container's exit ends it."""
        info = self._shell_target()
        if info is None:
            return
        tabs = self.shell_tabs()
        if tabs.get(info.id, "attach") is not None:
            self._before_shell = self.focused
            tabs.show(info.id, "attach")
            return
        if info.can_unpause:
            self.notify(f"{info.name} is paused; unpause it first", severity="warning")
            return
        if not info.active:
            self.notify(f"{info.name} is not running; start it first", severity="warning")
            return
        command = self.app.attach_command(info)
        if EMBEDDING_ERROR or self.app.ui.shell == "fullscreen":
            if EMBEDDING_ERROR:
                self.notify(EMBEDDING_ERROR + "; using the full screen", severity="warning")
            self._attach_full(info, command)
            return
        self._before_shell = self.focused
        try:
            await tabs.open(info.id, info.name, command, "attach")
        except Exception as exc:
            self.notify(
                f"embedded attach failed ({exc}); using the full screen", severity="warning"
            )
            await tabs.close(info.id, "attach")
            self._attach_full(info, command)

    def _attach_full(self, info: ContainerSummary, command: list[str]) -> None:
        """The attach session on the whole terminal; the UI comes back when it ends."""
        try:
            with self.app.suspend():
                code = subprocess.call(command)
        except Exception as exc:
            self.notify(f"cannot suspend the UI for the attach: {exc}", severity="error")
            return
        if code:
            self.notify(f"attach {info.name} ended with {code}", severity="warning")

    @on(ShellTerminal.Leave)
    def _leave_shell(self, event: ShellTerminal.Leave) -> None:
        back = getattr(self, "_before_shell", None)
        if back is None or not back.is_attached or isinstance(back, ShellTerminal):
            back = self.query_one(ContainersTable)
        back.focus()

    @on(ShellTerminal.ProcessExited)
    async def _shell_exited(self, event: ShellTerminal.ProcessExited) -> None:
        term = event.control if isinstance(event.control, ShellTerminal) else None
        if term is None:
            for t in self.shell_tabs().sessions.values():
                if t._exited:
                    term = t
                    break
        if term is None:
            return
        had_focus = term.has_focus
        code = event.exit_code
        if term.kind == "attach":
            # The session's last line says how it ended (detached, or the exit code).
            tail = [line for line in term.screen_lines() if line][-3:]
            self.notify(
                "\n".join(tail) or f"attach to {term.label} ended",
                title=f"attach {term.label}",
                severity="warning" if code else "information",
            )
        elif code:
            tail = [line for line in term.screen_lines() if line][-3:]
            self.notify(
                "\n".join([f"shell in {term.label} exited with {code}", *tail]), severity="warning"
            )
        await self.shell_tabs().close(term.cid, term.kind)
        if had_focus or self.focused is None:
            self.query_one(ContainersTable).focus()

    # -- logs -------------------------------------------------------------------------------------

    @on(LogView.SaveRequested)
    def _save_logs(self) -> None:
        pane = self.query_one(LogPane)
        if pane.cid is None:
            return
        default = str(Path.cwd() / f"{pane.name_shown or pane.cid[:12]}.log")

        def answered(path: str | None) -> None:
            if path:
                self._write_logs(path, pane.view.text_of())

        self.app.push_screen(PromptScreen("Save the logs to", default), answered)

    def _write_logs(self, path: str, text: str) -> None:
        self.run_job(
            "Save",
            lambda: Path(path).expanduser().write_text(text),
            lambda _: self.notify(f"saved {path}", title="Logs"),
            describe=lambda exc: f"{path}: {getattr(exc, 'strerror', None) or error_text(exc)}",
        )
