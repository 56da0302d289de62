"""Container networking without a daemon: the default `bridge` network.

Pieces (pyroute2 is imported only by `links`, i.e. only when a container
on the bridge is started or torn down; `ps`, `images` never load it):

- config: the network's bridge name and subnet, fixed at first use in
  <data root>/networks/bridge.json (TUIDOCK_BRIDGE / TUIDOCK_BRIDGE_SUBNET
  choose them then). The default subnet 10.89.128.0/24 avoids Docker's
  172.17/16 and Podman's 10.88/16; if a host route or address overlaps it,
  the next free /24 is taken (hostroutes.py).
- ipam: addresses are taken at `create` (so /etc/hosts can name them) and
  given back at `rm`; see ipam.py for the locking.
- endpoint: what a container's network looks like (address, MAC, netns
  path, veth name, published ports), stored in its directory as
  network.json; the monitor brings it up before the first start and down
  when it ends (endpoint.Attachment); `reconcile` cleans after a monitor
  that died by SIGKILL.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tuidock.errors import UsageError

TYPE_CHECKING = False  # typing itself costs ~2 ms of a CLI start
if TYPE_CHECKING:
    from ipaddress import IPv4Network, IPv6Network

DEFAULT_NETWORK = "bridge"
DEFAULT_BRIDGE = "tdbr0"
DEFAULT_SUBNET = "10.89.128.0/24"
# Set by `run` before it pre-starts a monitor for a bridge container: the
# monitor then imports pyroute2 while the CLI is still creating the container.
PRELOAD = False


def networks_dir(root: Path) -> Path:
    return root / "networks"


def network_config(root: Path, name: str = DEFAULT_NETWORK) -> dict:
    """The network's settings; the default bridge is defined on first use."""
    if name not in (DEFAULT_NETWORK, "default"):
        try:
            return json.loads((networks_dir(root) / f"net-{name}.json").read_bytes())
        except (FileNotFoundError, OSError):
            raise UsageError(
                f"network {name} not found", "See `tuidock network ls`; bridge, none, host."
            ) from None
    path = networks_dir(root) / "bridge.json"
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        pass
    import ipaddress

    wanted = os.environ.get("TUIDOCK_BRIDGE_SUBNET")
    try:
        subnet = ipaddress.ip_network(wanted or _default_subnet(root))
    except ValueError as exc:
        raise UsageError(f"invalid TUIDOCK_BRIDGE_SUBNET: {exc}") from None
    if subnet.version != 4 or subnet.prefixlen > 29:
        raise UsageError(f"bridge subnet {subnet} must be IPv4 and /29 or larger")
    bridge = os.environ.get("TUIDOCK_BRIDGE") or _default_bridge(root)
    if not 0 < len(bridge) < 16:
        raise UsageError(f"bridge name {bridge!r} must have 1 to 15 characters")
    config = _new_config(DEFAULT_NETWORK, bridge, subnet)
    from tuidock.runtime.linux.locking import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    # Two first users may race here: both write the same content, last one wins.
    atomic_write(path, json.dumps(config, indent=2).encode())
    return config


def _new_config(name: str, bridge: str, subnet: IPv4Network | IPv6Network) -> dict:
    import hashlib

    return {
        "Name": name,
        "Id": hashlib.sha256(f"{name}:{bridge}:{subnet}".encode()).hexdigest(),
        "Driver": "bridge",
        "Bridge": bridge,
        "Subnet": str(subnet),
        "Gateway": str(next(subnet.hosts())),
    }


def _root_digest(root: Path) -> bytes | None:
    """IPAM is per data root, so two roots on one bridge and subnet would hand out
    the same addresses: a root other than the standard one ($TUIDOCK_ROOT, e.g. a
    test's) gets a bridge name and a place in the subnet pool derived from its path."""
    if not os.environ.get("TUIDOCK_ROOT"):
        return None
    import hashlib

    return hashlib.sha256(str(root.absolute()).encode()).digest()


def _default_bridge(root: Path) -> str:
    digest = _root_digest(root)
    return DEFAULT_BRIDGE if digest is None else f"tdbr{digest[:4].hex()}"


def _default_subnet(root: Path) -> str:
    """The first /24 of 10.89.128-248.0 (from a per-root start) overlapping no host
    route or address and no network of this root, as Docker takes the first free
    subnet of its pool."""
    import ipaddress

    from tuidock.runtime.network.hostroutes import first_free
    from tuidock.runtime.network.usernets import all_networks

    digest = _root_digest(root)
    start = 0 if digest is None else 1 + digest[4] % 120
    pool = (ipaddress.IPv4Network(f"10.89.{128 + (start + i) % 121}.0/24") for i in range(121))
    taken = [ipaddress.ip_network(n["Subnet"]) for n in all_networks(root)]
    subnet = first_free(pool, taken)
    if subnet is None:
        raise UsageError(
            "no free /24 left in 10.89.128.0/17 for the default bridge",
            "Set TUIDOCK_BRIDGE_SUBNET to a free subnet.",
        )
    return str(subnet)


def ipv6_fields(config: dict, ip: str) -> dict:
    """The endpoint's IPv6 part on a dual-stack network (`network create --ipv6`),
    else {}. The IPv6 address has the IPv4 one's host number in the /64 (::1 the
    gateway, as .1): IPv4 IPAM's lock and table keep both unique, no second table."""
    if not config.get("Subnet6"):
        return {}
    import ipaddress

    net4 = ipaddress.IPv4Network(config["Subnet"])
    net6 = ipaddress.IPv6Network(config["Subnet6"])
    host = int(ipaddress.IPv4Address(ip)) - int(net4.network_address)
    return {
        "GlobalIPv6Address": str(net6.network_address + host),
        "GlobalIPv6PrefixLen": net6.prefixlen,
        "IPv6Gateway": config["Gateway6"],
    }


def mac_for(ip: str) -> str:
    """Docker's rule: 02:42 then the four bytes of the IPv4 address."""
    import ipaddress

    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed)
