"""What the keys do on the main screen: backend operations, dialogs, shells.

A mixin of MainScreen, kept apart from the layout and the poller. Every
backend call runs in a thread worker; results and errors come back through
`call_from_thread` as notifications, and a poll is asked for right after,
so the tables show the new state without waiting for the next tick.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.screen import Screen

from tuidock.screens.confirm import ConfirmScreen
from tuidock.screens.help import HelpScreen
from tuidock.screens.inspect import InspectScreen
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
    from tuidock.backends.base import ContainerSummary, RunOutcome


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


# Engine hints that name a CLI command or flag the UI has a key or a field for:
# (what the hint names, the key's binding ID or None, the advice for the UI).
# Hints naming commands the UI lacks (login, demo) stay as they are: a shell is
# where to run them.
UI_HINTS: tuple[tuple[str, str | None, str], ...] = (
    ("`tuidock pull`", "app.pull", "Press {key} to pull it."),
    ("`tuidock rm -f`", "list.delete", "Press {key} on it in the containers pane to remove it."),
    ("`tuidock network ls`", None, "Pick one of the listed networks."),
    ("leave out -p/-P", None, "Pick bridge or a user network, or clear the ports."),
    ("Give a command after the image name", None, "Fill in the command."),
)


def ui_hint(hint: str | None, keymap: dict[str, str] | None = None) -> str | None:
    """The engine's hint with CLI commands and flags replaced by the UI's keys
    (as remapped) and fields."""
    if not hint:
        return hint
    from tuidock.keymap import effective_keys, pretty_keys

    keys = effective_keys(keymap or {})
    for names, binding, advice in UI_HINTS:
        if names in hint:
            key = pretty_keys(keys[binding]).split(" / ")[0] if binding else ""
            return advice.format(key=key)
    return hint


def error_text(exc: BaseException, keymap: dict[str, str] | None = None) -> str:
    """What a notice or a dialog shows of an error: its message, then its hint for the UI."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    hint = ui_hint(getattr(exc, "hint", None), keymap)
    return f"{message}\n{hint}" if hint else message


class Operations(Screen):
    """The base of MainScreen (which provides infos, pending, poll_now, ...).

    A Screen subclass rather than a plain mixin: Textual finds `@on` handlers
    only on classes made by its metaclass.
    """

    infos: dict[str, ContainerSummary]
    pending: dict[str, str]
    _want_select: str | None = None

    if TYPE_CHECKING:
        app: TuidockApp  # type: ignore[assignment]

        def poll_now(self) -> None: ...
        def reload_images(self) -> None: ...
        def action_focus_logs(self) -> None: ...

    def _notify_from_thread(
        self, text: str, severity: str = "information", title: str = ""
    ) -> None:
        self.app.call_from_thread(self.notify, text, severity=severity, title=title)

    # -- images --------------------------------------------------------------------------

    def action_pull(self) -> None:
        self.app.push_screen(PullScreen())

    def action_help(self) -> None:
        from tuidock.keymap import effective_keys

        self.app.push_screen(
            HelpScreen(effective_keys(self.app.user_keymap), str(self.app.config_dir))
        )

    @on(ResourceTable.DeleteRequested, "#images")
    def _delete_images(self, event: ResourceTable.DeleteRequested) -> None:
        keys = event.keys
        names = [imagerows.label(k) for k in keys]

        def answered(yes: bool | None) -> None:
            if yes:
                self._remove_images([imagerows.removal_name(k) for k in keys])
                self.query_one(ImagesTable).action_clear_marks()

        self.app.push_screen(
            ConfirmScreen(f"Delete {len(keys)} image{'s' if len(keys) > 1 else ''}?", names),
            answered,
        )

    @work(thread=True, group="ops", exit_on_error=False)
    def _remove_images(self, names: list[str]) -> None:
        report = self.app.backend.remove_images(names)
        if report.untagged or report.deleted:
            self._notify_from_thread(
                f"untagged {len(report.untagged)}, deleted {len(report.deleted)}", title="Images"
            )
        for err in report.errors:
            self._notify_from_thread(err, "error", "Delete failed")
        self.app.call_from_thread(self.reload_images)

    # -- inspect ------------------------------------------------------------------------------

    @on(ResourceTable.InspectRequested)
    def _inspect(self, event: ResourceTable.InspectRequested) -> None:
        self._load_inspect(event.table.id or "", event.key)

    @work(thread=True, group="ops", exit_on_error=False)
    def _load_inspect(self, table: str, key: str) -> None:
        backend = self.app.backend
        try:
            if table == "images":
                image_id = key.partition("|")[0]
                data = backend.inspect_image(image_id)
                title = f"image {imagerows.label(key)}"
            else:
                data = backend.inspect_container(key)
                title = f"container {data.get('Name', key[:12]).lstrip('/')}"
        except Exception as exc:
            self._notify_from_thread(error_text(exc), "error", "Inspect failed")
            return
        self.app.call_from_thread(self.app.push_screen, InspectScreen(title, data))

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
        self._container_op_worker(verb, cid)

    @work(thread=True, group="ops", exit_on_error=False)
    def _container_op_worker(self, verb: str, cid: str) -> None:
        backend = self.app.backend
        timeout = self.app.ui.stop_timeout
        name = self.infos[cid].name if cid in self.infos else cid[:12]
        calls: dict[str, Callable[[], object]] = {
            "start": lambda: backend.start(cid),
            "stop": lambda: backend.stop(cid, timeout),
            "restart": lambda: backend.restart(cid, timeout),
            "pause": lambda: backend.pause(cid),
            "unpause": lambda: backend.unpause(cid),
            "kill": lambda: backend.kill(cid),
            "rm": lambda: backend.remove(cid, force=True),
        }
        try:
            calls[verb]()
        except Exception as exc:
            self._notify_from_thread(error_text(exc), "error", f"{verb} {name} failed")
        else:
            self._notify_from_thread(f"{CONTAINER_OPS[verb][1]} {name}", title="Containers")
        finally:
            self.app.call_from_thread(self._op_done, cid)

    def _op_done(self, cid: str) -> None:
        self.pending.pop(cid, None)
        self.poll_now()

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
        if code:
            tail = [line for line in term.screen_lines() if line][-3:]
            self.notify(
                "\n".join([f"shell in {term.label} exited with {code}", *tail]), severity="warning"
            )
        await self.shell_tabs().close(term.cid)
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

    @work(thread=True, group="ops", exit_on_error=False)
    def _write_logs(self, path: str, text: str) -> None:
        try:
            Path(path).expanduser().write_text(text)
        except OSError as exc:
            self._notify_from_thread(f"{path}: {exc.strerror}", "error", "Save failed")
            return
        self._notify_from_thread(f"saved {path}", title="Logs")
