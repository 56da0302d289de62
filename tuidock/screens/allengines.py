"""All engines: one containers table over several contexts, an ENGINE column saying whose.

Reached from the switcher's "All engines" entry (the contexts marked there,
else every reachable one) and the command palette (every reachable one).
Each context is a slot with its own Backend: the app's current one is
borrowed for the context it names, the others are opened here (in the poll
thread, so a slow engine never blocks the UI) and retired when the screen
closes; every backend is leased (screens/leases.py) while the screen shows
it, and every job leases the backend of its row, so closing the view or a
switch never cuts a running stop or remove off.

Rows drive their own engine: a row key is `e<slot>-<container ID>`, and
start/stop/restart/kill/pause/remove/inspect/logs/shell go to that slot's
backend; the logs pane is pointed at the row's backend when the cursor
moves, a shell tab is keyed by the row (two engines may list one container
when two contexts reach the same daemon).

Cost: each tick asks every engine side by side on a small thread pool made
once per screen (one thread per engine, not per row), each slot listing its
containers and sampling the running ones through its backend's own stats
sampler. Every engine answers in a message of its own and is not asked again
until it has answered, so one that hangs holds up no other. An engine that
fails keeps its last rows out of the table and shows its reason in one red
line of the status label; it is retried every RETRY_EVERY seconds and the
others go on.

Closing (escape, or a switch of the app's engine) hangs up shells, ends the
log tail and the polls, and releases every backend; the flag that says so is
`shut_down`, never `_closed`, which is the message pump's own.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Footer, Label, TabbedContent, TabPane

from tuidock.errors import failure_reason
from tuidock.screens.confirm import ConfirmScreen
from tuidock.screens.inspect import InspectScreen
from tuidock.screens.jobs import JobScreen, error_text
from tuidock.screens.menu import ActionMenu
from tuidock.screens.operations import CONTAINER_OPS, container_call
from tuidock.screens.verbs import container_verbs
from tuidock.widgets.containers import ContainersTable, container_rows
from tuidock.widgets.logpane import LogPane
from tuidock.widgets.resourcetable import ResourceTable, Row
from tuidock.widgets.shell import EMBEDDING_ERROR, ShellTabs, ShellTerminal

if TYPE_CHECKING:
    from tuidock.app import TuidockApp
    from tuidock.backends.base import Backend, ContainerSummary, StatsSample, StatsSampler
    from tuidock.backends.contexts import Context

RETRY_EVERY = 3.0  # seconds between tries of an engine that failed


def row_key(slot: int, cid: str) -> str:
    return f"e{slot}-{cid}"


def split_key(key: str) -> tuple[int, str]:
    head, _, cid = key.partition("-")
    return int(head[1:]), cid


@dataclass(eq=False)
class Slot:
    """One engine of the view: its context, its backend once open, what it last said."""

    ctx: Context
    backend: Backend | None = None
    owned: bool = False  # opened here (closed here), or the app's (borrowed)
    sampler: StatsSampler | None = None
    infos: dict[str, ContainerSummary] = field(default_factory=dict)
    samples: dict[str, StatsSample] = field(default_factory=dict)
    error: str = ""
    last_try: float = 0.0
    busy: bool = False  # a poll of it is under way
    polls: int = 0  # answers taken (tests wait on it)

    @property
    def name(self) -> str:
        return self.ctx.name


class AllPolled(Message):
    def __init__(self, results: list[tuple[int, list[ContainerSummary] | None, dict, str]]):
        self.results = results
        super().__init__()


class ContextsFound(Message):
    def __init__(self, contexts: list[Context], error: str) -> None:
        self.contexts = contexts
        self.error = error
        super().__init__()


class EnginesTable(ContainersTable):
    COLUMNS = (("engine", "ENGINE", None), *ContainersTable.COLUMNS)
    PRIORITY = ("engine", *ContainersTable.PRIORITY)
    ESSENTIAL = ContainersTable.ESSENTIAL + 1


def engine_rows(slots: list[Slot], pending: dict[str, str]) -> list[Row]:
    rows: list[Row] = []
    for i, slot in enumerate(slots):
        if slot.error:
            continue
        keyed = {row_key(i, cid): cid for cid in slot.infos}
        own_pending = {cid: pending[k] for k, cid in keyed.items() if k in pending}
        for row in container_rows(list(slot.infos.values()), slot.samples, own_pending):
            rows.append(
                Row(
                    row_key(i, row.key),
                    (slot.name, *row.cells),
                    f"{slot.name} {row.search_text}",
                    (slot.name.casefold(), *row.sort_keys),
                )
            )
    return rows


class AllEnginesScreen(JobScreen):
    BINDINGS = [  # noqa: RUF012
        Binding("escape,q", "close", "Back"),
        Binding("3", "focus_logs", "Logs", show=False),
        Binding("2", "focus_table", "Containers", show=False),
    ]

    def __init__(self, contexts: list[Context] | None = None) -> None:
        """`contexts`: the engines to show; None: every reachable context (probed here)."""
        super().__init__()
        self.wanted = contexts
        self.slots: list[Slot] = []
        self.pending: dict[str, str] = {}
        self.poll_count = 0  # for tests
        self._pool: ThreadPoolExecutor | None = None
        self._release_lock = threading.Lock()
        self._selected: str | None = None
        # Not `_closed`: that is the message pump's own flag, and setting it would keep
        # Textual from ever ending this screen's pump (its removal would wait forever).
        self.shut_down = False

    @property
    def tapp(self) -> TuidockApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Vertical(id="all-engines-pane", classes="pane"):
            yield Label("All engines: looking for engines…", id="all-title", classes="pane-title")
            yield Label("", id="all-status")
            yield EnginesTable(id="containers")
        with TabbedContent(id="bottom"), TabPane("3 Logs", id="tab-logs"):
            yield LogPane(id="logpane")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(EnginesTable).focus()
        if self.wanted is None:
            self._find_contexts()
        else:
            self._set_slots(self.wanted)

    @work(thread=True, group="all-contexts", exit_on_error=False)
    def _find_contexts(self) -> None:
        from tuidock.backends.contexts import ContextStore, probe

        try:
            found = [c for c in probe(ContextStore(self.tapp.config_dir).all()) if c.reachable]
        except Exception as exc:
            self.post_message(ContextsFound([], error_text(exc)))
            return
        self.post_message(ContextsFound(found, ""))

    def on_contexts_found(self, message: ContextsFound) -> None:
        if message.error:
            self.query_one("#all-status", Label).update(Text(message.error, style="red"))
        self._set_slots(message.contexts)

    def _set_slots(self, contexts: list[Context]) -> None:
        app = self.tapp
        for ctx in contexts:
            slot = Slot(ctx)
            if ctx.name == app.endpoint.name:
                slot.backend = app.leases.acquire(app.backend)
                slot.sampler = slot.backend.stats_sampler()
            self.slots.append(slot)
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(self.slots)))
        self.poll_now()
        self.set_interval(app.ui.stats_interval, self.poll_now)

    # -- the poller ------------------------------------------------------------------------

    def poll_now(self) -> None:
        """Ask every engine whose last answer is in; each answers on its own, so one
        that hangs (a blackholed tcp host, up to the client's timeout) holds up
        nobody but itself."""
        if self.shut_down or self._pool is None:
            return
        for i, slot in enumerate(self.slots):
            if slot.busy:
                continue
            slot.busy = True
            try:
                future = self._pool.submit(self._poll_slot, slot)
            except RuntimeError:  # the pool was shut down: the screen is closing
                return
            future.add_done_callback(lambda f, i=i: self._slot_done(i, f))

    def _slot_done(self, i: int, future: Future) -> None:
        """In the pool's thread (or the closing one's, for a cancelled poll)."""
        try:
            infos, samples, error = future.result()
        except CancelledError:  # the screen closed meanwhile
            return
        self.post_message(AllPolled([(i, infos, samples, error)]))

    def _poll_slot(self, slot: Slot) -> tuple[list[ContainerSummary] | None, dict, str]:
        """One engine's containers and samples, or None and why not (in the pool's thread)."""
        now = time.monotonic()
        if slot.error and now - slot.last_try < RETRY_EVERY:
            return None, {}, slot.error
        slot.last_try = now
        try:
            if slot.backend is None:
                backend = self._open(slot.ctx)
                if self.shut_down:
                    from tuidock.screens.leases import close_backend

                    close_backend(backend)
                    return None, {}, "closed"
                slot.backend, slot.owned = self.tapp.leases.acquire(backend), True
                slot.sampler = backend.stats_sampler()
                if self.shut_down:  # closed while it opened: shutdown() may have passed it
                    self._release(slot)
                    return None, {}, "closed"
            infos = slot.backend.list_containers()
            assert slot.sampler is not None
            samples = slot.sampler.sample([i.id for i in infos if i.has_cgroup])
            return infos, samples, ""
        except Exception as exc:
            reason = failure_reason(exc).strip() or type(exc).__name__
            return None, {}, reason.splitlines()[0]

    def _open(self, ctx: Context) -> Backend:
        opener = getattr(self.tapp, "_opener", None)
        if opener is not None:
            return opener(ctx.endpoint)
        from tuidock.backends.select import open_backend

        return open_backend(ctx.endpoint)

    def on_all_polled(self, message: AllPolled) -> None:
        if self.shut_down:
            return
        self.poll_count += 1
        for i, infos, samples, error in message.results:
            slot = self.slots[i]
            slot.busy = False
            slot.polls += 1
            slot.error = error
            if infos is None:
                slot.infos, slot.samples = {}, {}
            else:
                slot.infos = {c.id: c for c in infos}
                slot.samples = samples
        self.query_one(EnginesTable).sync(engine_rows(self.slots, self.pending))
        self._show_status()
        self._follow_cursor()

    def _show_status(self) -> None:
        up = [s for s in self.slots if not s.error]
        count = sum(len(s.infos) for s in up)
        running = sum(1 for s in up for c in s.infos.values() if c.active)
        title = (
            f"All engines: {running} running / {count} containers on "
            f"{len(up)} of {len(self.slots)} engines ({', '.join(s.name for s in self.slots)})"
        )
        self.query_one("#all-title", Label).update(Text(title))
        status = Text()
        for slot in self.slots:
            if slot.error:
                if status:
                    status.append("\n")
                status.append(f"{slot.name}: unreachable: {slot.error}", style="red")
        label = self.query_one("#all-status", Label)
        label.update(status)
        label.display = bool(status)

    # -- rows ---------------------------------------------------------------------------------

    def row(self, key: str | None) -> tuple[Slot, ContainerSummary] | None:
        if not key:
            return None
        i, cid = split_key(key)
        if i >= len(self.slots):
            return None
        slot = self.slots[i]
        info = slot.infos.get(cid)
        if info is None or slot.backend is None:
            return None
        return slot, info

    @on(DataTable.RowHighlighted, "#containers")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._follow_cursor()

    def _follow_cursor(self) -> None:
        key = self.query_one(EnginesTable).current_key
        if key == self._selected:
            return
        self._selected = key
        pane = self.query_one(LogPane)
        found = self.row(key)
        if found is None:
            pane.show_container(None)
            return
        slot, info = found
        assert slot.backend is not None
        pane.show_container(None)  # the old tail ends before the backend changes
        pane.set_backend(slot.backend, lambda: {c: i.name for c, i in slot.infos.items()})
        pane.show_container(info.id, f"{info.name} ({slot.name})")

    def action_focus_logs(self) -> None:
        self._follow_cursor()
        self.query_one("#bottom", TabbedContent).active = "tab-logs"
        from tuidock.widgets.logview import LogView

        self.query_one(LogView).focus()

    def action_focus_table(self) -> None:
        self.query_one(EnginesTable).focus()

    # -- verbs: each on its row's engine ----------------------------------------------------------

    def _selected_rows(self) -> list[str]:
        return [k for k in self.query_one(EnginesTable).selection() if self.row(k) is not None]

    def action_start_stop(self) -> None:
        for key in self._selected_rows():
            _, info = self.row(key)  # type: ignore[misc]
            self.container_op("stop" if info.can_stop else "start", key)

    def action_restart(self) -> None:
        for key in self._selected_rows():
            self.container_op("restart", key)

    def container_op(self, verb: str, key: str) -> None:
        found = self.row(key)
        if found is None or key in self.pending or verb not in CONTAINER_OPS:
            return
        slot, info = found
        backend = slot.backend
        assert backend is not None
        cid, timeout = info.id, self.tapp.ui.stop_timeout
        self.pending[key] = CONTAINER_OPS[verb][0]
        label = f"{info.name} ({slot.name})"

        def finished() -> None:
            self.pending.pop(key, None)
            self.poll_now()

        self.run_job(
            f"{verb} {label}",
            container_call(backend, verb, cid, timeout),
            lambda _: self.notify(f"{CONTAINER_OPS[verb][1]} {label}", title="Containers"),
            finished,
            backend=backend,
        )
        self.query_one(EnginesTable).sync(engine_rows(self.slots, self.pending))

    @on(ResourceTable.DeleteRequested, "#containers")
    def _delete(self, event: ResourceTable.DeleteRequested) -> None:
        keys = [k for k in event.keys if self.row(k) is not None]
        if not keys:
            return
        rows = [self.row(k) for k in keys]
        running = sum(1 for _, info in rows if info.active)  # type: ignore[misc]
        names = [f"{i.name} ({s.name}, {i.id[:12]}, {i.status})" for s, i in rows]  # type: ignore[misc]

        def answered(yes: bool | str | None) -> None:
            if yes:
                self.query_one(EnginesTable).action_clear_marks()
                for key in keys:
                    self.container_op("rm", key)

        note = f"{running} running: they will be killed" if running else ""
        title = f"Remove {len(keys)} container{'s' if len(keys) > 1 else ''}?"
        self.app.push_screen(ConfirmScreen(title, names, note), answered)

    @on(ResourceTable.InspectRequested, "#containers")
    def _inspect(self, event: ResourceTable.InspectRequested) -> None:
        found = self.row(event.key)
        if found is None:
            return
        slot, info = found
        backend = slot.backend
        assert backend is not None
        self.run_job(
            "Inspect",
            lambda: backend.inspect_container(info.id),
            lambda data: self.app.push_screen(
                InspectScreen(f"container {info.name} ({slot.name})", data)
            ),
            backend=backend,
        )

    @on(ResourceTable.MenuRequested, "#containers")
    def _menu(self, event: ResourceTable.MenuRequested) -> None:
        found = self.row(event.key)
        if found is None:
            return
        slot, info = found
        key = event.key
        verbs = [
            v
            for v in container_verbs(info)
            if v.name not in ("rename", "commit", "top", "shell_full", "copy")
        ]

        def chosen(verb: str | None) -> None:
            table = self.query_one(EnginesTable)
            table.select_key(key)
            if verb in ("start", "stop", "restart", "pause", "unpause", "kill"):
                self.container_op(verb, key)
            elif verb == "remove":
                table.action_delete()
            elif verb == "inspect":
                table.action_inspect()
            elif verb == "logs":
                self.action_focus_logs()
            elif verb == "shell":
                self.call_later(self.action_exec)

        title = f"{info.name} ({slot.name}, {info.id[:12]}, {info.status})"
        self.app.push_screen(ActionMenu(title, verbs), chosen)

    # -- shells -------------------------------------------------------------------------------

    def shell_tabs(self) -> ShellTabs:
        tabs = getattr(self, "_shell_tabs", None)
        if tabs is None:
            tabs = self._shell_tabs = ShellTabs(self.query_one("#bottom", TabbedContent))
        return tabs

    async def action_exec(self) -> None:
        key = self.query_one(EnginesTable).current_key
        found = self.row(key)
        if found is None or key is None:
            self.notify("select a container first", severity="warning")
            return
        slot, info = found
        tabs = self.shell_tabs()
        if tabs.get(key) is not None:
            tabs.show(key)
            return
        if not info.can_exec:
            self.notify(f"{info.name} is not running", severity="warning")
            return
        if EMBEDDING_ERROR:
            self.notify(EMBEDDING_ERROR, severity="warning")
            return
        try:
            assert slot.backend is not None
            command = slot.backend.shell_command(info.id)
        except Exception as exc:
            self.notify(error_text(exc), severity="error", title=f"No shell in {info.name}")
            return
        await tabs.open(key, f"{info.name} ({slot.name})", command)

    def action_exec_full(self) -> None:
        self.notify("full-screen shells are on the main screen (E)", severity="warning")

    @on(ShellTerminal.Leave)
    def _leave_shell(self, event: ShellTerminal.Leave) -> None:
        self.query_one(EnginesTable).focus()

    @on(ShellTerminal.ProcessExited)
    async def _shell_exited(self, event: ShellTerminal.ProcessExited) -> None:
        term = event.control if isinstance(event.control, ShellTerminal) else None
        if term is None:  # the message does not always say whose: the session that ended
            term = next((t for t in self.shell_tabs().sessions.values() if t._exited), None)
        if term is None:
            return
        if event.exit_code:
            self.notify(f"shell in {term.label} exited with {event.exit_code}", severity="warning")
        await self.shell_tabs().close(term.cid)
        self.query_one(EnginesTable).focus()

    # -- closing --------------------------------------------------------------------------------

    def action_close(self) -> None:
        self.shutdown()
        self.dismiss()

    def shutdown(self) -> None:
        """Hang up shells, stop tails and polls, release every backend (closing the ones
        opened here once their jobs end)."""
        if self.shut_down:
            return
        self.shut_down = True
        tabs = getattr(self, "_shell_tabs", None)
        if tabs is not None:
            for term in list(tabs.sessions.values()):
                term.terminate()
        self.workers.cancel_node(self)
        pane = self.query_one(LogPane)
        pane.workers.cancel_node(pane)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        for slot in self.slots:
            self._release(slot)

    def _release(self, slot: Slot) -> None:
        """Close the slot's sampler, give its backend back (closed if opened here); once."""
        with self._release_lock:
            sampler, backend = slot.sampler, slot.backend
            slot.sampler = slot.backend = None
        if sampler is not None:
            sampler.close()
        if backend is not None:
            leases = self.tapp.leases
            leases.release(backend)
            if slot.owned:
                leases.retire(backend)
