"""The Textual UI driven by Pilot against the real engine and the fixture registry.

No mock engine: images are pulled from the rig's registry, containers are
real (started with the CLI), and every assertion about an effect is checked
against the engine, not only against what the UI shows.
"""

from __future__ import annotations

import pytest
from clihelp import tuidock
from containerhelp import image_fixture, no_leftovers_fixture  # noqa: F401
from textual.widgets import Tree
from uihelp import SIZE, container_shell, make_app, run, wait_until

from tuidock.runtime.engine import default_engine
from tuidock.screens.confirm import ConfirmScreen
from tuidock.screens.inspect import InspectScreen
from tuidock.screens.pull import LayerRow, PullScreen
from tuidock.widgets.containers import ContainersTable
from tuidock.widgets.images import ImagesTable
from tuidock.widgets.logview import LogView

LOOP = "trap 'exit 0' TERM; i=0; while true; do i=$((i+1)); echo line $i; echo oops $i >&2; sleep 0.2; done"


def start(name: str, image: str, script: str = LOOP) -> str:
    res = tuidock("run", "-d", "--name", name, image, "sh", "-c", script)
    assert res.code == 0, res.err
    return res.out.strip()


def image_names() -> set[str]:
    return {t for rec in default_engine().list_images() for t in rec.repo_tags}


def status(cid: str) -> str:
    return default_engine().container(cid).status


async def focus_row(pilot, table, key: str) -> None:
    await wait_until(pilot, lambda: key in table._order, what=f"row {key[:20]}")
    table.focus()
    table.select_key(key)
    await pilot.pause(0.05)


# -- images ----------------------------------------------------------------------------


def test_pull_from_dialog_shows_progress_and_adds_the_image(registry, tuidock_root):
    ref = registry.images["oci/busybox"].reference

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("p")
            assert isinstance(app.screen, PullScreen)
            await pilot.press(*ref, "enter")
            dialog = app.screen
            await wait_until(
                pilot, lambda: dialog.query_one("#pull-close").display, what="end of pull"
            )
            rows = list(dialog.query(LayerRow))
            assert rows, "a progress row per layer"
            for row in rows:
                bar = row.query_one("ProgressBar")
                assert bar.progress == bar.total
            assert "Pulled" in str(dialog.query_one("#pull-status").render())
            await pilot.press("enter")
            assert not isinstance(app.screen, PullScreen)
            table = app.screen.query_one(ImagesTable)
            await wait_until(pilot, lambda: any(ref in k for k in table._order), what="image row")

    run(scenario)
    assert any(t.endswith("oci/busybox:latest") for t in image_names())


def test_cancel_a_running_pull_stores_nothing(registry, tuidock_root):
    """`c` in the pull dialog stops a slow pull: no image, no staging left."""
    from rig.slowproxy import SlowProxy

    img = registry.images["oci/busybox"]
    with SlowProxy(registry.registry.host, rate=64 * 1024) as proxy:
        ref = img.reference.replace(registry.registry.host, proxy.host)

        async def scenario() -> None:
            app = make_app()
            async with app.run_test(size=SIZE) as pilot:
                await pilot.press("p")
                dialog = app.screen
                assert isinstance(dialog, PullScreen)
                await pilot.press(*ref, "enter")
                await wait_until(
                    pilot,
                    lambda: any(
                        r.query_one("ProgressBar").progress > 0 for r in dialog.query(LayerRow)
                    ),
                    what="bytes flowing",
                )
                await pilot.press("c")
                await wait_until(
                    pilot, lambda: dialog.query_one("#pull-close").display, what="end of pull"
                )
                assert "cancelled" in str(dialog.query_one("#pull-status").render())
                assert not dialog.query_one("#pull-cancel").display
                assert app.pulls == {}

        run(scenario)
    assert tuidock("images", "-q", "-a").out == ""
    assert list((tuidock_root / "layers-tmp").iterdir()) == []


def _pull_two(registry) -> tuple[str, str]:
    a = registry.images["oci/busybox"].reference
    b = registry.images["demo/multilayer"].reference
    for ref in (a, b):
        assert tuidock("pull", "-q", ref).code == 0
    return a, b


def test_delete_one_image_after_confirm(registry, tuidock_root):
    a, b = _pull_two(registry)

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ImagesTable)
            key = next(k for k in await _keys(pilot, table, 2) if k.endswith(a))
            await focus_row(pilot, table, key)
            await pilot.press("d")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await wait_until(pilot, lambda: key not in table._order, what="row gone")

    run(scenario)
    names = image_names()
    assert not any(t.endswith(a.split("/", 1)[1]) for t in names)
    assert any(t.endswith(b.split("/", 1)[1]) for t in names)


