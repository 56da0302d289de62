"""The action menus (Enter / x on a row) against the real engine, driven by Pilot."""

from __future__ import annotations

import hashlib
import subprocess

from clihelp import tuidock
from containerhelp import image_fixture, no_leftovers_fixture
from test_ui import focus_row, image_names, start, status
from uihelp import SIZE, make_app, run, wait_until

from tuidock.backends.base import ContainerSummary
from tuidock.runtime.engine import default_engine
from tuidock.screens.menu import ActionMenu
from tuidock.screens.prompt import PromptScreen
from tuidock.screens.tableview import TableScreen
from tuidock.screens.verbs import container_verbs
from tuidock.widgets.containers import ContainersTable
from tuidock.widgets.images import ImagesTable

__all__ = ["image_fixture", "no_leftovers_fixture"]  # fixtures, used by name


def _menu_ids(app) -> list[str]:
    assert isinstance(app.screen, ActionMenu)
    return [v.id for v in app.screen.verbs]


def verbs_of(status: str) -> list[str]:
    return [v.id for v in container_verbs(ContainerSummary("c" * 64, "c", "busybox", status))]


def test_verbs_follow_the_state():
    running = verbs_of("running")
    assert "stop" in running and "pause" in running and "start" not in running
    paused = verbs_of("paused")
    assert paused[0] == "unpause" and "pause" not in paused and "top" in paused
    exited = verbs_of("exited")
    assert "start" in exited and "kill" not in exited and "top" not in exited


def test_container_menu_pauses_tops_kills_renames_and_commits(image, tuidock_root):
    cid = start("ui-menu", image, "trap 'exit 0' TERM; echo made > /made-here; sleep 1000")

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ContainersTable)
            await focus_row(pilot, table, cid)
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, ActionMenu), what="menu")
            assert _menu_ids(app)[:2] == ["shell", "shell_full"]
            await pilot.press("p", "enter")  # the letter jumps to "Pause"
            await wait_until(pilot, lambda: status(cid) == "paused", what="paused")
            await wait_until(
                pilot, lambda: "paused" in str(table.get_cell(cid, "status")), what="row paused"
            )
            await pilot.press("x")
            await wait_until(pilot, lambda: isinstance(app.screen, ActionMenu), what="menu")
            assert _menu_ids(app)[0] == "unpause"
            await pilot.press("enter")
            await wait_until(pilot, lambda: status(cid) == "running", what="unpaused")

            await pilot.press("x", "t", "enter")  # Top
            await wait_until(pilot, lambda: isinstance(app.screen, TableScreen), what="top")
            screen = app.screen
            await wait_until(pilot, lambda: screen.loads >= 2, timeout=10, what="top refreshed")
            view = screen.query_one("#table-view")
            commands = [str(view.get_row_at(i)[-1]) for i in range(view.row_count)]
            assert any("sleep 1000" in c for c in commands), commands
            await pilot.press("escape")

            await pilot.press("x", "r", "r", "enter")  # "Restart", then "Rename…"
            await wait_until(pilot, lambda: isinstance(app.screen, PromptScreen), what="prompt")
            # The current name is selected: typing replaces it.
            await pilot.press(*"ui-menu-2", "enter")
            await wait_until(
                pilot, lambda: default_engine().container(cid).name == "ui-menu-2", what="renamed"
            )
            await pilot.press("x", "c", "enter")  # "Commit to an image…"
            await wait_until(pilot, lambda: isinstance(app.screen, PromptScreen), what="prompt")
            await pilot.press(*"menu/committed:1", "enter")
            await wait_until(
                pilot,
                lambda: "docker.io/menu/committed:1" in image_names(),
                timeout=30,
                what="committed image",
            )
            await pilot.press("x", "k", "enter")  # "Kill"
            await wait_until(pilot, lambda: status(cid) == "exited", what="killed")
            assert default_engine().container(cid).state["ExitCode"] == 137

    run(scenario)
    res = tuidock("run", "--rm", "menu/committed:1", "cat", "/made-here")
    assert res.code == 0 and res.out == "made\n", res.err


def test_image_menu_tags_pushes_shows_history_and_copies_the_id(image, registry, tuidock_root):
    rec = default_engine().image(image)
    dest = f"{registry.registry.host}/menu/pushed:1"

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ImagesTable)
            key = f"{rec.id}|{rec.repo_tags[0]}"
            await focus_row(pilot, table, key)
            await pilot.press("y")
            assert app.clipboard == rec.id
            await pilot.press("x", "t", "enter")
            await wait_until(pilot, lambda: isinstance(app.screen, PromptScreen), what="prompt")
            await pilot.press(*"menu/tagged:2", "enter")
            await wait_until(
                pilot, lambda: "docker.io/menu/tagged:2" in image_names(), what="tagged"
            )
            await focus_row(pilot, table, key)
            await pilot.press("x", "p", "enter")  # "Push to a registry…"
            await wait_until(pilot, lambda: isinstance(app.screen, PromptScreen), what="prompt")
            await pilot.press(*dest, "enter")
            await wait_until(
                pilot,
                lambda: any(n.title == "Pushed" for n in app._notifications),
                timeout=30,
                what="pushed",
            )
            await focus_row(pilot, table, key)
            await pilot.press("x", "h", "enter")
            await wait_until(pilot, lambda: isinstance(app.screen, TableScreen), what="history")
            screen = app.screen
            await wait_until(pilot, lambda: screen.loads >= 1, what="history rows")
            history = default_engine().image_history(rec.id)
            assert screen.query_one("#table-view").row_count == len(history)

    run(scenario)
    config = subprocess.run(
        ["skopeo", "inspect", "--config", "--raw", "--tls-verify=false", f"docker://{dest}"],
        capture_output=True,
        check=True,
    ).stdout
    assert "sha256:" + hashlib.sha256(config).hexdigest() == rec.id
