"""`tuidock network ...`: the default bridge and user-defined networks."""

from __future__ import annotations

import argparse
import json


def _network(sub: argparse._SubParsersAction, name: str) -> None:
    """`network`, whose subcommands are built only when it is used (~5 ms of
    argparse work that every other CLI call would pay otherwise)."""
    from tuidock.cli.lazy import lazy_parser

    lazy_parser(sub, name, "Manage networks", _build)


# The top-level commands of this module, by name (cli/main.py orders them).
COMMANDS = {"network": _network}


def _build(p: argparse.ArgumentParser) -> None:
    p.set_defaults(subparser=p)
    nsub = p.add_subparsers(dest="network_command", metavar="COMMAND")
    c = nsub.add_parser("create", help="Create a network")
    c.add_argument(
        "--subnet",
        action="append",
        default=[],
        help="Subnet in CIDR form, IPv4 and/or (with --ipv6) IPv6; may be repeated "
        "(default: a free 10.89.X.0/24, and a free fdXX::/64)",
    )
    c.add_argument("--ipv6", action="store_true", help="Enable IPv6 (dual stack)")
    c.add_argument("-d", "--driver", default="bridge", choices=["bridge"])
    c.add_argument(
        "--gateway", action="append", default=[], help="Gateway of a --subnet (Docker engines)"
    )
    c.add_argument("--internal", action="store_true", help="No outside access (Docker engines)")
    c.add_argument("--label", action="append", default=[], metavar="KEY=VALUE", help="Set metadata")
    c.add_argument("name", metavar="NETWORK")
    c.set_defaults(handler=cmd_create)
    for name in ("ls", "list"):
        ls = nsub.add_parser(name, help="List networks" if name == "ls" else None)
        ls.add_argument("-q", "--quiet", action="store_true", help="Only display network names")
        ls.add_argument("--format", help="json, table TEMPLATE or a Go-style TEMPLATE")
        ls.add_argument("--no-trunc", action="store_true", help="Do not truncate the output")
        ls.add_argument(
            "-f",
            "--filter",
            action="append",
            default=[],
            metavar="FILTER",
            help="Filter output (driver=, id=, label=, name=, scope=, type=; Docker engines)",
        )
        ls.set_defaults(handler=cmd_ls)
    i = nsub.add_parser("inspect", help="Display detailed information on networks")
    i.add_argument("names", nargs="+", metavar="NETWORK")
    i.set_defaults(handler=cmd_inspect)
    for name in ("rm", "remove"):
        r = nsub.add_parser(name, help="Remove networks" if name == "rm" else None)
        r.add_argument("names", nargs="+", metavar="NETWORK")
        r.set_defaults(handler=cmd_rm)
    cn = nsub.add_parser("connect", help="Connect a container to a network")
    cn.add_argument("--alias", action="append", default=[], help="Network-scoped alias")
    cn.add_argument("network", metavar="NETWORK")
    cn.add_argument("container", metavar="CONTAINER")
    cn.set_defaults(handler=cmd_connect)
    dc = nsub.add_parser("disconnect", help="Disconnect a container from a network")
    dc.add_argument("-f", "--force", action="store_true", help="Accepted for Docker compatibility")
    dc.add_argument("network", metavar="NETWORK")
    dc.add_argument("container", metavar="CONTAINER")
    dc.set_defaults(handler=cmd_disconnect)
    pr = nsub.add_parser("prune", help="Remove all unused user networks")
    pr.add_argument("-f", "--force", action="store_true", help="Do not prompt (never prompts)")
    pr.set_defaults(handler=cmd_prune)


def _root():  # -> Path
    from tuidock.runtime.store import paths

    return paths.data_root()


def cmd_create(args: argparse.Namespace) -> int:
    from tuidock.errors import UsageError
    from tuidock.runtime.network import usernets

    for flag, given in (("--gateway", args.gateway), ("--internal", args.internal),
                        ("--label", args.label)):  # fmt: skip
        if given:
            raise UsageError(
                f"network create {flag}: not supported by tuidock's own engine",
                "It is for Docker/Podman endpoints (-H, --context).",
            )
    by_version: dict[str, str] = {}
    for text in args.subnet:
        version = "6" if ":" in text else "4"
        if version in by_version:
            raise UsageError(
                f"more than one IPv{version} subnet: {by_version[version]} and {text}",
                "Give at most one IPv4 and one IPv6 --subnet.",
            )
        by_version[version] = text
    config = usernets.create(
        _root(), args.name, by_version.get("4"), args.ipv6, by_version.get("6")
    )
    print(config["Id"])
    return 0