def test_delete_marked_images_after_confirm(registry, tuidock_root):
    _pull_two(registry)

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ImagesTable)
            keys = await _keys(pilot, table, 2)
            await focus_row(pilot, table, keys[0])
            await pilot.press("space", "space")
            assert table.marks == set(keys)
            await pilot.press("delete")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("enter")
            await wait_until(pilot, lambda: not table._order, what="table empty")

    run(scenario)
    assert image_names() == set()


def test_cancel_keeps_the_images(registry, tuidock_root):
    _pull_two(registry)

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ImagesTable)
            keys = await _keys(pilot, table, 2)
            await focus_row(pilot, table, keys[0])
            await pilot.press("space", "space", "d")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")
            await pilot.press("d", "escape")
            assert not isinstance(app.screen, ConfirmScreen)
            await pilot.pause(0.3)
            assert len(table._order) == 2

    run(scenario)
    assert len(image_names()) == 2


def test_filter_and_inspect_image(registry, tuidock_root):
    _a, b = _pull_two(registry)

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ImagesTable)
            await _keys(pilot, table, 2)
            table.focus()
            await pilot.press("slash", *"multilayer", "enter")
            assert len(table._order) == 1 and table._order[0].endswith(b)
            await pilot.press("i")
            await wait_until(pilot, lambda: isinstance(app.screen, InspectScreen), what="inspect")
            tree = app.screen.query_one(Tree)
            assert any("Id" in str(n.label) for n in tree.root.children)
            await pilot.press("escape")
            await pilot.press("slash", "escape")
            assert len(table._order) == 2

    run(scenario)


async def _keys(pilot, table, n: int) -> list[str]:
    await wait_until(pilot, lambda: len(table._order) >= n, what=f"{n} rows")
    return list(table._order)


# -- containers ----------------------------------------------------------------------------


def test_start_stop_restart(image, tuidock_root):
    cid = start("ui-cycle", image)

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ContainersTable)
            await focus_row(pilot, table, cid)
            await wait_until(pilot, lambda: app.screen.samples.get(cid), what="a stats sample")
            await pilot.press("s")
            await wait_until(pilot, lambda: status(cid) == "exited", what="stopped")
            await wait_until(
                pilot,
                lambda: "exited" in str(table.get_cell(cid, "status")),
                what="row shows exited",
            )
            await pilot.press("s")
            await wait_until(pilot, lambda: status(cid) == "running", what="started")
            started = default_engine().container(cid).state["StartedAt"]
            await pilot.press("R")
            await wait_until(
                pilot,
                lambda: (
                    default_engine().container(cid).state["StartedAt"] != started
                    and status(cid) == "running"
                ),
                what="restarted",
            )

    run(scenario)


def test_remove_container_after_confirm(image, tuidock_root):
    cid = start("ui-rm", image)

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ContainersTable)
            await focus_row(pilot, table, cid)
            await pilot.press("d")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await wait_until(pilot, lambda: cid not in table._order, what="row gone")

    run(scenario)
    assert tuidock("inspect", "--type", "container", cid).code != 0


def test_logs_appear_and_search_highlights(image, tuidock_root):
    cid = start("ui-logs", image)

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ContainersTable)
            await focus_row(pilot, table, cid)
            view = app.screen.query_one(LogView)
            await wait_until(pilot, lambda: len(view.lines) >= 6, what="log lines")
            assert any(line.stderr for line in view.lines), "stderr lines are marked"
            await pilot.press("3")
            assert view.has_focus
            await pilot.press("slash", *"line 2", "enter")
            await wait_until(pilot, lambda: view.matches, what="matches")
            total = len(view.lines)
            assert total >= len(view.matches) >= 1
            # Highlight, not filter: the non-matching lines are still there.
            assert any("oops" in line.text for line in view.lines)
            i = view.current
            assert i is not None and "line 2" in view.lines[i].text
            strip = view._render_part(i, 0)
            match_style = view.get_component_rich_style("logview--match")
            hits = [seg for seg in strip if seg.text == "line 2"]
            assert hits and hits[0].style.bgcolor == match_style.bgcolor
            await pilot.press("n")
            await pilot.press("t", "w")
            assert view.show_timestamps and view.wrap

    run(scenario)


