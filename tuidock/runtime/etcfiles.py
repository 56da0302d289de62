"""/etc/hostname, /etc/hosts and /etc/resolv.conf of a container.

Written into the container's directory at create and bind-mounted by the
isolation code (spec.etc_files). Bridge networking (issue 7) will add the
container's own address and filtered DNS servers.
"""

from __future__ import annotations

from pathlib import Path

HOSTS_LOCAL = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


def hosts_file(network: str, hostname: str) -> str:
    """/etc/hosts: the host's with --network host (its names resolve as on the host);
    else localhost entries plus the hostname on 127.0.1.1 (only lo exists there)."""
    if network == "host":
        try:
            return Path("/etc/hosts").read_text()
        except OSError:
            return HOSTS_LOCAL
    return HOSTS_LOCAL + f"127.0.1.1\t{hostname}\n"


def resolv_conf(network: str) -> str:
    """/etc/resolv.conf: the host's with --network host (127.0.0.53 works there, same
    netns); with --network none a file with no nameserver, as nothing is reachable."""
    if network == "host":
        try:
            return Path("/etc/resolv.conf").read_text()
        except OSError:
            return ""
    return "# --network none: no DNS server is reachable from this container\n"
