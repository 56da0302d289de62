"""The action menus of the main screen: every verb of a container or an image.

A layer between Operations (the verbs with keys of their own) and
MainScreen. What the menus add: pause/unpause, kill (SIGKILL, or a signal
picked from a short list or typed), rename, commit, top, details and diff
for containers; tag and history for images; copying an ID; copying files
from and to a container (screens/copy.py, run here as a job). Details,
diff, the signal picker and the copy dialog also have keys of their own
(I, D, K, F); the events
view (ctrl+e) is here too, as it starts from the selected container's view
of the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual import on

from tuidock.core.humanize import human_size, since
from tuidock.screens.copy import CopyDialog, CopyRequest, copied_text
from tuidock.screens.details import ContainerDetails
from tuidock.screens.events import EventsScreen
from tuidock.screens.menu import ActionMenu, Verb
from tuidock.screens.operations import Operations
from tuidock.screens.prompt import PromptScreen
from tuidock.screens.tableview import TableScreen
from tuidock.widgets import images as imagerows
from tuidock.widgets.containers import ContainersTable
from tuidock.widgets.images import ImagesTable
from tuidock.widgets.resourcetable import ResourceTable

if TYPE_CHECKING:
    from tuidock.backends.base import Backend, ContainerSummary, CopyOutcome, PushOutcome

TOP_EVERY = 2.0
# The signal picker's list: (signal, what it usually means to the process).
SIGNALS = (
    ("SIGTERM", "ask it to stop"),
    ("SIGKILL", "kill it now"),
    ("SIGINT", "interrupt, as Ctrl-C"),
    ("SIGHUP", "hang up: many daemons reload"),
    ("SIGUSR1", "user-defined 1"),
    ("SIGUSR2", "user-defined 2"),
)


def signal_verbs() -> list[Verb]:
    verbs = [Verb(sig, f"{sig}  {meaning}", danger=sig == "SIGKILL") for sig, meaning in SIGNALS]
    return [*verbs, Verb("other", "Other signal (name or number)…")]


def container_verbs(info: ContainerSummary) -> list[Verb]:
    """What applies to a container in its state, in the order a user scans for it."""
    verbs: list[Verb] = []
    if info.can_unpause:
        verbs.append(Verb("unpause", "Unpause"))
    elif info.active:  # running or restarting
        verbs += [
            Verb("shell", "Shell in the shell pane", "e"),
            Verb("shell_full", "Shell full screen", "E"),
            Verb("attach", "Attach to the main process (ctrl-p ctrl-q detaches)", "a"),
            Verb("stop", "Stop", "s"),
            Verb("restart", "Restart", "R"),
        ]
        if info.can_pause:
            verbs.append(Verb("pause", "Pause"))
    else:
        verbs.append(Verb("start", "Start", "s"))
    if info.active:
        verbs += [
            Verb("top", "Top (processes)"),
            Verb("kill", "Kill (SIGKILL)", danger=True),
            Verb("signal", "Kill with a signal…", "K", danger=True),
        ]
    verbs += [
        Verb("logs", "Logs", "3"),
        Verb("details", "Details (config, live graphs)", "I"),
        Verb("diff", "Diff (filesystem changes)", "D"),
        Verb("inspect", "Inspect", "i"),
        Verb("rename", "Rename…"),
        Verb("commit", "Commit to an image…"),
        Verb("copy_files", "Copy files from / to the container…", "F"),
        Verb("copy", "Copy the ID", "y"),
        Verb("remove", "Remove…", "d", danger=True),
    ]
    return verbs


def image_verbs() -> list[Verb]:
    return [
        Verb("run", "Run a container…", "r"),
        Verb("build", "Build an image from a Dockerfile…", "b"),
        Verb("tag", "Tag…"),
        Verb("push", "Push to a registry…"),
        Verb("history", "History (layers)"),
        Verb("inspect", "Inspect", "i"),
        Verb("copy", "Copy the ID", "y"),
        Verb("delete", "Delete…", "d", danger=True),
    ]


class Verbs(Operations):
    # -- menus -------------------------------------------------------------------------------

    @on(ResourceTable.MenuRequested, "#containers")
    def _container_menu(self, event: ResourceTable.MenuRequested) -> None:
        info = self.infos.get(event.key)
        if info is None:
            return
        title = f"{info.name} ({info.id[:12]}, {info.status})"
        self.app.push_screen(
            ActionMenu(title, container_verbs(info)),
            lambda verb: self._container_verb(verb, info),
        )

    @on(ResourceTable.MenuRequested, "#images")
    def _image_menu(self, event: ResourceTable.MenuRequested) -> None:
        key = event.key
        self.app.push_screen(
            ActionMenu(f"image {imagerows.label(key)}", image_verbs()),
            lambda verb: self._image_verb(verb, key),
        )

    def _container_verb(self, verb: str | None, info: ContainerSummary) -> None:
        table = self.query_one(ContainersTable)
        table.select_key(info.id)
        simple: dict[str, Callable[[], object]] = {
            "shell": self.action_exec,
            "shell_full": self.action_exec_full,
            "attach": self.action_attach,
            "logs": self.action_focus_logs,
            "copy": table.action_copy_id,
            "inspect": table.action_inspect,
            "remove": table.action_delete,
            "details": self.action_details,
            "diff": self.action_diff,
            "copy_files": self.action_copy_files,
            "signal": self.action_signal,
        }
        if verb in simple:
            self.call_later(simple[verb])
        elif verb in ("start", "stop", "restart", "pause", "unpause", "kill"):
            self._container_op(verb, info.id)
        elif verb == "top":
            backend = self.app.backend
            self.app.push_screen(
                TableScreen(f"top {info.name}", lambda: backend.top(info.id), every=TOP_EVERY)
            )
        elif verb == "rename":

            def rename(new: str) -> None:
                done = f"renamed {info.name} to {new}"
                self._backend_call("Rename", done, self.app.backend.rename, info.id, new)

            self._ask("Rename the container to", info.name, "new-name", rename)
        elif verb == "commit":
            self._ask(
                "Commit the container's changes as image",
                "",
                "repository[:tag]",
                lambda ref: self._commit(info.id, ref),
            )

    def _image_verb(self, verb: str | None, key: str) -> None:
        table = self.query_one(ImagesTable)
        table.select_key(key)
        simple: dict[str, Callable[[], object]] = {
            "run": self.action_run,
            "build": self.action_build,
            "copy": table.action_copy_id,
            "inspect": table.action_inspect,
            "delete": table.action_delete,
        }
        if verb in simple:
            self.call_later(simple[verb])
        elif verb == "tag":

            def tag(target: str) -> None:
                done = f"tagged {imagerows.label(key)} as {target}"
                source = imagerows.removal_name(key)
                self._backend_call("Tag", done, self.app.backend.tag, source, target, images=True)

            self._ask("Tag the image as", "", "repository[:tag]", tag)
        elif verb == "push":
            source = imagerows.removal_name(key)
            # A tagged row pushes to its own name unless the user types another.
            default = imagerows.label(key) if key.partition("|")[2] else ""
            self._ask(
                "Push to (registry/repository[:tag])",
                default,
                "registry:5000/repository:tag",
                lambda dest: self._push(source, None if dest == default else dest),
            )
        elif verb == "history":
            self.app.push_screen(
                TableScreen(f"history {imagerows.label(key)}", lambda: self._history_rows(key))
            )

    # -- details, diff, signals, events ---------------------------------------------------------

    def _current(self) -> ContainerSummary | None:
        cid = self.query_one(ContainersTable).current_key
        return self.infos.get(cid) if cid else None

    def action_details(self) -> None:
        info = self._current()
        if info is not None:
            self.app.push_screen(ContainerDetails(info.id, info.name))

    def action_diff(self) -> None:
        info = self._current()
        if info is None:
            return
        backend = self.app.backend

        def rows() -> tuple[list[str], list[list[str]]]:
            return ["KIND", "PATH"], [[c.kind, c.path] for c in backend.diff(info.id)]

        self.app.push_screen(TableScreen(f"diff {info.name}", rows))

    def action_copy_files(self) -> None:
        info = self._current()
        if info is None:
            return
        backend = self.app.backend
        dialog = CopyDialog(info.name, lambda req: self._copy_files(info, req, dialog, backend))
        self.app.push_screen(dialog)

    def _copy_files(
        self, info: ContainerSummary, req: CopyRequest, dialog: CopyDialog, backend: Backend
    ) -> None:
        def call() -> CopyOutcome:
            if req.out:
                return backend.copy_from_container(info.id, req.container_path, req.host_path)
            return backend.copy_to_container(info.id, req.host_path, req.container_path)

        def done(outcome: CopyOutcome) -> None:
            where = outcome.dest if req.out else f"{info.name}:{outcome.dest}"
            self.notify(copied_text(outcome.files, outcome.bytes, where), title="Copy")
            dialog.finished()

        def failed(text: str) -> None:
            # The dialog shows it under the fields; once closed (Esc), a notice does.
            if dialog.is_current:
                dialog.show_error(text)
            else:
                self.notify(text, severity="error", title="Copy failed")

        self.run_job("Copy", call, done, failed=failed, group="copy", backend=backend)

    def action_signal(self) -> None:
        info = self._current()
        if info is None:
            return
        if not info.active:
            self.notify(f"{info.name} is not running", severity="warning", title="Kill")
            return

        def chosen(verb: str | None) -> None:
            if verb == "other":
                self._ask(
                    f"Signal to send to {info.name}",
                    "",
                    "name or number: SIGWINCH, WINCH, 28",
                    lambda sig: self._send_signal(info, sig),
                )
            elif verb:
                self._send_signal(info, verb)

        self.app.push_screen(ActionMenu(f"Send a signal to {info.name}", signal_verbs()), chosen)

    def _send_signal(self, info: ContainerSummary, sig: str) -> None:
        sig = sig.strip()
        done = f"sent {sig} to {info.name}"
        self._backend_call("Kill", done, self.app.backend.kill, info.id, sig)

    def action_events(self) -> None:
        self.app.push_screen(EventsScreen())

    # -- helpers -------------------------------------------------------------------------------

    def _ask(self, title: str, value: str, placeholder: str, then: Callable[[str], object]) -> None:
        def answered(text: str | None) -> None:
            if text:
                then(text)

        self.app.push_screen(PromptScreen(title, value, placeholder), answered)

    def _backend_call(
        self, title: str, done: str, fn: Callable[..., object], *args: str, images: bool = False
    ) -> None:
        def succeeded(_: object) -> None:
            self.notify(done, title=title)
            (self.reload_images if images else self.poll_now)()

        self.run_job(title, lambda: fn(*args), succeeded)

    def _commit(self, cid: str, ref: str) -> None:
        def committed(image_id: str) -> None:
            self.notify(f"{ref}: {image_id.removeprefix('sha256:')[:12]}", title="Commit")
            self.reload_images()

        backend = self.app.backend
        self.run_job("Commit", lambda: backend.commit(cid, ref), committed)

    def _push(self, source: str, dest: str | None) -> None:
        def pushed(results: list[PushOutcome]) -> None:
            for res in results:
                self.notify(f"{res.reference}: {res.digest}", title="Pushed")
            self.reload_images()

        self.notify(f"pushing {dest or source}…", title="Push")
        backend = self.app.backend
        self.run_job("Push", lambda: backend.push(source, dest), pushed, group="push")

    def _history_rows(self, key: str) -> tuple[list[str], list[list[str]]]:
        rows = self.app.backend.image_history(key.partition("|")[0])
        return ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], [
            [
                r.id.removeprefix("sha256:")[:12],
                since(r.created) if r.created else "N/A",
                r.created_by,
                human_size(r.size),
                r.comment,
            ]
            for r in rows
        ]
