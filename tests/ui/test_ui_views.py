"""The container views (details with live graphs, diff, kill with a signal) and the
events view, driven by Pilot against the real local engine and, for a short
tour, against the private Docker and Podman engines."""

from __future__ import annotations

import shlex
import uuid

from clihelp import tuidock
from containerhelp import image_fixture, no_leftovers_fixture
from test_ui import focus_row, start, status
from uihelp import SIZE, make_app, run, wait_until

from tuidock.backends.base import EventRecord
from tuidock.runtime.engine import default_engine
from tuidock.screens.details import ContainerDetails, detail_rows
from tuidock.screens.events import EventsScreen, matches
from tuidock.screens.menu import ActionMenu
from tuidock.screens.prompt import PromptScreen
from tuidock.screens.tableview import TableScreen
from tuidock.widgets.containers import ContainersTable

__all__ = ["image_fixture", "no_leftovers_fixture"]  # fixtures, used by name

# Changes the filesystem, answers HUP in its log, ends with 3 on TERM; reads
# and writes a little every tick so the I/O graphs have something to draw.
SCRIPT = (
    "echo hi > /added; rm /etc/group; "
    "trap 'echo got-hup' HUP; trap 'exit 3' TERM; "
    "while true; do head -c 65536 /dev/urandom > /churn; sleep 0.2; done"
)


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _run(name: str, image: str) -> str:
    res = tuidock(
        "run", "-d", "--name", name, "-e", "VIEWS_MARK=42", "--restart", "on-failure:2",
        image, "sh", "-c", SCRIPT,
    )  # fmt: skip
    assert res.code == 0, res.err
    return res.out.strip()


def _table_rows(screen: TableScreen) -> list[list[str]]:
    view = screen.query_one("#table-view")
    return [[str(c) for c in view.get_row_at(i)] for i in range(view.row_count)]


def test_details_diff_and_signals_from_keys_and_menu(image, tuidock_root):
    name = _unique("views")
    cid = _run(name, image)

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ContainersTable)
            await focus_row(pilot, table, cid)

            # Details by its key: the config from inspect, then live graphs.
            await pilot.press("I")
            await wait_until(
                pilot, lambda: isinstance(app.screen, ContainerDetails), what="details"
            )
            details = app.screen
            await wait_until(pilot, lambda: details.inspected, what="inspected")
            rows = dict(detail_rows(details.inspected))
            assert "VIEWS_MARK=42" in rows["Env"]
            assert rows["Restart"] == ["on-failure:2"]
            assert rows["Command"] == [shlex.join(["sh", "-c", SCRIPT])]
            assert rows["Health"] == ["no healthcheck"]
            assert rows["Networks"] != ["none"]
            await wait_until(pilot, lambda: details.samples >= 3, timeout=20, what="3 samples")
            assert len(details.history["cpu"]) >= 3 and max(details.history["mem"]) > 0
            # Rates start from the second sample; the counters never go backwards.
            assert len(details.history["net_rx"]) >= 2
            assert min(details.history["blk_write"]) >= 0
            label = str(details.query_one("#details-mem-label").render())
            assert label.startswith("Memory ") and "%" in label
            await pilot.press("escape")
            await wait_until(pilot, lambda: not isinstance(app.screen, ContainerDetails))

            # Diff from the row's menu: "d" jumps to Details, a second "d" to Diff.
            await pilot.press("x")
            await wait_until(pilot, lambda: isinstance(app.screen, ActionMenu), what="menu")
            await pilot.press("d", "d", "enter")
            await wait_until(pilot, lambda: isinstance(app.screen, TableScreen), what="diff")
            diff = app.screen
            await wait_until(pilot, lambda: diff.loads >= 1, what="diff loaded")
            rows_seen = _table_rows(diff)
            assert ["A", "/added"] in rows_seen and ["D", "/etc/group"] in rows_seen
            await pilot.press("escape")

            # A signal from the picker: SIGHUP is the fourth entry; the trap logs it.
            await pilot.press("K")
            await wait_until(pilot, lambda: isinstance(app.screen, ActionMenu), what="signals")
            assert [v.id for v in app.screen.verbs][:4] == [
                "SIGTERM",
                "SIGKILL",
                "SIGINT",
                "SIGHUP",
            ]
            await pilot.press("down", "down", "down", "enter")
            await wait_until(
                pilot, lambda: "got-hup" in tuidock("logs", cid).out, what="HUP in the log"
            )
            assert status(cid) == "running"

            # A typed name the engine does not know: a notice, nothing sent.
            await pilot.press("K", "o", "enter")
            await wait_until(pilot, lambda: isinstance(app.screen, PromptScreen), what="prompt")
            await pilot.press(*"SIGNOPE", "enter")
            await wait_until(
                pilot,
                lambda: any("invalid signal" in str(n.message) for n in app._notifications),
                what="the bad signal's notice",
            )
            assert status(cid) == "running"

            # A typed one that is: TERM ends it with the trap's code.
            await pilot.press("K", "o", "enter")
            await wait_until(pilot, lambda: isinstance(app.screen, PromptScreen), what="prompt")
            await pilot.press(*"term", "enter")
            await wait_until(pilot, lambda: status(cid) == "exited", what="exited on TERM")
            assert default_engine().container(cid).state["ExitCode"] == 3

    run(scenario)


