"""A container's place on the bridge: planned at create, brought up by its monitor.

network.json in the container directory holds the endpoint (address, MAC,
netns name, host veth, published ports). The monitor brings it up before
the first start and down when it ends (Attachment). While up, the monitor
holds an exclusive flock on <runtime dir>/net/<ID>.lock and a record
<ID>.json names what exists on the host; `reconcile()` (run by `ps`, `rm`)
tears down every record whose lock nobody holds: its monitor died (kill -9)
without cleaning up. The lock is taken before anything is created, so a
starting container is never mistaken for a dead one.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
from pathlib import Path

from tuidock.runtime.network import ipv6_fields, mac_for
from tuidock.runtime.store import ctrlayout, events, paths

TYPE_CHECKING = False  # typing itself costs ~2 ms of a CLI start
if TYPE_CHECKING:
    from tuidock.runtime.network.ports import PortMapping

ENDPOINT_FILE = ctrlayout.NETWORK


def plan(
    root: Path,
    cid: str,
    requested_ip: str | None,
    ports: list[PortMapping],
    network: str,
    aliases: list[str] | None = None,
) -> dict:
    """Allocate the address and describe the endpoint (nothing is created on the host)."""
    from tuidock.runtime.network.ipam import Ipam

    ipam = Ipam(root, network)
    ip = ipam.allocate(cid, requested_ip)
    cfg = ipam.config
    return {
        "NetworkID": cfg["Name"],
        "Bridge": cfg["Bridge"],
        "Gateway": cfg["Gateway"],
        "IPAddress": ip,
        "PrefixLen": ipaddress.IPv4Network(cfg["Subnet"]).prefixlen,
        "MacAddress": mac_for(ip),
        # Per data root (see links.create_netns); `nsenter --net=PATH` enters it.
        "NetnsPath": str(paths.runtime_dir() / "netns" / cid),
        # 15-character limit on interface names: "td" + 8 hex digits is unique enough
        # among the containers of one host (a clash fails the start, never leaks).
        "Veth": f"td{cid[:8]}",
        **ipv6_fields(cfg, ip),
        "Ports": [p.to_dict() for p in ports],
        # --network-alias: extra names peers' /etc/hosts give this address (usernets).
        "Aliases": list(aliases or []),
    }


def load(cdir: Path | str) -> dict | None:
    try:
        return json.loads(Path(cdir, ENDPOINT_FILE).read_bytes())
    except FileNotFoundError:
        return None


def release(root: Path, cid: str) -> None:
    """Give the container's address back (rm), on whichever network it was;
    also tears down a stale endpoint, if any."""
    reconcile(only=cid)
    from tuidock.runtime.network.ipam import Ipam
    from tuidock.runtime.network.usernets import all_networks

    for cfg in all_networks(root):
        Ipam(root, cfg["Name"]).release(cid)


def _net_dir() -> Path:
    return paths.runtime_dir() / "net"


def _try_lock(path: Path) -> int | None:
    """An fd holding an exclusive flock on `path`, or None if someone else holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def reconcile(only: str | None = None) -> list[str]:
    """Tear down endpoints whose monitor is gone; their container IDs."""
    base = _net_dir()
    try:
        names = os.listdir(base)
    except FileNotFoundError:
        return []
    done = []
    for name in names:
        if not name.endswith(".json") or (only and name != f"{only}.json"):
            continue
        cid = name.removesuffix(".json")
        fd = _try_lock(base / f"{cid}.lock")
        if fd is None:
            continue  # its monitor is alive and owns it
        try:
            try:
                ep = json.loads((base / name).read_bytes())
            except (FileNotFoundError, ValueError):
                ep = None
            if ep is not None:
                from tuidock.runtime.network import links

                links.detach(ep)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(base / name)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(base / f"{cid}.lock")
            done.append(cid)
        finally:
            os.close(fd)
    return done


class Attachment:
    """The live endpoint of a running container, owned by its monitor."""

    def __init__(self, cdir: str, cid: str) -> None:
        self.cdir = cdir
        self.cid = cid
        self.ep: dict | None = None
        self.lock_fd: int | None = None
        self.proxy_pid = 0

    def up(self) -> None:
        ep = load(self.cdir)
        if ep is None:
            return
        from tuidock.runtime.network import links

        base = _net_dir()
        fd = _try_lock(base / f"{self.cid}.lock")
        if fd is None:
            raise RuntimeError("the container's network is held by another monitor")
        self.lock_fd = fd
        record = base / f"{self.cid}.json"
        try:
            # A previous monitor of this container died by SIGKILL and nothing
            # reconciled since: clear what it left before making it anew.
            links.detach(json.loads(record.read_bytes()))
        except (FileNotFoundError, ValueError):
            pass
        # Written before anything exists, so a crash at any point is reconciled.
        record.write_text(json.dumps(ep))
        self.ep = ep
        try:
            links.attach(ep)
            for extra in (ep.get("Connected") or {}).values():  # `network connect`
                links.attach_extra(extra, ep["NetnsPath"])
            if ep.get("Ports"):
                from tuidock.runtime.network import ports

                self.proxy_pid, bound = ports.start_proxy(
                    ep["IPAddress"], ep["Ports"], f"tdprx-{self.cid[:9]}"
                )
                ep["Ports"] = bound
                tmp = Path(self.cdir, ENDPOINT_FILE + ".tmp")
                tmp.write_text(json.dumps(ep, indent=1))
                os.replace(tmp, Path(self.cdir, ENDPOINT_FILE))
        except BaseException:
            self.down()
            raise

    def down(self) -> None:
        if self.ep is None:
            return
        ep, self.ep = self.ep, None
        if self.proxy_pid:
            from tuidock.runtime.network import ports

            ports.stop_proxy(self.proxy_pid)
            self.proxy_pid = 0
        from tuidock.runtime.network import links

        base = _net_dir()
        try:
            # `network connect` may have added endpoints since up(): the record has them.
            ep["Connected"] = (
                json.loads((base / f"{self.cid}.json").read_bytes()).get("Connected") or {}
            )
        except (FileNotFoundError, ValueError):
            pass
        try:
            links.detach(ep)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(base / f"{self.cid}.json")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(base / f"{self.cid}.lock")
            if self.lock_fd is not None:
                os.close(self.lock_fd)
                self.lock_fd = None


