"""System commands: version, info, the `system` group (df, info, prune), events
(in system_events) and the offline demo behind the README quick-start."""

from __future__ import annotations

import argparse
import sys

from tuidock import __version__
from tuidock.cli.lazy import lazy_command
from tuidock.errors import TuidockError, UsageError

HUB_HOST = "registry-1.docker.io"


def _version_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", help="Format output: json, or a Go-style template")
    p.set_defaults(handler=cmd_version)


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--offline",
        action="store_true",
        help="Do not probe Docker Hub; always use the local demo registry",
    )
    p.add_argument("--stop", action="store_true", help="Stop the demo registry and drop the mirror")
    p.set_defaults(handler=cmd_demo)


def _info_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", help="json or a Go-style template")
    p.set_defaults(handler=cmd_info)


def _system_group(system: argparse.ArgumentParser) -> None:
    system.set_defaults(subparser=system)
    ssub = system.add_subparsers(dest="system_command", metavar="COMMAND")
    p = ssub.add_parser("df", help="Show tuidock disk usage")
    p.add_argument("--format", help="json or a Go-style template")
    p.set_defaults(handler=cmd_system_df)
    _info_args(ssub.add_parser("info", help="Display system-wide information"))
    p = ssub.add_parser("prune", help="Remove unused data")
    p.add_argument(
        "-a", "--all", action="store_true", help="Remove all unused images, not just dangling ones"
    )
    p.add_argument("--volumes", action="store_true", help="Prune anonymous volumes")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    from tuidock.cli.prune import add_prune_filter_arg

    add_prune_filter_arg(p, "label=<key>=<value>, until=24h")
    p.set_defaults(handler=cmd_system_prune)


def _events_args(p: argparse.ArgumentParser) -> None:
    from tuidock.cli.commands.system_events import add_events_args

    add_events_args(p)


# The top-level commands of this module, by name (cli/main.py orders them).
COMMANDS = {
    "version": lazy_command("Show the tuidock version information", _version_args),
    "demo": lazy_command(
        "Serve demo images from a loopback registry when Docker Hub is out of reach", _demo_args
    ),
    "info": lazy_command("Display system-wide information", _info_args),
    "system": lazy_command("Manage tuidock", _system_group),
    "events": lazy_command("Get real time events from the engine", _events_args),
}


def version_info() -> dict:
    """`version` as Podman shows it for a daemonless engine: one Client section.

    Python stands where Go's version is; the runtime pieces are what the
    engine uses on this host (kernel, cgroup hierarchy, storage).
    """
    import platform  # here, not at the top: every CLI call imports this module

    from tuidock.runtime.linux.cgroups import cgroup_version

    commit, built = git_commit()
    machine = platform.machine()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    return {
        "Client": {
            "Version": __version__,
            "APIVersion": __version__,
            "PythonVersion": platform.python_version(),
            "PythonImplementation": platform.python_implementation(),
            "GitCommit": commit,
            "GitCommitTime": built,
            "Os": "linux",
            "Arch": arch,
            "OsArch": f"linux/{arch}",
            "KernelVersion": platform.release(),
            "CgroupVersion": cgroup_version(),
            "StorageDriver": "overlay",
        }
    }


def git_commit() -> tuple[str, str]:
    """(commit, time of its ref) of the checkout tuidock runs from; empty if installed otherwise.

    Read from the files under .git, not by running git: `version` stays cheap.
    """
    import os
    import time

    import tuidock

    top = os.path.dirname(os.path.dirname(os.path.abspath(tuidock.__file__)))
    gitdir = os.path.join(top, ".git")
    try:
        if os.path.isfile(gitdir):  # a worktree: "gitdir: <path>"
            with open(gitdir) as f:
                gitdir = f.read().split(":", 1)[1].strip()
        with open(os.path.join(gitdir, "HEAD")) as f:
            head = f.read().strip()
        if not head.startswith("ref: "):
            return head, ""
        ref = head[5:]
        for base in (gitdir, _common_dir(gitdir)):
            path = os.path.join(base, ref)
            if os.path.isfile(path):
                with open(path) as f:
                    when = time.strftime(
                        "%a %b %d %H:%M:%S %Y", time.gmtime(os.path.getmtime(path))
                    )
                    return f.read().strip(), when
            packed = os.path.join(base, "packed-refs")
            if os.path.isfile(packed):
                with open(packed) as f:
                    for line in f:
                        sha, _, name = line.strip().partition(" ")
                        if name == ref:
                            return sha, ""
    except (OSError, IndexError):
        pass
    return "", ""


