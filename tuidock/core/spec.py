"""What a container is made of: the contract between the lifecycle code
(monitor, CLI, Engine) and the isolation code that builds the container.

A ContainerSpec is written once at `create` to containers/<id>/spec.json
and read by the monitor; it holds only resolved, host-side facts (paths,
numbers), never references to be looked up again.
"""

from __future__ import annotations

import json
from pathlib import Path

from tuidock.core.record import Record, field


class MountSpec(Record):
    """An extra mount inside the container (bind mounts, volumes, tmpfs)."""

    destination: str
    type: str = "bind"  # "bind" | "tmpfs"
    source: str = ""
    options: list[str] = field(default_factory=list)  # "ro", "nosuid", "nodev", "size=64m"...


class Limits(Record):
    memory: int | None = None  # bytes (-m)
    cpus: float | None = None  # --cpus
    pids: int | None = None  # --pids-limit


class ContainerSpec(Record):
    id: str
    hostname: str
    args: list[str]  # Entrypoint + Cmd, resolved
    env: list[str]  # "KEY=value", image defaults merged with -e
    cwd: str = "/"
    user: str = ""  # as given: "", "1000", "www-data", "1000:33"; resolved inside the rootfs
    terminal: bool = False  # -t: the process gets a pts of the container's own devpts
    stdin: bool = False  # -i: keep stdin open
    lower_dirs: list[str] = field(default_factory=list)  # image layers, top first
    upper_dir: str = ""  # containers/<id>/upper
    work_dir: str = ""  # containers/<id>/work
    rootfs: str = ""  # mount point of the merged root, containers/<id>/merged
    readonly_rootfs: bool = False
    network: str = "none"  # "none" | "host" | "netns:<path>" (join an existing netns)
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    init: bool = False  # --init: a reaper as PID 1
    # Compiled seccomp filter (containers/<id>/seccomp.bpf); "": unconfined.
    seccomp_filter: str = ""
    no_new_privs: bool = False  # --security-opt no-new-privileges
    etc_files: dict[str, str] = field(default_factory=dict)  # "/etc/hosts" -> host file
    mounts: list[MountSpec] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)
    stop_signal: str = "SIGTERM"

    @classmethod
    def load(cls, path: Path) -> ContainerSpec:
        data = json.loads(path.read_text())
        data["mounts"] = [MountSpec(**m) for m in data.get("mounts", [])]
        data["limits"] = Limits(**data.get("limits", {}))
        return cls(**data)
