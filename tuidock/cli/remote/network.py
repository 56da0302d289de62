"""`network create/ls/inspect/rm/prune/connect/disconnect` on a Docker/Podman engine,
printed as `docker network ...` prints them (NETWORK ID, NAME, DRIVER, SCOPE)."""

from __future__ import annotations

import argparse
import re

from tuidock.cli.remote._shared import collect, daemon_words, each, go_time, short_id
from tuidock.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tuidock.backends.docker import DockerBackend

# The fields of a `network ls` row, which --format may name (docker's).
LS_FIELDS = ("CreatedAt", "Driver", "ID", "IPv4", "IPv6", "Internal", "Labels", "Name", "Scope")
LS_FILTERS = ("dangling", "driver", "id", "label", "name", "scope", "type")


def _natural(name: str) -> list:
    """Docker's sortorder.NaturalLess: digit runs compare as numbers."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def _filters(specs: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for spec in specs:
        key, sep, value = spec.partition("=")
        if not sep or key not in LS_FILTERS:
            raise UsageError(
                f"invalid filter {spec!r}", f"Filters: {', '.join(k + '=' for k in LS_FILTERS)}"
            )
        out.setdefault(key, []).append(value)
    return out


def _flag(value: object) -> str:
    return "true" if value else "false"


def _row(net: dict, no_trunc: bool) -> dict:
    labels = net.get("Labels") or {}
    return {
        "CreatedAt": go_time(net.get("Created")),
        "Driver": net.get("Driver") or "",
        "ID": short_id(net.get("Id") or "", no_trunc),
        "IPv4": _flag(net.get("EnableIPv4")),
        "IPv6": _flag(net.get("EnableIPv6")),
        "Internal": _flag(net.get("Internal")),
        "Labels": ",".join(f"{k}={v}" for k, v in labels.items()),
        "Name": net.get("Name") or "",
        "Scope": net.get("Scope") or "local",
    }


@daemon_words
def cmd_ls(args: argparse.Namespace, backend: DockerBackend) -> int:
    from tuidock.cli.output import print_formatted, print_table

    filters = _filters(args.filter)
    nets = backend._call(lambda: backend.api().networks(filters=filters or None))
    rows = sorted((_row(n, args.no_trunc) for n in nets), key=lambda r: _natural(r["Name"]))
    if args.quiet:
        for r in rows:
            print(r["ID"])
    elif args.format:
        print_formatted(args.format, rows, headers={"ID": "NETWORK ID"}, fields=LS_FIELDS)
    else:
        print_table(
            ["NETWORK ID", "NAME", "DRIVER", "SCOPE"],
            [[r["ID"], r["Name"], r["Driver"], r["Scope"]] for r in rows],
        )
    return 0


@daemon_words
def cmd_create(args: argparse.Namespace, backend: DockerBackend) -> int:
    from docker.types import IPAMConfig, IPAMPool

    from tuidock.runtime.container.options import parse_labels

    if len(args.gateway) > len(args.subnet):
        raise UsageError("every --gateway needs a --subnet", "Give them in pairs, in order.")
    pools = [
        IPAMPool(subnet=subnet, gateway=args.gateway[i] if i < len(args.gateway) else None)
        for i, subnet in enumerate(args.subnet)
    ]
    created = backend._call(
        lambda: backend.api().create_network(
            args.name,
            driver=args.driver,
            ipam=IPAMConfig(pool_configs=pools) if pools else None,
            internal=args.internal,
            labels=parse_labels(args.label) or None,
            enable_ipv6=args.ipv6 or None,
            check_duplicate=True,
        )
    )
    print(created.get("Id") or created.get("ID") or "")
    return 0


@daemon_words
def cmd_inspect(args: argparse.Namespace, backend: DockerBackend) -> int:
    from tuidock.cli.output import print_inspect

    found, errors = collect(
        args.names, lambda n: backend._call(lambda: backend.api().inspect_network(n))
    )
    return print_inspect(found, errors, None)


@daemon_words
def cmd_rm(args: argparse.Namespace, backend: DockerBackend) -> int:
    return each(args.names, lambda n: backend._call(lambda: backend.api().remove_network(n)), True)


@daemon_words
def cmd_prune(args: argparse.Namespace, backend: DockerBackend) -> int:
    from tuidock.cli.prune import confirm

    if not confirm("all custom networks not used by at least one container", args.force):
        return 0
    report = backend._call(lambda: backend.api().prune_networks())
    print_network_prune(report)
    return 0


def print_network_prune(report: dict) -> None:
    deleted = report.get("NetworksDeleted") or []
    if deleted:
        print("Deleted Networks:")
        print("\n".join(deleted))
        print()


@daemon_words
def cmd_connect(args: argparse.Namespace, backend: DockerBackend) -> int:
    backend._call(
        lambda: backend.api().connect_container_to_network(
            args.container, args.network, aliases=args.alias or None
        )
    )
    return 0


@daemon_words
def cmd_disconnect(args: argparse.Namespace, backend: DockerBackend) -> int:
    backend._call(
        lambda: backend.api().disconnect_container_from_network(
            args.container, args.network, force=args.force
        )
    )
    return 0
