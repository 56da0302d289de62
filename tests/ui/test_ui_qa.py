"""What a new user ran into in a real terminal, fixed: the footer in the shell
pane, quitting with open shells, sorting by a hidden column, a renamed row cut
at its old width, the first second's uptime, and image names at 80 columns."""

from __future__ import annotations

import asyncio

from containerhelp import image_fixture, no_leftovers_fixture
from rich.text import Text
from test_ui import focus_row, start, status
from textual.app import App, ComposeResult
from textual.widgets.data_table import ColumnKey
from uihelp import SIZE, container_shell, make_app, run, wait_until

from tuidock.screens.confirm import ConfirmScreen
from tuidock.widgets.containers import ContainersTable, uptime_text
from tuidock.widgets.images import ImagesTable, image_rows, short_repository
from tuidock.widgets.keyfooter import KeyFooter
from tuidock.widgets.resourcetable import ResourceTable, Row
from tuidock.widgets.shell import ShellTerminal

__all__ = ["image_fixture", "no_leftovers_fixture"]  # fixtures, used by name


def footer_descriptions(app: App) -> set[str]:
    return {shown.description for shown in app.screen.query_one(KeyFooter).keys}


# -- the shell pane: its footer, and quitting while it is open --------------------------------


def test_footer_in_the_shell_pane_lists_only_keys_that_work_there(image, tuidock_root):
    cid = start("ui-qa-footer", image)

    async def scenario() -> None:
        app = make_app(shell_command=container_shell)
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ContainersTable)
            await focus_row(pilot, table, cid)
            await wait_until(
                pilot, lambda: "Images pane" in footer_descriptions(app), what="main keys"
            )
            await pilot.press("e")
            term = await wait_until(
                pilot, lambda: app.screen.shell_tabs().get(cid), what="shell session"
            )
            assert isinstance(term, ShellTerminal) and term.has_focus
            # "1", "q", "s" typed here reach the shell, so the footer does not offer them.
            await wait_until(
                pilot,
                lambda: footer_descriptions(app) == {"Leave the shell"},
                what="only the leave key in the footer",
            )
            await pilot.press("ctrl+right_square_bracket")
            assert table.has_focus
            await wait_until(
                pilot, lambda: "Images pane" in footer_descriptions(app), what="main keys back"
            )

    run(scenario)


def test_quit_with_an_open_shell_asks_first(image, tuidock_root):
    cid = start("ui-qa-quit", image)

    async def scenario() -> None:
        app = make_app(shell_command=container_shell)
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ContainersTable)
            await focus_row(pilot, table, cid)
            await pilot.press("e")
            term = await wait_until(
                pilot, lambda: app.screen.shell_tabs().get(cid), what="shell session"
            )
            await pilot.press("ctrl+right_square_bracket")
            await pilot.press("q")
            assert isinstance(app.screen, ConfirmScreen), "q hung up the shell without a word"
            assert "1 open session" in app.screen.title_text
            assert any("ui-qa-quit" in item for item in app.screen.items)
            await pilot.press("n")
            await pilot.pause(0.1)
            assert app.is_running and term.is_attached and table.has_focus
            await pilot.press("q", "y")
            await wait_until(pilot, lambda: not app.is_running, what="the app to quit")

    run(scenario)
    assert status(cid) == "running"


def test_quit_without_shells_asks_nothing(image, tuidock_root):
    cid = start("ui-qa-quit-plain", image)

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await focus_row(pilot, app.screen.query_one(ContainersTable), cid)
            await pilot.press("q")
            await wait_until(pilot, lambda: not app.is_running, what="the app to quit")

    run(scenario)


# -- tables --------------------------------------------------------------------------------


class NarrowTable(ResourceTable):
    # "c" is the least wanted and too wide for a 30-cell pane: it is not shown.
    COLUMNS = (("a", "A", None), ("b", "B", 6), ("c", "C", 30))
    PRIORITY = ("a", "b", "c")


class NarrowApp(App[None]):
    def compose(self) -> ComposeResult:
        yield NarrowTable(id="t")


