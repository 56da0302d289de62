"""The log pane's speed on 100k lines: append + first paint, one page scrolled, a search.

Run: .venv/bin/python bench/logview_bench.py. No other tool has this pane, so
the figures are absolute (the issue's budget: a page well under 100 ms).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual.app import App, ComposeResult

from tuidock.backends.base import LogLine
from tuidock.widgets.logview import LogView

LINES = 100_000


class LogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LogView()


async def measure() -> dict[str, float]:
    lines = [
        LogLine("2024-01-01T00:00:00.000000000Z", i % 10 == 0, f"line {i} " + "x" * (i % 50))
        for i in range(LINES)
    ]
    app = LogApp()
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.query_one(LogView)
        view.budget = 64 * 1024 * 1024  # all LINES kept: the figures are per 100k lines
        t = time.perf_counter()
        view.append(lines)
        await pilot.pause()
        appended = time.perf_counter() - t
        pages = []
        for i in range(40):
            t = time.perf_counter()
            view.scroll_to(y=50_000 + i * 37, animate=False, immediate=True)
            await pilot.pause()
            pages.append(time.perf_counter() - t)
        t = time.perf_counter()
        view.set_search("line 4999")
        while not view.matches:
            await pilot.pause(0.01)
        searched = time.perf_counter() - t
    return {"append": appended, "page": statistics.median(pages), "search": searched}


def main() -> None:
    res = asyncio.run(measure())
    print(
        f"{LINES} log lines: append+paint {res['append'] * 1000:.0f} ms, "
        f"page (median of 40) {res['page'] * 1000:.1f} ms, first search hits {res['search'] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
