"""The rest of the everyday Docker toolbox: stats, diff, export, import, cp,
info, `system df`/`system info`, save and load.

Each command imports the engine and its runtime module inside its handler,
so registering them costs the other commands nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from tuidock.errors import UsageError

STATS_HEADERS = {
    "ID": "CONTAINER ID",
    "Container": "CONTAINER",
    "Name": "NAME",
    "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %",
    "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O",
    "PIDs": "PIDS",
}
STATS_TABLE = (
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t"
    "{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"
)
# Docker's daemon samples every second; the CLI redraws at that pace and
# --no-stream waits for a second sample so CPU % has a delta.
STATS_INTERVAL = 1.0


def _change_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-c",
        "--change",
        action="append",
        default=[],
        metavar="INSTRUCTION",
        help="Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, ...)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stats", help="Display a live stream of container(s) resource usage")
    p.add_argument("-a", "--all", action="store_true", help="Show all containers")
    p.add_argument("--no-stream", action="store_true", help="Print one result and exit")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
    p.add_argument("--format", help="json, a Go-style template, or 'table {{.Field}}...'")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")
    p.set_defaults(handler=cmd_stats)

    p = sub.add_parser("diff", help="Inspect changes to files or directories on a container")
    p.add_argument("container", metavar="CONTAINER")
    p.set_defaults(handler=cmd_diff)

    p = sub.add_parser("export", help="Export a container's filesystem as a tar archive")
    p.add_argument("-o", "--output", help="Write to a file, instead of STDOUT")
    p.add_argument("container", metavar="CONTAINER")
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser(
        "import", help="Import the contents from a tarball to create a filesystem image"
    )
    p.add_argument("-m", "--message", default="", help="Set commit message for imported image")
    _change_arg(p)
    p.add_argument("file", metavar="file|-")
    p.add_argument("reference", nargs="?", metavar="REPOSITORY[:TAG]")
    p.set_defaults(handler=cmd_import)

    # commit
    p = sub.add_parser("commit", help="Create a new image from a container's changes")
    p.add_argument("-a", "--author", default="", help='Author (e.g. "Jane <jane@example.com>")')
    p.add_argument("-m", "--message", default="", help="Commit message")
    _change_arg(p)
    p.add_argument(
        "-p",
        "--pause",
        default=True,
        action=argparse.BooleanOptionalAction,
        help="Pause the container during commit (default true)",
    )
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("reference", nargs="?", metavar="REPOSITORY[:TAG]")
    p.set_defaults(handler=cmd_commit)

    p = sub.add_parser(
        "cp",
        help="Copy files/folders between a container and the local filesystem",
        description="Copy files/folders between a container and the local filesystem. "
        "Use '-' as the source to read a tar archive from stdin and extract it to a "
        "directory destination in a container; '-' as the destination streams a tar "
        "archive of a container source to stdout.",
    )
    p.add_argument("-a", "--archive", action="store_true", help="Archive mode (copy all uid/gid)")
    p.add_argument(
        "-L", "--follow-link", action="store_true", help="Always follow symbol link in SRC_PATH"
    )
    p.add_argument("src", metavar="SRC")
    p.add_argument("dest", metavar="DEST")
    p.set_defaults(handler=cmd_cp)

    p = sub.add_parser("info", help="Display system-wide information")
    _info_args(p)
    system = sub.add_parser("system", help="Manage tuidock")
    system.set_defaults(subparser=system)
    ssub = system.add_subparsers(dest="system_command", metavar="COMMAND")
    p = ssub.add_parser("df", help="Show tuidock disk usage")
    p.add_argument("--format", help="json or a Go-style template")
    p.set_defaults(handler=cmd_system_df)
    _info_args(ssub.add_parser("info", help="Display system-wide information"))
    # system prune
    p = ssub.add_parser("prune", help="Remove unused data")
    p.add_argument(
        "-a", "--all", action="store_true", help="Remove all unused images, not just dangling ones"
    )
    p.add_argument("--volumes", action="store_true", help="Prune anonymous volumes")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    from tuidock.cli.commands.volumes import add_prune_filter_arg

    add_prune_filter_arg(p, "label=<key>=<value>, until=24h")
    p.set_defaults(handler=cmd_system_prune)
    _register_archives(sub)


def cmd_system_prune(args: argparse.Namespace) -> int:
    """Docker's `system prune`: stopped containers, unused networks, images, (volumes)."""
    from tuidock.cli.commands.volumes import confirm
    from tuidock.core.humanize import human_size
    from tuidock.core.prunefilter import parse_prune_filters
    from tuidock.runtime.engine import default_engine
    from tuidock.runtime.store.volumes import VolumeStore

    filters = parse_prune_filters(args.filter)
    if args.volumes and filters.until_ns is not None:
        raise UsageError(
            'the "until" filter is not supported with "--volumes"', "As with Docker: drop one."
        )
    items = ["all stopped containers", "all networks not used by at least one container"]
    if args.volumes:
        items.append("all anonymous volumes not used by at least one container")
    items.append(
        "all images without at least one container associated to them"
        if args.all
        else "all dangling images"
    )
    items.append("all dangling build cache")
    if not confirm(items, args.force):
        return 0
    engine = default_engine()
    # Containers first: what they used (networks, images, volumes) becomes unused.
    removed, reclaimed = engine.prune_containers(filters)
    _print_section("Deleted Containers:", removed)
    if (engine.root / "networks").is_dir():
        from tuidock.runtime.network import usernets

        _print_section("Deleted Networks:", usernets.prune(engine.root, filters))
    if args.volumes:
        names, size = VolumeStore(engine.root).prune(filters=filters)
        reclaimed += size
        _print_section("Deleted Volumes:", names)
    report = engine.prune_images(all_images=args.all, filters=filters)
    reclaimed += report.reclaimed
    _print_section(
        "Deleted Images:",
        [f"untagged: {t}" for t in report.untagged] + [f"deleted: {i}" for i in report.deleted],
    )
    _print_section("Deleted build cache objects:", report.scratch)
    print(f"Total reclaimed space: {human_size(reclaimed)}")
    return 0


