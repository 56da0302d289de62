"""`tuidock system df` and `tuidock info`: what the data root holds, and the host it runs on."""

from __future__ import annotations

import contextlib
import os
import platform
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tuidock.core.status import ContainerStatus
from tuidock.runtime.store.paths import tree_size

if TYPE_CHECKING:
    from tuidock.runtime.container.service import Containers
    from tuidock.runtime.image.service import ImageService


@dataclass
class DfRow:
    type: str
    total: int
    active: int
    size: int
    reclaimable: int


def disk_usage(engine: ImageService, service: Containers) -> list[DfRow]:
    """Images (layers shared between images counted once), containers, volumes, scratch files."""
    images = engine.images.snapshot().all()
    containers = service.list(all=True)
    used_images = {c.image_id for c in containers}
    layer_size: dict[str, int] = {}
    for rec in images:
        for chain in rec.chain_ids:
            if chain not in layer_size:
                try:
                    layer_size[chain] = engine.layers.info(chain).size
                except (OSError, ValueError):
                    layer_size[chain] = 0
    active_layers = {c for rec in images if rec.id in used_images for c in rec.chain_ids}
    img_total = sum(layer_size.values())
    img_active = sum(layer_size[c] for c in active_layers)
    rows = [
        DfRow(
            "Images",
            len(images),
            sum(1 for r in images if r.id in used_images),
            img_total,
            img_total - img_active,
        )
    ]
    store = service.store
    sizes = {c.id: tree_size(store.files(c.id).upper) for c in containers}
    rows.append(
        DfRow(
            "Containers",
            len(containers),
            sum(1 for c in containers if c.status.is_active),
            sum(sizes.values()),
            sum(sizes[c.id] for c in containers if not c.status.is_active),
        )
    )
    vdir = engine.root / "volumes"
    vols = [p for p in vdir.iterdir() if p.is_dir()] if vdir.is_dir() else []
    vsize = sum(tree_size(p) for p in vols)
    rows.append(DfRow("Local Volumes", len(vols), 0, vsize, vsize))
    from tuidock.runtime.store import scratch

    # Nothing is built here; the row shows the data an engine may drop: scratch files.
    items = scratch.scan(engine.root)
    stale = sum(i.size for i in items if i.stale)
    live = sum(1 for i in items if not i.stale)
    rows.append(DfRow("Build Cache", len(items), live, sum(i.size for i in items), stale))
    return rows


def _os_name() -> str:
    with contextlib.suppress(OSError), open("/etc/os-release") as f:
        for line in f:
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    return platform.system()


def _mem_total() -> int:
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def info(engine: ImageService, service: Containers) -> dict:
    """Docker's `info` fields (JSON names), for the engine under this data root."""
    from tuidock import __version__
    from tuidock.runtime.linux.cgroups import cgroup_version

    containers = service.list(all=True)
    statuses = [c.status for c in containers]
    cg = cgroup_version()
    return {
        "ID": "",
        "Containers": len(containers),
        "ContainersRunning": sum(
            s in (ContainerStatus.RUNNING, ContainerStatus.RESTARTING) for s in statuses
        ),
        "ContainersPaused": statuses.count(ContainerStatus.PAUSED),
        "ContainersStopped": sum(not s.is_active for s in statuses),
        "Images": len(engine.images.snapshot().all()),
        "Driver": "overlay",
        "CgroupDriver": "cgroupfs",
        # Docker reports "1" or "2"; a hybrid host counts as v1 (its controllers are there).
        "CgroupVersion": {"v2": "2", "v1": "1", "hybrid": "1"}.get(cg, ""),
        "CgroupLayout": cg,
        "KernelVersion": platform.release(),
        "OperatingSystem": _os_name(),
        "OSType": "linux",
        "Architecture": platform.machine(),
        "NCPU": os.cpu_count() or 0,
        "MemTotal": _mem_total(),
        "Name": platform.node(),
        "DockerRootDir": str(engine.root),
        "ServerVersion": __version__,
        "LoggingDriver": "json-file",
        "SecurityOptions": ["name=seccomp,profile=builtin"],
    }
