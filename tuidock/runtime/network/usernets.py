"""User-defined networks: create, ls, inspect, rm, prune; names via /etc/hosts.

A user network is a bridge of its own (`tdn` + 8 hex digits, from the data
root and the name) with a /24 chosen at create time. It is defined by
<data root>/networks/net-<name>.json; its bridge exists only while a
container on it runs (links.detach removes an empty bridge).

Name resolution without a daemon: every container on a user network gets
one line per peer (address, container name, hostname, --network-alias names)
in its /etc/hosts, and its
own line goes into every peer's file. The lines are added when an address
is allocated (create) and removed when it is released (rm), under the
network's IPAM flock, so concurrent creates/rms see a consistent set.
The files are rewritten in place (same inode), because each is bind-mounted
into its running container: a rename would leave the container with the
old file. Compared with a DNS responder in a monitor, this costs nothing
at run time and needs no process per network; the price is that a rename
is not reflected until the container is re-created.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from tuidock.errors import Conflict, UsageError
from tuidock.runtime import events
from tuidock.runtime.locking import atomic_write, file_lock
from tuidock.runtime.network import _new_config, network_config, networks_dir

if TYPE_CHECKING:
    from tuidock.runtime.prunefilter import PruneFilter

RESERVED = ("bridge", "default", "none", "host")
_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


def _config_path(root: Path, name: str) -> Path:
    return networks_dir(root) / f"net-{name}.json"


def create(root: Path, name: str, subnet: str | None = None) -> dict:
    if name in RESERVED or name.startswith("container:"):
        raise UsageError(f"network name {name!r} is reserved")
    if not _NAME_RE.match(name) or len(name) > 64:
        raise UsageError(f"invalid network name {name!r}")
    import hashlib

    base = networks_dir(root)
    base.mkdir(parents=True, exist_ok=True)
    with file_lock(base / "networks.lock"):
        if _config_path(root, name).exists():
            raise Conflict(f"network with name {name} already exists")
        used = [ipaddress.IPv4Network(n["Subnet"]) for n in all_networks(root)]
        if subnet:
            try:
                net = ipaddress.IPv4Network(subnet)
            except ValueError as exc:
                raise UsageError(f"invalid subnet {subnet}: {exc}") from None
            if net.prefixlen > 29:
                raise UsageError(f"subnet {net} is too small (/29 at most)")
            clash = [u for u in used if u.overlaps(net)]
            if clash:
                raise Conflict(f"subnet {net} overlaps with {clash[0]} of another network")
        else:
            # The next free /24 of 10.89.0.0/16 below the default bridge's 10.89.128/24.
            net = next(
                (
                    c
                    for i in range(1, 128)
                    if not any(
                        (c := ipaddress.IPv4Network(f"10.89.{i}.0/24")).overlaps(u) for u in used
                    )
                ),
                None,
            )  # type: ignore[assignment]
            if net is None:
                raise Conflict("no free /24 left in 10.89.0.0/16; give one with --subnet")
        digest = hashlib.sha256(f"{root.absolute()}:{name}".encode()).hexdigest()
        config = _new_config(name, f"tdn{digest[:8]}", net)
        atomic_write(_config_path(root, name), json.dumps(config, indent=2).encode())
    events.record_network(root, "create", config)
    return config


def all_networks(root: Path) -> list[dict]:
    """The default bridge (if ever used) and every user network."""
    out = []
    base = networks_dir(root)
    for path in sorted(base.glob("*.json")) if base.is_dir() else []:
        if path.name == "bridge.json" or path.name.startswith("net-"):
            try:
                out.append(json.loads(path.read_bytes()))
            except (OSError, ValueError):
                continue
    return out


def endpoints(root: Path, name: str) -> dict[str, str]:
    """address -> container ID of the network's containers."""
    from tuidock.runtime.network.ipam import Ipam

    return Ipam(root, name).table()