def _print_section(title: str, lines: list[str]) -> None:
    if lines:
        print(title)
        for line in lines:
            print(line)
        print()


def _register_archives(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "save", help="Save one or more images to a tar archive (streamed to STDOUT by default)"
    )
    p.add_argument("-o", "--output", help="Write to a file, instead of STDOUT")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.set_defaults(handler=cmd_save)
    p = sub.add_parser("load", help="Load an image from a tar archive or STDIN")
    p.add_argument("-i", "--input", help="Read from tar archive file, instead of STDIN")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress the load output")
    p.set_defaults(handler=cmd_load)


def _info_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", help="json or a Go-style template")
    p.set_defaults(handler=cmd_info)


# -- stats ---------------------------------------------------------------------------------


def cmd_stats(args: argparse.Namespace) -> int:
    from tuidock.cli.output import print_formatted
    from tuidock.runtime.container.stats import StatsCollector
    from tuidock.runtime.engine import default_engine

    engine = default_engine()
    fixed: list[tuple[str, str]] | None = None
    if args.containers:
        # Named containers are resolved once, up front: an unknown name is an error
        # before anything is drawn, as in Docker.
        fixed = []
        for ref in args.containers:
            info = engine.container(ref)
            fixed.append((info.id, info.name))

    def targets() -> list[tuple[str, str]]:
        if fixed is not None:
            return fixed
        return [(i.id, i.name) for i in engine.list_containers(all=args.all)]

    fmt = args.format or STATS_TABLE
    if fmt != "json" and not fmt.startswith("table") and "{{" not in fmt:
        raise UsageError(f"unsupported --format {fmt!r}", "Use json, table or a template.")

    def render(rows: list) -> str:
        import io

        objs = []
        for row in rows:
            cells = row.cells()
            if args.no_trunc:
                cells["ID"] = cells["Container"] = row.id
            objs.append(cells)
        buf = io.StringIO()
        if fmt.startswith("table") and not objs:
            print_formatted(fmt, [dict.fromkeys(STATS_HEADERS, "")], buf, STATS_HEADERS)
            return buf.getvalue().splitlines(keepends=True)[0]
        print_formatted(fmt, objs, buf, STATS_HEADERS)
        return buf.getvalue()

    collector = StatsCollector(engine.containers)
    if args.no_stream:
        collector.sample(targets())
        time.sleep(STATS_INTERVAL)
        sys.stdout.write(render(collector.sample(targets())))
        return 0

    tty = sys.stdout.isatty()
    try:
        if tty:
            sys.stdout.write("\033[2J")  # clear once; each frame then redraws from the top
        collector.sample(targets())
        while True:
            time.sleep(STATS_INTERVAL)
            text = render(collector.sample(targets()))
            if tty:
                # Home, each line cleared to its end, then the rest of the screen:
                # no flicker, and rows of containers that went away disappear.
                lines = text.splitlines()
                sys.stdout.write("\033[H" + "".join(f"{ln}\033[K\n" for ln in lines) + "\033[J")
            else:
                sys.stdout.write(text)
            sys.stdout.flush()
    except KeyboardInterrupt:
        # Ctrl-C is how a live `stats` ends: not an error.
        sys.stdout.write("\n" if tty else "")
        return 0


