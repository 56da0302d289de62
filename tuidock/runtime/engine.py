"""The Engine: the composition root of the local engine.

It joins the image service (stores, pull, push, rmi, gc) and the container
service under one data root and turns user-level requests ("run busybox",
"stop web") into runtime operations. Only its users import it: the local
backend, the CLI and the UI; nothing in runtime/ does. Nothing here prints;
results are returned as data so that both faces render them their own way.
"""

from __future__ import annotations

import os
from pathlib import Path

from tuidock.core.reference import familiar_digest, familiar_tag
from tuidock.runtime.image.service import ImageService, RemoveReport, normalize_server

TYPE_CHECKING = False  # typing itself costs ~2 ms of a CLI start
if TYPE_CHECKING:
    from collections.abc import Iterator

    from tuidock.core.prunefilter import PruneFilter
    from tuidock.runtime.container.logs import LogEntry
    from tuidock.runtime.container.monitor.protocol import AttachClient
    from tuidock.runtime.container.options import CreateOptions
    from tuidock.runtime.container.service import ContainerInfo, Containers
    from tuidock.runtime.linux.cgroups import CgroupStats

__all__ = [
    "Engine",
    "RemoveReport",
    "default_engine",
    "familiar_digest",
    "familiar_tag",
    "normalize_server",
]


class Engine(ImageService):
    # -- containers -------------------------------------------------------------------
    # Thin delegation to runtime.containers (imported on first use, so that image
    # commands do not pay for it). Everything returns data; nothing prints.

    @property
    def containers(self) -> Containers:
        mgr = self.__dict__.get("_containers")
        if mgr is None:
            from tuidock.runtime.container.service import Containers

            mgr = self.__dict__["_containers"] = Containers(self)
        return mgr

    def create_container(self, opts: CreateOptions) -> tuple[str, list[str]]:
        """`create`: (container ID, warnings). The image must be local (see `pull`)."""
        return self.containers.create(opts)

    def start_container(
        self, name: str, attach: bool = False, stdin: bool = False
    ) -> tuple[str, AttachClient | None]:
        """`start`: (ID, attach client if `attach`; it sees the output from the first byte)."""
        return self.containers.start(name, attach=attach, stdin=stdin)

    def run(
        self, opts: CreateOptions, attach: bool = False
    ) -> tuple[str, AttachClient | None, list[str]]:
        """`run` = create + start: (ID, attach client if `attach`, warnings).

        A failed start raises StartError (exit_code 125/126/127); with --rm the
        container is gone by then, as with Docker.
        """
        return self.containers.run(opts, attach=attach)

    def attach_container(
        self, name: str, stdin: bool = False, stdout: bool = True, stderr: bool = True
    ) -> AttachClient:
        return self.containers.attach(name, stdin=stdin, stdout=stdout, stderr=stderr)

    def stop_container(self, name: str, timeout: int | None = None) -> str:
        return self.containers.stop(name, timeout)

    def restart_container(self, name: str, timeout: int | None = None) -> str:
        return self.containers.restart(name, timeout)

    def kill_container(self, name: str, signal: str | int = "KILL") -> str:
        return self.containers.kill(name, signal)

    def remove_container(self, name: str, force: bool = False, volumes: bool = False) -> str:
        return self.containers.remove(name, force, volumes)

    def wait_container(self, name: str) -> int:
        return self.containers.wait(name)

    def container_logs(
        self,
        name: str,
        follow: bool = False,
        tail: int | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> Iterator[LogEntry]:
        return self.containers.logs(name, follow=follow, tail=tail, since=since, until=until)

    def rename_container(self, name: str, new_name: str) -> str:
        return self.containers.rename(name, new_name)

    def pause_container(self, name: str) -> str:
        return self.containers.pause(name)

    def unpause_container(self, name: str) -> str:
        return self.containers.unpause(name)

    def prune_containers(self, filters: PruneFilter | None = None) -> tuple[list[str], int]:
        """`container prune`: (removed IDs, bytes reclaimed)."""
        return self.containers.prune(filters)

    def list_containers(
        self, all: bool = False, filters: dict[str, list[str]] | None = None
    ) -> list[ContainerInfo]:
        return self.containers.list(all=all, filters=filters)

    def container(self, name: str) -> ContainerInfo:
        return self.containers.info(self.containers.resolve(name))

    def inspect_container(self, name: str) -> dict:
        return self.containers.inspect(name)

    def container_stats(self, name: str) -> CgroupStats:
        return self.containers.stats(name)  # type: ignore[return-value]

    def container_top(
        self, name: str, ps_args: list[str] | None = None
    ) -> tuple[list[str], list[list[str]]]:
        return self.containers.top(name, ps_args)


def default_engine() -> Engine:
    return Engine(Path(os.environ["TUIDOCK_ROOT"]) if os.environ.get("TUIDOCK_ROOT") else None)
