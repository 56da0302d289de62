"""The logs pane against real containers: older lines read back from the log
file on scroll (memory bounded), the filter mode, and the tail/since windows."""

from __future__ import annotations

import json
from pathlib import Path

from containerhelp import image_fixture, no_leftovers_fixture
from test_ui import focus_row, start
from uihelp import SIZE, make_app, run, wait_until

from tuidock.backends.local import LocalLogFollower
from tuidock.widgets.containers import ContainersTable
from tuidock.widgets.logpane import LogPane
from tuidock.widgets.logview import LogView

__all__ = ["image_fixture", "no_leftovers_fixture"]  # fixtures, used by name

PAD = "x" * 80


def numbered(count: int, word: str = "line") -> str:
    """A container command printing `word 000001 xxx...` .. `word <count> ...`, then waiting."""
    return (
        f'i=1; while [ $i -le {count} ]; do printf "{word} %06d {PAD}\\n" $i; i=$((i+1)); done; '
        "trap 'exit 0' TERM; while true; do sleep 1; done"
    )


def number(text: str) -> int:
    return int(text.split()[1])


def screen_text(view: LogView) -> str:
    return "\n".join(view.render_line(y).text for y in range(view.size.height))


async def logs_of(pilot, cid: str) -> tuple[LogPane, LogView]:
    app = pilot.app
    table = app.screen.query_one(ContainersTable)
    pane = app.screen.query_one(LogPane)
    await focus_row(pilot, table, cid)
    await wait_until(pilot, lambda: pane.cid == cid and pane.view.lines, what="log lines")
    return pane, pane.view


# -- reading back ---------------------------------------------------------------------------


def test_scrolling_up_reads_older_lines_back_from_the_log_file(image, tuidock_root):
    # 6000 lines of ~100 bytes: about 1 MB of ctr.log, more than a poll reads (64 KiB).
    cid = start("ui-readback", image, numbered(6000))

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            _, view = await logs_of(pilot, cid)
            await wait_until(pilot, lambda: number(view.lines[-1].text) == 6000, what="last")
            # The first read took the log's end only: the start is on disk, not held.
            assert number(view.lines[0].text) > 1
            assert view.older
            view.budget = 300 * 1024  # memory for ~1000 of the 6000 lines
            view.focus()
            for _ in range(40):  # g: the top of what is held, which reads back further
                await pilot.press("g")
                await wait_until(pilot, lambda: not view.loading, what="read-back")
                if number(view.lines[0].text) == 1:
                    break
            assert number(view.lines[0].text) == 1, view.lines[0].text
            await pilot.press("g")  # one more: the log has nothing before its first line
            await wait_until(pilot, lambda: not view.loading, what="read-back")
            assert not view.older and number(view.lines[0].text) == 1
            assert view.bytes <= view.budget
            # Contiguous: each line follows the one before it.
            got = [number(line.text) for line in view.lines]
            assert got == list(range(1, len(got) + 1))
            assert "line 000001" in screen_text(view)
            # The newest lines went to make room; G follows the end again.
            assert view.newer_cut
            await pilot.press("G")
            await wait_until(
                pilot,
                lambda: view.lines and number(view.lines[-1].text) == 6000 and not view.newer_cut,
                what="the end again",
            )
            assert view.follow

    run(scenario)


def line_json(i: int, stamp: str = "2024-01-01T00:00:00.000000000Z") -> str:
    entry = {"log": f"line {i:06d}\n", "stream": "stdout", "time": stamp}
    return json.dumps(entry) + "\n"


def test_read_before_walks_back_through_the_rotated_file(tmp_path: Path):
    from tuidock.runtime.container.logs import LogTail, read_before

    (tmp_path / "ctr.log.1").write_text("".join(line_json(i) for i in range(0, 500)))
    (tmp_path / "ctr.log").write_text("".join(line_json(i) for i in range(500, 1000)))
    tail = LogTail(str(tmp_path))
    try:
        last = tail.read_new(max_bytes=len(line_json(0)) * 10 + 5)[0]
        assert last.data == b"line 000990\n"
        seen = []
        at = last.at
        assert at is not None
        while True:
            older = read_before(str(tmp_path), at, 4096)
            if not older:
                break
            seen[:0] = older
            at = older[0].at
        assert [int(e.data.split()[1]) for e in seen] == list(range(990))
    finally:
        tail.close()