# -- diff ----------------------------------------------------------------------------------


def cmd_diff(args: argparse.Namespace) -> int:
    from tuidock.runtime.container import fs as ctrfs
    from tuidock.runtime.engine import default_engine

    engine = default_engine()
    cid = engine.containers.resolve(args.container)
    for kind, path in ctrfs.container_changes(ctrfs.ContainerLayers.of(engine.containers, cid)):
        print(f"{kind} {path}")
    return 0


# -- export / import -----------------------------------------------------------------------


def cmd_export(args: argparse.Namespace) -> int:
    from tuidock.runtime.container import fs as ctrfs
    from tuidock.runtime.engine import default_engine
    from tuidock.runtime.store import events

    engine = default_engine()
    cid = engine.containers.resolve(args.container)
    layers = ctrfs.ContainerLayers.of(engine.containers, cid)
    if args.output:
        ctrfs.export_to_file(layers, args.output)
        events.record_container(engine.root, "export", cid)
        return 0
    if sys.stdout.isatty():
        raise UsageError(
            "cowardly refusing to save to a terminal.",
            "Use the -o flag or redirect.",
        )
    sys.stdout.flush()
    ctrfs.export_tar(layers, sys.stdout.buffer)
    sys.stdout.buffer.flush()
    events.record_container(engine.root, "export", cid)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from tuidock.runtime.engine import default_engine
    from tuidock.runtime.image import tarimport
    from tuidock.runtime.image.urlsource import is_url, open_url

    engine = default_engine()
    if args.file == "-":
        image_id = tarimport.import_tar(
            engine, sys.stdin.buffer, args.reference, args.message, args.change
        )
    elif is_url(args.file):
        with open_url(args.file) as src:
            image_id = tarimport.import_tar(engine, src, args.reference, args.message, args.change)
    else:
        with open(args.file, "rb") as src:
            image_id = tarimport.import_tar(engine, src, args.reference, args.message, args.change)
    print(image_id)
    return 0


def cmd_commit(args: argparse.Namespace) -> int:
    from tuidock.runtime.container.commit import commit
    from tuidock.runtime.engine import default_engine

    image_id = commit(
        default_engine().containers,
        args.container,
        args.reference,
        message=args.message,
        author=args.author,
        changes=args.change,
        pause=args.pause,
    )
    print(image_id)
    return 0


