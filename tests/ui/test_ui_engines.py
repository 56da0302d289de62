"""The UI on Docker and Podman: panes, dashboard, logs, shells, the switcher, all engines at once.

Every test drives the real UI (Pilot) against the session's private dockerd
and Podman service (tests/rig/engines.py); the `engine` fixture runs each
test on both. Containers are busybox from the fixture registry with unique
names, removed after the test.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from uihelp import SIZE, local_backend, make_app, run, wait_until

from tuidock.backends.base import RunSpec
from tuidock.backends.contexts import ContextStore
from tuidock.backends.docker import DockerBackend
from tuidock.backends.endpoint import Endpoint
from tuidock.screens.confirm import ConfirmScreen
from tuidock.widgets.containers import ContainersTable
from tuidock.widgets.images import ImagesTable

TICKER = ["sh", "-c", "i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.2; done"]


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _run(backend: DockerBackend, registry, command: list[str]) -> str:
    spec = RunSpec(registry.ref("oci/busybox"), command, name=_name("tdk-ui"), network="none")
    return backend.run(spec).id


@pytest.fixture
def started(backend: DockerBackend) -> Iterator[list[str]]:
    """IDs of containers a test starts on `backend`; removed after it."""
    ids: list[str] = []
    yield ids
    for cid in ids:
        try:
            backend.remove(cid, force=True)
        except Exception:
            pass


async def _focus(pilot, table, key: str) -> None:  # type: ignore[no-untyped-def]
    await wait_until(pilot, lambda: key in table._order, timeout=30, what=f"row {key[:20]}")
    table.focus()
    table.select_key(key)
    await pilot.pause(0.05)


def _log_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "docker-logs" and t.is_alive()}


def _cell(table, key: str, column: str) -> str:  # type: ignore[no-untyped-def]
    return str(table.get_cell(key, column)).strip()


# -- one engine: the panes ----------------------------------------------------------------------


def test_images_browse_and_delete_with_confirm(backend, engine, registry, tuidock_config) -> None:
    source = registry.ref("oci/busybox")
    backend.pull(source, None, lambda _ev: None, __import__("threading").Event())
    tag = f"tdk-ui-rmi-{uuid.uuid4().hex[:8]}:1"
    backend.tag(source, tag)
    # The full name as the engine lists it (docker.io/library/<tag>; Podman: localhost/...).
    want = next(t for i in backend.list_images() for t in i.repo_tags if t.endswith(f"/{tag}"))

    def row_of(table: ImagesTable) -> str | None:
        return next((k for k in table._order if k.endswith("|" + want)), None)

    async def scenario() -> None:
        app = make_app(backend=backend, endpoint=Endpoint(engine.name, engine.host))
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ImagesTable)
            key = await wait_until(pilot, lambda: row_of(table), timeout=30, what="the tag's row")
            await _focus(pilot, table, key)
            # Browse: the cursor leaves the row and comes back.
            await pilot.press(*(("k", "j") if table.cursor_row > 0 else ("j", "k")))
            assert table.current_key == key
            await pilot.press("d")
            dialog = await wait_until(
                pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, what="confirm"
            )
            assert any(tag in item for item in dialog.items), dialog.items
            await pilot.press("y")
            await wait_until(pilot, lambda: row_of(table) is None, timeout=30, what="row gone")

    run(scenario)
    tags = {t for i in backend.list_images() for t in i.repo_tags}
    assert want not in tags
    assert any(t.endswith(source) for t in tags), tags  # the image keeps its other tag


def test_dashboard_fills_cpu_mem_pids(backend, engine, registry, started, tuidock_config) -> None:
    cid = _run(backend, registry, TICKER)
    started.append(cid)

    async def scenario() -> None:
        app = make_app(backend=backend, endpoint=Endpoint(engine.name, engine.host))
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ContainersTable)
            await _focus(pilot, table, cid)

            def filled() -> bool:
                return all(_cell(table, cid, c) for c in ("cpu", "mem", "pids"))

            await wait_until(pilot, filled, timeout=30, what="CPU, MEM and PIDS")
            assert _cell(table, cid, "cpu").endswith("%")
            assert " / " in _cell(table, cid, "mem")
            assert int(_cell(table, cid, "pids")) >= 1
            assert "running" in _cell(table, cid, "status")

    run(scenario)


def test_logs_pane_follows(backend, engine, registry, started, tuidock_config) -> None:
    cid = _run(backend, registry, TICKER)
    started.append(cid)

    async def scenario() -> None:
        from tuidock.widgets.logview import LogView

        app = make_app(backend=backend, endpoint=Endpoint(engine.name, engine.host))
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ContainersTable)
            await _focus(pilot, table, cid)
            await pilot.press("3")
            view = app.screen.query_one(LogView)
            assert view.has_focus
            await wait_until(pilot, lambda: "tick2" in view.text_of(), timeout=30, what="ticks")
            seen = view.text_of().count("tick")
            # Following: lines written after the pane opened arrive by themselves.
            await wait_until(
                pilot, lambda: view.text_of().count("tick") > seen + 3, timeout=30, what="more"
            )

    run(scenario)


def test_shell_pane_runs_a_command(backend, engine, registry, started, tuidock_config) -> None:
    cid = _run(backend, registry, ["sleep", "300"])
    started.append(cid)

    async def scenario() -> None:
        app = make_app(backend=backend, endpoint=Endpoint(engine.name, engine.host))
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ContainersTable)
            await _focus(pilot, table, cid)
            await pilot.press("e")
            term = await wait_until(
                pilot, lambda: app.screen.shell_tabs().get(cid), timeout=30, what="shell tab"
            )
            await pilot.pause(1.0)
            await pilot.press(*"echo got-$((6*7)) $(hostname)", "enter")
            await wait_until(
                pilot,
                lambda: any(f"got-42 {cid[:12]}" in line for line in term.screen_lines()),
                timeout=30,
                what="the command's output",
            )
            await pilot.press(*"exit", "enter")
            await wait_until(pilot, lambda: not term.is_attached, timeout=30, what="tab closed")

    run(scenario)


def test_switcher_goes_to_the_engine_and_back(
    backend, engine, registry, started, tuidock_root, tuidock_config
) -> None:
    from tuidock.screens.contexts import ContextSwitcher

    cid = _run(backend, registry, ["sleep", "300"])
    started.append(cid)
    ContextStore(tuidock_config).create("there", engine.host)

    async def scenario() -> None:
        app = make_app(endpoint=Endpoint())
        async with app.run_test(size=SIZE) as pilot:
            first = await wait_until(pilot, lambda: app.main, what="main screen")
            await wait_until(pilot, lambda: first.poll_count, what="a first poll")
            assert cid not in first.infos
            await pilot.press("c")
            await wait_until(
                pilot,
                lambda: isinstance(app.screen, ContextSwitcher) and app.screen.loaded,
                what="the switcher's list",
            )
            names = [c.name for c in app.screen.contexts]
            assert names[:2] == ["local", "there"], names
            there = next(c for c in app.screen.contexts if c.name == "there")
            assert there.reachable is True, there.reason
            await pilot.press("down", "enter")
            main = await wait_until(
                pilot, lambda: app.main is not first and app.main, what="new main"
            )
            table = main.query_one(ContainersTable)
            await wait_until(pilot, lambda: cid in table._order, timeout=30, what="its row")
            assert isinstance(app.backend, DockerBackend)
            docker_backend = app.backend
            app.action_contexts()
            await wait_until(
                pilot,
                lambda: isinstance(app.screen, ContextSwitcher) and app.screen.loaded,
                what="the switcher again",
            )
            await pilot.press("up", "enter")
            back = await wait_until(pilot, lambda: app.main is not main and app.main, what="back")
            await wait_until(pilot, lambda: back.poll_count, what="local polled")
            assert app.endpoint.is_local
            # Nothing used the Docker backend any more: it was closed.
            assert docker_backend in app.leases.closed

    run(scenario)


# -- switching while a job runs ------------------------------------------------------------------


def test_switch_closes_the_old_backend_when_its_job_ends(
    engine, registry, tuidock_root, tuidock_config
) -> None:
    """A stop started before a switch finishes on the old engine; then that backend closes."""
    from tuidock.backends.local import LocalBackend

    old = DockerBackend(Endpoint(engine.name, engine.host))
    # sleep as PID 1 ignores SIGTERM: the stop takes the whole timeout, then kills.
    cid = _run(old, registry, ["sleep", "300"])
    checker = DockerBackend(Endpoint(engine.name, engine.host))

    def opener(endpoint: Endpoint) -> LocalBackend:
        assert endpoint.is_local
        return local_backend()

    async def scenario() -> None:
        app = make_app(backend=old, endpoint=Endpoint(engine.name, engine.host), opener=opener)
        app.ui.stop_timeout = 4
        async with app.run_test(size=SIZE) as pilot:
            main = await wait_until(pilot, lambda: app.main, what="main screen")
            table = main.query_one(ContainersTable)
            await _focus(pilot, table, cid)
            await pilot.press("s")
            await wait_until(pilot, lambda: app.leases.users(old), what="the stop's lease")
            app.switch_endpoint(Endpoint())
            await wait_until(pilot, lambda: app.backend is not old, timeout=30, what="switched")
            # The stop still runs on the old engine: its backend is retired, not closed.
            assert app.leases.is_retired(old) and old not in app.leases.closed
            # (Podman says "stopping" meanwhile, Docker "running".)
            assert checker.inspect_container(cid)["State"]["Status"] != "exited"
            await wait_until(
                pilot, lambda: old in app.leases.closed, timeout=60, what="closed after the stop"
            )
            assert app.leases.closed.count(old) == 1
            assert checker.inspect_container(cid)["State"]["Status"] == "exited"

    try:
        run(scenario)
    finally:
        checker.remove(cid, force=True)
        checker.close()
        old.close()


# -- all engines at once ------------------------------------------------------------------------


def test_all_engines_view_drives_each_row_on_its_engine(
    engines, registry, tuidock_root, tuidock_config
) -> None:
    from tuidock.screens.allengines import AllEnginesScreen, EnginesTable
    from tuidock.screens.contexts import ContextSwitcher
    from tuidock.widgets.logview import LogView

    up = {n: e for n, e in engines.items() if not isinstance(e, str)}
    if not up:
        pytest.skip(f"no Docker or Podman engine here: {engines}")
    store = ContextStore(tuidock_config)
    backends = {n: DockerBackend(Endpoint(n, e.host)) for n, e in up.items()}
    ids = {n: _run(b, registry, TICKER) for n, b in backends.items()}
    for n, e in up.items():
        store.create(n, e.host)
    gone = f"unix://{tuidock_root.parent}/gone.sock"
    store.create("gone", gone)

    readers = _log_threads()  # the session's own, before the view

    async def scenario() -> None:
        app = make_app(endpoint=Endpoint())
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.main, what="main screen")
            await pilot.press("c")
            switcher = await wait_until(
                pilot,
                lambda: (
                    isinstance(app.screen, ContextSwitcher) and app.screen.loaded and app.screen
                ),
                what="the switcher",
            )
            # Mark every engine and the unreachable one; the first row is "All engines".
            names = [c.name for c in switcher.contexts]
            for i, name in enumerate(names):
                if name in up or name == "gone":
                    switcher.query_one("OptionList").highlighted = i + 1
                    await pilot.press("space")
            assert switcher.marked == {*up, "gone"}
            switcher.query_one("OptionList").highlighted = 0
            await pilot.press("enter")
            view = await wait_until(
                pilot, lambda: isinstance(app.screen, AllEnginesScreen) and app.screen, what="view"
            )
            table = view.query_one(EnginesTable)
            keys = {}
            for n, cid in ids.items():
                i = next(k for k, s in enumerate(view.slots) if s.name == n)
                keys[n] = f"e{i}-{cid}"
                await wait_until(pilot, lambda k=keys[n]: k in table._order, timeout=30, what=n)
                assert _cell(table, keys[n], "engine") == n
            await wait_until(
                pilot,
                lambda: all(_cell(table, k, "pids") for k in keys.values()),
                timeout=30,
                what="stats of every engine",
            )
            # The engine that fails says why in one line; the others go on.
            status = str(view.query_one("#all-status").render())
            line = next(ln for ln in status.splitlines() if ln.startswith("gone:"))
            assert line.startswith("gone: unreachable: "), status
            assert "Traceback" not in status
            assert "local" in [s.name for s in view.slots]

            first, *rest = list(up)
            # Logs follow the row's engine.
            await _focus(pilot, table, keys[first])
            await pilot.press("3")
            logview = view.query_one(LogView)
            await wait_until(
                pilot, lambda: "tick3" in logview.text_of(), timeout=30, what="row's logs"
            )
            # A shell on the row's engine.
            await _focus(pilot, table, keys[first])
            await pilot.press("e")
            term = await wait_until(
                pilot, lambda: view.shell_tabs().get(keys[first]), timeout=30, what="shell"
            )
            await pilot.pause(1.0)
            await pilot.press(*"echo in-$(hostname)", "enter")
            await wait_until(
                pilot,
                lambda: any(f"in-{ids[first][:12]}" in ln for ln in term.screen_lines()),
                timeout=30,
                what="shell output",
            )
            await pilot.press(*"exit", "enter")
            await wait_until(pilot, lambda: not term.is_attached, timeout=30, what="tab closed")
            # Stop acts on that row's engine only.
            await _focus(pilot, table, keys[first])
            await pilot.press("s")
            await wait_until(
                pilot,
                lambda: "exited" in _cell(table, keys[first], "status"),
                timeout=60,
                what="the row exited",
            )
            assert backends[first].inspect_container(ids[first])["State"]["Status"] == "exited"
            for n in rest:
                assert backends[n].inspect_container(ids[n])["State"]["Running"]
            # Remove, with confirm, on the last engine's row.
            last = list(up)[-1]
            await _focus(pilot, table, keys[last])
            await pilot.press("d")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
            await pilot.press("y")
            await wait_until(
                pilot, lambda: keys[last] not in table._order, timeout=60, what="row removed"
            )
            assert ids[last] not in {c.id for c in backends[last].list_containers()}
            # Leaving closes the backends the view opened, once their jobs are done.
            # (The unreachable one too: its backend opens lazily, its listing fails.)
            owned = [s.backend for s in view.slots if s.owned]
            assert sorted(s.name for s in view.slots if s.owned) == sorted([*up, "gone"])
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is app.main, what="main screen again")
            await wait_until(
                pilot,
                lambda: all(b in app.leases.closed for b in owned),
                timeout=30,
                what="owned backends closed",
            )
            assert app.backend not in app.leases.closed
            # The app goes on without the view: the switcher opens and closes again, and
            # the log reader that followed the row is gone with it.
            await pilot.press("c")
            await wait_until(
                pilot, lambda: isinstance(app.screen, ContextSwitcher), what="switcher again"
            )
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is app.main, what="main after switcher")
            await wait_until(
                pilot, lambda: not _log_threads() - readers, timeout=10, what="log readers ended"
            )

    try:
        run(scenario)
    finally:
        for n, b in backends.items():
            try:
                b.remove(ids[n], force=True)
            except Exception:
                pass
            b.close()


def test_palette_opens_all_reachable_engines(engines, tuidock_root, tuidock_config) -> None:
    from tuidock.screens.allengines import AllEnginesScreen

    up = {n: e for n, e in engines.items() if not isinstance(e, str)}
    store = ContextStore(tuidock_config)
    for n, e in up.items():
        store.create(n, e.host)
    store.create("gone", f"unix://{tuidock_root.parent}/gone.sock")

    async def scenario() -> None:
        app = make_app(endpoint=Endpoint())
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.main, what="main screen")
            titles = [c.title for c in app.get_system_commands(app.screen)]
            assert "All engines" in titles
            app.action_all_engines()
            view = await wait_until(
                pilot, lambda: isinstance(app.screen, AllEnginesScreen) and app.screen, what="view"
            )
            await wait_until(
                pilot, lambda: all(s.polls for s in view.slots), timeout=30, what="every answer"
            )
            # Every reachable engine, the unreachable one left out.
            assert sorted(s.name for s in view.slots) == sorted(["local", *up])


class _Relay:
    """A unix socket that relays to an engine's socket: stop() removes it and cuts
    every connection through it, as an engine that goes away."""

    def __init__(self, path: str, target: str) -> None:
        import socket

        self.path, self.target = path, target
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(path)
        self.server.listen(16)
        self.conns: list = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket

        while True:
            try:
                a, _ = self.server.accept()
            except OSError:
                return  # stopped
            b = socket.socket(socket.AF_UNIX)
            b.connect(self.target)
            with self.lock:
                self.conns += [a, b]
            for src, dst in ((a, b), (b, a)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src, dst) -> None:  # type: ignore[no-untyped-def]
        import socket

        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        import os
        import socket

        self.server.close()
        os.unlink(self.path)
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def test_all_engines_an_engine_that_goes_away_is_a_red_line(
    engines, registry, tuidock_root, tuidock_config
) -> None:
    """Two contexts: one engine reached directly and the same engine through a relay;
    the relay stops, its context turns into one red line, the direct one goes on."""
    from rich.text import Text

    from tuidock.backends.contexts import Context
    from tuidock.screens.allengines import AllEnginesScreen, EnginesTable

    up = {n: e for n, e in engines.items() if not isinstance(e, str)}
    if not up:
        pytest.skip(f"no Docker or Podman engine here: {engines}")
    name, eng = next(iter(up.items()))
    target = eng.host.removeprefix("unix://")
    relay = _Relay(f"{tuidock_root.parent}/relay-{uuid.uuid4().hex[:6]}.sock", target)
    backend = DockerBackend(Endpoint(name, eng.host))
    cid = _run(backend, registry, TICKER)
    contexts = [
        Context(name, Endpoint(name, eng.host)),
        Context("flaky", Endpoint("flaky", f"unix://{relay.path}")),
    ]

    async def scenario() -> None:
        app = make_app(endpoint=Endpoint())
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.main, what="main screen")
            app.show_all_engines(contexts)
            view = await wait_until(
                pilot, lambda: isinstance(app.screen, AllEnginesScreen) and app.screen, what="view"
            )
            await wait_until(pilot, lambda: view.poll_count, timeout=30, what="a poll")
            table = view.query_one(EnginesTable)
            keys = [f"e0-{cid}", f"e1-{cid}"]  # one container, reached both ways
            for key in keys:
                await wait_until(pilot, lambda k=key: k in table._order, timeout=30, what=key)
            assert [_cell(table, k, "engine") for k in keys] == [name, "flaky"]
            label = view.query_one("#all-status")
            assert not label.display
            relay.stop()
            await wait_until(
                pilot, lambda: keys[1] not in table._order, timeout=30, what="flaky rows gone"
            )
            status = label.content
            assert isinstance(status, Text)
            line = status.plain.splitlines()
            assert len(line) == 1 and line[0].startswith("flaky: unreachable: "), line
            assert "Traceback" not in status.plain
            assert status.spans and all("red" in str(s.style) for s in status.spans)
            assert label.display
            # The engine still there goes on: more polls, its row still listed.
            polls = view.poll_count
            await wait_until(pilot, lambda: view.poll_count >= polls + 2, timeout=30, what="polls")
            assert keys[0] in table._order
            assert view.slots[0].error == ""
            view.action_close()
            await wait_until(pilot, lambda: app.screen is app.main, what="main again")

    try:
        run(scenario)
    finally:
        backend.remove(cid, force=True)
        backend.close()
        if relay.conns or Path(relay.path).exists():
            relay.stop()
