"""What the container listings show: `ps` rows, filters, the inspect document, `top`.

Pure functions of config.json and the (reconciled) state, shared by the CLI
and the UI; containers.py gathers the inputs.
"""

from __future__ import annotations

import time
from pathlib import Path

from tuidock.core.status import ContainerStatus
from tuidock.errors import TuidockError, UsageError
from tuidock.runtime.store.containers import ZERO_TIME
from tuidock.runtime.store.ctrlayout import ContainerDir

# inspect's State keys, in Docker's order.
STATE_KEYS = (
    "Status",
    "Running",
    "Paused",
    "Restarting",
    "OOMKilled",
    "Dead",
    "Pid",
    "ExitCode",
    "Error",
    "StartedAt",
    "FinishedAt",
)


class ContainerInfo:
    """One row of `ps`: what the list shows, from config.json and reconciled state.

    A plain class rather than a dataclass: `ps`, `stop` and `rm` load this
    module, and dataclasses (with inspect) would cost each of them ~6 ms.
    """

    __slots__ = _FIELDS = (
        "id",
        "name",
        "image",
        "image_id",
        "command",
        "created",
        "state",
        "labels",
        "network",
        "ports",
    )

    def __init__(
        self,
        id: str,
        name: str,
        image: str,
        image_id: str,
        command: str,
        created: str,
        state: dict,
        labels: dict[str, str] | None = None,
        network: str = "",
        ports: str = "",
    ) -> None:
        self.id = id
        self.name = name
        self.image = image
        self.image_id = image_id
        self.command = command
        self.created = created
        self.state = state
        self.labels: dict[str, str] = {} if labels is None else labels
        self.network = network
        self.ports = ports

    def _values(self) -> tuple:
        return tuple(getattr(self, f) for f in self._FIELDS)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass was

    def __repr__(self) -> str:
        args = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._FIELDS)
        return f"ContainerInfo({args})"

    @property
    def status(self) -> ContainerStatus:
        return ContainerStatus.of(self.state)

    def status_text(self, now: float | None = None) -> str:
        """Docker's STATUS column: "Up 3 minutes", "Exited (0) 2 minutes ago", ..."""
        from tuidock.core.humanize import human_duration, parse_time

        now = time.time() if now is None else now
        st = self.state
        status = self.status

        def ago(ts: str) -> str:
            t = parse_time(ts)
            return human_duration(now - t) + " ago" if t else ""

        if status.is_up:
            t = parse_time(st["StartedAt"]) or now
            text = "Up " + human_duration(now - t)
            return text + " (Paused)" if status == ContainerStatus.PAUSED else text
        if status == ContainerStatus.RESTARTING:
            return f"Restarting ({st['ExitCode']}) {ago(st['FinishedAt'])}".rstrip()
        if status == ContainerStatus.EXITED:
            if st["FinishedAt"] in ("", ZERO_TIME):
                return f"Exited ({st['ExitCode']})"
            return f"Exited ({st['ExitCode']}) {ago(st['FinishedAt'])}"
        if status == ContainerStatus.DEAD:
            return "Dead"
        return "Created"


def command_line(path: str, args: list[str]) -> str:
    """Docker's ps COMMAND: args holding a space are put in single quotes."""
    if not args:
        return path
    return path + " " + " ".join(f"'{a}'" if " " in a else a for a in args)


def matches(info: ContainerInfo, filters: dict[str, list[str]]) -> bool:
    """Docker's ps --filter: values of one key OR'ed, keys AND'ed."""
    import re

    for key, values in filters.items():
        if key == "status":
            ok = info.status in values
        elif key == "name":
            ok = any(re.search(v, info.name) for v in values)
        elif key == "id":
            ok = any(info.id.startswith(v) for v in values)
        elif key == "label":
            ok = all(
                (k in info.labels and (not sep or info.labels[k] == v))
                for k, sep, v in (item.partition("=") for item in values)
            )
        elif key == "ancestor":
            ok = any(
                v in (info.image, info.image_id) or info.image_id.startswith("sha256:" + v)
                for v in values
            )
        elif key == "exited":
            ok = info.status == ContainerStatus.EXITED and str(info.state["ExitCode"]) in values
        else:
            raise UsageError(f"invalid filter '{key}'")
        if not ok:
            return False
    return True