# -- cp --------------------------------------------------------------------------------------------


def split_container_path(arg: str) -> tuple[str | None, str]:
    """Docker's rule: NAME:PATH names a container path unless the part before the
    colon holds a slash or the argument starts like a local path."""
    if arg == "-" or arg.startswith(("/", ".")):
        return None, arg
    name, sep, path = arg.partition(":")
    if not sep or "/" in name or not name:
        return None, arg
    return name, path or "/"


def cmd_cp(args: argparse.Namespace) -> int:
    from tuidock.runtime.container import copy as ctrcopy
    from tuidock.runtime.engine import default_engine

    src_ctr, src_path = split_container_path(args.src)
    dst_ctr, dst_path = split_container_path(args.dest)
    if src_ctr and dst_ctr:
        raise UsageError("copying between containers is not supported")
    if not src_ctr and not dst_ctr:
        raise UsageError("must specify at least one container source")
    engine = default_engine()
    if src_ctr:
        cid = engine.containers.resolve(src_ctr)
        if dst_path == "-" and sys.stdout.isatty():
            raise UsageError("cowardly refusing to write a tar archive to a terminal")
        sys.stdout.flush()
        out = sys.stdout.buffer

        def copy_out(root_fd: int) -> None:
            ctrcopy.copy_out(root_fd, src_path, dst_path, out, args.archive, args.follow_link)
            out.flush()

        ctrcopy.in_container_root(engine.containers, cid, copy_out, writable=False)
        return 0
    assert dst_ctr is not None
    cid = engine.containers.resolve(dst_ctr)
    stdin = sys.stdin.buffer

    def copy_in(root_fd: int) -> None:
        ctrcopy.copy_in(root_fd, src_path, dst_path, stdin, args.archive)

    ctrcopy.in_container_root(engine.containers, cid, copy_in, writable=True)
    return 0


# -- info / system df ---------------------------------------------------------------------------


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
    from tuidock.cli.output import print_formatted, print_table
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
    if args.format:
        print_formatted(args.format, objs, headers={"TotalCount": "TOTAL"})
        return 0
    print_table(
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
        [[o["Type"], o["TotalCount"], o["Active"], o["Size"], o["Reclaimable"]] for o in objs],
    )
    return 0


# -- save / load ---------------------------------------------------------------------------------


def cmd_save(args: argparse.Namespace) -> int:
    from tuidock.runtime.engine import default_engine
    from tuidock.runtime.image import archive as imagearchive
    from tuidock.runtime.store import scratch

    engine = default_engine()
    if args.output:
        # Beside the destination for an atomic rename; a killed save's temp
        # is removed by the next save to the same destination.
        tmp = scratch.save_temp(args.output)
        try:
            with open(tmp, "wb") as f:
                imagearchive.save(engine, args.images, f)
            os.replace(tmp, args.output)
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)
        return 0
    if sys.stdout.isatty():
        raise UsageError("cowardly refusing to save to a terminal.", "Use the -o flag or redirect.")
    sys.stdout.flush()
    imagearchive.save(engine, args.images, sys.stdout.buffer)
    sys.stdout.buffer.flush()
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    from tuidock.runtime.engine import default_engine
    from tuidock.runtime.image import archive as imagearchive

    engine = default_engine()
    if args.input:
        with open(args.input, "rb") as f:
            loaded = imagearchive.load(engine, f)
    else:
        if sys.stdin.isatty():
            raise UsageError(
                "requested load from stdin, but stdin is empty", "Use -i FILE or redirect."
            )
        loaded = imagearchive.load(engine, sys.stdin.buffer)
    if not args.quiet:
        for image in loaded:
            if image.tags:
                for tag in image.tags:
                    print(f"Loaded image: {tag}")
            else:
                print(f"Loaded image ID: {image.image_id}")
    return 0