def test_sort_skips_the_columns_the_width_hides():
    async def scenario() -> None:
        app = NarrowApp()
        async with app.run_test(size=(30, 10)) as pilot:
            table = app.query_one(NarrowTable)
            table.sync(
                [
                    Row("x", ("x", "2", "z"), "x", ("x", 2, "z")),
                    Row("y", ("y", "1", "a"), "y", ("y", 1, "a")),
                ]
            )
            await pilot.pause()
            table.focus()
            assert table.shown_columns == ["a", "b"]
            await pilot.press("o")
            assert table.sort_column == 0
            await pilot.press("o")
            assert table.sort_column == 1
            assert table._order == ["y", "x"]
            # The next is the hidden C: skipped, back to the engine's order.
            await pilot.press("o")
            assert table.sort_column is None
            assert table._order == ["x", "y"]

    asyncio.run(scenario())


class RenameApp(App[None]):
    def compose(self) -> ComposeResult:
        table = ResourceTable(id="t")
        table.COLUMNS = (("name", "NAME", None), ("state", "STATE", 8))
        yield table


def test_a_renamed_row_widens_its_column():
    async def scenario() -> None:
        app = RenameApp()
        async with app.run_test(size=(60, 10)) as pilot:
            table = app.query_one(ResourceTable)
            table.sync([Row("k1", ("web1", "running"), "web1"), Row("k2", ("db", "up"), "db")])
            await pilot.pause()
            table.select_key("k2")
            # Only the name changes (the rows and their order stay): the column
            # is sized again, else "web1-renamed" showed as "web1-".
            table.sync(
                [Row("k1", ("web1-renamed", "running"), "web1"), Row("k2", ("db", "up"), "db")]
            )
            await pilot.pause()
            assert table.columns[ColumnKey("name")].width >= len("web1-renamed")
            assert str(table.get_cell("k1", "name")) == "web1-renamed"
            assert table.current_key == "k2"
            # A change within the widths stays a cell update.
            counter = table._update_count
            table.sync([Row("k1", ("web1", "exited"), "web1"), Row("k2", ("db", "up"), "db")])
            assert table._update_count == counter

    asyncio.run(scenario())


def test_uptime_fits_its_column_from_the_first_second():
    width = dict((key, w) for key, _label, w in ContainersTable.COLUMNS)["uptime"]
    assert width is not None
    for seconds in (0.0, 0.4, 1, 9.5, 59, 61, 3000, 7200, 90000, 10**6, 10**7, 10**9):
        assert len(uptime_text(seconds)) <= width, seconds
    assert uptime_text(0.4) == "< 1 second"


class ImagesApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ImagesTable(id="images")


def test_narrow_images_pane_tells_images_of_one_registry_apart():
    from tuidock.backends.base import ImageSummary

    records = [
        ImageSummary(
            id="sha256:" + c * 64,
            repo_tags=(f"127.0.0.1:59405/{name}:latest",),
            created="",
            size=2_000_000,
        )
        for c, name in (("a", "busybox"), ("b", "demo/multilayer"))
    ]

    async def repositories_shown(width: int) -> set[str]:
        app = ImagesApp()
        async with app.run_test(size=(width, 10)) as pilot:
            table = app.query_one(ImagesTable)
            table.sync(image_rows(records))
            await pilot.pause()
            return {str(table.get_cell(k, "repo")) for k in table._order}

    # At 80 columns the pane is ~30 wide: both showed "127.0.0.1:59".
    assert asyncio.run(repositories_shown(32)) == {"…/busybox", "…/demo/multilayer"}
    assert asyncio.run(repositories_shown(120)) == {
        "127.0.0.1:59405/busybox",
        "127.0.0.1:59405/demo/multilayer",
    }
    assert short_repository("busybox") == "busybox"
    assert short_repository("library/busybox") == "library/busybox"
    assert short_repository("localhost/x") == "…/x"
    assert isinstance(short_repository(Text("<none>")), Text)


# -- keys.toml ----------------------------------------------------------------------------