def remove(root: Path, name: str) -> None:
    if name in RESERVED:
        raise UsageError(f"{name} is a pre-defined network and cannot be removed")
    config = network_config(root, name)  # NotFound-like error if missing
    from tuidock.runtime.network.ipam import Ipam

    ipam = Ipam(root, name)
    with file_lock(ipam.lock):
        live = {ip: c for ip, c in ipam.table().items() if (root / "containers" / c).is_dir()}
        if live:
            raise Conflict(f"error while removing network: network {name} has active endpoints")
        for path in (_config_path(root, name), ipam.path):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
    events.record_network(root, "destroy", config)


def prune(root: Path, filters: PruneFilter | None = None) -> list[str]:
    removed = []
    for cfg in all_networks(root):
        if cfg["Name"] in RESERVED:
            continue
        # Network records carry no creation time: their file's mtime stands for it.
        if filters and not filters.allows(
            cfg.get("Created") or _config_path(root, cfg["Name"]).stat().st_mtime, cfg.get("Labels")
        ):
            continue
        try:
            remove(root, cfg["Name"])
        except (Conflict, UsageError):
            continue
        removed.append(cfg["Name"])
    return removed


# -- name resolution through /etc/hosts ------------------------------------------------


def _tag(cid: str) -> str:
    return f"# tuidock-peer {cid[:12]}"


def _peer_line(root: Path, cid: str, ip: str) -> str | None:
    try:
        config = json.loads((root / "containers" / cid / "config.json").read_bytes())
    except (OSError, ValueError):
        return None
    names = [config.get("Name", "").lstrip("/"), cid[:12]]
    hostname = (config.get("Config") or {}).get("Hostname")
    if hostname and hostname not in names:
        names.append(hostname)
    names += [a for a in _aliases(root, cid, ip) if a not in names]
    return f"{ip}\t{' '.join(n for n in names if n)}\t{_tag(cid)}\n"


def _aliases(root: Path, cid: str, ip: str) -> list[str]:
    """--network-alias names of `cid`'s endpoint that has `ip` (its first network or
    one joined by `network connect`), from its network.json."""
    try:
        ep = json.loads((root / "containers" / cid / "network.json").read_bytes())
    except (OSError, ValueError):
        return []
    for one in [ep, *(ep.get("Connected") or {}).values()]:
        if one.get("IPAddress") == ip:
            return list(one.get("Aliases") or [])
    return []


def _rewrite(path: Path, drop: set[str], add: list[str]) -> None:
    """Edit a hosts file in place (same inode: it is bind-mounted in a container)."""
    try:
        with open(path, "r+", encoding="utf-8") as f:
            lines = f.read().splitlines(keepends=True)
            kept = [ln for ln in lines if not any(ln.rstrip().endswith(t) for t in drop)]
            text = "".join(kept + add)
            f.seek(0)
            f.write(text)
            f.truncate()
    except FileNotFoundError:
        pass


def hosts_joined(root: Path, table: dict[str, str], cid: str, ip: str) -> None:
    """`cid` got `ip`: peers learn its name, it learns theirs (under the IPAM lock)."""
    own = _peer_line(root, cid, ip)
    peers = {c: a for a, c in table.items() if c != cid}
    lines = [ln for c, a in peers.items() if (ln := _peer_line(root, c, a))]
    _rewrite(root / "containers" / cid / "hosts", {_tag(c) for c in peers}, lines)
    if own:
        for c in peers:
            _rewrite(root / "containers" / c / "hosts", {_tag(cid)}, [own])


def hosts_left(root: Path, table: dict[str, str], cid: str) -> None:
    for c in table.values():
        if c != cid:
            _rewrite(root / "containers" / c / "hosts", {_tag(cid)}, [])


def hosts_left_by(root: Path, cid: str, table: dict[str, str]) -> None:
    """`cid` left the network whose IPAM table was `table`: drop its peers' lines."""
    _rewrite(root / "containers" / cid / "hosts", {_tag(c) for c in table.values() if c != cid}, [])