def _common_dir(gitdir: str) -> str:
    import os

    try:
        with open(os.path.join(gitdir, "commondir")) as f:
            return os.path.normpath(os.path.join(gitdir, f.read().strip()))
    except OSError:
        return gitdir


def cmd_version(args: argparse.Namespace) -> int:
    doc = version_info()
    if args.format:
        from tuidock.cli.output import print_formatted

        print_formatted(args.format, [doc])
        return 0
    c = doc["Client"]
    rows = [
        ("Client:", "tuidock engine (daemonless)"),
        ("Version:", c["Version"]),
        ("API Version:", c["APIVersion"]),
        ("Python Version:", f"{c['PythonImplementation']} {c['PythonVersion']}"),
        ("Git Commit:", c["GitCommit"][:12] or "unknown"),
        ("Committed:", c["GitCommitTime"] or "unknown"),
        ("OS/Arch:", c["OsArch"]),
        ("Kernel Version:", c["KernelVersion"]),
        ("Cgroup Version:", c["CgroupVersion"]),
        ("Storage Driver:", c["StorageDriver"]),
    ]
    for label, value in rows:
        print(f"{label:<16}{value}")
    return 0


def hub_reachable(timeout: float = 3.0) -> bool:
    import socket

    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout):
            return True
    except OSError:
        return False


def cmd_demo(args: argparse.Namespace) -> int:
    from tuidock.core.reference import DEFAULT_DOMAIN
    from tuidock.demo import registry as demo_registry
    from tuidock.runtime.image.registry.config import remove_mirror, write_mirror
    from tuidock.runtime.store import paths

    root = paths.data_root() / "demo"
    if args.stop:
        host = demo_registry.demo_status(root)
        demo_registry.stop_demo(root)
        if host:
            remove_mirror(DEFAULT_DOMAIN, host)
        print("Demo registry stopped.")
        return 0
    if not args.offline and hub_reachable():
        print("Docker Hub is reachable: no demo registry needed. Try: tuidock pull busybox")
        return 0
    print("Docker Hub is out of reach: starting a demo registry on loopback...", file=sys.stderr)
    try:
        host = demo_registry.start_demo(root)
    except (demo_registry.RegistryStartError, RuntimeError, OSError) as exc:
        raise TuidockError(
            f"cannot start the demo registry: {str(exc).splitlines()[0]}",
            "Install its tools: apt-get install docker-registry skopeo umoci busybox-static",
        ) from None
    cfg = write_mirror(DEFAULT_DOMAIN, host)
    print(f"Demo registry at {host} mirrors docker.io ({cfg}).")
    from tuidock.runtime.engine import default_engine

    # Pulled through the mirror, as a user would: the UI opens with images to try.
    engine = default_engine()
    for name in ("busybox", "demo/multilayer"):
        result = engine.pull(name)
        print(f"Pulled {name} ({result.image.short_id})")
    print("Try: tuidock run --rm demo/multilayer   or open the UI: tuidock")
    return 0


# -- info, system df, system prune ------------------------------------------------------