def test_a_remap_that_takes_another_bindings_key_is_a_warning(tuidock_config, tuidock_root):
    # "x" is the lists' menu key: in the containers table one of the two is dead,
    # which Textual drops without a word.
    (tuidock_config / "keys.toml").write_text('[keys]\n"containers.exec" = "x"\n')

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause(0.2)
            told = [n.message for n in app._notifications if "list.menu" in n.message]
            assert len(told) == 1, [n.message for n in app._notifications]
            assert "keys.toml" in told[0] and "containers.exec" in told[0]

    run(scenario)
    # The default keys clash nowhere, and neither does a remap onto a free key.
    from tuidock.app import binding_groups
    from tuidock.keymap import lost_keys

    assert lost_keys({}, binding_groups()) == []
    assert lost_keys({"containers.exec": "e,X"}, binding_groups()) == []
    # A pane key onto a global one shadows it while that pane has the focus.
    assert any("app.images" in p for p in lost_keys({"logs.wrap": "1"}, binding_groups()))


def test_the_help_screens_remap_example_takes_no_key(tuidock_config, tuidock_root):
    from tuidock.screens.help import HelpScreen

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            note = str(app.screen.query_one(".dialog-note").render())
            example = note.split("[keys]", 1)[1].strip()
            await pilot.press("escape")
            # The example, used as it is, takes no other binding's key.
            (tuidock_config / "keys.toml").write_text(f"[keys]\n{example}\n")
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause(0.2)
            assert app.user_keymap and not app.problems

    run(scenario)


def test_moving_in_an_empty_containers_list_is_no_crash(tuidock_root):
    # An empty table's cursor moved up is "row -1" with no row key: that was a traceback.
    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ContainersTable)
            table.focus()
            await wait_until(pilot, lambda: app.screen.poll_count > 0, what="the first poll")
            assert table._order == []
            await pilot.press("k", "up", "j", "down", "k")
            await pilot.pause(0.3)
            assert app.is_running and app.return_code is None
            assert table.has_focus

    run(scenario)


# -- the engine switcher -------------------------------------------------------------------


def test_switcher_lists_the_h_endpoint_and_comes_back_to_it(tuidock_root, tuidock_config):
    import shutil
    import tempfile
    from pathlib import Path

    from tuidock.backends.endpoint import Endpoint
    from tuidock.backends.local import LocalBackend
    from tuidock.runtime.engine import Engine
    from tuidock.screens.contexts import ContextSwitcher

    # `tuidock -H unix://…` with no context of that name; a second local engine
    # stands for the engine behind it, the opener maps the endpoint to it.
    other = Path(tempfile.mkdtemp(prefix="tuidock-test-qa-")) / "root"
    other.mkdir()
    host = f"unix://{other.parent}/engine.sock"
    started_on = Endpoint(host, host)
    roots = {"local": tuidock_root, host: other}

    def opener(endpoint: Endpoint) -> LocalBackend:
        return LocalBackend(Engine(roots[endpoint.name]))

    async def switcher_names(pilot, app) -> list[str]:  # type: ignore[no-untyped-def]
        await pilot.press("c")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, ContextSwitcher) and app.screen.loaded,
            what="the switcher's list",
        )
        return [c.name for c in app.screen.contexts]

    async def scenario() -> None:
        app = make_app(backend=opener(started_on), endpoint=started_on, opener=opener)
        async with app.run_test(size=SIZE) as pilot:
            first = await wait_until(pilot, lambda: app.main, what="main screen")
            names = await switcher_names(pilot, app)
            assert names[:2] == [host, "local"], names  # where the user is: listed, first
            # "All engines" is the first option, then the -H endpoint (highlighted), then local.
            await pilot.press("down", "enter")
            local = await wait_until(
                pilot, lambda: app.main is not first and app.main, what="local engine"
            )
            assert app.endpoint.name == "local"
            # ... and back to the -H endpoint, which no context names.
            names = await switcher_names(pilot, app)
            assert names[:2] == [host, "local"], names
            await pilot.press("up", "enter")
            await wait_until(pilot, lambda: app.main is not local and app.main, what="back")
            assert app.endpoint.name == host
            assert app.backend.location == str(other)

    try:
        run(scenario)
    finally:
        shutil.rmtree(other.parent, ignore_errors=True)
