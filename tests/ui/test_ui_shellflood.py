"""Output floods in the shell pane and the containers pane's uptime cadence.

The pane parses a flood once per frame, less the lines that scroll off
unseen: the screen after a cut flood must be the one the whole flood
draws (checked cell by cell against an emulator fed everything), and a
burst in the widget and in a real container's shell must end complete, in
order, with what follows it (colours, the prompt) in place. Uptimes of the
first minute move in 10-second steps, so a poll two seconds later leaves a
just-started container's row as it was.
"""

from __future__ import annotations

import random
import time
import uuid

from bittty import Board
from containerhelp import image_fixture, no_leftovers_fixture
from test_ui import focus_row, start
from textual.app import App, ComposeResult
from uihelp import SIZE, container_shell, local_backend, make_app, run, wait_until

from tuidock.core.humanize import parse_time
from tuidock.widgets.containers import ContainersTable, container_rows, uptime_text
from tuidock.widgets.shell import ShellTerminal, unseen_lines_cut

__all__ = ["image_fixture", "no_leftovers_fixture"]  # fixtures, used by name


def _state(board: Board) -> tuple:
    page = board.blitter.current_buffer
    cells = [[(style, char) for style, char in page.grid[y]] for y in range(page.height)]
    return cells, board.cursor.x, board.cursor.y


def _flood(rng: random.Random) -> str:
    """A run of plain lines (some wrap, some overwritten after a CR), then a mix
    with colours, REP, TAB and non-ASCII text."""
    plain = ["\r\n", "\r\n", "\r", "\n"]
    mixed = [*plain, "\x1b[31mred\x1b[0m", "\x1b[3b", "é\t"]
    pieces = []
    for choices in (plain, mixed):
        for _ in range(rng.randint(0, 300)):
            if rng.random() < 0.5:
                pieces.append("x" * rng.randint(0, 40) + str(rng.randint(0, 10**6)))
            else:
                pieces.append(rng.choice(choices))
    return "".join(pieces)


def test_a_cut_flood_leaves_the_screen_the_whole_flood_draws():
    rng = random.Random(7)
    cut_something = 0
    for _ in range(300):
        width, height = rng.choice([(20, 5), (80, 24), (7, 3)])
        data = _flood(rng)
        split = rng.randint(0, len(data))
        whole, cut = Board(width=width, height=height), Board(width=width, height=height)
        for chunk in (data[:split], data[split:]):
            whole.parser.feed(chunk)
            shorter = unseen_lines_cut(chunk, height)
            cut_something += len(shorter) < len(chunk)
            # The pane cuts only between sequences (ShellTerminal.flush_output).
            idle = cut.parser.mode is None and not cut.parser.buffer
            cut.parser.feed(shorter if idle else chunk)
        assert _state(cut) == _state(whole)
    assert cut_something > 150  # the cut did happen, in most floods


def test_a_flood_without_enough_plain_lines_is_left_alone():
    data = "1\r\n2\r\n\x1b[31m" + "3\r\n" * 100
    assert unseen_lines_cut(data, 24) == data
    plain = "".join(f"{i}\r\n" for i in range(100))
    assert len(unseen_lines_cut(plain, 24)) < len(plain)
    assert unseen_lines_cut(plain, 60) == plain


def _numbers_then(lines: list[str], last: int, after: str) -> bool:
    """Rows of consecutive numbers ending in `last`, then a row holding `after`."""
    rows = [line for line in lines if line]
    if after not in rows or rows.index(after) < 2:
        return False
    numbers = rows[: rows.index(after)]
    if not all(n.isdigit() for n in numbers):
        return False
    values = [int(n) for n in numbers]
    return values[-1] == last and values == list(range(values[0], last + 1))


def test_a_burst_in_the_widget_ends_complete_in_order_and_coloured():
    count = 30000
    script = f"seq 1 {count}; printf '\\033[31mred-tail\\033[0m\\n'"

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield ShellTerminal(["sh", "-c", script], "test", "flood")

    async def scenario() -> None:
        app = Host()
        async with app.run_test(size=(90, 30)) as pilot:
            term = app.query_one(ShellTerminal)
            await wait_until(
                pilot,
                lambda: _numbers_then(term.screen_lines(), count, "red-tail"),
                what="the burst's end",
            )
            lines = term.screen_lines()
            # Every row is in use: the numbers scrolled through the whole screen.
            assert len([line for line in lines if line]) == term.size.height - 1
            page = term.board.blitter.current_buffer
            y = lines.index("red-tail")
            assert page.grid[y][0][0].fg is not None  # drawn in red
            assert page.grid[y - 1][0][0].fg is None  # the numbers in the default colour

    run(scenario)


def test_a_burst_in_a_container_shell_then_the_prompt_and_the_next_command(image, tuidock_root):
    cid = start(f"ui-shell-flood-{uuid.uuid4().hex[:6]}", image)
    count = 20000

    async def scenario() -> None:
        app = make_app(shell_command=container_shell)
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ContainersTable)
            await focus_row(pilot, table, cid)
            await pilot.press("e")
            term = await wait_until(
                pilot, lambda: app.screen.shell_tabs().get(cid), what="shell session"
            )
            await pilot.pause(0.5)
            await pilot.press(*"PS1='P> '", "enter")
            await pilot.press(*f"seq 1 {count}", "enter")
            await wait_until(
                pilot,
                lambda: _numbers_then(term.screen_lines(), count, "P>"),
                what="the burst, then the prompt",
            )
            await pilot.press(*"echo next-$((6*7))", "enter")
            await wait_until(
                pilot,
                lambda: "next-42" in term.screen_lines(),
                what="the next command's output",
            )
            lines = [line for line in term.screen_lines() if line]
            at = lines.index("next-42")
            assert lines[at - 1] == "P> echo next-$((6*7))" and lines[at + 1] == "P>"
            assert lines[at - 2] == str(count)  # the prompt of the burst took the echo
            await pilot.press(*"exit", "enter")
            await wait_until(pilot, lambda: not term.is_attached, what="tab closed on exit")

    run(scenario)


def test_uptime_moves_in_ten_second_steps_in_the_first_minute():
    texts = [uptime_text(s / 10) for s in range(0, 1200)]
    changes = [i / 10 for i in range(1, len(texts)) if texts[i] != texts[i - 1]]
    first_minute = [t for t in changes if t < 60]
    assert [t for t in first_minute if t >= 10] == [10, 20, 30, 40, 50]
    assert uptime_text(25) == "20 seconds" and uptime_text(9.5) == "9 seconds"
    assert uptime_text(61) == "About a minute"


def test_a_poll_two_seconds_later_leaves_a_just_started_row_alone(image, tuidock_root):
    cid = start(f"ui-uptime-{uuid.uuid4().hex[:6]}", image)
    info = next(i for i in local_backend().list_containers() if i.id == cid)
    started = parse_time(info.started_at)
    assert started and time.time() - started < 60

    async def scenario() -> None:
        class Host(App[None]):
            def compose(self) -> ComposeResult:
                yield ContainersTable()

        app = Host()
        async with app.run_test(size=SIZE) as pilot:
            table = app.query_one(ContainersTable)
            table.sync(container_rows([info], {}, now=started + 21))
            await pilot.pause()
            shown = table._shown[cid]
            assert "20 seconds" in shown
            table.sync(container_rows([info], {}, now=started + 23))
            assert table._shown[cid] is shown  # nothing to repaint
            table.sync(container_rows([info], {}, now=started + 31))
            assert "30 seconds" in table._shown[cid]
            assert table.get_cell(cid, "uptime").plain == "30 seconds"

    run(scenario)
