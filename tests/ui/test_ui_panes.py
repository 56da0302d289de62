"""The panes against real containers: the logs follow the highlighted row, the
shell pane's PTY has the pane's size, the log view's memory stays bounded,
columns fit small terminals, and deleting an image in use says who uses it."""

from __future__ import annotations

import asyncio
import fcntl
import gc
import struct
import termios
from pathlib import Path

from clihelp import tuidock
from containerhelp import image_fixture, no_leftovers_fixture
from test_ui import focus_row, image_names, start
from uihelp import SIZE, container_shell, make_app, run, wait_until

from tuidock.backends.base import LogLine
from tuidock.core.reference import parse
from tuidock.runtime.engine import default_engine
from tuidock.screens.confirm import ConfirmScreen
from tuidock.widgets.containers import ContainersTable
from tuidock.widgets.images import ImagesTable
from tuidock.widgets.logpane import LogPane
from tuidock.widgets.logview import LINE_OVERHEAD, LogView
from tuidock.widgets.shell import ThreadSafePTY

__all__ = ["image_fixture", "no_leftovers_fixture"]  # fixtures, used by name


def ticker(word: str) -> str:
    return f"trap 'exit 0' TERM; while true; do echo {word}; sleep 0.2; done"


def status_of(name: str) -> str:
    return default_engine().container(name).status


def shows(pane: LogPane, cid: str, word: str) -> bool:
    texts = {line.text for line in pane.view.lines}
    return pane.cid == cid and texts == {word}


# -- the logs show the highlighted container ---------------------------------------------


def test_logs_follow_the_highlight_through_a_filter_and_keys(image, tuidock_root):
    one = start("ui-follow-one", image, ticker("from-one"))
    start("ui-follow-two", image, ticker("from-two"))

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ContainersTable)
            pane = app.screen.query_one(LogPane)
            await wait_until(pilot, lambda: len(table._order) == 2, what="both rows")
            # The first row highlighted; a filter that leaves only the other one,
            # now on the first row too (the cursor row does not change).
            first, other = table._order
            await focus_row(pilot, table, first)
            word = "from-one" if first == one else "from-two"
            await wait_until(pilot, lambda: shows(pane, first, word), what="first log")
            other_name = "follow-one" if other == one else "follow-two"
            await pilot.press("slash", *other_name, "enter")
            assert table._order == [other] and table.current_key == other
            word = "from-one" if other == one else "from-two"
            await wait_until(pilot, lambda: shows(pane, other, word), what="the other's log")
            # Clearing the filter and moving with j/k: still the highlighted row,
            # also when a quick j then k comes back to the row shown before.
            await pilot.press("slash", "escape")
            await wait_until(pilot, lambda: len(table._order) == 2, what="both rows")
            await focus_row(pilot, table, first)
            word = "from-one" if first == one else "from-two"
            await wait_until(pilot, lambda: shows(pane, first, word), what="first log again")
            await pilot.press("j", "k")
            await pilot.pause(0.6)
            assert table.current_key == first
            await wait_until(pilot, lambda: shows(pane, first, word), what="still the first log")
            # `3` right after a move, before the debounce: the logs of the new row.
            await pilot.press("j", "3")
            assert pane.cid == table.current_key == other

    run(scenario)


def test_logs_after_all_containers_rename_and_removal(image, tuidock_root):
    one = start("ui-follow-a", image, ticker("from-a"))
    two = start("ui-follow-b", image, ticker("from-b"))

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ContainersTable)
            pane = app.screen.query_one(LogPane)
            await focus_row(pilot, table, one)
            await wait_until(pilot, lambda: shows(pane, one, "from-a"), what="a's log")
            # `A` on, move to the other row meanwhile, `A` off: the highlighted row.
            await pilot.press("3", "A", "2")
            await focus_row(pilot, table, two)
            await pilot.pause(0.3)
            await pilot.press("3", "A")
            await wait_until(pilot, lambda: shows(pane, two, "from-b"), what="b's log")
            # Renamed elsewhere: the title follows.
            assert tuidock("rename", "ui-follow-b", "ui-follow-renamed").code == 0
            title = pane.query_one("#logs-title")
            await wait_until(
                pilot,
                lambda: "ui-follow-renamed" in str(title.render()),
                what="the new name in the title",
            )
            # Removed elsewhere: the logs move to the row the cursor moved to.
            assert tuidock("rm", "-f", two).code == 0
            await wait_until(pilot, lambda: shows(pane, one, "from-a"), what="a's log again")
            assert "ui-follow-a" in str(title.render())

    run(scenario)


# -- the shell pane ---------------------------------------------------------------------------