def test_events_view_filters_and_follows(image, tuidock_root):
    first = _unique("ev-a")
    cid = start(first, image, "sleep 1000")

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: cid in app.screen.query_one(ContainersTable)._order)
            await pilot.press("ctrl+e")
            await wait_until(pilot, lambda: isinstance(app.screen, EventsScreen), what="events")
            view = app.screen
            table = view.query_one("#events-table")
            # The backlog: the create and start of a moment ago.
            await wait_until(
                pilot,
                lambda: any(e.actor_id == cid and e.action == "start" for e in view.events),
                what="the start event",
            )
            # Live: an event after opening shows up without a key.
            tag = _unique("views-tag")
            assert tuidock("tag", image, f"{tag}:v1").code == 0
            await wait_until(
                pilot,
                lambda: any(e.action == "tag" and tag in e.image for e in view.events),
                what="the tag event",
            )
            everything = table.row_count
            assert everything == len(view.events)

            # Container filter: only this container's events.
            view.query_one("#events-container").focus()
            await pilot.press(*first)
            await wait_until(pilot, lambda: table.row_count < everything, what="filtered")
            shown = view.shown()
            assert shown and all(e.actor_id == cid for e in shown)
            assert table.row_count == len(shown)
            assert {"create", "start"} <= {e.action for e in shown}
            await pilot.press(*"-no-such")
            await wait_until(pilot, lambda: table.row_count == 0, what="nothing matches")
            view.query_one("#events-container").value = ""

            # Image filter and the type: the tag is an image event only.
            view.query_one("#events-image").value = tag
            await wait_until(pilot, lambda: table.row_count == 1, what="the tag row")
            view.query_one("#events-type").value = "container"
            await wait_until(pilot, lambda: table.row_count == 0, what="no container tags")
            view.query_one("#events-type").value = "image"
            await wait_until(pilot, lambda: table.row_count == 1, what="the tag row again")
            await pilot.press("escape")
            await wait_until(pilot, lambda: not isinstance(app.screen, EventsScreen))
            assert view.follower is None  # closed with the dialog

    run(scenario)


def test_event_filter_rules():
    start = EventRecord(1, "container", "start", "abc123", {"name": "web", "image": "nginx:1"})
    mount = EventRecord(2, "volume", "mount", "vol", {"container": "abc123"})
    pull = EventRecord(3, "image", "pull", "nginx:1", {"name": "nginx:1"})
    assert matches(start, "", "WEB", "") and matches(start, "", "abc", "nginx")
    assert not matches(start, "image", "", "") and not matches(start, "", "db", "")
    assert matches(mount, "", "abc1", "") and not matches(mount, "", "web", "")
    assert matches(pull, "image", "", "nginx") and not matches(pull, "", "web", "")


def test_docker_and_podman_details_diff_signal_and_events(backend, registry, tuidock_config):
    from tuidock.app import TuidockApp
    from tuidock.backends.base import RunSpec

    name = _unique("views")
    cid = backend.run(
        RunSpec(registry.ref("oci/busybox"), ["sh", "-c", SCRIPT], name=name, network="bridge")
    ).id

    async def scenario() -> None:
        app = TuidockApp(backend, config_dir=tuidock_config)
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ContainersTable)
            await focus_row(pilot, table, cid)
            await pilot.press("I")
            await wait_until(
                pilot, lambda: isinstance(app.screen, ContainerDetails), what="details"
            )
            details = app.screen
            await wait_until(pilot, lambda: details.samples >= 2, timeout=30, what="2 samples")
            assert max(details.history["mem"]) > 0 and details.history["net_rx"]
            assert dict(detail_rows(details.inspected))["Command"] == [
                shlex.join(["sh", "-c", SCRIPT])
            ]
            await pilot.press("escape")

            await pilot.press("D")
            await wait_until(pilot, lambda: isinstance(app.screen, TableScreen), what="diff")
            diff = app.screen
            await wait_until(pilot, lambda: ["A", "/added"] in _table_rows(diff), what="diff rows")
            await pilot.press("escape")

            await pilot.press("ctrl+e")
            await wait_until(pilot, lambda: isinstance(app.screen, EventsScreen), what="events")
            view = app.screen
            await wait_until(
                pilot,
                lambda: any(e.actor_id == cid and e.action == "start" for e in view.events),
                timeout=30,
                what="the start event",
            )
            await pilot.press("escape")

            await pilot.press("K", "enter")  # SIGTERM, the first entry
            await wait_until(
                pilot,
                lambda: backend.inspect_container(cid)["State"]["Status"] == "exited",
                timeout=30,
                what="exited on TERM",
            )
            assert backend.inspect_container(cid)["State"]["ExitCode"] == 3

    try:
        run(scenario)
    finally:
        backend.remove(cid, force=True)
