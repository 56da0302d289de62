"""The volumes, networks and disk panes (4, 5, 6) against the real local engine,
and the volumes pane against Docker and Podman.

Every verb is driven by its keys: create from the prompt, remove after the
confirm, inspect, connect and disconnect by picking a container from the
list, prune with a confirm showing the dry run and a notice with the
reclaimed total; bad input (an existing name, a volume in use, a network
with containers) gives one notice and changes nothing.
"""

from __future__ import annotations

import uuid

from clihelp import tuidock
from containerhelp import image_fixture
from test_ui import focus_row, start
from uihelp import SIZE, make_app, run, wait_until

from tuidock.screens.confirm import ConfirmScreen
from tuidock.screens.inspect import InspectScreen
from tuidock.screens.menu import ActionMenu
from tuidock.screens.prompt import PromptScreen
from tuidock.widgets.diskuse import DiskTable
from tuidock.widgets.networks import NetworksTable
from tuidock.widgets.volumes import VolumesTable

__all__ = ["image_fixture"]  # a fixture, used by name


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def notices(app, title: str) -> list[str]:
    return [n.message for n in app._notifications if n.title == title]


async def type_into_prompt(pilot, text: str) -> None:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, PromptScreen), what="prompt")
    await pilot.press(*text, "enter")


async def confirm(pilot, key: str = "y") -> ConfirmScreen:
    screen = await wait_until(
        pilot,
        lambda: pilot.app.screen if isinstance(pilot.app.screen, ConfirmScreen) else None,
        what="confirm",
    )
    await pilot.press(key)
    return screen  # type: ignore[return-value]


def local_volumes() -> set[str]:
    return set(tuidock("volume", "ls", "-q").out.split())


def local_networks() -> set[str]:
    return set(tuidock("network", "ls", "-q").out.split())


# -- volumes --------------------------------------------------------------------------------


def test_volumes_create_inspect_refuse_in_use_remove_and_prune(image, tuidock_root):
    vol, spare, ctr = _name("vol"), _name("spare"), _name("ctr")
    user = ctr + "-v"
    assert tuidock("volume", "create", spare).code == 0

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("4")
            table = app.screen.query_one(VolumesTable)
            assert table.has_focus
            await wait_until(pilot, lambda: spare in table._order, what="the spare volume")
            # create from the prompt
            await pilot.press("n")
            await type_into_prompt(pilot, vol)
            await wait_until(pilot, lambda: vol in table._order, what="the new row")
            assert vol in local_volumes()
            # the same name again: one notice, nothing else
            await pilot.press("n")
            await type_into_prompt(pilot, vol)
            failed = await wait_until(pilot, lambda: notices(app, "Create volume failed"))
            assert failed == [f"volume {vol} already exists\nPick another name."]
            # inspect
            await focus_row(pilot, table, vol)
            await pilot.press("i")
            await wait_until(pilot, lambda: isinstance(app.screen, InspectScreen), what="inspect")
            await pilot.press("escape")
            await wait_until(pilot, lambda: not isinstance(app.screen, InspectScreen))
            # in use: the pane names the user and refuses, the volume stays
            start(ctr, image, "true")  # any state counts as a user
            app.screen.reload_resources()
            await wait_until(
                pilot, lambda: app.screen.volumes[spare].containers == (), what="listed"
            )
            run_with = tuidock(
                "run", "-d", "--name", ctr + "-v", "-v", f"{vol}:/data", image, "true"
            )
            assert run_with.code == 0, run_with.err
            app.screen.reload_resources()
            await wait_until(
                pilot, lambda: app.screen.volumes[vol].containers == (ctr + "-v",), what="user"
            )
            assert ctr + "-v" in str(table.get_cell(vol, "users"))
            await focus_row(pilot, table, vol)
            await pilot.press("d")
            refused = await wait_until(pilot, lambda: notices(app, "Cannot remove"))
            assert refused == [f"volume {vol} is in use by {ctr}-v: remove those containers first"]
            assert not isinstance(app.screen, ConfirmScreen)
            assert vol in local_volumes()
            # its user gone, it removes after the confirm
            assert tuidock("rm", "-f", ctr + "-v").code == 0
            app.screen.reload_resources()
            await wait_until(pilot, lambda: not app.screen.volumes[vol].containers)
            await focus_row(pilot, table, vol)
            await pilot.press("d")
            shown = await confirm(pilot)
            assert shown.items == [vol]
            await wait_until(pilot, lambda: vol not in table._order, what="row gone")
            assert vol not in local_volumes()
            # prune: the confirm lists what goes and the space; the notice the total
            await pilot.press("P")
            shown = await confirm(pilot)
            assert shown.title_text == "Prune 1 volume no container uses?"
            assert shown.items == [spare] and shown.note.startswith("About ")
            done = await wait_until(pilot, lambda: notices(app, "Prune"))
            assert done[0].startswith("removed 1 volume no container uses; total reclaimed space:")
            assert spare not in local_volumes()
            await pilot.press("P")
            nothing = await wait_until(pilot, lambda: notices(app, "Prune")[1:])
            assert nothing == ["Nothing to prune: no volumes no container uses."]

    try:
        run(scenario)
    finally:
        tuidock("rm", "-f", ctr, user)


# -- networks -------------------------------------------------------------------------------


