"""A prune's dry run: what it would remove and about how many bytes come back.

Computed from the lists the UI already reads (containers, images, volumes,
networks) and the per-object sizes of Backend.disk_usage, with the rules
the engines apply: stopped containers (created, exited, dead); dangling
images (no tag) that no container uses; volumes no container mounts (named
too: the UI's volume prune is `volume prune --all`); user networks without
containers. The figure is an estimate the confirm shows ("about"): image
layers shared with a kept image stay, and the engine's own answer after the
prune is the reclaimed total the UI reports. No Textual here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tuidock.core.humanize import human_size

if TYPE_CHECKING:
    from tuidock.backends.base import (
        Backend,
        ContainerSummary,
        DiskUsage,
        ImageSummary,
        NetworkSummary,
        VolumeSummary,
    )

from tuidock.widgets.networks import DEFAULT_NETWORKS

# kind -> (one, several)
WHAT = {
    "containers": ("stopped container", "stopped containers"),
    "images": ("dangling image", "dangling images"),
    "volumes": ("volume no container uses", "volumes no container uses"),
    "networks": ("network no container uses", "networks no container uses"),
}


@dataclass(frozen=True)
class PrunePlan:
    kind: str
    items: list[str] = field(default_factory=list)
    bytes: int = 0

    @property
    def title(self) -> str:
        n = len(self.items)
        return f"Prune {n} {WHAT[self.kind][n != 1]}?"

    @property
    def note(self) -> str:
        if self.kind == "networks":
            return "No disk space returns: networks hold none."
        return f"About {human_size(self.bytes)} returns."

    @property
    def empty_text(self) -> str:
        return f"Nothing to prune: no {WHAT[self.kind][1]}."


def plan_containers(infos: list[ContainerSummary], usage: DiskUsage) -> PrunePlan:
    gone = [i for i in infos if not i.active and i.status != "paused"]
    return PrunePlan(
        "containers",
        [f"{i.name} ({i.id[:12]}, {i.status})" for i in gone],
        sum(usage.container_sizes.get(i.id, 0) for i in gone),
    )


def plan_images(images: list[ImageSummary], infos: list[ContainerSummary]) -> PrunePlan:
    from tuidock.widgets.images import users_of

    gone = [r for r in images if not r.repo_tags and not users_of(r, infos)]
    return PrunePlan("images", [f"<none> {r.short_id}" for r in gone], sum(r.size for r in gone))


def plan_volumes(volumes: list[VolumeSummary], usage: DiskUsage) -> PrunePlan:
    gone = [v for v in volumes if not v.in_use]
    return PrunePlan(
        "volumes", [v.name for v in gone], sum(usage.volume_sizes.get(v.name, 0) for v in gone)
    )


def plan_networks(networks: list[NetworkSummary]) -> PrunePlan:
    gone = [n for n in networks if n.name not in DEFAULT_NETWORKS and not n.containers]
    return PrunePlan("networks", [n.name for n in gone])


def plan(backend: Backend, kind: str) -> PrunePlan:
    """The dry run of `backend.prune(kind)`; blocks (lists, and df for sizes)."""
    if kind == "networks":
        return plan_networks(backend.list_networks())
    if kind == "images":
        return plan_images(backend.list_images(), backend.list_containers())
    usage = backend.disk_usage()
    if kind == "containers":
        return plan_containers(backend.list_containers(), usage)
    if kind == "volumes":
        return plan_volumes(backend.list_volumes(), usage)
    raise ValueError(f"unknown prune kind {kind!r}")
