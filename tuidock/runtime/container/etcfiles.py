"""/etc/hostname, /etc/hosts and /etc/resolv.conf of a container.

Written into the container's directory at create and bind-mounted by the
isolation code (spec.etc_files). On the bridge network /etc/hosts
names the container's own address and resolv.conf lists the host's DNS
servers minus local-only ones.
"""

from __future__ import annotations

import re
from pathlib import Path

HOSTS_LOCAL = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)
# Docker's fallback when nothing usable is left of the host's resolv.conf.
FALLBACK_DNS = ("8.8.8.8", "8.8.4.4")


def hosts_file(
    network: str, hostname: str, ip: str | None = None, extra: list[str] | None = None
) -> str:
    """/etc/hosts: the host's with --network host (its names resolve as on the host);
    else localhost entries plus the hostname on the container's address (127.0.1.1
    with --network none, where only lo exists); --add-host HOST:IP lines last."""
    if network == "host":
        try:
            text = Path("/etc/hosts").read_text()
        except OSError:
            text = HOSTS_LOCAL
    else:
        text = HOSTS_LOCAL + f"{ip or '127.0.1.1'}\t{hostname}\n"
    for item in extra or []:
        host, _, addr = item.partition(":")
        text += f"{addr}\t{host}\n"
    return text


def resolv_conf(network: str, dns: list[str] | None = None, host_text: str | None = None) -> str:
    """/etc/resolv.conf: the host's with --network host (127.0.0.53 works there, same
    netns); with --network none a file with no nameserver, as nothing is reachable.

    On the bridge: --dns servers if given, else the host's file without its
    loopback nameservers (127.0.0.53 of systemd-resolved answers only the host's
    own loopback); if none is left, Docker's fallback (Google's public DNS).
    """
    if host_text is None:
        try:
            host_text = Path("/etc/resolv.conf").read_text()
        except OSError:
            host_text = ""
    if network == "host":
        return host_text
    if network == "none":
        return "# --network none: no DNS server is reachable from this container\n"
    kept = [
        line
        for line in host_text.splitlines()
        if not re.match(r"\s*nameserver\s+(127\.|::1\b)", line)
        and not (dns and re.match(r"\s*nameserver\s", line))
    ]
    servers = list(dns or [])
    if not dns and not any(re.match(r"\s*nameserver\s", line) for line in kept):
        servers = list(FALLBACK_DNS)
    return "\n".join(kept + [f"nameserver {s}" for s in servers]) + "\n"
