"""The containers pane's table: status in color, uptime, live CPU%, memory and PIDs.

Cost: the table repaints only the cells whose text changed since the last
poll (`ResourceTable.sync`), so an idle dashboard costs what changes on it.
The uptime is the column that changes by itself: read as "N seconds" it
changed on every poll for every container of the first minute, so past its
first UPTIME_EXACT seconds it moves in UPTIME_STEP steps ("20 seconds" until
30), and after that as `human_duration` does (minutes, then hours).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.text import Text

from tuidock.core.humanize import human_binary_size, human_duration, parse_time
from tuidock.core.status import ContainerStatus
from tuidock.keymap import bind
from tuidock.widgets.resourcetable import ResourceTable, Row

if TYPE_CHECKING:
    from tuidock.backends.base import ContainerSummary, StatsSample

STATUS_STYLE = {
    "running": "bold green",
    "paused": "yellow",
    "restarting": "yellow",
    "created": "cyan",
    "exited": "red",
    "dead": "bold red",
}


UPTIME_EXACT = 10
UPTIME_STEP = 10


def uptime_text(up_for: float) -> str:
    """How long a container is up, as the UP column shows it.

    Every text fits the column's 14 cells; go-units' "Less than a second" (18)
    would show cut as "Less than a se" in the first second of each start."""
    if up_for < 1:
        return "< 1 second"
    if UPTIME_EXACT <= up_for < 60:
        up_for = up_for // UPTIME_STEP * UPTIME_STEP
    return human_duration(up_for)


def cpu_cell(pct: float) -> Text:
    style = "green" if pct < 50 else "yellow" if pct < 80 else "bold red"
    return Text(f"{pct:6.1f}%", style=style, justify="right")


def container_rows(
    infos: list[ContainerSummary],
    samples: dict[str, StatsSample],
    pending: dict[str, str] | None = None,
    now: float | None = None,
) -> list[Row]:
    now = time.time() if now is None else now
    pending = pending or {}
    rows = []
    for info in infos:
        status = info.status
        uptime = ""
        up_for = -1.0
        label = status
        if info.state.is_up:
            started = parse_time(info.started_at)
            if started:
                up_for = now - started
                uptime = uptime_text(up_for)
        elif info.state == ContainerStatus.EXITED:
            label = f"exited ({info.exit_code})"
        shown = pending.get(info.id) or label
        style = "italic" if info.id in pending else STATUS_STYLE.get(status, "")
        status_cell = Text(shown, style=style)
        sample = samples.get(info.id)
        if sample is not None:
            cpu: Text | str = cpu_cell(sample.cpu_percent)
            mem = f"{human_binary_size(sample.memory_usage)} / {human_binary_size(sample.memory_limit)}"
            pids = str(sample.pids)
        else:
            cpu, mem, pids = "", "", ""
        cells = (
            info.name,
            info.image,
            status_cell,
            uptime,
            cpu,
            mem,
            pids,
            info.ports or "",
            info.id[:12],
        )
        keys = (
            info.name.casefold(),
            info.image.casefold(),
            shown,
            up_for,
            sample.cpu_percent if sample else -1.0,
            sample.memory_usage if sample else -1,
            sample.pids if sample else -1,
            info.ports or "",
            info.id,
        )
        rows.append(Row(info.id, cells, f"{info.name} {info.image} {shown} {info.id}", keys))
    return rows


class ContainersTable(ResourceTable):
    BINDINGS = [  # noqa: RUF012 - run on the screen, which owns the engine calls
        bind("containers.startstop", "screen.start_stop"),
        bind("containers.restart", "screen.restart"),
        bind("containers.exec", "screen.exec"),
        bind("containers.exec_full", "screen.exec_full", show=False),
        bind("containers.attach", "screen.attach", show=False),
        bind("containers.details", "screen.details", show=False),
        bind("containers.signal", "screen.signal", show=False),
        bind("containers.diff", "screen.diff", show=False),
        bind("containers.copy", "screen.copy_files", show=False),
    ]
    COLUMNS = (
        ("name", "NAME", None),
        ("image", "IMAGE", None),
        ("status", "STATUS", 12),
        ("uptime", "UP", 14),
        ("cpu", "CPU%", 7),
        ("mem", "MEM", 21),
        ("pids", "PIDS", 5),
        ("ports", "PORTS", 6),
        ("id", "ID", 12),
    )
    PRIORITY = ("name", "status", "cpu", "mem", "uptime", "pids", "image", "ports", "id")
    ESSENTIAL = 4
    MIN_WIDTH = {"name": 8, "status": 7, "mem": 9}  # noqa: RUF012
    # "12.3MiB / 7.6GiB" -> "12.3MiB": the usage is what a narrow pane keeps.
    SHORT = {"mem": lambda cell: cell.split(" / ")[0] if isinstance(cell, str) else cell}  # noqa: RUF012