def test_shell_pty_has_the_pane_size_from_the_start(image, tuidock_root, monkeypatch):
    cid = start("ui-shell-size", image)
    # The PTY's window size when the child is started: what it reads first.
    spawned: list[tuple[int, int]] = []
    spawn = ThreadSafePTY.spawn_process

    def recording_spawn(self, command, env=None):  # type: ignore[no-untyped-def]
        rows, cols = struct.unpack(
            "HHHH", fcntl.ioctl(self.slave_fd, termios.TIOCGWINSZ, bytes(8))
        )[:2]
        spawned.append((rows, cols))
        return spawn(self, command, env)

    monkeypatch.setattr(ThreadSafePTY, "spawn_process", recording_spawn)

    async def scenario() -> None:
        app = make_app(shell_command=container_shell)
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ContainersTable)
            await focus_row(pilot, table, cid)
            await pilot.press("e")
            term = await wait_until(
                pilot, lambda: app.screen.shell_tabs().get(cid), what="shell session"
            )
            await wait_until(pilot, lambda: spawned, what="the session's PTY")
            assert spawned == [(term.size.height, term.size.width)]
            await pilot.pause(0.5)
            await pilot.press(*"echo size=$(stty size)", "enter")
            want = f"size={term.size.height} {term.size.width}"
            assert (term.size.height, term.size.width) != (24, 80)
            await wait_until(
                pilot,
                lambda: any(line.startswith(want) for line in term.screen_lines()),
                what=f"{want!r} on the screen",
            )
            await pilot.press(*"exit", "enter")
            await wait_until(pilot, lambda: not term.is_attached, what="tab closed on exit")

    run(scenario)


# -- deleting an image a container uses -------------------------------------------------------


def _image_row(table: ImagesTable, tag: str) -> str | None:
    return next((k for k in table._order if k.endswith("|" + tag)), None)


def test_delete_image_in_use_names_the_container_and_forces(image, tuidock_root):
    start("ui-rmi-user", image)
    full = str(parse(image))

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ImagesTable)
            key = await wait_until(pilot, lambda: _image_row(table, full), what="image row")
            await wait_until(pilot, lambda: app.screen.infos, what="containers listed")
            await focus_row(pilot, table, key)
            await pilot.press("d")
            dialog = app.screen
            assert isinstance(dialog, ConfirmScreen)
            assert any("ui-rmi-user (running)" in item for item in dialog.items)
            assert [c[0] for c in dialog.choices] == ["force"]
            await pilot.press("f")
            await wait_until(pilot, lambda: _image_row(table, full) is None, what="tag gone")

    run(scenario)
    assert full not in image_names()
    assert status_of("ui-rmi-user") == "running"


def test_delete_one_of_several_tags_in_use_untags(image, tuidock_root):
    start("ui-rmi-tags", image)
    full = str(parse(image))
    assert tuidock("tag", image, "ui-second:1").code == 0

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ImagesTable)
            key = await wait_until(pilot, lambda: _image_row(table, full), what="image row")
            await wait_until(pilot, lambda: len(table._order) == 2, what="both tags")
            await wait_until(pilot, lambda: app.screen.infos, what="containers listed")
            await focus_row(pilot, table, key)
            await pilot.press("d")
            dialog = app.screen
            assert isinstance(dialog, ConfirmScreen)
            assert [c[0] for c in dialog.choices] == ["untag", "force"]
            await pilot.press("y")  # the first choice: untag
            await wait_until(pilot, lambda: len(table._order) == 1, what="one tag left")

    run(scenario)
    names = image_names()
    assert full not in names and "docker.io/library/ui-second:1" in names


# -- small terminals --------------------------------------------------------------------------


def test_columns_by_priority_and_zoom_at_80x24(image, tuidock_root):
    cid = start("ui-small-terminal", image)

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            table = app.screen.query_one(ContainersTable)
            await focus_row(pilot, table, cid)
            images = app.screen.query_one(ImagesTable)
            await wait_until(pilot, lambda: images._order, what="image row")
            await wait_until(pilot, lambda: app.screen.samples.get(cid), what="stats")
            await pilot.pause(0.2)
            shown = table.shown_columns
            assert shown[:1] == ["name"] and {"status", "cpu", "mem"} <= set(shown)
            # The columns shown fit: nothing scrolls sideways.
            assert table.max_scroll_x == 0, shown
            # 30 cells for the images: the first three by priority, shrunk; no others.
            assert images.shown_columns == ["repo", "tag", "size"]
            # ... and fit their pane: no column runs past its right edge.
            assert images.max_scroll_x == 0, images.virtual_size
            inner = images.scrollable_content_region.width
            assert images.virtual_size.width <= inner, (images.virtual_size, inner)
            # A narrow MEM column keeps the usage only.
            mem = table.get_cell(cid, "mem")
            assert "/" not in str(mem) and str(mem)
            # z: the containers pane alone, with the room for more columns; z again: back.
            await pilot.press("z")
            await pilot.pause(0.2)
            assert not app.screen.query_one("#images-pane").display
            assert not app.screen.query_one("#bottom").display
            wide = table.shown_columns
            assert len(wide) > len(shown) and table.max_scroll_x == 0, wide
            await pilot.press("z")
            await pilot.pause(0.2)
            assert app.screen.query_one("#images-pane").display
            assert app.screen.query_one("#bottom").display
            assert table.shown_columns == shown

    run(scenario)


