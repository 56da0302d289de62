"""Attach in the UI (`a`): the container's main process in a shell-pane tab.

Pilot runs the real app on the local engine and on the Docker/Podman
`engine` fixture; the attach session is the real relay program
(backends/attachrelay.py) in the pane's PTY. Cases: an -it `sh` takes
typed input and shows its output, ctrl-p ctrl-q ends the session and the
container runs on; a process that exits ends the session with a line
giving its exit code; a container made without -i is shown read-only and
says so. A container that should write only after the attach waits for a
file an exec makes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from clihelp import tuidock
from containerhelp import image_fixture, no_leftovers_fixture  # noqa: F401
from uihelp import SIZE, make_app, run, wait_until

from tuidock.backends.endpoint import Endpoint
from tuidock.screens.verbs import container_verbs
from tuidock.widgets.containers import ContainersTable
from tuidock.widgets.shell import ShellTerminal

ON_CUE = "while [ ! -e /go ]; do sleep 0.05; done; echo out-$((2+3)); exit 5"
WAIT = 60  # seconds: generous, the suite may share two cores with other runs


def _notices(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(n.message) for n in app._notifications]


def _text(term: ShellTerminal) -> str:
    return "\n".join(term.screen_lines())


async def _attach(pilot, app, cid: str) -> ShellTerminal:  # type: ignore[no-untyped-def]
    table = app.screen.query_one(ContainersTable)
    await wait_until(pilot, lambda: cid in table._order, timeout=WAIT, what="the row")
    table.focus()
    table.select_key(cid)
    await pilot.pause(0.05)
    await pilot.press("a")
    term = await wait_until(
        pilot, lambda: app.screen.shell_tabs().get(cid, "attach"), timeout=WAIT, what="attach tab"
    )
    assert term.has_focus and term.kind == "attach"
    return term


async def _type_detach_and_check(pilot, app, cid: str, name: str) -> None:  # type: ignore[no-untyped-def]
    term = await _attach(pilot, app, cid)
    tabs = app.screen.shell_tabs()
    title = tabs.tabs.get_tab(tabs.pane_id(cid, "attach")).label.plain
    assert title == f"attach {name}"
    # The relay is running once its size reached the container (sh echoes from then on).
    await pilot.pause(1.0)
    await pilot.press(*"echo hi-$((6*7))", "enter")
    await wait_until(pilot, lambda: "hi-42" in _text(term), timeout=WAIT, what="sh's answer")
    await pilot.press("ctrl+p", "ctrl+q")
    await wait_until(pilot, lambda: not term.is_attached, timeout=WAIT, what="the tab to close")
    await wait_until(
        pilot,
        lambda: any(f"detached from {name}" in n for n in _notices(app)),
        timeout=WAIT,
        what="the detach notice",
    )


async def _exit_and_check(pilot, app, cid: str, name: str) -> None:  # type: ignore[no-untyped-def]
    term = await _attach(pilot, app, cid)
    await pilot.pause(1.0)
    await pilot.press(*"exit 3", "enter")
    await wait_until(pilot, lambda: not term.is_attached, timeout=WAIT, what="the tab to close")
    assert any(f"{name} exited with code 3" in n for n in _notices(app)), _notices(app)


async def _read_only_and_check(pilot, app, cid: str, name: str, go: Callable[[], None]) -> None:  # type: ignore[no-untyped-def]
    term = await _attach(pilot, app, cid)
    await wait_until(
        pilot, lambda: "output only" in _text(term), timeout=WAIT, what="the read-only line"
    )
    assert "started without -i" in _text(term).replace("\n", "")
    await pilot.press(*"typed", "enter")  # goes nowhere
    go()
    await wait_until(pilot, lambda: not term.is_attached, timeout=WAIT, what="the tab to close")
    notice = next((n for n in _notices(app) if "exited with code" in n), "")
    assert f"{name} exited with code 5" in notice and "out-5" in notice, _notices(app)


# -- the embedded engine --------------------------------------------------------------------


def _local_run(image: str, *args: str) -> tuple[str, str]:
    name = f"ui-att-{uuid.uuid4().hex[:8]}"
    res = tuidock("run", "-d", "--network", "none", "--name", name, *args[:-1], image, *args[-1:])
    assert res.code == 0, res.err
    return res.out.strip(), name


def _local_state(cid: str) -> dict:
    from tuidock.runtime.engine import default_engine

    return default_engine().inspect_container(cid)["State"]


def test_local_type_then_detach_leaves_it_running(image, tuidock_root) -> None:
    cid, name = _local_run(image, "-it", "sh")

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await _type_detach_and_check(pilot, app, cid, name)

    run(scenario)
    assert _local_state(cid)["Running"]


def test_local_exit_ends_the_session_with_the_code(image, tuidock_root) -> None:
    cid, name = _local_run(image, "-it", "sh")

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await _exit_and_check(pilot, app, cid, name)

    run(scenario)
    assert _local_state(cid)["ExitCode"] == 3


def test_local_without_i_is_read_only(image, tuidock_root) -> None:
    res = tuidock(
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        name := f"ui-att-{uuid.uuid4().hex[:8]}",
        image,
        "sh",
        "-c",
        ON_CUE,
    )
    assert res.code == 0, res.err
    cid = res.out.strip()

    def go() -> None:
        done = tuidock("exec", cid, "touch", "/go")
        assert done.code == 0, done.err

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await _read_only_and_check(pilot, app, cid, name, go)

    run(scenario)


def test_attach_is_in_the_menu_of_a_running_container_only() -> None:
    from tuidock.backends.base import ContainerSummary

    running = ContainerSummary("c" * 64, "x", "busybox", "running")
    exited = ContainerSummary("c" * 64, "x", "busybox", "exited")
    attach = [v for v in container_verbs(running) if v.id == "attach"]
    assert attach and attach[0].key == "a"
    assert not [v for v in container_verbs(exited) if v.id == "attach"]


# -- Docker and Podman ------------------------------------------------------------------------


@pytest.fixture
def made(backend) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    ids: list[str] = []
    yield ids
    for cid in ids:
        try:
            backend.remove(cid, force=True)
        except Exception:
            pass


def _engine_run(
    backend, registry, made: list[str], command: list[str], it: bool
) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    api = backend.api()
    image = registry.ref("oci/busybox")
    repo, tag = image.rsplit(":", 1)
    api.pull(repo, tag=tag)
    name = f"ui-att-{uuid.uuid4().hex[:8]}"
    cid = api.create_container(
        image,
        command,
        name=name,
        tty=it,
        stdin_open=it,
        host_config=api.create_host_config(network_mode="none"),
    )["Id"]
    made.append(cid)
    api.start(cid)
    return cid, name


def test_engine_type_then_detach_leaves_it_running(
    backend, engine, registry, made, tuidock_config
) -> None:
    cid, name = _engine_run(backend, registry, made, ["sh"], True)

    async def scenario() -> None:
        app = make_app(backend=backend, endpoint=Endpoint(engine.name, engine.host))
        async with app.run_test(size=SIZE) as pilot:
            await _type_detach_and_check(pilot, app, cid, name)

    run(scenario)
    assert backend.api().inspect_container(cid)["State"]["Running"]


def test_engine_exit_ends_the_session_with_the_code(
    backend, engine, registry, made, tuidock_config
) -> None:
    cid, name = _engine_run(backend, registry, made, ["sh"], True)

    async def scenario() -> None:
        app = make_app(backend=backend, endpoint=Endpoint(engine.name, engine.host))
        async with app.run_test(size=SIZE) as pilot:
            await _exit_and_check(pilot, app, cid, name)

    run(scenario)
    assert backend.api().inspect_container(cid)["State"]["ExitCode"] == 3


def test_engine_without_i_is_read_only(backend, engine, registry, made, tuidock_config) -> None:
    cid, name = _engine_run(backend, registry, made, ["sh", "-c", ON_CUE], False)
    api = backend.api()

    def go() -> None:
        api.exec_start(api.exec_create(cid, ["touch", "/go"])["Id"])

    async def scenario() -> None:
        app = make_app(backend=backend, endpoint=Endpoint(engine.name, engine.host))
        async with app.run_test(size=SIZE) as pilot:
            await _read_only_and_check(pilot, app, cid, name, go)

    run(scenario)