def test_since_and_tail_windows_of_the_local_follower(tmp_path: Path):
    old = "2020-01-01T00:00:00.000000000Z"
    new = "2030-01-01T00:00:00.000000000Z"
    (tmp_path / "ctr.log").write_text(
        "".join(line_json(i, old) for i in range(100))
        + "".join(line_json(i, new) for i in range(100, 150))
    )
    since = LocalLogFollower(str(tmp_path), since="2025-01-01T00:00:00.000000000Z")
    tail = LocalLogFollower(str(tmp_path), tail=10)
    try:
        assert [x.text for x in since.read_new()] == [f"line {i:06d}" for i in range(100, 150)]
        assert [x.text for x in tail.read_new()] == [f"line {i:06d}" for i in range(140, 150)]
        with open(tmp_path / "ctr.log", "a") as f:
            f.write(line_json(150, old))  # after the first read, everything new comes
        assert [x.text for x in since.read_new()] == ["line 000150"]
        assert [x.text for x in tail.read_new()] == ["line 000150"]
    finally:
        since.close()
        tail.close()


# -- filter mode and windows -------------------------------------------------------------------


def test_filter_mode_hides_lines_that_do_not_match(image, tuidock_root):
    script = (
        "i=1; while [ $i -le 30 ]; do echo alpha $i; echo beta $i; i=$((i+1)); done; "
        "trap 'exit 0' TERM; while true; do sleep 1; done"
    )
    cid = start("ui-filter", image, script)

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            pane, view = await logs_of(pilot, cid)
            await wait_until(pilot, lambda: len(view.lines) == 60, what="60 lines")
            await pilot.press("3", "slash", *"alpha", "enter")
            await wait_until(pilot, lambda: len(view.matches) == 30, what="matches")
            # Highlight mode: every line stays.
            assert view.virtual_size.height == 60 and "beta" in screen_text(view)
            await pilot.press("ampersand")
            await pilot.pause(0.1)
            assert view.filter_mode and view.virtual_size.height == 30
            rows = [row.strip() for row in screen_text(view).splitlines() if row.strip()]
            assert rows and all(row.startswith("alpha ") for row in rows), rows
            await pilot.press("G")
            await pilot.pause(0.1)
            rows = [row.strip() for row in screen_text(view).splitlines() if row.strip()]
            assert rows[-1] == "alpha 30" and all(row.startswith("alpha ") for row in rows)
            title = str(pane.query_one("#logs-title").render())
            assert "filter" in title
            # With wrap too, the rows are the matching lines' rows.
            await pilot.press("w")
            await pilot.pause(0.1)
            assert view.virtual_size.height == 30 and "beta" not in screen_text(view)
            # New lines that do not match stay hidden; the count of lines goes on.
            await pilot.press("ampersand")
            await pilot.pause(0.1)
            assert not view.filter_mode and view.virtual_size.height == 60
            assert "beta" in screen_text(view)

    run(scenario)


def test_tail_and_since_windows_cycle_from_the_pane(image, tuidock_root):
    cid = start("ui-window", image, numbered(300))

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            pane, view = await logs_of(pilot, cid)
            await wait_until(pilot, lambda: len(view.lines) == 300, what="300 lines")
            title = pane.query_one("#logs-title")
            await pilot.press("3", "L")  # last 100
            await wait_until(pilot, lambda: len(view.lines) == 100, what="the last 100")
            assert [number(x.text) for x in view.lines] == list(range(201, 301))
            assert "last 100" in str(title.render())
            assert not view.older  # a tail window reads nothing back
            await pilot.press("L")  # last 1000: all 300
            await wait_until(pilot, lambda: len(view.lines) == 300, what="all 300 again")
            assert "last 1000" in str(title.render())
            await pilot.press("L")  # all
            await wait_until(pilot, lambda: "last" not in str(title.render()), what="all")
            await pilot.press("S")  # since 5m: the lines were written just now
            await wait_until(pilot, lambda: "since 5m" in str(title.render()), what="since")
            await wait_until(pilot, lambda: len(view.lines) == 300, what="recent lines")
            await pilot.press("S", "S")  # 1h, then all
            await wait_until(pilot, lambda: "since" not in str(title.render()), what="no since")
            await wait_until(pilot, lambda: len(view.lines) == 300, what="every line")

    run(scenario)
