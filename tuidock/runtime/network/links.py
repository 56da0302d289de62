"""Links, addresses, routes and network namespaces, over netlink (pyroute2).

Imported only when a bridge container starts or is torn down: pyroute2
costs ~0.25 s to import here, which `ps` or `images` must never pay.

Bridge lifetime: the bridge is created by the first container that needs
it and deleted by the last one's teardown when no port is enslaved to it
any more (as netavark does), so an idle host carries nothing of ours. The bridge's
outbound NAT rules (nat.py) come and go with it.
Create/delete of the bridge and veth enslaving run under a host-wide flock
(/run/lock/tuidock-<bridge>.lock): two data roots may share the bridge.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from tuidock.runtime.linux import syscalls as sc
from tuidock.runtime.linux.locking import file_lock


def _light_pyroute2() -> None:
    """Let `pyroute2.iproute` load without pyroute2/__init__.py.

    That __init__ imports NDB, IPDB, conntrack, ... (~0.3 s here); an empty
    package module with the real __path__ lets the two submodules we need
    load alone (~0.13 s). If pyroute2 is already imported, nothing changes.
    """
    import importlib.util
    import sys
    import types

    if "pyroute2" in sys.modules:
        return
    spec = importlib.util.find_spec("pyroute2")
    if spec is None or not spec.submodule_search_locations:
        return  # let the imports below fail with pyroute2's own error
    pkg = types.ModuleType("pyroute2")
    pkg.__path__ = list(spec.submodule_search_locations)
    pkg.__spec__ = spec
    pkg.__file__ = spec.origin
    sys.modules["pyroute2"] = pkg


_light_pyroute2()
from pyroute2.iproute.linux import IPRoute  # noqa: E402 - after the light package above
from pyroute2.netlink.exceptions import NetlinkError  # noqa: E402

IFA_F_NODAD = 0x02  # linux/if_addr.h


def create_netns(path: str) -> None:
    """A new network namespace, kept alive by a bind mount of its nsfs file on `path`.

    Not pyroute2's netns.create: that one makes the parent directory a shared
    mount of itself (iproute2's /run/netns dance), a mount of ours that would
    stay behind in the runtime directory. A bind mount on a plain file in a
    per-data-root directory is all spawn()'s setns needs, and keeps data roots
    (and tests) from seeing each other's namespaces.
    """
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0))
    pid = os.fork()  # unshare(CLONE_NEWNET) must not move this process itself
    if pid == 0:
        code = 1
        try:
            sc.unshare(sc.CLONE_NEWNET)
            sc.mount("/proc/self/ns/net", path, None, sc.MS_BIND)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        raise OSError(f"cannot create the network namespace {path}")


def remove_netns(path: str) -> None:
    try:
        sc.umount2(path, sc.MNT_DETACH)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOENT):
            raise
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


@contextlib.contextmanager
def bridge_lock(bridge: str) -> Iterator[None]:
    with file_lock(Path(f"/run/lock/tuidock-{bridge}.lock")):
        yield


def _ensure_bridge(ipr: IPRoute, ep: dict) -> int:
    """The bridge's index, creating it (with its NAT rules, nat.py) if needed."""
    from tuidock.runtime.network import nat

    found = ipr.link_lookup(ifname=ep["Bridge"])
    if found:
        idx = found[0]
    else:
        _check_subnet_free(ep)
        ipr.link("add", ifname=ep["Bridge"], kind="bridge")
        idx = ipr.link_lookup(ifname=ep["Bridge"])[0]
        ipr.addr("add", index=idx, address=ep["Gateway"], prefixlen=ep["PrefixLen"])
        if ep.get("IPv6Gateway"):
            _add_v6(ipr, idx, ep["IPv6Gateway"], ep["GlobalIPv6PrefixLen"])
        ipr.link("set", index=idx, state="up")
    if not (nat.RECORDS / ep["Bridge"]).exists():  # also heals a crash right after "add"
        subnet = ipaddress.IPv4Interface(f"{ep['Gateway']}/{ep['PrefixLen']}").network
        nat.bridge_up(ep["Bridge"], str(subnet))
    return idx


def _check_subnet_free(ep: dict) -> None:
    """Refuse to bring up a bridge whose subnet a host route or address already uses
    (another data root's bridge, a VPN...): both would break. Subnets are chosen
    free at definition time, but a route may have appeared since."""
    from tuidock.errors import UsageError
    from tuidock.runtime.network.hostroutes import first_free

    subnet = ipaddress.IPv4Interface(f"{ep['Gateway']}/{ep['PrefixLen']}").network
    if first_free([subnet], []) is None:
        raise UsageError(
            f"subnet {subnet} of network {ep.get('NetworkID', '?')} overlaps a route or "
            "address already on the host",
            "Remove the network and create it again (a free subnet is picked), or give "
            "another one with --subnet (TUIDOCK_BRIDGE_SUBNET for the default bridge).",
        )


def _add_v6(ipr: IPRoute, index: int, address: str, prefixlen: int) -> None:
    """An IPv6 address usable at once: no duplicate address detection (IPAM already
    made it unique), which would otherwise hold it "tentative" for a second or more."""
    ipr.addr(
        "add",
        index=index,
        address=address,
        prefixlen=prefixlen,
        family=socket.AF_INET6,
        flags=IFA_F_NODAD,
    )


def attach(ep: dict) -> None:
    """Netns file, veth pair (host side on the bridge, eth0 inside), lo, address, route."""
    path = ep["NetnsPath"]
    create_netns(path)
    try:
        with bridge_lock(ep["Bridge"]), IPRoute() as ipr:
            br = _ensure_bridge(ipr, ep)
            ipr.link(
                "add",
                ifname=ep["Veth"],
                kind="veth",
                peer={"ifname": "eth0", "net_ns_fd": path},
            )
            host = ipr.link_lookup(ifname=ep["Veth"])[0]
            ipr.link("set", index=host, master=br, state="up")
        with IPRoute(netns=path) as ns:
            lo = ns.link_lookup(ifname="lo")[0]
            ns.link("set", index=lo, state="up")
            eth0 = ns.link_lookup(ifname="eth0")[0]
            ns.link("set", index=eth0, address=ep["MacAddress"])
            ns.addr("add", index=eth0, address=ep["IPAddress"], prefixlen=ep["PrefixLen"])
            if ep.get("GlobalIPv6Address"):
                _add_v6(ns, eth0, ep["GlobalIPv6Address"], ep["GlobalIPv6PrefixLen"])
            ns.link("set", index=eth0, state="up")
            ns.route("add", dst="default", gateway=ep["Gateway"])
            if ep.get("IPv6Gateway"):
                ns.route("add", dst="::/0", gateway=ep["IPv6Gateway"], family=socket.AF_INET6)
    except BaseException:
        detach(ep)
        raise


def attach_extra(sub: dict, netns: str) -> None:
    """`network connect`: one more veth, on `sub`'s bridge, as sub["Ifname"] (eth1, ...)
    in the container's existing netns `netns`; address and MAC, no default route
    (the first network keeps it, as in Docker)."""
    try:
        with bridge_lock(sub["Bridge"]), IPRoute() as ipr:
            br = _ensure_bridge(ipr, sub)
            ipr.link(
                "add",
                ifname=sub["Veth"],
                kind="veth",
                peer={"ifname": sub["Ifname"], "net_ns_fd": netns},
            )
            host = ipr.link_lookup(ifname=sub["Veth"])[0]
            ipr.link("set", index=host, master=br, state="up")
        with IPRoute(netns=netns) as ns:
            idx = ns.link_lookup(ifname=sub["Ifname"])[0]
            ns.link("set", index=idx, address=sub["MacAddress"])
            ns.addr("add", index=idx, address=sub["IPAddress"], prefixlen=sub["PrefixLen"])
            if sub.get("GlobalIPv6Address"):
                _add_v6(ns, idx, sub["GlobalIPv6Address"], sub["GlobalIPv6PrefixLen"])
            ns.link("set", index=idx, state="up")
    except BaseException:
        detach_extra(sub)
        raise


def detach_extra(sub: dict) -> None:
    """Undo attach_extra() (the netns stays); drop the bridge if nothing is on it."""
    with bridge_lock(sub["Bridge"]), IPRoute() as ipr:
        with contextlib.suppress(NetlinkError):
            ipr.link("del", ifname=sub["Veth"])
        _drop_empty_bridge(ipr, sub["Bridge"])


def _drop_empty_bridge(ipr: IPRoute, bridge: str) -> None:
    found = ipr.link_lookup(ifname=bridge)
    if found:
        ports = [link for link in ipr.get_links() if link.get("IFLA_MASTER") == found[0]]
        if not ports:
            with contextlib.suppress(NetlinkError):
                ipr.link("del", index=found[0])
    if not ipr.link_lookup(ifname=bridge):
        from tuidock.runtime.network import nat

        nat.bridge_down(bridge)  # its rules go with it (no-op if it had none)


def detach(ep: dict) -> None:
    """Undo attach() and every attach_extra() of ep["Connected"]; every step
    tolerates what is already gone."""
    try:
        for sub in (ep.get("Connected") or {}).values():
            detach_extra(sub)
        with bridge_lock(ep["Bridge"]), IPRoute() as ipr:
            with contextlib.suppress(NetlinkError):
                # Deleting one end of a veth deletes its peer in the netns too.
                ipr.link("del", ifname=ep["Veth"])
            _drop_empty_bridge(ipr, ep["Bridge"])
    finally:
        remove_netns(ep["NetnsPath"])  # even if a NAT update failed
