"""IP address management for one network, persisted under the data root.

<data root>/networks/<name>.ipam.json maps address -> container ID. Every
change happens under an exclusive flock on <name>.ipam.lock, so concurrent
`run`s never hand out the same address; flock dies with its holder, so a
killed CLI never leaves the file locked. An entry whose container directory
is gone (a crash between create and rm) is dropped at the next allocation,
so leaks heal themselves without a daemon.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from tuidock.errors import Conflict, UsageError
from tuidock.runtime.linux.locking import atomic_write, file_lock
from tuidock.runtime.network import network_config, networks_dir
from tuidock.runtime.store import ctrlayout


class Ipam:
    def __init__(self, root: Path, network: str = "bridge") -> None:
        self.root = root
        self.config = network_config(root, network)
        self.name = self.config["Name"]
        base = networks_dir(root)
        self.path = base / f"{self.name}.ipam.json"
        # Name resolution (usernets): user networks only, as Docker's default bridge.
        self.resolve_names = self.name != "bridge"
        self.lock = base / f"{self.name}.ipam.lock"

    def _load(self) -> dict[str, str]:
        try:
            return json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}

    def _save(self, table: dict[str, str]) -> None:
        # fsync'ed write: after a power loss two containers must not share an address.
        atomic_write(self.path, json.dumps(table, indent=1, sort_keys=True).encode())

    def allocate(self, cid: str, requested: str | None = None) -> str:
        subnet = ipaddress.IPv4Network(self.config["Subnet"])
        gateway = ipaddress.IPv4Address(self.config["Gateway"])
        containers = Path(ctrlayout.containers_dir(self.root))
        with file_lock(self.lock):
            table = self._load()
            # Self-healing: drop entries of containers that no longer exist.
            table = {ip: c for ip, c in table.items() if (containers / c).is_dir() or c == cid}
            for ip, owner in table.items():
                if owner == cid:
                    return ip
            if requested is not None:
                try:
                    want = ipaddress.IPv4Address(requested)
                except ValueError:
                    raise UsageError(f"invalid IPv4 address: {requested}") from None
                if want not in subnet or want in (gateway, subnet.broadcast_address):
                    raise UsageError(f"--ip {want} is not a usable address of {subnet}")
                if str(want) in table:
                    raise Conflict(f"Address {want} already in use on network {self.name}")
                chosen = str(want)
            else:
                # Lowest free address, as Docker does (after the gateway).
                chosen = next(
                    (str(a) for a in subnet.hosts() if a != gateway and str(a) not in table),
                    "",
                )
                if not chosen:
                    raise Conflict(f"no free address left in {subnet} (network {self.name})")
            table[chosen] = cid
            self._save(table)
            return chosen

    def release(self, cid: str) -> None:
        if not self.path.exists():
            return
        with file_lock(self.lock):
            table = self._load()
            kept = {ip: c for ip, c in table.items() if c != cid}
            if kept != table:
                self._save(kept)
                if self.resolve_names:
                    from tuidock.runtime.network import usernets

                    usernets.hosts_left(self.root, kept, cid)

    def publish_names(self, cid: str) -> None:
        """After `cid`'s /etc/hosts is written: exchange hosts lines with its peers."""
        if not self.resolve_names:
            return
        from tuidock.runtime.network import usernets

        with file_lock(self.lock):
            table = self._load()
            for ip, owner in table.items():
                if owner == cid:
                    usernets.hosts_joined(self.root, table, cid, ip)

    def table(self) -> dict[str, str]:
        return self._load()
