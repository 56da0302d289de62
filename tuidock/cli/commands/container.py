"""Container commands: the `container` group and its verbs at the top level.

This module registers them all and holds the lifecycle verbs (start, stop,
restart, kill, rm, pause, unpause, wait, rename, commit, prune); run and
create are in container_run, attach, logs, cp and export in container_io,
ps, inspect, top, stats, diff and port in container_views.

`run` is on the hot path of every script: every parser here is built only
when its command is used, and the engine and the rest come in inside the
commands.
"""

from __future__ import annotations

import argparse
import sys

from tuidock.cli.lazy import lazy_command, lazy_parser
from tuidock.core.flagvalues import int_flag
from tuidock.errors import TuidockError, UsageError

# name -> (help, argument builder, extra add_parser kwargs); `container` repeats them.
_COMMANDS: dict[str, tuple[str, str, dict]] = {
    "run": ("Create and run a new container from an image", "_run_args", {"add_help": False}),
    "create": ("Create a new container", "_create_args", {"add_help": False}),
    "start": ("Start one or more stopped containers", "_start_args", {}),
    "stop": ("Stop one or more running containers", "_stop_args", {}),
    "restart": ("Restart one or more containers", "_restart_args", {}),
    "kill": ("Kill one or more running containers", "_kill_args", {}),
    "rm": ("Remove one or more containers", "_rm_args", {}),
    "wait": ("Block until containers stop, then print their exit codes", "_wait_args", {}),
    "logs": ("Fetch the logs of a container", "_logs_args", {}),
    "ps": ("List containers", "_ps_args", {}),
    "rename": ("Rename a container", "_rename_args", {}),
    "pause": ("Pause all processes within containers", "_pause_args", {}),
    "unpause": ("Unpause all processes within containers", "_unpause_args", {}),
    "top": ("Display the running processes of a container", "_top_args", {}),
    "attach": ("Attach to a running container's output and input", "_attach_args", {}),
    "port": ("List port mappings of a container", "_port_args", {}),
}
# Only under `container`: (name, help or None for a hidden alias, builder).
_GROUP_ONLY = (
    ("ls", "List containers", "_ps_args"),
    ("list", None, "_ps_args"),
    ("remove", None, "_rm_args"),
    ("inspect", "Display detailed information on containers", "_inspect_args"),
    ("prune", "Remove all stopped containers", "_prune_args"),
)
# Only at the top level: the rest of Docker's container toolbox.
_TOOLS: dict[str, tuple[str, str, dict]] = {
    "stats": ("Display a live stream of container(s) resource usage", "_stats_args", {}),
    "diff": ("Inspect changes to files or directories on a container", "_diff_args", {}),
    "export": ("Export a container's filesystem as a tar archive", "_export_args", {}),
    "commit": ("Create a new image from a container's changes", "_commit_args", {}),
    "cp": (
        "Copy files/folders between a container and the local filesystem",
        "_cp_args",
        {
            "description": "Copy files/folders between a container and the local filesystem. "
            "Use '-' as the source to read a tar archive from stdin and extract it to a "
            "directory destination in a container; '-' as the destination streams a tar "
            "archive of a container source to stdout."
        },
    ),
}


def _builder(name: str):
    """This module's argument builder `name`, looked up when the command is used."""
    return lambda p: globals()[name](p)


def _container_group(group: argparse.ArgumentParser) -> None:
    group.set_defaults(subparser=group)
    csub = group.add_subparsers(dest="container_command", metavar="COMMAND")
    for name, (help, builder, kw) in _COMMANDS.items():
        lazy_parser(csub, name, help if name != "ps" else None, _builder(builder), **kw)
    for name, help, builder in _GROUP_ONLY:
        lazy_parser(csub, name, help, _builder(builder))


# The top-level commands of this module, by name (cli/main.py orders them).
COMMANDS = {
    **{name: lazy_command(help, _builder(b), **kw) for name, (help, b, kw) in _COMMANDS.items()},
    "container": lazy_command("Manage containers", _container_group),
    **{name: lazy_command(help, _builder(b), **kw) for name, (help, b, kw) in _TOOLS.items()},
}


# -- arguments -----------------------------------------------------------------------


def _inspect_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="+", metavar="CONTAINER")
    p.add_argument("-f", "--format", help="Format the output using a Go-style template")
    from tuidock.cli.commands.container_views import cmd_inspect_containers

    p.set_defaults(handler=cmd_inspect_containers)


def _prune_args(p: argparse.ArgumentParser) -> None:
    from tuidock.cli.prune import add_prune_filter_arg

    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    add_prune_filter_arg(p)
    p.set_defaults(handler=cmd_prune)


