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

from tuidock.errors import Conflict, UsageError
from tuidock.runtime.linux.locking import atomic_write, file_lock
from tuidock.runtime.network import _new_config, network_config, networks_dir
from tuidock.runtime.store import events
from tuidock.runtime.store.ctrlayout import ContainerDir, container_dir

TYPE_CHECKING = False  # typing itself costs ~2 ms of a CLI start
if TYPE_CHECKING:
    from tuidock.core.prunefilter import PruneFilter

RESERVED = ("bridge", "default", "none", "host")
_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


def _config_path(root: Path, name: str) -> Path:
    return networks_dir(root) / f"net-{name}.json"


def create(
    root: Path, name: str, subnet: str | None = None, ipv6: bool = False, subnet6: str | None = None
) -> dict:
    """Define user network `name`: an IPv4 /24 (given or the first free one) and,
    with `ipv6`, an IPv6 subnet too (given, or a free /64 of fd00::/8 derived
    from the name and data root, a Unique Local Address as RFC 4193 wants)."""
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
            # The first /24 of 10.89.1-127.0 that no network of this root and no
            # host route or address overlaps (below the default bridge's 10.89.128/24).
            from tuidock.runtime.network.hostroutes import first_free

            pool = (ipaddress.IPv4Network(f"10.89.{i}.0/24") for i in range(1, 128))
            found = first_free(pool, used)
            if found is None:
                raise Conflict("no free /24 left in 10.89.0.0/17; give one with --subnet")
            net = found
        digest = hashlib.sha256(f"{root.absolute()}:{name}".encode()).hexdigest()
        config = _new_config(name, f"tdn{digest[:8]}", net)
        if ipv6 or subnet6:
            if not ipv6:
                raise UsageError(
                    f"IPv6 subnet {subnet6} given without --ipv6", "Add --ipv6 to enable it."
                )
            net6 = _ipv6_subnet(root, subnet6, net, bytes.fromhex(digest))
            config.update(
                EnableIPv6=True, Subnet6=str(net6), Gateway6=str(net6.network_address + 1)
            )
        atomic_write(_config_path(root, name), json.dumps(config, indent=2).encode())
    events.record_network(root, "create", config)
    return config


def _ipv6_subnet(
    root: Path, given: str | None, net4: ipaddress.IPv4Network, digest: bytes
) -> ipaddress.IPv6Network:
    used = [ipaddress.IPv6Network(n["Subnet6"]) for n in all_networks(root) if n.get("Subnet6")]
    if given:
        try:
            net6 = ipaddress.IPv6Network(given)
        except ValueError as exc:
            raise UsageError(f"invalid IPv6 subnet {given}: {exc}") from None
        clash = [u for u in used if u.overlaps(net6)]
        if clash:
            raise Conflict(f"subnet {net6} overlaps with {clash[0]} of another network")
    else:
        from tuidock.runtime.network.hostroutes import first_free

        # fdXX:XXXX:XXXX:YYYY::/64: a 40-bit global ID from the digest, then subnet IDs.
        gid = int.from_bytes(digest[:5], "big")
        pool = (
            ipaddress.IPv6Network(((0xFD << 120) | (gid << 80) | (i << 64), 64))
            for i in range(0x10000)
        )
        found = first_free(pool, used)
        if found is None:
            raise Conflict("no free IPv6 /64 found; give one with --subnet")
        net6 = found
    # Each IPv4 host number maps to the same one in the IPv6 subnet (ipv6_fields).
    if 128 - net6.prefixlen < 32 - net4.prefixlen:
        raise UsageError(f"IPv6 subnet {net6} is smaller than the IPv4 subnet {net4}")
    return net6


def all_networks(root: Path) -> list[dict]:
    """The default bridge (if ever used) and every user network."""
    out = []
    base = networks_dir(root)
    for path in sorted(base.glob("*.json")) if base.is_dir() else []:
        if path.name == "bridge.json" or path.name.startswith("net-"):
            try:
                data = json.loads(path.read_bytes())
            except (OSError, ValueError):
                continue
            # A network named net-x keeps its address table in net-x.ipam.json,
            # which the pattern also matches: a config is the one with a Name.
            if isinstance(data, dict) and "Name" in data and "Subnet" in data:
                out.append(data)
    return out


def listed(root: Path) -> list[dict]:
    """What `network ls` lists: the default bridge (defined on first use) first,
    then the user networks."""
    nets = [n for n in all_networks(root) if n["Name"] != "bridge"]
    return [network_config(root), *nets]


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
        live = {ip: c for ip, c in ipam.table().items() if os.path.isdir(container_dir(root, c))}
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
        config = json.loads(Path(ContainerDir.of(root, cid).config).read_bytes())
    except (OSError, ValueError):
        return None
    names = [config.get("Name", "").lstrip("/"), cid[:12]]
    hostname = (config.get("Config") or {}).get("Hostname")
    if hostname and hostname not in names:
        names.append(hostname)
    ep = _endpoint_with(root, cid, ip)
    names += [a for a in ep.get("Aliases") or [] if a not in names]
    text = " ".join(n for n in names if n)
    lines = f"{ip}\t{text}\t{_tag(cid)}\n"
    if ep.get("GlobalIPv6Address"):  # dual stack: the names resolve to both
        lines += f"{ep['GlobalIPv6Address']}\t{text}\t{_tag(cid)}\n"
    return lines


def _endpoint_with(root: Path, cid: str, ip: str) -> dict:
    """`cid`'s endpoint that has `ip` (its first network or one joined by `network
    connect`) from its network.json: --network-alias names, IPv6 address."""
    try:
        ep = json.loads(Path(ContainerDir.of(root, cid).network).read_bytes())
    except (OSError, ValueError):
        return {}
    for one in [ep, *(ep.get("Connected") or {}).values()]:
        if one.get("IPAddress") == ip:
            return one
    return {}


def _rewrite(path: str, drop: set[str], add: list[str]) -> None:
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
    _rewrite(ContainerDir.of(root, cid).hosts, {_tag(c) for c in peers}, lines)
    if own:
        for c in peers:
            _rewrite(ContainerDir.of(root, c).hosts, {_tag(cid)}, [own])


def hosts_left(root: Path, table: dict[str, str], cid: str) -> None:
    for c in table.values():
        if c != cid:
            _rewrite(ContainerDir.of(root, c).hosts, {_tag(cid)}, [])


def hosts_left_by(root: Path, cid: str, table: dict[str, str]) -> None:
    """`cid` left the network whose IPAM table was `table`: drop its peers' lines."""
    _rewrite(ContainerDir.of(root, cid).hosts, {_tag(c) for c in table.values() if c != cid}, [])
