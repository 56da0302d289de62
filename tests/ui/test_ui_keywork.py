"""The UI thread's work per keypress and per log batch, counted (not timed).

A keypress during a log flood answers fast when it does little: these tests
count what Textual does for it, so a change that brings the old costs back
fails here instead of showing up as latency in bench/logflood_bench.py.

- A focus switch (1/2/3, tab) repaints the key footer once at most and
  mounts nothing in it; it restyles a handful of nodes (the widgets that
  gain and lose :focus, and their ancestors' :focus-within), not a widget
  per key; it lays out the screen not at all, and repaints only the widgets
  that changed (Screen.focused alone repainted the whole screen).
- Batches that grow the log resize the view's scrollable area without a
  relayout of the screen: over twenty batches, the screen's layouts stay at
  the few a scrollbar appearing may need.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from containerhelp import image_fixture, no_leftovers_fixture
from test_ui import focus_row, start
from uihelp import SIZE, make_app, run, wait_until

from tuidock.backends.base import LogLine
from tuidock.widgets.containers import ContainersTable
from tuidock.widgets.keyfooter import KeyFooter
from tuidock.widgets.logview import LogView

__all__ = ["image_fixture", "no_leftovers_fixture"]  # fixtures, used by name

SWITCHES = ("1", "2", "3", "2", "tab", "3", "1", "2")
# Nodes restyled per focus switch (each component class of a widget counts as
# one): the two widgets whose :focus changes and the panes whose :focus-within
# does, with what they hold: about 45 here. Textual's Footer added about 120
# more: two dozen keys mounted, each restyled again for its `compact` class.
RESTYLES_PER_SWITCH = 80
BATCHES = 20


class Counter:
    """Counts calls of an instance's method, calling through."""

    def __init__(self, obj: Any, name: str) -> None:
        self.calls = 0
        real: Callable[..., Any] = getattr(obj, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return real(*args, **kwargs)

        setattr(obj, name, counted)


def test_focus_switches_and_a_flood_do_little_work(image, tuidock_root):
    cid = start(f"ui-keywork-{uuid.uuid4().hex[:6]}", image, "trap 'exit 0' TERM; yes")

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            table = screen.query_one(ContainersTable)
            view = screen.query_one(LogView)
            footer = screen.query_one(KeyFooter)
            await focus_row(pilot, table, cid)
            await wait_until(pilot, lambda: view.dropped, timeout=60, what="lines dropped")
            await pilot.press("2")
            await pilot.pause(0.3)

            # -- focus switches while the log floods --------------------------------------
            restyles = Counter(app.stylesheet, "apply")
            layouts = Counter(screen, "_refresh_layout")
            full = Counter(screen._compositor, "render_full_update")
            renders, changes = footer.renders, footer.changes
            focused = []
            for key in SWITCHES:
                await pilot.press(key)
                await pilot.pause(0.05)
                focused.append(type(app.focused).__name__)
            await pilot.pause(0.2)
            # The switches did switch: the footer showed other keys each time.
            assert focused.count("LogView") >= 2 and focused.count("ContainersTable") >= 2
            assert footer.changes - changes >= 4
            assert not footer.children
            assert footer.renders - renders <= len(SWITCHES) + 2
            assert restyles.calls <= RESTYLES_PER_SWITCH * len(SWITCHES), restyles.calls
            # A batch that turns a scrollbar on may lay out; focus switches do not.
            assert layouts.calls <= 2, layouts.calls
            # Nor a repaint of the whole screen: only the widgets that changed.
            assert full.calls <= 2, full.calls

            # -- batches that grow the log -----------------------------------------------------
            # Appended here as the pane appends a batch, so that each one changes
            # the line count (the flood's own batches are cut to the same size).
            layouts = Counter(screen, "_refresh_layout")
            skipped = view.layouts_skipped
            for n in range(BATCHES):
                stamp = f"2026-01-01T00:00:{n:02d}.000000000Z"
                view.append([LogLine(stamp, False, f"batch {n} line {i}") for i in range(50)])
                await pilot.pause(0.05)
            assert layouts.calls <= 2, layouts.calls
            assert view.layouts_skipped - skipped >= BATCHES - 2
            assert view.lines[-1].text == f"batch {BATCHES - 1} line 49"

    run(scenario)