def _run_args(p: argparse.ArgumentParser) -> None:
    from tuidock.cli.commands.container_run import cmd_run, create_flags

    create_flags(p)
    p.add_argument(
        "-d", "--detach", action="store_true", help="Run in the background, print its ID"
    )
    p.add_argument(
        "--sig-proxy",
        default="true",
        choices=["true", "false"],
        help="Proxy received signals to the process (non-TTY only; default true)",
    )
    p.add_argument("--detach-keys", help="Key sequence to detach (default ctrl-p,ctrl-q)")
    p.set_defaults(handler=cmd_run)


def _create_args(p: argparse.ArgumentParser) -> None:
    from tuidock.cli.commands.container_run import cmd_create, create_flags

    create_flags(p)
    p.set_defaults(handler=cmd_create)


def _start_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.add_argument(
        "-a", "--attach", action="store_true", help="Attach STDOUT/STDERR, forward signals"
    )
    p.add_argument("-i", "--interactive", action="store_true", help="Attach the container's STDIN")
    p.add_argument("--detach-keys", help="Key sequence to detach (default ctrl-p,ctrl-q)")
    p.set_defaults(handler=cmd_start)


def _stop_args(p: argparse.ArgumentParser, handler=None) -> None:
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.add_argument(
        "-t",
        "--time",
        type=int_flag("-t, --time"),
        help="Seconds to wait before killing (default 10)",
    )
    p.set_defaults(handler=handler or cmd_stop)


def _restart_args(p: argparse.ArgumentParser) -> None:
    _stop_args(p, cmd_restart)


def _kill_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.add_argument("-s", "--signal", default="KILL", help="Signal to send (default KILL)")
    p.set_defaults(handler=cmd_kill)


def _rm_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.add_argument("-f", "--force", action="store_true", help="Kill and remove a running container")
    p.add_argument(
        "-v", "--volumes", action="store_true", help="Remove anonymous volumes of the container"
    )
    p.set_defaults(handler=cmd_rm)


def _wait_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.set_defaults(handler=cmd_wait)


def _logs_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("-f", "--follow", action="store_true", help="Follow log output")
    p.add_argument("-n", "--tail", default="all", help="Number of lines from the end (default all)")
    p.add_argument("--since", help="Since a timestamp (RFC 3339) or a relative time (42m)")
    p.add_argument("--until", help="Until a timestamp (RFC 3339) or a relative time (42m)")
    p.add_argument("-t", "--timestamps", action="store_true", help="Show timestamps")
    p.add_argument("--details", action="store_true", help=argparse.SUPPRESS)
    from tuidock.cli.commands.container_io import cmd_logs

    p.set_defaults(handler=cmd_logs)


def _ps_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Show all containers")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display container IDs")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-f", "--filter", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--format", help="json, table TEMPLATE or a Go-style TEMPLATE")
    p.add_argument("-n", "--last", type=int, help="Show the n last created containers")
    p.add_argument("-l", "--latest", action="store_true", help="Show the latest created container")
    p.add_argument("-s", "--size", action="store_true", help=argparse.SUPPRESS)
    from tuidock.cli.commands.container_views import cmd_ps

    p.set_defaults(handler=cmd_ps)


def _rename_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("new_name", metavar="NEW_NAME")
    p.set_defaults(handler=cmd_rename)


def _pause_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.set_defaults(handler=cmd_pause)


def _unpause_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.set_defaults(handler=cmd_unpause)


def _top_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("ps_args", nargs=argparse.REMAINDER, metavar="[ps OPTIONS]")
    from tuidock.cli.commands.container_views import cmd_top

    p.set_defaults(handler=cmd_top)


def _attach_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("--no-stdin", action="store_true", help="Do not attach STDIN")
    p.add_argument("--sig-proxy", default="true", choices=["true", "false"])
    p.add_argument("--detach-keys", help="Key sequence to detach (default ctrl-p,ctrl-q)")
    from tuidock.cli.commands.container_io import cmd_attach

    p.set_defaults(handler=cmd_attach)


def _port_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("private_port", nargs="?", metavar="PRIVATE_PORT[/PROTO]")
    from tuidock.cli.commands.container_views import cmd_port

    p.set_defaults(handler=cmd_port)


def add_change_arg(p: argparse.ArgumentParser) -> None:
    """-c/--change of `commit` and `import`."""
    p.add_argument(
        "-c",
        "--change",
        action="append",
        default=[],
        metavar="INSTRUCTION",
        help="Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, ...)",
    )


def _stats_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Show all containers")
    p.add_argument("--no-stream", action="store_true", help="Print one result and exit")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
    p.add_argument("--format", help="json, a Go-style template, or 'table {{.Field}}...'")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")
    from tuidock.cli.commands.container_views import cmd_stats

    p.set_defaults(handler=cmd_stats)


