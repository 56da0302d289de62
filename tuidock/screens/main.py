"""The main screen: images and containers side by side, logs and shells below.

Data flow: one poller tick (a timer every `stats_interval`) starts one thread
worker that asks the backend for its containers' change stamp (listing them
only when it changed), samples the running ones and takes the images' stamp;
it posts one `Polled` message and the tables update the cells that changed.
A tick is skipped while the previous one still runs, so a slow disk never
piles workers up. When the backend raises instead of answering (a daemon
stopped, a socket gone), the header turns red with the reason, the tables keep
what they showed, and the poller retries every RETRY_EVERY seconds; the first
answer brings everything back (images, facts). The image list is re-read
only when its stamp changed (a pull or rmi from the CLI shows up by itself).
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import Reactive
from textual.widget import Widget
from textual.widgets import DataTable, Label, TabbedContent, TabPane

from tuidock.errors import failure_reason
from tuidock.keymap import bind
from tuidock.screens.confirm import ConfirmScreen
from tuidock.screens.resources import Resources
from tuidock.widgets.containers import ContainersTable, container_rows
from tuidock.widgets.diskuse import DiskTable
from tuidock.widgets.filterinput import FilterInput
from tuidock.widgets.header import EngineFacts, EngineHeader
from tuidock.widgets.images import ImagesTable, image_rows
from tuidock.widgets.keyfooter import KeyFooter
from tuidock.widgets.logpane import LogPane
from tuidock.widgets.logview import LogView
from tuidock.widgets.networks import NetworksTable
from tuidock.widgets.resourcetable import ResourceTable
from tuidock.widgets.spark import Spark
from tuidock.widgets.volumes import VolumesTable

if TYPE_CHECKING:
    from collections.abc import Hashable

    from tuidock.app import TuidockApp
    from tuidock.backends.base import ContainerSummary, ImageSummary, StatsSample, StatsSampler

FILTERS = "#images-filter, #containers-filter, #volumes-filter, #networks-filter"
HISTORY = 60  # samples kept per container for the sparklines
FULL_LIST_EVERY = 5  # ticks between listings that re-read every container
RETRY_EVERY = 3.0  # seconds between polls of an engine that does not answer


def set_text(label: Label, text: str) -> None:
    """Update a fixed-size label only when its text changes, and without a
    relayout: Static.update re-lays out the whole screen by default, which on
    every tick cost more than all the data collection."""
    if getattr(label, "_shown_text", None) != text:
        label._shown_text = text  # type: ignore[attr-defined]
        label.update(Text(text), layout=False)


class Polled(Message):
    def __init__(
        self,
        infos: list[ContainerSummary] | None,
        samples: dict[str, StatsSample],
        images_stamp: Hashable | None,
        error: str | None = None,
    ) -> None:
        self.infos = infos
        self.samples = samples
        self.images_stamp = images_stamp
        self.error = error
        super().__init__()


class ImagesLoaded(Message):
    def __init__(self, records: list[ImageSummary]) -> None:
        self.records = records
        super().__init__()


class FactsLoaded(Message):
    def __init__(self, cgroup: str) -> None:
        self.cgroup = cgroup
        super().__init__()


class MainScreen(Resources):
    # Screen.focused repaints the whole screen when it changes: every widget's
    # region composited again (40-80 ms during a log flood on 2 cores), while
    # what a focus switch changes on screen repaints by itself: the widgets
    # whose :focus or :focus-within styles change are restyled and refreshed
    # (Screen._update_focus_styles), the footer repaints its keys.
    focused: Reactive[Widget | None] = Reactive(None, repaint=False)

    BINDINGS = [  # noqa: RUF012
        bind("app.images", "focus_pane('images')"),
        bind("app.containers", "focus_pane('containers')"),
        bind("app.logs", "focus_logs"),
        bind("app.volumes", "focus_tab('volumes')", show=False),
        bind("app.networks", "focus_tab('networks')", show=False),
        bind("app.disk", "focus_tab('disk')", show=False),
        bind("app.pull", "pull"),
        bind("app.run", "run"),
        bind("app.help", "help"),
        bind("app.quit", "quit"),
        bind("app.mouse", "toggle_mouse", show=False),
        bind("app.theme", "next_theme", show=False),
        bind("app.refresh", "reload", show=False),
        bind("app.contexts", "app.contexts", description="Engine"),
        bind("app.zoom", "zoom", show=False),
        bind("app.events", "events", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._init_resources()
        self.infos: dict[str, ContainerSummary] = {}
        self.image_records: list[ImageSummary] = []
        self.samples: dict[str, StatsSample] = {}
        self.cpu_history: dict[str, deque[float]] = {}
        self.mem_history: dict[str, deque[float]] = {}
        self.pending: dict[str, str] = {}  # container ID -> "stopping…" while an op runs
        self.sampler: StatsSampler | None = None  # the backend's, made on mount
        self._polling = False
        self._images_stamp: Hashable | None = None
        self._image_count = 0
        self._cgroup = "?"
        self._selected: str | None = None
        self._select_timer = None
        self.poll_count = 0  # for tests and the benchmark
        self.images_loads = 0
        self._listed_infos: list[ContainerSummary] | None = None
        self._containers_seen: Hashable | None = None
        self.down = ""  # why the engine does not answer, "" while it does
        self._last_try = 0.0
        self.zoomed: str | None = None  # the ID of the pane shown alone

    @property
    def tapp(self) -> TuidockApp:
        return self.app  # type: ignore[return-value]

    # -- layout ---------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield EngineHeader(self._facts(), id="header")
        with Horizontal(id="top"):
            with Vertical(id="images-pane", classes="pane"):
                yield Label("1 Images", id="images-title", classes="pane-title")
                yield FilterInput(placeholder="filter (regex; !x inverts)", id="images-filter")
                yield ImagesTable(id="images")
            with Vertical(id="containers-pane", classes="pane"):
                yield Label("2 Containers", id="containers-title", classes="pane-title")
                yield FilterInput(placeholder="filter (regex; !x inverts)", id="containers-filter")
                yield ContainersTable(id="containers")
                with Horizontal(id="sparks"):
                    yield Label("CPU", classes="spark-label")
                    yield Spark(100.0, id="cpu-spark")
                    yield Label("", id="cpu-now", classes="spark-now")
                    yield Label("MEM", classes="spark-label")
                    yield Spark(100.0, id="mem-spark")
                    yield Label("", id="mem-now", classes="spark-now")
        with TabbedContent(id="bottom"):
            with TabPane("3 Logs", id="tab-logs"):
                yield LogPane(id="logpane")
            with TabPane("4 Volumes", id="tab-volumes"):
                yield FilterInput(placeholder="filter (regex; !x inverts)", id="volumes-filter")
                yield VolumesTable(id="volumes")
            with TabPane("5 Networks", id="tab-networks"):
                yield FilterInput(placeholder="filter (regex; !x inverts)", id="networks-filter")
                yield NetworksTable(id="networks")
            with TabPane("6 Disk", id="tab-disk"):
                yield DiskTable(id="disk")
        yield KeyFooter()

    def on_mount(self) -> None:
        for flt in self.query(FilterInput):
            flt.display = False
        self.sampler = self.tapp.backend.stats_sampler()
        self.query_one(LogPane).set_backend(
            self.tapp.backend, lambda: {cid: info.name for cid, info in self.infos.items()}
        )
        self.query_one(ContainersTable).focus()
        self._load_facts()
        self.reload_images()
        self.poll_now()
        self.set_interval(self.tapp.ui.stats_interval, self.poll_now)

    def _facts(self) -> EngineFacts:
        infos = self.infos.values()
        endpoint = self.tapp.endpoint
        return EngineFacts(
            context=endpoint.name,
            engine="engine" if endpoint.is_local else "endpoint",
            down=self.down,
            root=self.tapp.backend.location,
            cgroup=self._cgroup,
            images=self._image_count,
            containers=len(self.infos),
            running=sum(1 for i in infos if i.active),
            mouse=self.tapp.mouse_enabled,
        )

    def update_header(self) -> None:
        self.query_one(EngineHeader).set_facts(self._facts())

    def _update_titles(self) -> None:
        images = self.query_one(ImagesTable)
        text = f"1 Images ({len(images._all)})"  # rows: one per tag, as `images` lists them
        if images.filter_text:
            text += f"  filter /{images.filter_text}/"
        set_text(self.query_one("#images-title", Label), text)
        containers = self.query_one(ContainersTable)
        running = sum(1 for i in self.infos.values() if i.active)
        text = f"2 Containers ({running} running / {len(self.infos)})"
        if containers.filter_text:
            text += f"  filter /{containers.filter_text}/"
        set_text(self.query_one("#containers-title", Label), text)

    @work(thread=True, group="facts", exit_on_error=False)
    def _load_facts(self) -> None:
        self.post_message(FactsLoaded(self.tapp.backend.facts().cgroup))

    def on_facts_loaded(self, message: FactsLoaded) -> None:
        self._cgroup = message.cgroup
        self.update_header()

    # -- images -------------------------------------------------------------------------

    def reload_images(self) -> None:
        self._load_images()

    @work(thread=True, exclusive=True, group="images", exit_on_error=False)
    def _load_images(self) -> None:
        self.post_message(ImagesLoaded(self.tapp.backend.list_images()))

    def on_images_loaded(self, message: ImagesLoaded) -> None:
        self.images_loads += 1
        self.image_records = message.records
        self._image_count = len(message.records)
        table = self.query_one(ImagesTable)
        table.sync(image_rows(message.records))
        if self._want_image and table.select_key(self._want_image):
            self._want_image = None
        self._update_titles()
        self.update_header()

    # -- the poller -------------------------------------------------------------------------

    def poll_now(self) -> None:
        if self._polling:
            return
        now = time.monotonic()
        if self.down and now - self._last_try < RETRY_EVERY:
            return
        self._last_try = now
        self._polling = True
        self._poll()

    @work(thread=True, group="poll", exit_on_error=False)
    def _poll(self) -> None:
        try:
            backend = self.tapp.backend
            stamp = backend.containers_stamp()
            # A full listing also notices a monitor that died without writing its
            # state (the engine reconciles on read): at least every FULL_LIST_EVERY ticks.
            if (
                stamp is not None
                and stamp == self._containers_seen
                and self._listed_infos is not None
                and self.poll_count % FULL_LIST_EVERY
            ):
                infos = self._listed_infos
            else:
                infos = backend.list_containers()
                self._listed_infos, self._containers_seen = infos, stamp
            assert self.sampler is not None
            samples = self.sampler.sample([i.id for i in infos if i.has_cgroup])
            self.post_message(Polled(infos, samples, backend.images_stamp()))
        except Exception as exc:
            # Whatever the backend raised (TuidockError, OSError, a library's own):
            # one line for the header, never a traceback.
            reason = failure_reason(exc).strip() or type(exc).__name__
            self.post_message(Polled(None, {}, None, error=reason.splitlines()[0]))

    def on_polled(self, message: Polled) -> None:
        self._polling = False
        self.poll_count += 1
        if message.infos is None:
            self.down = message.error or "no answer"
            self.update_header()
            return
        if self.down:  # the engine answers again
            self.down = ""
            self._images_stamp = None
            self._load_facts()
            self.notify(f"{self.tapp.endpoint.name}: the engine answers again", title="Engine")
        if message.images_stamp != self._images_stamp:
            self._images_stamp = message.images_stamp
            self.reload_images()
        self.infos = {i.id: i for i in message.infos}
        self.samples = message.samples
        for cid, sample in message.samples.items():
            self.cpu_history.setdefault(cid, deque(maxlen=HISTORY)).append(sample.cpu_percent)
            self.mem_history.setdefault(cid, deque(maxlen=HISTORY)).append(sample.memory_percent)
        for gone in set(self.cpu_history) - set(self.infos):
            self.cpu_history.pop(gone, None)
            self.mem_history.pop(gone, None)
        table = self.query_one(ContainersTable)
        table.sync(container_rows(message.infos, message.samples, self.pending))
        self._update_titles()
        self._show_sparks()
        self.update_header()
        if self._want_select and table.select_key(self._want_select):
            self._want_select = None
        # A removed container's row is gone: the cursor is on another row now.
        self._follow_cursor()

    # -- selection: logs and sparklines follow the containers' cursor ---------------------------

    @on(DataTable.RowHighlighted, "#containers")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # An empty table highlights "row -1" (k or Up with no rows): no key then.
        key = event.row_key.value if event.row_key is not None else None
        if key == self._selected:
            return
        # Debounced: holding j/k over 50 rows must not start 50 log reads.
        if self._select_timer is not None:
            self._select_timer.stop()
        self._select_timer = self.set_timer(0.15, self._follow_cursor)

    def _follow_cursor(self) -> None:
        """Show the container under the containers' cursor (logs, sparklines).

        Called after anything that can move the cursor without a RowHighlighted
        (a filter or a refresh rebuilding the rows, a removal), and before the
        logs are focused, so the logs never show another row than the highlighted one.
        """
        if self._select_timer is not None:
            self._select_timer.stop()
            self._select_timer = None
        cid = self.query_one(ContainersTable).current_key
        info = self.infos.get(cid) if cid else None
        if cid != self._selected:
            self._select(cid)
        elif info is not None and info.name != self.query_one(LogPane).selected_name:
            self.query_one(LogPane).show_container(cid, info.name)  # renamed

    def _select(self, cid: str | None) -> None:
        self._selected = cid
        self._show_sparks()
        info = self.infos.get(cid) if cid else None
        pane = self.query_one(LogPane)
        if info is None:
            pane.show_container(None)
            return
        pane.show_container(cid, info.name)

    def _show_sparks(self) -> None:
        cid = self._selected
        cpu = list(self.cpu_history.get(cid, ())) if cid else []
        mem = list(self.mem_history.get(cid, ())) if cid else []
        self.query_one("#cpu-spark", Spark).data = tuple(cpu)
        self.query_one("#mem-spark", Spark).data = tuple(mem)
        sample = self.samples.get(cid) if cid else None
        set_text(self.query_one("#cpu-now", Label), f"{sample.cpu_percent:5.1f}%" if sample else "")
        set_text(
            self.query_one("#mem-now", Label), f"{sample.memory_percent:5.1f}%" if sample else ""
        )

    # -- focus ---------------------------------------------------------------------------------

    def action_focus_pane(self, which: str) -> None:
        self.query_one(f"#{which}", ResourceTable).focus()

    def action_focus_logs(self) -> None:
        self._follow_cursor()
        self.query_one("#bottom", TabbedContent).active = "tab-logs"
        self.query_one(LogView).focus()

    def action_zoom(self) -> None:
        """The focused pane alone on the screen, or every pane again."""
        panes = ("images-pane", "containers-pane", "bottom")
        if self.zoomed is None:
            target = "containers-pane"
            node = self.focused
            while node is not None and node is not self:
                if node.id in panes:
                    target = node.id
                    break
                node = node.parent
            self.zoomed = target
        else:
            self.zoomed = None
        for pane in panes:
            self.query_one(f"#{pane}").display = self.zoomed in (None, pane)
        self.query_one("#top").display = self.zoomed != "bottom"

    # -- filters ----------------------------------------------------------------------------------

    @on(ResourceTable.FilterRequested)
    def _open_filter(self, event: ResourceTable.FilterRequested) -> None:
        found = self.query(f"#{event.table.id}-filter").results(FilterInput)
        flt = next(found, None)
        if flt is not None:  # the disk view's four rows have no filter
            flt.open(event.table.filter_text)

    @on(FilterInput.Changed, FILTERS)
    def _filter_changed(self, event: FilterInput.Changed) -> None:
        table_id = event.input.id.removesuffix("-filter")  # type: ignore[union-attr]
        self.query_one(f"#{table_id}", ResourceTable).set_filter(event.value)
        self._update_titles()
        self._follow_cursor()

    @on(FilterInput.Closed, FILTERS)
    def _filter_closed(self, event: FilterInput.Closed) -> None:
        table = self.query_one(f"#{event.input.id.removesuffix('-filter')}", ResourceTable)  # type: ignore[union-attr]
        if not event.applied:
            table.set_filter("")
        self._update_titles()
        self._follow_cursor()
        table.focus()

    @on(FilterInput.Submitted, FILTERS)
    def _filter_submitted(self, event: FilterInput.Submitted) -> None:
        event.stop()

    # -- app-wide toggles ------------------------------------------------------------------------------

    def action_quit(self) -> None:
        """Quit; with shell or attach sessions open, only after a confirm that
        names them, since quitting hangs them up (containers keep running)."""
        tabs = getattr(self, "_shell_tabs", None)
        sessions = list(tabs.sessions.values()) if tabs is not None else []
        if not sessions:
            self.app.exit()
            return

        def answered(yes: bool | str | None) -> None:
            if yes:
                self.app.exit()

        count = len(sessions)
        title = f"Quit? {count} open session{'' if count == 1 else 's'} will be hung up"
        items = [f"{term.kind} {term.label}" for term in sessions]
        note = "The containers keep running."
        self.app.push_screen(ConfirmScreen(title, items, note), answered)

    def action_toggle_mouse(self) -> None:
        self.tapp.set_mouse(not self.tapp.mouse_enabled)
        self.update_header()

    def action_next_theme(self) -> None:
        themes = sorted(self.app.available_themes)
        i = themes.index(self.app.theme) if self.app.theme in themes else -1
        self.app.theme = themes[(i + 1) % len(themes)]
        self.notify(f"theme: {self.app.theme}", timeout=1.5)

    def shutdown(self) -> None:
        """Before the app drops this screen's backend: hang up its shells, stop its
        log tails and workers, release the stats sampler."""
        tabs = getattr(self, "_shell_tabs", None)
        if tabs is not None:
            for term in list(tabs.sessions.values()):
                term.terminate()
        self.workers.cancel_node(self)
        self.query_one(LogPane).workers.cancel_node(self.query_one(LogPane))
        if self.sampler is not None:
            self.sampler.close()
            self.sampler = None

    def action_reload(self) -> None:
        self.reload_images()
        self.poll_now()
        active = self.query_one("#bottom", TabbedContent).active
        if active in ("tab-volumes", "tab-networks"):
            self.reload_resources()
        elif active == "tab-disk":
            self.reload_disk()

    def current_time(self) -> float:
        return time.time()
