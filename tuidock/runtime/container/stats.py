"""`tuidock stats`: one row per container, by the formulas `docker stats` uses.

CPU % = Δcontainer_ns / Δsystem_ns × online_cpus × 100 (statsampler has the
formula and the /proc/stat reading); memory is the cgroup's usage less its
inactive file cache over the limit capped at host memory; NET I/O sums the
interfaces of the container's network namespace, read from
/proc/<pid1>/net/dev (that file shows the namespace of the process it
belongs to), loopback excluded as Docker's counters come from the
container's own interfaces only.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tuidock.core.humanize import human_binary_size, human_size
from tuidock.core.status import ContainerStatus
from tuidock.runtime.container.statsampler import cpu_percent, online_cpus, system_cpu_ns

if TYPE_CHECKING:
    from tuidock.runtime.container.service import Containers
    from tuidock.runtime.linux.cgroups import CgroupStats


@dataclass
class StatsRow:
    id: str
    name: str
    cpu_percent: float = 0.0
    memory_usage: int = 0
    memory_limit: int = 0
    net_rx: int = 0
    net_tx: int = 0
    block_read: int = 0
    block_write: int = 0
    pids: int = 0

    @property
    def memory_percent(self) -> float:
        return self.memory_usage / self.memory_limit * 100 if self.memory_limit else 0.0

    def cells(self) -> dict[str, str]:
        """The row as `docker stats --format` fields, formatted as Docker formats them."""
        return {
            "BlockIO": f"{human_size(self.block_read)} / {human_size(self.block_write)}",
            "CPUPerc": f"{self.cpu_percent:.2f}%",
            "Container": self.id[:12],
            "ID": self.id[:12],
            "MemPerc": f"{self.memory_percent:.2f}%",
            "MemUsage": (
                f"{human_binary_size(self.memory_usage)} / {human_binary_size(self.memory_limit)}"
            ),
            "Name": self.name,
            "NetIO": f"{human_size(self.net_rx)} / {human_size(self.net_tx)}",
            "PIDs": str(self.pids),
        }


def parse_net_dev(text: str) -> tuple[int, int]:
    """(rx bytes, tx bytes) summed over the interfaces of a /proc/net/dev text, lo excluded."""
    rx = tx = 0
    for line in text.splitlines()[2:]:  # two header lines
        name, sep, rest = line.partition(":")
        if not sep or name.strip() == "lo":
            continue
        fields = rest.split()
        if len(fields) >= 9:
            rx += int(fields[0])
            tx += int(fields[8])
    return rx, tx


def net_io(pid: int) -> tuple[int, int]:
    if not pid:
        return 0, 0
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            return parse_net_dev(f.read())
    except (OSError, ValueError):
        return 0, 0


class StatsCollector:
    """Keeps the previous CPU sample of each container so each call yields a delta."""

    def __init__(self, containers: Containers) -> None:
        self.containers = containers
        self.ncpu = online_cpus()
        self._prev: dict[str, tuple[int, int]] = {}

    def _raw(self, cid: str) -> tuple[CgroupStats | None, int, bool]:
        """(cgroup stats or None when not running, pid 1, host network)."""
        from tuidock.runtime.linux.cgroups import ContainerCgroup

        store = self.containers.store
        state = store.state(cid)
        if not ContainerStatus.of(state).is_up:
            return None, 0, False
        config = store.read_config(cid)
        host_net = (config.get("HostConfig") or {}).get("NetworkMode") == "host"
        cg = ContainerCgroup.load(cid)
        if not cg.dirs:
            return None, 0, False
        return cg.stats(), int(state.get("Pid") or 0), host_net

    def sample(self, ids: list[tuple[str, str]]) -> list[StatsRow]:
        """One row per (id, name); containers that are not running give zeros, as in Docker."""
        sys_ns = system_cpu_ns()
        rows: list[StatsRow] = []
        seen: dict[str, tuple[int, int]] = {}
        for cid, name in ids:
            row = StatsRow(cid, name)
            rows.append(row)
            st: CgroupStats | None = None
            pid, host_net = 0, False
            with contextlib.suppress(Exception):  # stopped or removed between list and read
                st, pid, host_net = self._raw(cid)
            if st is None:
                continue
            prev = self._prev.get(cid)
            if prev:
                row.cpu_percent = cpu_percent(prev[0], st.cpu_ns, prev[1], sys_ns, self.ncpu)
            seen[cid] = (st.cpu_ns, sys_ns)
            row.memory_usage, row.memory_limit = st.memory_usage, st.memory_limit
            row.block_read, row.block_write = st.block_read, st.block_write
            row.pids = st.pids_current
            # Docker has no per-container counters for the host's network: 0B / 0B.
            if not host_net:
                row.net_rx, row.net_tx = net_io(pid)
        self._prev = seen
        return rows