def _diff_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")
    from tuidock.cli.commands.container_views import cmd_diff

    p.set_defaults(handler=cmd_diff)


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", help="Write to a file, instead of STDOUT")
    p.add_argument("container", metavar="CONTAINER")
    from tuidock.cli.commands.container_io import cmd_export

    p.set_defaults(handler=cmd_export)


def _commit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--author", default="", help='Author (e.g. "Jane <jane@example.com>")')
    p.add_argument("-m", "--message", default="", help="Commit message")
    add_change_arg(p)
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


def _cp_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--archive", action="store_true", help="Archive mode (copy all uid/gid)")
    p.add_argument(
        "-L", "--follow-link", action="store_true", help="Always follow symbol link in SRC_PATH"
    )
    p.add_argument("src", metavar="SRC")
    p.add_argument("dest", metavar="DEST")
    from tuidock.cli.commands.container_io import cmd_cp

    p.set_defaults(handler=cmd_cp)


# -- start, stop, kill, rm, ... ------------------------------------------------------------


def cmd_start(args: argparse.Namespace) -> int:
    from tuidock.cli.commands.container_io import pump
    from tuidock.runtime.engine import default_engine

    engine = default_engine()
    if args.attach or args.interactive:
        if len(args.containers) > 1:
            raise UsageError("you cannot start and attach multiple containers at once")
        cid, client = engine.start_container(
            args.containers[0], attach=True, stdin=args.interactive
        )
        config = engine.containers.store.read_config(cid)["Config"]
        assert client is not None
        return pump(client, bool(config.get("Tty")), args.interactive, True, args.detach_keys)
    return _each(args.containers, lambda name: engine.start_container(name))


def _each(names: list[str], action) -> int:
    """Run `action` per name, print each name done, errors after; exit 1 if any failed."""
    failed = False
    for name in names:
        try:
            action(name)
        except TuidockError as exc:
            sys.stdout.flush()
            print(f"Error: {exc.message}", file=sys.stderr)
            failed = True
            continue
        print(name)
        sys.stdout.flush()
    return 1 if failed else 0


def cmd_stop(args: argparse.Namespace) -> int:
    from tuidock.runtime.engine import default_engine

    engine = default_engine()
    return _each(args.containers, lambda n: engine.stop_container(n, args.time))


def cmd_restart(args: argparse.Namespace) -> int:
    from tuidock.runtime.engine import default_engine

    engine = default_engine()
    return _each(args.containers, lambda n: engine.restart_container(n, args.time))


def cmd_kill(args: argparse.Namespace) -> int:
    from tuidock.core.flagvalues import signal_number
    from tuidock.runtime.engine import default_engine

    signal_number(args.signal)  # a bad signal is a usage error, before anything is done
    engine = default_engine()
    return _each(args.containers, lambda n: engine.kill_container(n, args.signal))


def cmd_rm(args: argparse.Namespace) -> int:
    from tuidock.runtime.engine import default_engine

    engine = default_engine()
    return _each(
        args.containers,
        lambda n: engine.remove_container(n, force=args.force, volumes=args.volumes),
    )


def cmd_pause(args: argparse.Namespace) -> int:
    from tuidock.runtime.engine import default_engine

    engine = default_engine()
    return _each(args.containers, engine.pause_container)


def cmd_unpause(args: argparse.Namespace) -> int:
    from tuidock.runtime.engine import default_engine

    engine = default_engine()
    return _each(args.containers, engine.unpause_container)


def cmd_wait(args: argparse.Namespace) -> int:
    from tuidock.runtime.engine import default_engine

    engine = default_engine()
    failed = False
    for name in args.containers:
        try:
            code = engine.wait_container(name)
        except TuidockError as exc:
            print(f"Error: {exc.message}", file=sys.stderr)
            failed = True
            continue
        print(code)
        sys.stdout.flush()
    return 1 if failed else 0


def cmd_rename(args: argparse.Namespace) -> int:
    from tuidock.runtime.engine import default_engine

    default_engine().rename_container(args.container, args.new_name)
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


def cmd_prune(args: argparse.Namespace) -> int:
    from tuidock.cli.prune import confirm
    from tuidock.core.humanize import human_size
    from tuidock.core.prunefilter import parse_prune_filters
    from tuidock.runtime.engine import default_engine

    filters = parse_prune_filters(args.filter)
    if not confirm("all stopped containers", args.force):
        return 0
    removed, reclaimed = default_engine().prune_containers(filters)
    if removed:
        print("Deleted Containers:")
        for cid in removed:
            print(cid)
        print()
    print(f"Total reclaimed space: {human_size(reclaimed)}")
    return 0