def test_networks_create_connect_disconnect_remove_and_prune(image, tuidock_root):
    net, ctr = _name("tnet"), _name("ctr")
    start(ctr, image, "sleep 300")

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("5")
            table = app.screen.query_one(NetworksTable)
            await wait_until(pilot, lambda: "bridge" in table._order, what="the bridge")
            # create with a subnet
            await pilot.press("n")
            await type_into_prompt(pilot, f"{net} 10.77.5.0/24")
            await wait_until(pilot, lambda: net in table._order, what="the new network")
            assert str(table.get_cell(net, "subnet")) == "10.77.5.0/24"
            assert net in local_networks()
            # the name again: one notice
            await pilot.press("n")
            await type_into_prompt(pilot, net)
            failed = await wait_until(pilot, lambda: notices(app, "Create network failed"))
            assert len(failed) == 1 and "already exists" in failed[0]
            # connect a container picked from the list
            await focus_row(pilot, table, net)
            await pilot.press("C")
            menu = await wait_until(
                pilot, lambda: app.screen if isinstance(app.screen, ActionMenu) else None
            )
            assert [v.id for v in menu.verbs] == [ctr]  # type: ignore[attr-defined]
            await pilot.press("enter")
            await wait_until(
                pilot, lambda: app.screen.networks[net].containers == (ctr,), what="attached"
            )
            # inspect shows it
            await focus_row(pilot, table, net)
            await pilot.press("i")
            shown = await wait_until(
                pilot, lambda: app.screen if isinstance(app.screen, InspectScreen) else None
            )
            assert ctr in str(shown.data)  # type: ignore[attr-defined]
            await pilot.press("escape")
            # removal refused while attached: one notice, no confirm
            await focus_row(pilot, table, net)
            await pilot.press("d")
            refused = await wait_until(pilot, lambda: notices(app, "Cannot remove"))
            assert len(refused) == 1 and ctr in refused[0]
            assert not isinstance(app.screen, ConfirmScreen)
            # disconnect, then remove after the confirm
            await pilot.press("D")
            await wait_until(pilot, lambda: isinstance(app.screen, ActionMenu))
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.screen.networks[net].containers == ())
            await focus_row(pilot, table, net)
            await pilot.press("d")
            shown = await confirm(pilot)
            assert shown.items == [net]
            await wait_until(pilot, lambda: net not in table._order, what="row gone")
            assert net not in local_networks()
            # prune: only the unused user network goes, never the bridge
            assert tuidock("network", "create", net + "-p").code == 0
            await pilot.press("P")
            shown = await confirm(pilot)
            assert shown.items == [net + "-p"]
            assert shown.note == "No disk space returns: networks hold none."
            done = await wait_until(pilot, lambda: notices(app, "Prune"))
            assert done == ["removed 1 network no container uses"]
            assert local_networks() == {"bridge"}

    try:
        run(scenario)
    finally:
        tuidock("rm", "-f", ctr)


# -- disk use and prune from the palette -------------------------------------------------------


def test_disk_view_rows_and_container_prune_from_the_palette(image, tuidock_root):
    gone, kept = _name("gone"), _name("kept")
    start(gone, image, "true")
    start(kept, image, "sleep 300")

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("6")
            table = app.screen.query_one(DiskTable)
            await wait_until(pilot, lambda: len(table._order) == 4, what="df rows")
            assert table._order == ["images", "containers", "volumes", "build-cache"]
            assert str(table.get_cell("containers", "total")) == "2"
            await wait_until(
                pilot,
                lambda: (
                    app.screen.infos
                    and all(i.status in ("exited", "running") for i in app.screen.infos.values())
                    and len(app.screen.infos) == 2
                ),
                what="both containers settled",
            )
            # the palette's command
            await pilot.press("ctrl+p")
            await pilot.press(*"Prune containers")
            await pilot.pause(0.3)
            await pilot.press("enter")
            shown = await confirm(pilot)
            assert shown.title_text == "Prune 1 stopped container?"
            assert len(shown.items) == 1 and shown.items[0].startswith(gone)
            assert shown.note.startswith("About ")
            done = await wait_until(pilot, lambda: notices(app, "Prune"))
            assert done[0].startswith("removed 1 stopped container; total reclaimed space:")
            names = set(tuidock("ps", "-a", "--format", "{{.Names}}").out.split())
            assert names == {kept}
            # the disk view follows
            await wait_until(
                pilot, lambda: str(table.get_cell("containers", "total")) == "1", what="df again"
            )
            # P on a row prunes its kind; the build cache row says where to go
            table.focus()
            table.select_key("build-cache")
            await pilot.press("P")
            await wait_until(
                pilot, lambda: any("system prune" in str(n.message) for n in app._notifications)
            )

    try:
        run(scenario)
    finally:
        tuidock("rm", "-f", kept, gone)


# -- Docker and Podman ---------------------------------------------------------------------------


def test_volumes_pane_on_docker_and_podman(backend, tuidock_config):
    from tuidock.app import TuidockApp

    vol = _name("vol")

    async def scenario() -> None:
        app = TuidockApp(backend, config_dir=tuidock_config)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("4")
            table = app.screen.query_one(VolumesTable)
            await pilot.press("n")
            await type_into_prompt(pilot, vol)
            await wait_until(pilot, lambda: vol in table._order, what="the new row")
            await pilot.press("n")
            await type_into_prompt(pilot, vol)
            failed = await wait_until(pilot, lambda: notices(app, "Create volume failed"))
            assert failed == [f"volume {vol} already exists\nPick another name."]
            await focus_row(pilot, table, vol)
            await pilot.press("d")
            await confirm(pilot)
            await wait_until(pilot, lambda: vol not in table._order, what="row gone")
            assert vol not in {v.name for v in backend.list_volumes()}

    try:
        run(scenario)
    finally:
        import contextlib

        from tuidock.errors import TuidockError

        with contextlib.suppress(TuidockError):
            backend.remove_volume(vol)