# -- `network connect` / `network disconnect` -------------------------------------------
#
# A container joined to one more network keeps that endpoint in network.json
# under "Connected" {network: endpoint}, its address in that network's IPAM,
# until `network disconnect` or `rm`. The veth exists while the container
# runs: Attachment.up() makes it at each start, and teardown (Attachment.down,
# reconcile, both via links.detach) removes it, because connect also writes
# it into the monitor's record <runtime dir>/net/<ID>.json.


def _save(cdir: Path, ep: dict) -> None:
    tmp = Path(cdir, ENDPOINT_FILE + ".tmp")
    tmp.write_text(json.dumps(ep, indent=1))
    os.replace(tmp, Path(cdir, ENDPOINT_FILE))


def _set_record(cid: str, network: str, extra: dict | None) -> None:
    """Add (or with None remove) a connected endpoint in the running monitor's record."""
    record = _net_dir() / f"{cid}.json"
    try:
        rec = json.loads(record.read_bytes())
    except (FileNotFoundError, ValueError):
        return  # not running: nothing to tear down later
    connected = rec.setdefault("Connected", {})
    if extra is None:
        connected.pop(network, None)
    else:
        connected[network] = extra
    tmp = record.with_name(record.name + ".tmp")
    tmp.write_text(json.dumps(rec))
    os.replace(tmp, record)


def connect(root: Path, cid: str, network: str, aliases: list[str] | None = None) -> dict:
    """Join container `cid` to user network `network`: now if it runs, else at its
    next start (as Docker)."""
    import hashlib
    import itertools

    from tuidock.errors import Conflict, UsageError
    from tuidock.runtime.network.ipam import Ipam

    cdir = Path(ctrlayout.container_dir(root, cid))
    ep = load(cdir)
    if ep is None:
        raise UsageError(
            "container has no network namespace of its own (--network none, host or container:)"
        )
    ipam = Ipam(root, network)
    name = ipam.name
    if name == "bridge":
        raise UsageError("network connect supports user-defined networks only")
    connected = ep.setdefault("Connected", {})
    if name == ep["NetworkID"] or name in connected:
        raise Conflict(f"container {cid[:12]} is already connected to network {name}")
    # Up only while its monitor holds the record; a created or stopped container gets
    # the endpoint recorded in network.json and made by Attachment.up() at start.
    live = os.path.exists(ep["NetnsPath"]) and (_net_dir() / f"{cid}.json").exists()
    ip = ipam.allocate(cid)
    used = {e.get("Ifname") for e in connected.values()}
    extra = {
        "NetworkID": name,
        "Bridge": ipam.config["Bridge"],
        "Gateway": ipam.config["Gateway"],
        "IPAddress": ip,
        "PrefixLen": ipaddress.IPv4Network(ipam.config["Subnet"]).prefixlen,
        "MacAddress": mac_for(ip),
        "Veth": f"td{cid[:8]}{hashlib.sha256(name.encode()).hexdigest()[:4]}",
        "Ifname": next(f"eth{i}" for i in itertools.count(1) if f"eth{i}" not in used),
        **ipv6_fields(ipam.config, ip),
        "Aliases": list(aliases or []),
    }
    connected[name] = extra
    try:
        _save(cdir, ep)
        if live:
            from tuidock.runtime.network import links

            _set_record(cid, name, extra)
            links.attach_extra(extra, ep["NetnsPath"])
    except BaseException:
        connected.pop(name, None)
        _set_record(cid, name, None)
        _save(cdir, ep)
        ipam.release(cid)
        raise
    ipam.publish_names(cid)
    events.record_network(root, "connect", ipam.config, container=cid)
    return extra


def disconnect(root: Path, cid: str, network: str) -> None:
    """Undo connect(): veth (if running), address, hosts lines both ways."""
    from tuidock.errors import UsageError
    from tuidock.runtime.network import usernets
    from tuidock.runtime.network.ipam import Ipam

    cdir = Path(ctrlayout.container_dir(root, cid))
    ep = load(cdir) or {}
    ipam = Ipam(root, network)
    name = ipam.name
    connected = ep.get("Connected") or {}
    if name not in connected:
        if ep.get("NetworkID") == name:
            raise UsageError(
                f"cannot disconnect container {cid[:12]} from {name}: it was created on it"
            )
        raise UsageError(f"container {cid[:12]} is not connected to network {name}")
    extra = connected.pop(name)
    if (_net_dir() / f"{cid}.json").exists():  # running: its veth goes now
        from tuidock.runtime.network import links

        links.detach_extra(extra)
        _set_record(cid, name, None)
    _save(cdir, ep)
    peers = ipam.table()
    ipam.release(cid)  # peers forget this container's line
    usernets.hosts_left_by(root, cid, peers)
    # A peer also met on another network keeps its line: publish those again.
    for other in [ep["NetworkID"], *connected]:
        Ipam(root, other).publish_names(cid)
    events.record_network(root, "disconnect", ipam.config, container=cid)