def _listed() -> list[dict]:
    from tuidock.runtime.network import usernets

    return usernets.listed(_root())


def cmd_ls(args: argparse.Namespace) -> int:
    if args.filter:
        from tuidock.errors import UsageError

        raise UsageError(
            "network ls --filter: not supported by tuidock's own engine",
            "It is for Docker/Podman endpoints (-H, --context).",
        )
    nets = _listed()
    if args.quiet:
        for n in nets:
            print(n["Name"])
        return 0
    if args.format:
        from tuidock.cli.output import print_formatted

        rows = [
            {
                "ID": n["Id"] if args.no_trunc else n["Id"][:12],
                "Name": n["Name"],
                "Driver": n["Driver"],
                "Scope": "local",
                "Subnet": _subnets(n),
                "Bridge": n["Bridge"],
            }
            for n in nets
        ]
        print_formatted(args.format, rows, headers={"ID": "NETWORK ID"}, fields=NETWORK_FIELDS)
        return 0
    rows = [("NETWORK ID", "NAME", "DRIVER", "SUBNET", "BRIDGE")]
    rows += [(n["Id"][:12], n["Name"], n["Driver"], _subnets(n), n["Bridge"]) for n in nets]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0


NETWORK_FIELDS = ("ID", "Name", "Driver", "Scope", "Subnet", "Bridge")


def _subnets(net: dict) -> str:
    return ",".join(filter(None, [net["Subnet"], net.get("Subnet6")]))


def cmd_inspect(args: argparse.Namespace) -> int:
    from tuidock.runtime.network import ipv6_fields, network_config, usernets
    from tuidock.runtime.store.ctrlayout import ContainerDir

    root = _root()
    out = []
    for name in args.names:
        cfg = network_config(root, name)
        containers = {}
        for ip, cid in usernets.endpoints(root, cfg["Name"]).items():
            try:
                with open(ContainerDir.of(root, cid).config, "rb") as f:
                    cname = json.loads(f.read())["Name"].lstrip("/")
            except (OSError, ValueError, KeyError):
                continue
            containers[cid] = {
                "Name": cname,
                "IPv4Address": f"{ip}/{cfg['Subnet'].split('/')[1]}",
                "IPv6Address": "",
            }
            v6 = ipv6_fields(cfg, ip)
            if v6:
                containers[cid]["IPv6Address"] = (
                    f"{v6['GlobalIPv6Address']}/{v6['GlobalIPv6PrefixLen']}"
                )
        ipam = [{"Subnet": cfg["Subnet"], "Gateway": cfg["Gateway"]}]
        if cfg.get("Subnet6"):
            ipam.append({"Subnet": cfg["Subnet6"], "Gateway": cfg["Gateway6"]})
        out.append(
            {
                "Name": cfg["Name"],
                "Id": cfg["Id"],
                "Driver": cfg["Driver"],
                "EnableIPv6": bool(cfg.get("EnableIPv6")),
                "IPAM": {"Config": ipam},
                "Options": {"com.docker.network.bridge.name": cfg["Bridge"]},
                "Containers": containers,
            }
        )
    print(json.dumps(out, indent=4))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    from tuidock.runtime.network import usernets

    for name in args.names:
        usernets.remove(_root(), name)
        print(name)
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from tuidock.runtime.network import usernets

    removed = usernets.prune(_root())
    if removed:
        print("Deleted Networks:")
        for name in removed:
            print(name)
    return 0


def cmd_connect(args: argparse.Namespace) -> int:
    """The container gets one more interface (eth1, ...) on a user network: at once
    if it runs, else from its next start (recorded in its network.json)."""
    import re

    from tuidock.errors import UsageError
    from tuidock.runtime.engine import default_engine
    from tuidock.runtime.network import endpoint

    for alias in args.alias:
        if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", alias):
            raise UsageError(f"invalid network alias {alias!r}")
    containers = default_engine().containers
    cid = containers.resolve(args.container)
    with containers.store.op_lock(cid):
        endpoint.connect(containers.root, cid, args.network, args.alias)
    return 0


def cmd_disconnect(args: argparse.Namespace) -> int:
    from tuidock.runtime.engine import default_engine
    from tuidock.runtime.network import endpoint

    containers = default_engine().containers
    cid = containers.resolve(args.container)
    with containers.store.op_lock(cid):
        endpoint.disconnect(containers.root, cid, args.network)
    return 0
