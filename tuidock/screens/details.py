"""A container's details: its configuration and live graphs of CPU, memory, network and disk.

The configuration (command, restart policy, health, env, ports, mounts,
networks) is read once on opening from `inspect`, which every backend
answers in Docker's shape. The graphs
come from a StatsSampler of its own made with io=True (network and block
I/O cost more reads than the dashboard's sampler makes), sampled every
EVERY seconds in a job; the I/O graphs are rates, the difference of two
samples' cumulative bytes over the time between them. HISTORY samples are
kept per graph. The sampler is closed with the dialog.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from tuidock.core.humanize import human_binary_size, human_size
from tuidock.screens.jobs import JobScreen
from tuidock.widgets.spark import Spark

if TYPE_CHECKING:
    from tuidock.backends.base import StatsSample, StatsSampler

EVERY = 1.0
HISTORY = 120
# graph id -> its title; the I/O ones are rates in bytes per second
GRAPHS = {
    "cpu": "CPU",
    "mem": "Memory",
    "net_rx": "Net in",
    "net_tx": "Net out",
    "blk_read": "Disk read",
    "blk_write": "Disk write",
}


def _ports(data: dict) -> list[str]:
    ports = (data.get("NetworkSettings") or {}).get("Ports") or {}
    out = []
    for private, bindings in sorted(ports.items()):
        if not bindings:
            out.append(f"{private} (not published)")
        for b in bindings or ():
            out.append(f"{b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort', '')} -> {private}")
    return out


def _mounts(data: dict) -> list[str]:
    out = []
    for m in data.get("Mounts") or []:
        source = m.get("Name") if m.get("Type") == "volume" else m.get("Source")
        mode = "" if m.get("RW", True) else " (ro)"
        out.append(f"{m.get('Type', '?')} {source or ''} -> {m.get('Destination', '')}{mode}")
    return out


def _networks(data: dict) -> list[str]:
    out = []
    for name, net in sorted(((data.get("NetworkSettings") or {}).get("Networks") or {}).items()):
        net = net or {}
        address = net.get("IPAddress") or ""
        prefix = net.get("IPPrefixLen")
        text = f"{name} {address}/{prefix}" if address and prefix else f"{name} {address}"
        out.append(text.rstrip())
    mode = (data.get("HostConfig") or {}).get("NetworkMode") or ""
    return out or ([mode] if mode else [])


def _health(state: dict) -> list[str]:
    health = state.get("Health")
    if not health:
        return ["no healthcheck"]
    out = [f"{health.get('Status', '?')} (failing streak {health.get('FailingStreak', 0)})"]
    log = health.get("Log") or []
    if log:
        last = log[-1]
        output = " ".join(str(last.get("Output") or "").split())
        out.append(f"last check: exit {last.get('ExitCode', '?')} {output[:120]}".rstrip())
    return out


def _restart(data: dict) -> str:
    policy = (data.get("HostConfig") or {}).get("RestartPolicy") or {}
    name = policy.get("Name") or "no"
    retries = policy.get("MaximumRetryCount") or 0
    text = f"{name}:{retries}" if name == "on-failure" and retries else name
    count = data.get("RestartCount") or 0
    return f"{text} (restarted {count}×)" if count else text


def _command(data: dict) -> str:
    import shlex

    argv = [data.get("Path") or "", *(data.get("Args") or [])]
    return shlex.join(a for a in argv if a) if any(argv) else ""


def detail_rows(data: dict) -> list[tuple[str, list[str]]]:
    """(title, lines) of an inspect answer, in the order a user looks for them."""
    cfg = data.get("Config") or {}
    state = data.get("State") or {}
    status = state.get("Status") or "?"
    if status == "exited":
        status += f" ({state.get('ExitCode', 0)})"
    rows: list[tuple[str, list[str]]] = [
        ("Image", [cfg.get("Image") or data.get("Image") or ""]),
        ("State", [status + (f" since {state['StartedAt']}" if state.get("StartedAt") else "")]),
        ("Command", [_command(data)]),
        ("Working dir", [cfg.get("WorkingDir") or "/"]),
        ("User", [cfg.get("User") or "root"]),
        ("Restart", [_restart(data)]),
        ("Health", _health(state)),
        ("Ports", _ports(data) or ["none"]),
        ("Networks", _networks(data) or ["none"]),
        ("Mounts", _mounts(data) or ["none"]),
        ("Env", list(cfg.get("Env") or []) or ["none"]),
    ]
    return rows


def detail_table(data: dict) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for title, lines in detail_rows(data):
        table.add_row(title, "\n".join(lines))
    return table


class ContainerDetails(ModalScreen[None], JobScreen):
    # The graphs on top, one line each (a title and its figures, then the
    # chart), so that all six fit a small terminal; the configuration scrolls below.
    DEFAULT_CSS = """
    #details-dialog { height: 90%; }
    #details-graphs { height: auto; margin-bottom: 1; }
    .details-graph { height: 1; }
    .details-label { width: 44; }
    #details-config { height: 1fr; }
    """
    BINDINGS = [Binding("escape,q", "close", "Close")]  # noqa: RUF012

    def __init__(self, cid: str, name: str) -> None:
        super().__init__()
        self.cid = cid
        self.name_text = name
        self.sampler: StatsSampler | None = None
        self.history: dict[str, deque[float]] = {g: deque(maxlen=HISTORY) for g in GRAPHS}
        self.samples = 0  # for tests
        self.inspected: dict = {}
        self._prev: tuple[float, StatsSample] | None = None
        self._busy = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="details-dialog"):
            yield Label(
                Text(f"{self.name_text} ({self.cid[:12]})", style="bold"), classes="dialog-title"
            )
            with Vertical(id="details-graphs"):
                for graph, title in GRAPHS.items():
                    with Horizontal(classes="details-graph"):
                        yield Label(title, id=f"details-{graph}-label", classes="details-label")
                        yield Spark(100.0 if graph == "cpu" else 0.0, id=f"details-{graph}")
            with VerticalScroll(id="details-config"):
                yield Static("loading…", id="details-text")
            yield Label("", id="details-note", classes="dialog-note")

    def on_mount(self) -> None:
        self.query_one("#details-config").focus()
        backend = self.app.backend  # type: ignore[attr-defined]
        self.run_job("Details", lambda: backend.inspect_container(self.cid), self._inspected)
        self.run_job(
            "Details", lambda: backend.stats_sampler(io=True), self._sampler_made, group="sampler"
        )

    def _inspected(self, data: dict) -> None:
        self.inspected = data
        self.query_one("#details-text", Static).update(detail_table(data))

    def _sampler_made(self, sampler: StatsSampler) -> None:
        if not self.is_attached:
            threading.Thread(target=sampler.close, daemon=True).start()
            return
        self.sampler = sampler
        self._tick()
        self.set_interval(EVERY, self._tick)

    def _tick(self) -> None:
        sampler = self.sampler
        if sampler is None or self._busy:
            return
        self._busy = True
        cid = self.cid
        self.run_job(
            "Stats",
            lambda: (time.monotonic(), sampler.sample([cid]).get(cid)),
            self._sampled,
            failed=self._failed,
            group="details-stats",
        )

    def _failed(self, text: str) -> None:
        self._busy = False
        self.query_one("#details-note", Label).update(Text(text, style="bold red"))

    def _sampled(self, taken: tuple[float, StatsSample | None]) -> None:
        self._busy = False
        now, sample = taken
        self.samples += 1
        note = self.query_one("#details-note", Label)
        if sample is None:
            self._prev = None
            note.update(Text("not running: no live figures", style="italic"))
            return
        note.update(Text(f"every {EVERY:g}s · {HISTORY} samples kept · Esc closes"))
        prev, self._prev = self._prev, (now, sample)
        self.history["cpu"].append(sample.cpu_percent)
        self.history["mem"].append(float(sample.memory_usage))
        rates = {}
        if prev is not None and now > prev[0]:
            dt = now - prev[0]
            before = prev[1]
            rates = {
                "net_rx": (sample.net_rx - before.net_rx) / dt,
                "net_tx": (sample.net_tx - before.net_tx) / dt,
                "blk_read": (sample.block_read - before.block_read) / dt,
                "blk_write": (sample.block_write - before.block_write) / dt,
            }
            for graph, rate in rates.items():
                self.history[graph].append(max(0.0, rate))
        totals = {
            "net_rx": sample.net_rx,
            "net_tx": sample.net_tx,
            "blk_read": sample.block_read,
            "blk_write": sample.block_write,
        }
        labels = {
            "cpu": f"CPU {sample.cpu_percent:.1f}%",
            "mem": (
                f"Memory {human_binary_size(sample.memory_usage)} "
                f"({sample.memory_percent:.1f}% of {human_binary_size(sample.memory_limit)})"
            ),
        }
        for graph, total in totals.items():
            rate = rates.get(graph)
            per_s = f"{human_size(int(rate))}/s, " if rate is not None else ""
            labels[graph] = f"{GRAPHS[graph]} {per_s}{human_size(total)} total"
        for graph, text in labels.items():
            self.query_one(f"#details-{graph}-label", Label).update(text)
            spark = self.query_one(f"#details-{graph}", Spark)
            if graph == "mem":
                spark.ceiling = float(sample.memory_limit)
            spark.data = tuple(self.history[graph])

    def action_close(self) -> None:
        self.dismiss(None)

    def on_unmount(self) -> None:
        sampler, self.sampler = self.sampler, None
        if sampler is not None:
            threading.Thread(target=sampler.close, daemon=True).start()