def test_every_column_at_160x45(image, tuidock_root):
    cid = start("ui-wide-terminal", image)

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=(160, 45)) as pilot:
            table = app.screen.query_one(ContainersTable)
            await focus_row(pilot, table, cid)
            images = app.screen.query_one(ImagesTable)
            await wait_until(pilot, lambda: images._order, what="image row")
            await pilot.pause(0.2)
            assert {"name", "status", "cpu", "mem", "uptime", "pids"} <= set(table.shown_columns)
            assert {"repo", "tag", "size"} <= set(images.shown_columns)
            assert table.max_scroll_x == 0 and images.max_scroll_x == 0

    run(scenario)


def test_dialog_scrolls_to_the_focused_field_at_80x24(tuidock_root):
    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.2)
            await pilot.press("r")
            dialog = app.screen
            assert dialog is not app.main
            seen = set()
            for _ in range(20):
                focused = dialog.focused
                assert focused is not None
                seen.add(focused.id)
                # The focused control is on the screen, inside the dialog's visible part.
                visible = dialog.query_one(".dialog").content_region
                assert visible.contains_region(focused.region), (focused, focused.region)
                await pilot.press("tab")
                await pilot.pause(0.05)
            assert len(seen) > 3

    run(scenario)


# -- a flooding log -----------------------------------------------------------------------------


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_log_flood_keeps_memory_bounded_and_keys_responsive(image, tuidock_root, capsys):
    # busybox `yes`: as many short lines as the monitor takes.
    cid = start("ui-flood", image, "trap 'exit 0' TERM; yes")

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ContainersTable)
            view = app.screen.query_one(LogView)
            pane = app.screen.query_one(LogPane)
            await focus_row(pilot, table, cid)
            await wait_until(pilot, lambda: view.dropped, timeout=60, what="lines dropped")
            gc.collect()
            base = rss()
            peak = base
            latencies = []
            loop = asyncio.get_running_loop()
            for i in range(40):
                t0 = loop.time()
                await pilot.press("3" if i % 2 else "2")
                latencies.append(loop.time() - t0)
                await pilot.pause(0.2)
                peak = max(peak, rss())
                assert view.bytes <= view.budget
            assert pane.cid == cid and view.dropped > len(view.lines)
            latencies.sort()
            with capsys.disabled():
                print(
                    f"\nlog flood: {len(view.lines)} lines kept, {view.dropped} dropped, "
                    f"RSS {base >> 20} -> peak {peak >> 20} MiB, keypress latency "
                    f"median {latencies[len(latencies) // 2] * 1000:.0f} ms, "
                    f"max {latencies[-1] * 1000:.0f} ms"
                )
            # Growth while flooding stays a few budgets (the view's lines, plus the
            # batch the follower is parsing), not the log's size (hundreds of MB).
            assert peak - base < 8 * view.budget, (base, peak)
            assert "dropped" in str(pane.query_one("#logs-title").render())

    run(scenario)


def test_view_drops_oldest_lines_past_the_budget(tuidock_root):
    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            view = app.screen.query_one(LogView)
            view.budget = 100 * (LINE_OVERHEAD + 10)
            line = "x" * 10
            for n in range(10):
                view.append([LogLine(f"2026-01-01T00:00:{n:02d}Z", False, line) for _ in range(30)])
            assert view.bytes <= view.budget and len(view.lines) <= 100
            assert len(view.lines) + view.dropped == 300
            assert view.lines[-1].time.endswith("09Z")
            await pilot.press("3", "slash", "x", "enter")
            await wait_until(pilot, lambda: view.matches, what="matches")
            assert view.matches == list(range(len(view.lines)))
            view.append([LogLine("2026-01-01T00:01:00Z", False, "y" * 10)] * 500)
            assert len(view.lines) == 100 and view.dropped == 300 + 400
            assert view.matches == []

    run(scenario)