def cmd_info(args: argparse.Namespace) -> int:
    from tuidock.cli.output import print_formatted
    from tuidock.core.humanize import human_binary_size
    from tuidock.runtime.engine import default_engine
    from tuidock.runtime.system import info

    engine = default_engine()
    doc = info(engine, engine.containers)
    from tuidock.runtime.network.nat import host_settings, info_lines

    doc["Network"] = host_settings()
    if args.format:
        print_formatted(args.format, [doc])
        return 0
    lines = [
        f"Containers: {doc['Containers']}",
        f" Running: {doc['ContainersRunning']}",
        f" Paused: {doc['ContainersPaused']}",
        f" Stopped: {doc['ContainersStopped']}",
        f"Images: {doc['Images']}",
        f"Server Version: {doc['ServerVersion']}",
        f"Storage Driver: {doc['Driver']}",
        f"Logging Driver: {doc['LoggingDriver']}",
        f"Cgroup Driver: {doc['CgroupDriver']}",
        f"Cgroup Version: {doc['CgroupVersion'] or 'none'} ({doc['CgroupLayout']})",
        "Security Options: " + " ".join(doc["SecurityOptions"]),
        f"Kernel Version: {doc['KernelVersion']}",
        f"Operating System: {doc['OperatingSystem']}",
        f"OSType: {doc['OSType']}",
        f"Architecture: {doc['Architecture']}",
        f"CPUs: {doc['NCPU']}",
        f"Total Memory: {human_binary_size(doc['MemTotal'])}",
        f"Name: {doc['Name']}",
        f"Data Root Dir: {doc['DockerRootDir']}",
        *info_lines(doc["Network"]),
    ]
    print("\n".join(" " + line for line in lines))
    return 0


def cmd_system_df(args: argparse.Namespace) -> int:
    from tuidock.core.humanize import human_size
    from tuidock.runtime.engine import default_engine
    from tuidock.runtime.system import disk_usage

    engine = default_engine()
    objs = []
    for row in disk_usage(engine, engine.containers):
        pct = f" ({row.reclaimable * 100 // row.size}%)" if row.size else ""
        objs.append(
            {
                "Type": row.type,
                "TotalCount": str(row.total),
                "Active": str(row.active),
                "Size": human_size(row.size),
                "Reclaimable": human_size(row.reclaimable) + pct,
            }
        )
    print_df(objs, args)
    return 0


def print_df(objs: list[dict], args: argparse.Namespace) -> None:
    """`system df`'s table (or --format) from rows of Type, TotalCount, Active, Size, Reclaimable."""
    from tuidock.cli.output import print_formatted, print_table

    if args.format:
        print_formatted(args.format, objs, headers={"TotalCount": "TOTAL"})
        return
    print_table(
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
        [[o["Type"], o["TotalCount"], o["Active"], o["Size"], o["Reclaimable"]] for o in objs],
    )


def prune_items(args: argparse.Namespace, volumes: str = "all anonymous volumes") -> list[str]:
    """What `system prune` warns it will remove, in Docker's words."""
    items = ["all stopped containers", "all networks not used by at least one container"]
    if args.volumes:
        items.append(f"{volumes} not used by at least one container")
    items.append(
        "all images without at least one container associated to them"
        if args.all
        else "all dangling images"
    )
    items.append("all dangling build cache")
    return items


def cmd_system_prune(args: argparse.Namespace) -> int:
    """Docker's `system prune`: stopped containers, unused networks, images, (volumes)."""
    from tuidock.cli.prune import confirm
    from tuidock.core.humanize import human_size
    from tuidock.core.prunefilter import parse_prune_filters
    from tuidock.runtime.engine import default_engine
    from tuidock.runtime.store.volumes import VolumeStore

    filters = parse_prune_filters(args.filter)
    if args.volumes and filters.until_ns is not None:
        raise UsageError(
            'the "until" filter is not supported with "--volumes"', "As with Docker: drop one."
        )
    if not confirm(prune_items(args), args.force):
        return 0
    engine = default_engine()
    # Containers first: what they used (networks, images, volumes) becomes unused.
    removed, reclaimed = engine.prune_containers(filters)
    print_section("Deleted Containers:", removed)
    if (engine.root / "networks").is_dir():
        from tuidock.runtime.network import usernets

        print_section("Deleted Networks:", usernets.prune(engine.root, filters))
    if args.volumes:
        names, size = VolumeStore(engine.root).prune(filters=filters)
        reclaimed += size
        print_section("Deleted Volumes:", names)
    report = engine.prune_images(all_images=args.all, filters=filters)
    reclaimed += report.reclaimed
    print_section(
        "Deleted Images:",
        [f"untagged: {t}" for t in report.untagged] + [f"deleted: {i}" for i in report.deleted],
    )
    print_section("Deleted build cache objects:", report.scratch)
    print(f"Total reclaimed space: {human_size(reclaimed)}")
    return 0


def print_section(title: str, lines: list[str]) -> None:
    if lines:
        print(title)
        for line in lines:
            print(line)
        print()
