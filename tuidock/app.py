"""TuidockApp: the Textual application behind `tuidock` with no arguments.

It is handed its Backend (cli/main.py opens the one of the chosen context)
and talks to the engine only through it; the context switcher replaces it
without a restart: a fresh main screen on the new backend, the old one's
log tails, stats sampler and shell sessions closed first; the old backend
itself is retired through `leases` (tuidock/screens/leases.py): jobs still running
on it (a pull, a stop, a build) keep it open, and the last to finish closes
it. It owns the user's settings
(keys.toml, ui.toml) and the things that outlive a dialog: pulls run here so
that closing the pull dialog does not lose the end of the pull. Screens do
the rest. Closing the app ends nothing but the app: containers keep running,
their monitors hold them (shell sessions opened in the app are hung up).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import App, SystemCommand
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from tuidock.keymap import load_keymap, lost_keys
from tuidock.screens.jobs import error_text
from tuidock.screens.leases import Leases
from tuidock.screens.main import MainScreen
from tuidock.uiconfig import UIConfig, load_ui_config
from tuidock.widgets.shell import ShellTerminal

if TYPE_CHECKING:
    from tuidock.backends.base import Backend, ContainerSummary
    from tuidock.backends.contexts import Context
    from tuidock.backends.endpoint import Endpoint
    from tuidock.screens.pull import ProgressRelay

ShellCommand = Callable[["ContainerSummary"], list[str]]


def css_path() -> Path:
    """assets/tuidock.tcss of the source tree, else a copy installed in the package."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "assets" / "tuidock.tcss", here / "assets" / "tuidock.tcss"):
        if candidate.is_file():
            return candidate
    return here.parent / "assets" / "tuidock.tcss"


def binding_groups() -> list[list[str]]:
    """The binding IDs each focusable pane answers to, with the main screen's."""
    from tuidock.widgets.containers import ContainersTable
    from tuidock.widgets.diskuse import DiskTable
    from tuidock.widgets.images import ImagesTable
    from tuidock.widgets.logview import LogView
    from tuidock.widgets.networks import NetworksTable
    from tuidock.widgets.volumes import VolumesTable

    def ids(cls: type) -> list[str]:
        merged = cls._merge_bindings()  # type: ignore[attr-defined]
        return [b.id for bs in merged.key_to_bindings.values() for b in bs if b.id]

    screen = ids(MainScreen)
    panes = (ContainersTable, ImagesTable, VolumesTable, NetworksTable, DiskTable, LogView)
    return [ids(pane) + screen for pane in panes]


