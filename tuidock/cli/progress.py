"""Showing a pull's progress: a live per-layer display on a terminal, lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import ClassVar, TextIO

from tuidock.core.humanize import human_size
from tuidock.runtime.image.pull import PullEvent

DONE = {"Pull complete", "Already exists"}


class PlainProgress:
    """Docker's non-TTY output: one line per layer state change, no byte counts."""

    labels: ClassVar[dict[str, str]] = {"Waiting": "Pulling fs layer"}
    skip: ClassVar[frozenset[str]] = frozenset()  # states with byte counts, not shown as lines

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.state: dict[str, str] = {}

    def __call__(self, ev: PullEvent) -> None:
        if ev.kind == "status":
            self.out.write(ev.status + "\n")
        elif self.state.get(ev.id) != ev.status and ev.status not in self.skip:
            self.state[ev.id] = ev.status
            label = self.labels.get(ev.status, ev.status)
            self.out.write(f"{ev.id}: {label}\n")
        self.out.flush()

    def close(self) -> None:
        pass


class LiveProgress:
    """A rich live view: a bar per layer with bytes, speed and phase."""

    moving = "Downloading"  # the state whose speed is shown

    def has_bar(self, status: str) -> bool:
        return status not in DONE and status != "Waiting"

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(stderr=False)
        self.rows: dict[str, PullEvent] = {}
        self.started: dict[str, float] = {}
        self.lines: list[str] = []  # shown above the layers
        self.footer: list[str] = []  # lines that arrive once layers are shown
        self.live = Live(
            self._render(), console=self.console, refresh_per_second=10, transient=False
        )
        self.live.start()

    def _render(self):
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        table = Table.grid(padding=(0, 1))
        for line in self.lines:
            table.add_row(line)
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True, min_width=18)
        grid.add_column(width=30)
        grid.add_column(no_wrap=True, justify="right")
        for lid, ev in self.rows.items():
            if not self.has_bar(ev.status):
                grid.add_row(lid, ev.status, "", "")
                continue
            elapsed = max(time.monotonic() - self.started.get(lid, time.monotonic()), 1e-3)
            speed = human_size(ev.current / elapsed) + "/s"
            amount = f"{human_size(ev.current)}/{human_size(ev.total)}  {speed}"
            grid.add_row(
                lid, ev.status, ProgressBar(total=max(ev.total, 1), completed=ev.current), amount
            )
        table.add_row(grid)
        for line in self.footer:
            table.add_row(line)
        return table

    def __call__(self, ev: PullEvent) -> None:
        if ev.kind == "status":
            (self.footer if self.rows else self.lines).append(ev.status)
        else:
            if ev.status == self.moving and ev.id not in self.started:
                self.started[ev.id] = time.monotonic()
            self.rows[ev.id] = ev
        self.live.update(self._render())

    def close(self) -> None:
        self.live.update(self._render())
        self.live.stop()
