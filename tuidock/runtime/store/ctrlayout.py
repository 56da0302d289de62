"""The one place that names the files of a container directory.

    <root>/containers/<id>/
        config.json   Docker-shaped, written at create (and by rename)
        state.json    Status/Running/Pid/ExitCode/... plus the monitor's bookkeeping
        spec.json     the ContainerSpec the monitor hands to the isolation code
        network.json  the bridge endpoint (address, ports, joined networks)
        ctr.log       json-file log, written by the monitor
        monitor.log   the monitor's own errors
        op.lock       serialises start and rm of one container
        upper/ work/ merged/        the overlay
        hostname hosts resolv.conf  bound over the container's /etc files

Paths are plain strings joined with "/": exec's hot path and the UI's poll
read these files many times a second, where pathlib's joins cost more than
the reads. Callers that want a Path wrap one.
"""

from __future__ import annotations

import os

CONTAINERS = "containers"
CONFIG = "config.json"
STATE = "state.json"
SPEC = "spec.json"
NETWORK = "network.json"
LOG = "ctr.log"
MONITOR_LOG = "monitor.log"
OP_LOCK = "op.lock"
UPPER = "upper"
WORK = "work"
MERGED = "merged"
HOSTNAME = "hostname"
HOSTS = "hosts"
RESOLV_CONF = "resolv.conf"
# The overlay's directories, made at create.
OVERLAY_DIRS = (UPPER, WORK, MERGED)


def containers_dir(root: str | os.PathLike[str]) -> str:
    """<root>/containers: one directory per container, named by its 64-hex ID."""
    return f"{os.fspath(root)}/{CONTAINERS}"


def container_dir(root: str | os.PathLike[str], cid: str) -> str:
    return f"{os.fspath(root)}/{CONTAINERS}/{cid}"


def _file(name: str) -> property:
    return property(lambda d: f"{d.path}/{name}", doc=f"<container dir>/{name}")


class ContainerDir:
    """One container directory and the paths of what it holds (str)."""

    __slots__ = ("path",)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)

    @classmethod
    def of(cls, root: str | os.PathLike[str], cid: str) -> ContainerDir:
        return cls(container_dir(root, cid))

    def file(self, name: str) -> str:
        return f"{self.path}/{name}"

    config = _file(CONFIG)
    state = _file(STATE)
    spec = _file(SPEC)
    network = _file(NETWORK)
    log = _file(LOG)
    monitor_log = _file(MONITOR_LOG)
    op_lock = _file(OP_LOCK)
    upper = _file(UPPER)
    work = _file(WORK)
    merged = _file(MERGED)
    hostname = _file(HOSTNAME)
    hosts = _file(HOSTS)
    resolv_conf = _file(RESOLV_CONF)
