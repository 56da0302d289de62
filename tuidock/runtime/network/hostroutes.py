"""Which IPv4 subnets the host already uses, so a new network never shadows one.

Docker picks the first pool subnet that overlaps no route of the host; so do
we, when a data root's default bridge is defined and when `network create` is
given no --subnet (or --ipv6 without an IPv6 one). /proc/net/route (the main
table, connected prefixes included), the local addresses in /proc/net/fib_trie
and /proc/net/ipv6_route are read: plain files, a few hundred microseconds, no
pyroute2 import on these paths.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterable, Iterator
from ipaddress import IPv4Network, IPv6Network
from typing import TypeVar

Net = TypeVar("Net", IPv4Network, IPv6Network)


def _routes(text: str) -> Iterator[IPv4Network]:
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        dst, mask = (
            socket.inet_ntoa(struct.pack("<I", int(f, 16))) for f in (fields[1], fields[7])
        )
        net = IPv4Network(f"{dst}/{mask}", strict=False)
        if net.prefixlen:  # the default route overlaps everything: not a used subnet
            yield net


def _local_addresses(text: str) -> Iterator[IPv4Network]:
    """Addresses the fib trie lists as "/32 host LOCAL" (an address with noprefixroute
    has no route line of its own, yet a subnet around it would break it)."""
    last = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|--"):
            last = stripped[3:].strip()
        elif stripped == "/32 host LOCAL" and last:
            addr = ipaddress.IPv4Address(last)
            if not addr.is_loopback:
                yield IPv4Network(f"{addr}/32")


def _routes6(text: str) -> Iterator[IPv6Network]:
    """/proc/net/ipv6_route: destination (32 hex digits) and prefix length (hex) first;
    all tables, so local addresses (/128) are in it too."""
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2 or len(fields[0]) != 32:
            continue
        net = IPv6Network((int(fields[0], 16), int(fields[1], 16)), strict=False)
        if net.prefixlen and not (net.is_link_local or net.is_multicast or net.is_loopback):
            yield net


def host_subnets() -> list[IPv4Network | IPv6Network]:
    """Routes and local addresses of the host (the current network namespace)."""
    out: list[IPv4Network | IPv6Network] = []
    sources = (
        ("/proc/net/route", _routes),
        ("/proc/net/fib_trie", _local_addresses),
        ("/proc/net/ipv6_route", _routes6),
    )
    for path, parse in sources:
        try:
            with open(path, encoding="ascii") as f:
                out += parse(f.read())
        except (OSError, ValueError):
            continue  # unreadable: choose as if nothing were there
    return out


def first_free(
    candidates: Iterable[IPv4Network], taken: Iterable[IPv4Network]
) -> IPv4Network | None:
    """The first candidate overlapping neither `taken` nor a host route/address."""
    busy = [*taken, *host_subnets()]
    return next((c for c in candidates if not any(c.overlaps(b) for b in busy)), None)
