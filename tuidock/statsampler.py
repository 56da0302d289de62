"""CPU% and memory of running containers, by `docker stats`' formulas.

CPU % = Δcontainer_ns / Δsystem_ns × online_cpus × 100, where system time is
the sum of the first 7 fields of /proc/stat's `cpu` line × 1e9 / CLK_TCK; 0
until both deltas are positive (the first sample of a container has no
delta). Memory % = usage (already less inactive file cache) / limit.

One Sampler is kept by the UI's poller: it remembers the previous sample of
each container, so a tick costs one read of /proc/stat plus each container's
cgroup files, and containers that went away are forgotten.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from tuidock.runtime.cgroups import CgroupStats, ContainerCgroup


@dataclass(frozen=True)
class Sample:
    cpu_percent: float
    memory_usage: int
    memory_limit: int
    pids: int

    @property
    def memory_percent(self) -> float:
        return self.memory_usage / self.memory_limit * 100 if self.memory_limit else 0.0


def system_cpu_ns(text: str | None = None) -> int:
    """Host CPU time in ns from /proc/stat (user..softirq), as Docker computes it."""
    if text is None:
        with open("/proc/stat", "rb") as f:
            first = f.readline().decode()
    else:
        first = text.splitlines()[0]
    fields = first.split()
    if not fields or fields[0] != "cpu":
        return 0
    ticks = sum(int(v) for v in fields[1:8])
    return ticks * 1_000_000_000 // _clk_tck()


def _clk_tck() -> int:
    try:
        return os.sysconf("SC_CLK_TCK") or 100
    except (ValueError, OSError):
        return 100


def online_cpus() -> int:
    try:
        return os.sysconf("SC_NPROCESSORS_ONLN") or 1
    except (ValueError, OSError):
        return os.cpu_count() or 1


def cpu_percent(prev_ctr: int, ctr: int, prev_sys: int, sys_ns: int, ncpu: int) -> float:
    d_ctr = ctr - prev_ctr
    d_sys = sys_ns - prev_sys
    if d_ctr <= 0 or d_sys <= 0:
        return 0.0
    return d_ctr / d_sys * ncpu * 100.0


class Sampler:
    """Samples a set of containers once per call; CPU% needs two calls."""

    def __init__(
        self,
        read_stats: Callable[[str], CgroupStats] | None = None,
        read_system: Callable[[], int] = system_cpu_ns,
        ncpu: int | None = None,
    ) -> None:
        self._read_stats = read_stats or _cgroup_stats
        self._read_system = read_system
        self.ncpu = ncpu or online_cpus()
        self._prev: dict[str, tuple[int, int]] = {}  # id -> (container ns, system ns)

    def sample(self, ids: Iterable[str]) -> dict[str, Sample]:
        sys_ns = self._read_system()
        out: dict[str, Sample] = {}
        seen: dict[str, tuple[int, int]] = {}
        for cid in ids:
            try:
                st = self._read_stats(cid)
            except Exception:
                continue  # stopped between the listing and this read: no sample
            prev = self._prev.get(cid)
            pct = cpu_percent(prev[0], st.cpu_ns, prev[1], sys_ns, self.ncpu) if prev else 0.0
            seen[cid] = (st.cpu_ns, sys_ns)
            out[cid] = Sample(pct, st.memory_usage, st.memory_limit, st.pids_current)
        self._prev = seen
        return out


_cgroups: dict[str, ContainerCgroup] = {}


def _cgroup_stats(cid: str) -> CgroupStats:
    """A container's cgroup stats; the directory lookup is cached per container
    (ContainerCgroup.load probes every hierarchy; the reads are the per-tick cost)."""
    from tuidock.runtime.cgroups import ContainerCgroup

    cg = _cgroups.get(cid)
    if cg is None:
        cg = ContainerCgroup.load(cid)
        if not cg.dirs:
            raise LookupError(cid)
        _cgroups[cid] = cg
    return cg.stats(block_io=False)


def forget(keep: Iterable[str]) -> None:
    """Drop cached cgroup handles of containers not in `keep` (stopped or gone:
    a restart makes its cgroup anew)."""
    keep_set = set(keep)
    for cid in list(_cgroups):
        if cid not in keep_set:
            del _cgroups[cid]