class TuidockApp(App[None]):
    CSS_PATH = css_path()
    TITLE = "tuidock"

    def __init__(
        self,
        backend: Backend,
        config_dir: Path,
        ui: UIConfig | None = None,
        shell_command: ShellCommand | None = None,
        endpoint: Endpoint | None = None,
        opener: Callable[[Endpoint], Backend] | None = None,
    ) -> None:
        super().__init__()
        from tuidock.backends.endpoint import Endpoint

        self.backend = backend
        self.endpoint = endpoint or Endpoint()
        self.first_endpoint = self.endpoint  # the switcher offers it even if no context has it
        # How a chosen context becomes a Backend (tests hand their own engines).
        self._opener = opener
        self.config_dir = config_dir
        self.ui = ui or load_ui_config(self.config_dir)
        self.user_keymap, problems = load_keymap(self.config_dir)
        self.problems = problems + lost_keys(self.user_keymap, binding_groups()) + self.ui.problems
        self._shell_command = shell_command or (lambda info: self.backend.shell_command(info.id))
        self.mouse_enabled = True
        # Running pulls by reference: their cancel events (the dialog's Cancel,
        # or the palette's "Cancel pulls" once the dialog is closed).
        self.pulls: dict[str, threading.Event] = {}
        # Who still uses which backend: a replaced one is closed when its last job ends.
        self.leases = Leases()

    def on_mount(self) -> None:
        if self.user_keymap:
            self.set_keymap(self.user_keymap)
        if self.ui.theme:
            if self.ui.theme in self.available_themes:
                self.theme = self.ui.theme
            else:
                self.problems.append(f"unknown theme {self.ui.theme!r}")
        self.push_screen(MainScreen())
        if not self.ui.mouse:
            self.set_mouse(False)
        for problem in self.problems:
            self.notify(problem, severity="warning", title="Settings", timeout=8)

    @property
    def main(self) -> MainScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        return None

    # -- switching engines ------------------------------------------------------------------

    def action_contexts(self) -> None:
        from tuidock.screens.contexts import AllEngines, ContextSwitcher

        def chosen(endpoint: Endpoint | AllEngines | None) -> None:
            if isinstance(endpoint, AllEngines):
                self.show_all_engines(endpoint.contexts)
            elif endpoint is not None:
                self.switch_endpoint(endpoint)

        session = (self.first_endpoint, self.endpoint)
        self.push_screen(ContextSwitcher(self.config_dir, self.endpoint.name, session), chosen)

    def show_all_engines(self, contexts: list[Context] | None = None) -> None:
        """The one-table view over `contexts` (None: every reachable context)."""
        from tuidock.screens.allengines import AllEnginesScreen

        self.push_screen(AllEnginesScreen(contexts))

    def action_all_engines(self) -> None:
        self.show_all_engines(None)

    def switch_endpoint(self, endpoint: Endpoint) -> None:
        """Open `endpoint`'s backend (in a thread), then swap it in; on failure a notice."""
        self._open_backend(endpoint)

    @work(thread=True, exclusive=True, group="switch", exit_on_error=False)
    def _open_backend(self, endpoint: Endpoint) -> None:
        try:
            if self._opener is not None:
                backend = self._opener(endpoint)
            else:
                from tuidock.backends.select import open_backend

                backend = open_backend(endpoint)
        except Exception as exc:
            self.call_from_thread(
                self.notify,
                f"{endpoint.name}: {error_text(exc)}",
                severity="error",
                title="Switch engine",
            )
            return
        self.call_from_thread(self._install_backend, backend, endpoint)

    async def _install_backend(self, backend: Backend, endpoint: Endpoint) -> None:
        old = self.main
        while old is not None and self.screen is not old and len(self.screen_stack) > 1:
            shutdown = getattr(self.screen, "shutdown", None)
            if shutdown is not None:  # the all-engines view releases its backends
                shutdown()
            self.pop_screen()
        if old is not None:
            old.shutdown()
        replaced, self.backend = self.backend, backend
        if replaced is not backend:
            self.leases.retire(replaced)
        self.endpoint = endpoint
        if old is not None and self.screen is old:
            await self.switch_screen(MainScreen())
        else:
            await self.push_screen(MainScreen())
        self.notify(f"{endpoint.name}: {endpoint.display}", title="Engine")

    # -- shells --------------------------------------------------------------------------

    def shell_command(self, info: ContainerSummary) -> list[str]:
        return self._shell_command(info)

    def attach_command(self, info: ContainerSummary) -> list[str]:
        return self.backend.attach_command(info.id)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The shell pane gets every key but its own leave key: the palette's and
        # quit's priority keys (ctrl+p, ctrl+q) go to the program in the shell.
        if action in ("command_palette", "quit", "help_quit") and isinstance(
            self.focused, ShellTerminal
        ):
            return False
        return super().check_action(action, parameters)

    # -- mouse ---------------------------------------------------------------------------

    def set_mouse(self, enabled: bool) -> None:
        """Mouse reporting off lets the terminal select and copy text."""
        driver = self._driver
        method = "_enable_mouse_support" if enabled else "_disable_mouse_support"
        if driver is not None and hasattr(driver, method):
            getattr(driver, method)()
        self.mouse_enabled = enabled

    # -- pulls ---------------------------------------------------------------------------

    def start_pull(self, name: str, platform: str | None, relay: ProgressRelay) -> None:
        cancel = threading.Event()
        self.pulls[name] = cancel
        # The pull keeps the backend it started on, even across an engine switch.
        self._pull(self.leases.acquire(self.backend), name, platform, relay, cancel)

    def cancel_pull(self, name: str) -> bool:
        cancel = self.pulls.get(name)
        if cancel is None:
            return False
        cancel.set()
        return True

    def action_cancel_pulls(self) -> None:
        for cancel in self.pulls.values():
            cancel.set()
        if not self.pulls:
            self.notify("No pull is running.", title="Pull")

    @work(thread=True, group="pull", exit_on_error=False)
    def _pull(
        self,
        backend: Backend,
        name: str,
        platform: str | None,
        relay: ProgressRelay,
        cancel: threading.Event,
    ) -> None:
        try:
            result = backend.pull(name, platform, relay, cancel)
        except Exception as exc:
            relay.flush()
            text = (
                "Pull cancelled: no image stored"
                if cancel.is_set()
                else error_text(exc, self.user_keymap)
            )
            self.call_from_thread(self._pull_done, relay, name, False, text)
            return
        finally:
            self.leases.release(backend)
        relay.flush()
        text = f"Pulled {name} ({result.short_id})"
        if not result.downloaded:
            text = f"{name} is up to date ({result.short_id})"
        self.call_from_thread(self._pull_done, relay, name, True, text)

    def _pull_done(self, relay: ProgressRelay, name: str, ok: bool, text: str) -> None:
        self.pulls.pop(name, None)
        screen = relay.screen
        if screen.is_attached:
            screen.finished(ok, text)
        else:
            self.notify(text, severity="information" if ok else "error", title="Pull")
        if self.main is not None:
            self.main.reload_images()

    # -- errors ----------------------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Workers catch what they expect; anything else lands here as a notice
        # instead of ending the app.
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.notify(error_text(event.worker.error), severity="error", title="Error")

    # -- command palette: every action by name ----------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        main = self.main
        if main is None:
            return

        def on(widget: str, action: str) -> Callable[[], object]:
            """An action of a widget of the main screen, looked up when chosen."""
            return lambda: getattr(main.query_one(f"#{widget}"), f"action_{action}")()

        from tuidock.backends.base import PRUNE_KINDS
        from tuidock.screens.pruneplan import WHAT

        commands: list[tuple[str, str, Callable[[], object]]] = [
            ("Images pane", "Focus the images list", lambda: main.action_focus_pane("images")),
            (
                "Containers pane",
                "Focus the containers list",
                lambda: main.action_focus_pane("containers"),
            ),
            ("Logs pane", "Focus the logs of the selected container", main.action_focus_logs),
            (
                "Volumes pane",
                "List, create, remove volumes (4)",
                lambda: main.action_focus_tab("volumes"),
            ),
            (
                "Networks pane",
                "List, create, remove networks; connect containers (5)",
                lambda: main.action_focus_tab("networks"),
            ),
            (
                "Disk use",
                "system df: images, containers, volumes, build cache (6)",
                lambda: main.action_focus_tab("disk"),
            ),
            ("Create volume", "Create a named volume", main.action_create_volume),
            (
                "Create network",
                "Create a bridge network (subnet optional)",
                main.action_create_network,
            ),
            *(
                (
                    f"Prune {kind}",
                    f"Remove {WHAT[kind][1]}; the confirm says what goes and how much space returns",
                    lambda kind=kind: main.action_prune(kind),
                )
                for kind in PRUNE_KINDS
            ),
            ("Pull image", "Pull an image with per-layer progress", main.action_pull),
            (
                "Cancel pulls",
                "Stop the running pulls; no image is stored",
                self.action_cancel_pulls,
            ),
            ("Build image", "Build an image from a Dockerfile", main.action_build),
            ("Run container", "Create and start a container", main.action_run),
            (
                "Start / stop container",
                "Start or stop the selected containers",
                main.action_start_stop,
            ),
            ("Restart container", "Restart the selected containers", main.action_restart),
            ("Shell in container", "Open a shell in the shell pane", main.action_exec),
            ("Shell full screen", "Exec a shell with the UI suspended", main.action_exec_full),
            ("Delete images", "Delete the marked images", on("images", "delete")),
            ("Remove containers", "Remove the marked containers", on("containers", "delete")),
            ("Sort images", "Sort by the next column (o; O reverses)", on("images", "sort_next")),
            (
                "Sort containers",
                "Sort by the next column (o; O reverses)",
                on("containers", "sort_next"),
            ),
            ("Inspect image", "Inspect the selected image", on("images", "inspect")),
            ("Inspect container", "Inspect the selected container", on("containers", "inspect")),
            (
                "Container details",
                "Config and live CPU, memory, network and disk graphs (I)",
                main.action_details,
            ),
            (
                "Container diff",
                "Filesystem changes of the selected container (D)",
                main.action_diff,
            ),
            (
                "Copy files",
                "Copy files from / to the selected container (F)",
                main.action_copy_files,
            ),
            (
                "Kill with a signal",
                "Send SIGTERM, SIGHUP, ... to the selected container (K)",
                main.action_signal,
            ),
            ("Events", "The engine's events, live, filtered (ctrl+e)", main.action_events),
            ("Logs: timestamps", "Toggle timestamps", on("logview", "toggle_timestamps")),
            ("Logs: wrap", "Toggle wrapping", on("logview", "toggle_wrap")),
            ("Logs: follow", "Toggle following", on("logview", "toggle_follow")),
            (
                "Logs: all containers",
                "Every container's log in one stream",
                on("logview", "toggle_all"),
            ),
            ("Logs: search", "Search the logs", on("logview", "search")),
            ("Logs: save", "Save the logs to a file", on("logview", "save")),
            (
                "Switch engine (context)",
                "Docker, Podman, remote hosts, tuidock's own engine (c)",
                self.action_contexts,
            ),
            (
                "All engines",
                "The containers of every reachable engine in one table",
                self.action_all_engines,
            ),
            ("Mouse on/off", "Off lets the terminal select text", main.action_toggle_mouse),
            ("Reload", "Reload images and containers", main.action_reload),
            ("Help", "Every key", main.action_help),
        ]
        for title, help_text, callback in commands:
            yield SystemCommand(title, help_text, callback)


def run(backend: Backend, config_dir: Path, endpoint: Endpoint | None = None) -> int:
    """Start the UI (called by `tuidock` with no arguments)."""
    import gc

    if not gc.isenabled():
        # __main__ turns the GC off for the CLI's short life; a UI runs for hours.
        gc.enable()
    os.environ.setdefault("TEXTUAL_FPS", "30")
    TuidockApp(backend, config_dir, endpoint=endpoint).run()
    return 0