def test_all_containers_in_one_log_stream(image, tuidock_root):
    """`A` in the logs pane: every container's lines, named and in time order."""
    one = start(
        "ui-all-one", image, "trap 'exit 0' TERM; while true; do echo from-one; sleep 0.3; done"
    )
    start("ui-all-two", image, "trap 'exit 0' TERM; while true; do echo from-two; sleep 0.3; done")

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ContainersTable)
            await focus_row(pilot, table, one)
            view = app.screen.query_one(LogView)
            await wait_until(
                pilot,
                lambda: len(view.lines) >= 2 and {line.text for line in view.lines} == {"from-one"},
                what="one's lines",
            )
            await pilot.press("3", "A")
            await wait_until(
                pilot,
                lambda: (
                    {"ui-all-one | from-one", "ui-all-two | from-two"}
                    <= {line.text for line in view.lines}
                ),
                what="both containers' lines",
            )
            times = [line.time for line in view.lines]
            assert times == sorted(times)
            assert {line.source for line in view.lines} == {"ui-all-one", "ui-all-two"}
            # A new batch keeps arriving from both while it is shown.
            seen = len(view.lines)
            await wait_until(pilot, lambda: len(view.lines) >= seen + 4, what="more lines")
            await pilot.press("A")  # back to the selected container
            await wait_until(
                pilot,
                lambda: view.lines and {line.text for line in view.lines} == {"from-one"},
                what="one's log again",
            )

    run(scenario)


def test_shell_pane_runs_a_command_and_session_comes_back(image, tuidock_root):
    cid = start("ui-shell", image)

    async def scenario() -> None:
        app = make_app(shell_command=container_shell)
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ContainersTable)
            await focus_row(pilot, table, cid)
            await pilot.press("e")
            term = await wait_until(
                pilot, lambda: app.screen.shell_tabs().get(cid), what="shell session"
            )
            assert term.has_focus
            await pilot.pause(0.5)
            await pilot.press(*"echo hi-$((40+2)) $(hostname)", "enter")
            await wait_until(
                pilot,
                lambda: any(f"hi-42 {cid[:12]}" in line for line in term.screen_lines()),
                what="command output",
            )
            # Leave without ending it; `e` on the same container returns to it.
            await pilot.press("ctrl+right_square_bracket")
            assert not term.has_focus and term.is_attached
            assert table.has_focus
            await pilot.press("e")
            assert app.screen.shell_tabs().get(cid) is term and term.has_focus
            await pilot.press(*"exit", "enter")
            await wait_until(pilot, lambda: not term.is_attached, what="tab closed on exit")
            await wait_until(pilot, lambda: table.has_focus, what="focus back on the list")

    run(scenario)
    assert status(cid) == "running"


def test_quitting_leaves_containers_running(image, tuidock_root):
    cid = start("ui-quit", image)

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ContainersTable)
            await focus_row(pilot, table, cid)
            await pilot.press("q")
        assert app.return_code == 0 or app.return_code is None

    run(scenario)
    assert status(cid) == "running"


def test_run_dialog_starts_a_container(image, tuidock_root):
    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("r")
            await pilot.click("#run-image")
            screen = app.screen
            screen.query_one("#run-image").value = image
            screen.query_one("#run-name").value = "ui-run"
            screen.query_one("#run-command").value = "sh -c 'echo $GREETING; sleep 30'"
            screen.query_one("#run-env").value = "GREETING=hello-from-ui"
            await pilot.click("#run-ok")
            # The dialog closes once the container runs (it stays open on an error).
            await wait_until(pilot, lambda: app.screen is not screen, what="the dialog to close")
            table = app.screen.query_one(ContainersTable)
            await wait_until(pilot, lambda: table._order, what="container row")
            view = app.screen.query_one(LogView)
            await wait_until(
                pilot, lambda: any("hello-from-ui" in x.text for x in view.lines), what="its log"
            )

    run(scenario)
    assert status("ui-run") == "running"


# -- settings --------------------------------------------------------------------------------


def test_keys_toml_remaps_a_key(tuidock_config, tuidock_root):
    (tuidock_config / "keys.toml").write_text('[keys]\n"app.pull" = "P"\n')

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("p")
            assert not isinstance(app.screen, PullScreen)
            await pilot.press("P")
            assert isinstance(app.screen, PullScreen)

    run(scenario)


@pytest.mark.parametrize("text", ['[keys]\n"nope.x" = "z"\n', "not toml ["])
def test_broken_keys_toml_is_a_warning(tuidock_config, tuidock_root, text):
    (tuidock_config / "keys.toml").write_text(text)

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause(0.2)
            assert app.problems
            await pilot.press("question_mark")
            assert type(app.screen).__name__ == "HelpScreen"

    run(scenario)