def inspect_document(config: dict, state: dict, cdir: Path, lower_dirs: str) -> dict:
    """`inspect` of a container, with Docker's field names."""
    files = ContainerDir(cdir)
    return {
        "Id": config["Id"],
        "Created": config["Created"],
        "Path": config["Path"],
        "Args": config["Args"],
        "State": {k: state[k] for k in STATE_KEYS},
        "Image": config["Image"],
        "ResolvConfPath": config.get("ResolvConfPath", ""),
        "HostnamePath": config.get("HostnamePath", ""),
        "HostsPath": config.get("HostsPath", ""),
        "LogPath": config.get("LogPath", ""),
        "Name": config["Name"],
        "RestartCount": state["RestartCount"],
        "Driver": "overlay",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": config["HostConfig"],
        "GraphDriver": {
            "Name": "overlay",
            "Data": {
                "LowerDir": lower_dirs,
                "UpperDir": files.upper,
                "WorkDir": files.work,
                "MergedDir": files.merged,
            },
        },
        "Mounts": config.get("Mounts") or [],
        "Config": config["Config"],
        "NetworkSettings": network_settings(config, state, cdir),
    }


def network_settings(config: dict, state: dict, cdir: Path) -> dict:
    """Inspect's NetworkSettings from network.json, with Docker's field names.

    Networks has the network the container was created on plus those joined by
    `network connect`; top-level IPAddress/Gateway/MacAddress are filled for the
    default bridge only, as Docker does; Ports lists the bound host ports while
    the proxy runs (null for a port that is exposed but not published).
    """
    import json

    mode = config["HostConfig"]["NetworkMode"]
    try:
        with open(ContainerDir(cdir).network, "rb") as f:
            ep = json.loads(f.read())
    except (OSError, ValueError):
        ep = None
    out: dict = {"Networks": {mode: {}}, "Ports": {}}
    if ep is None:
        return out
    root = cdir.parent.parent  # <data root>/containers/<ID>

    def one(e: dict) -> dict:
        net_id = ""
        try:
            from tuidock.runtime.network import network_config

            net_id = network_config(root, e["NetworkID"])["Id"]
        except Exception:
            pass
        return {
            "Aliases": list(e.get("Aliases") or []) or None,
            "NetworkID": net_id,
            "Gateway": e["Gateway"],
            "IPAddress": e["IPAddress"],
            "IPPrefixLen": e["PrefixLen"],
            "MacAddress": e["MacAddress"],
            "IPv6Gateway": e.get("IPv6Gateway", ""),
            "GlobalIPv6Address": e.get("GlobalIPv6Address", ""),
            "GlobalIPv6PrefixLen": e.get("GlobalIPv6PrefixLen", 0),
        }

    out["Networks"] = {ep["NetworkID"]: one(ep)}
    for name, extra in (ep.get("Connected") or {}).items():
        out["Networks"][name] = one(extra)
    if ep["NetworkID"] == "bridge":
        out["Gateway"] = ep["Gateway"]
        out["IPAddress"] = ep["IPAddress"]
        out["IPPrefixLen"] = ep["PrefixLen"]
        out["MacAddress"] = ep["MacAddress"]
    else:
        out.update(Gateway="", IPAddress="", IPPrefixLen=0, MacAddress="")
    ports: dict = {p: None for p in (config["Config"].get("ExposedPorts") or {})}
    if ContainerStatus.of(state).is_active:
        for p in ep.get("Ports") or []:
            if p.get("host_port"):
                key = f"{p['container_port']}/{p['protocol']}"
                ports[key] = (ports.get(key) or []) + [
                    {"HostIp": p["host_ip"] or "0.0.0.0", "HostPort": str(p["host_port"])}
                ]
    out["Ports"] = ports
    return out


def ps_rows(pids: list[int], ps_args: list[str]) -> tuple[list[str], list[list[str]]]:
    """The host's `ps <ps_args>` cut down to `pids` (as `docker top` does): (header, rows)."""
    import subprocess

    wanted = {str(p) for p in pids}
    try:
        out = subprocess.run(
            ["ps", *ps_args], capture_output=True, text=True, check=True
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise TuidockError(f"ps {' '.join(ps_args)} failed: {exc}") from None
    header = out[0].split()
    if "PID" not in header:
        raise UsageError(f"couldn't find PID field in ps output (ps {' '.join(ps_args)})")
    col = header.index("PID")
    rows = []
    for line in out[1:]:
        cells = line.split(None, len(header) - 1)
        if len(cells) > col and cells[col] in wanted:
            rows.append(cells)
    return header, rows
