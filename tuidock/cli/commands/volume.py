"""`tuidock volume create/ls/inspect/rm/prune`.

The mount flags of run/create (-v, --mount, --tmpfs) and `rm -v` are in
commands/container_run.py and commands/container.py with the other container flags.
"""

from __future__ import annotations

import argparse
import json
import sys

from tuidock.cli.prune import add_prune_filter_arg, confirm
from tuidock.errors import TuidockError, UsageError


def _volume(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(name, help="Manage volumes")
    p.set_defaults(subparser=p)
    vsub = p.add_subparsers(dest="volume_command", metavar="COMMAND")

    c = vsub.add_parser("create", help="Create a volume")
    c.add_argument("name", nargs="?", metavar="VOLUME")
    c.add_argument("-d", "--driver", default="local", help="Volume driver (only local)")
    c.add_argument("-l", "--label", action="append", default=[], metavar="KEY=VALUE")
    c.set_defaults(handler=cmd_volume_create)

    ls = vsub.add_parser("ls", aliases=["list"], help="List volumes")
    ls.add_argument("-q", "--quiet", action="store_true", help="Only display volume names")
    ls.add_argument(
        "-f",
        "--filter",
        action="append",
        default=[],
        metavar="FILTER",
        help="Filter output (dangling=true|false, driver=, label=, name=)",
    )
    ls.add_argument("--format", help="Format output (table TEMPLATE, json, or TEMPLATE)")
    ls.set_defaults(handler=cmd_volume_ls)

    i = vsub.add_parser("inspect", help="Display detailed information on volumes")
    i.add_argument("names", nargs="+", metavar="VOLUME")
    i.add_argument("-f", "--format", help="Format output with a Go-style template")
    i.set_defaults(handler=cmd_volume_inspect)

    r = vsub.add_parser("rm", aliases=["remove"], help="Remove volumes")
    r.add_argument("names", nargs="+", metavar="VOLUME")
    r.add_argument("-f", "--force", action="store_true", help="Do not fail on a missing one")
    r.set_defaults(handler=cmd_volume_rm)

    pr = vsub.add_parser("prune", help="Remove unused volumes")
    pr.add_argument(
        "-a", "--all", action="store_true", help="Named volumes too, not only anonymous"
    )
    pr.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    add_prune_filter_arg(pr, "label=<key>=<value>")
    pr.set_defaults(handler=cmd_volume_prune)


# The top-level commands of this module, by name (cli/main.py orders them).
COMMANDS = {"volume": _volume}


def _store():
    from tuidock.runtime.engine import default_engine
    from tuidock.runtime.store.volumes import VolumeStore

    return VolumeStore(default_engine().root)


def cmd_volume_create(args: argparse.Namespace) -> int:
    from tuidock.runtime.container.options import parse_labels

    if args.driver != "local":
        raise UsageError(f"volume driver {args.driver!r} is not supported: only local")
    # Without a name Docker still makes a regular (not anonymous) volume.
    record, _ = _store().create(args.name, parse_labels(args.label), anonymous=False)
    print(record["Name"])
    return 0


def cmd_volume_ls(args: argparse.Namespace) -> int:
    store = _store()
    print_volumes(filter_volumes(store, store.list(), args.filter), args)
    return 0


def print_volumes(records: list[dict], args: argparse.Namespace) -> None:
    """`volume ls`'s output by -q, --format or the table."""
    from tuidock.cli.output import print_formatted, print_table

    if args.quiet:
        for r in records:
            print(r["Name"])
    elif args.format:
        # As `docker volume ls` shows them: labels as one "k=v,k2=v2" string.
        rows = [
            {**r, "Labels": ",".join(f"{k}={v}" for k, v in (r.get("Labels") or {}).items())}
            for r in records
        ]
        print_formatted(args.format, rows, headers={"Name": "VOLUME NAME"})
    else:
        print_table(["DRIVER", "VOLUME NAME"], [[r["Driver"], r["Name"]] for r in records])


_LS_FILTERS = ("dangling", "driver", "label", "name")


def parse_volume_filters(specs: list[str]) -> dict[str, list[str]]:
    """`volume ls --filter` specs by key, checked as Docker checks them."""
    filters: dict[str, list[str]] = {}
    for spec in specs:
        key, sep, value = spec.partition("=")
        if not sep or key not in _LS_FILTERS:
            raise UsageError(
                f"invalid filter {spec!r}",
                f"Filters: {', '.join(k + '=' for k in _LS_FILTERS)}",
            )
        if key == "dangling" and value.lower() not in ("true", "false", "1", "0"):
            raise UsageError(f"invalid filter 'dangling={value}'", "Use dangling=true or false.")
        filters.setdefault(key, []).append(value)
    return filters


def filter_volumes(store, records: list[dict], specs: list[str]) -> list[dict]:
    """Docker's `volume ls --filter`: same key ORs its values, different keys AND;
    every label= filter must hold, as Docker's."""
    import re

    filters = parse_volume_filters(specs)
    if not filters:
        return records
    used = set(store.users()) if "dangling" in filters else set()

    def name_matches(pattern: str, name: str) -> bool:
        try:
            return re.search(pattern, name) is not None  # Docker's name filter is a regexp
        except re.error:
            return pattern in name

    def keep(rec: dict) -> bool:
        labels = rec.get("Labels") or {}
        for want in filters.get("label", []):
            k, has_value, v = want.partition("=")
            if k not in labels or (has_value and labels[k] != v):
                return False
        checks = {
            "dangling": lambda v: (rec["Name"] not in used) == (v.lower() in ("true", "1")),
            "driver": lambda v: rec.get("Driver") == v,
            "name": lambda v: name_matches(v, rec["Name"]),
        }
        return all(
            any(check(v) for v in filters[key]) for key, check in checks.items() if key in filters
        )

    return [r for r in records if keep(r)]


def cmd_volume_inspect(args: argparse.Namespace) -> int:
    from tuidock.cli.output import render_template
    from tuidock.errors import NotFound

    store = _store()
    found, failed = [], False
    for name in args.names:
        try:
            found.append(store.inspect(name))
        except NotFound as exc:
            print(f"Error: {exc.message}", file=sys.stderr)
            failed = True
    if args.format:
        for rec in found:
            print(render_template(args.format, rec))
    else:
        print(json.dumps(found, indent=4))
    return 1 if failed else 0


def cmd_volume_rm(args: argparse.Namespace) -> int:
    from tuidock.errors import NotFound

    store = _store()
    code = 0
    for name in args.names:
        try:
            store.remove(name)
        except NotFound as exc:
            if args.force:
                print(name)
                continue
            print(f"Error: {exc.message}", file=sys.stderr)
            code = 1
            continue
        except TuidockError as exc:
            print(f"Error response from daemon: {exc.message}", file=sys.stderr)
            code = 1
            continue
        print(name)
    return code


def cmd_volume_prune(args: argparse.Namespace) -> int:
    from tuidock.core.humanize import human_size
    from tuidock.core.prunefilter import parse_prune_filters

    # As Docker: volume prune takes label filters, not until.
    keep = parse_prune_filters(args.filter, allowed=("label",))
    what = "all local volumes not used by at least one container"
    if not args.all:
        what = "all anonymous local volumes not used by at least one container"
    if not confirm(what, args.force):
        return 0
    removed, reclaimed = _store().prune(all_volumes=args.all, filters=keep)
    if removed:
        print("Deleted Volumes:")
        for name in removed:
            print(name)
        print()
    print(f"Total reclaimed space: {human_size(reclaimed)}")
    return 0
