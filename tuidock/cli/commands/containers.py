"""Container commands: run, create, start, stop, restart, kill, rm, wait, rename,
pause, unpause, attach, prune and the `container` group (the read-only ones,
ps, logs, top and inspect, are in cli_containerviews).

`run` is on the hot path of every script: this module imports only what
argparse needs; the engine and the rest come in inside the commands.
"""

from __future__ import annotations

import argparse
import sys

from tuidock.errors import TuidockError, UsageError
from tuidock.runtime.container.options import int_flag

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


def _lazy(sub: argparse._SubParsersAction, name: str, help: str | None, builder: str, **kw):
    """A command whose parser is built from this module's `builder` function when used."""
    from tuidock.cli.lazy import lazy_parser

    return lazy_parser(sub, name, help, lambda p: globals()[builder](p), **kw)


def register(sub: argparse._SubParsersAction) -> None:
    for name, (help, builder, kw) in _COMMANDS.items():
        _lazy(sub, name, help, builder, **kw)
    _lazy(sub, "container", "Manage containers", "_container_group")


def _container_group(group: argparse.ArgumentParser) -> None:
    group.set_defaults(subparser=group)
    csub = group.add_subparsers(dest="container_command", metavar="COMMAND")
    for name, (help, builder, kw) in _COMMANDS.items():
        _lazy(csub, name, help if name != "ps" else None, builder, **kw)
    for name, help, builder in _GROUP_ONLY:
        _lazy(csub, name, help, builder)


# -- arguments -----------------------------------------------------------------------


def _create_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--help", action="help", help="Show this help message and exit")
    p.add_argument("-i", "--interactive", action="store_true", help="Keep STDIN open")
    p.add_argument("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    p.add_argument("--name", help="Assign a name to the container")
    p.add_argument("--rm", action="store_true", help="Remove the container when it exits")
    p.add_argument("-e", "--env", action="append", default=[], metavar="NAME[=VALUE]")
    p.add_argument("--env-file", action="append", default=[], metavar="FILE")
    p.add_argument("-w", "--workdir", help="Working directory inside the container")
    p.add_argument("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])")
    p.add_argument("--entrypoint", help="Overwrite the default ENTRYPOINT of the image")
    p.add_argument("-h", "--hostname", help="Container host name (default: its short ID)")
    p.add_argument("-m", "--memory", help="Memory limit (e.g. 512m, 1g)")
    p.add_argument("--cpus", help="Number of CPUs (e.g. 0.5)")
    p.add_argument(
        "--pids-limit",
        type=int_flag("--pids-limit"),
        help="Tune container pids limit (-1 for unlimited)",
    )
    p.add_argument("--init", action="store_true", help="Run an init inside the container")
    p.add_argument("--read-only", action="store_true", help="Mount the root filesystem read-only")
    p.add_argument("--cap-add", action="append", default=[], metavar="CAP")
    p.add_argument("--cap-drop", action="append", default=[], metavar="CAP")
    p.add_argument("--privileged", action="store_true", help="Give extended privileges")
    p.add_argument(
        "--security-opt",
        action="append",
        default=[],
        metavar="OPT",
        help="seccomp=unconfined|PROFILE.json, no-new-privileges[=true]",
    )
    # bridge networking
    p.add_argument("--network", "--net", default="bridge", help="bridge (default), none or host")
    p.add_argument("--ip", help="IPv4 address on the bridge (e.g. 10.89.128.20)")
    p.add_argument("--dns", action="append", default=[], help="Set custom DNS servers")
    p.add_argument(
        "--network-alias",
        action="append",
        default=[],
        metavar="ALIAS",
        help="Add a network-scoped alias (user networks)",
    )
    p.add_argument(
        "-v",
        "--volume",
        action="append",
        default=[],
        metavar="[SRC:]DST[:ro]",
        help="Bind mount a host path or a named volume; DST alone: an anonymous volume",
    )
    p.add_argument(
        "--mount",
        action="append",
        default=[],
        metavar="type=bind|volume|tmpfs,source=..,target=..[,readonly]",
        help="Attach a filesystem mount to the container",
    )
    p.add_argument(
        "--tmpfs", action="append", default=[], metavar="PATH[:OPTS]", help="Mount a tmpfs"
    )
    p.add_argument(
        "--add-host", action="append", default=[], metavar="HOST:IP", help="Add a host-to-IP line"
    )
    p.add_argument(
        "-P", "--publish-all", action="store_true", help="Publish all exposed ports to random ports"
    )
    p.add_argument("--restart", default="no", help="no, on-failure[:N], always, unless-stopped")
    p.add_argument("-l", "--label", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument(
        "-p",
        "--publish",
        action="append",
        default=[],
        metavar="[IP:][HOSTPORT:]PORT[/PROTO]",
        help="Publish a container's port to the host",
    )
    p.add_argument("--stop-signal", help="Signal to stop the container (default: SIGTERM)")
    p.add_argument(
        "--stop-timeout",
        type=int_flag("--stop-timeout"),
        help="Seconds to wait before killing on stop",
    )
    p.add_argument(
        "--platform", help="Platform to pull if the image is missing (os/arch[/variant])"
    )
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND")


def _inspect_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="+", metavar="CONTAINER")
    p.add_argument("-f", "--format", help="Format the output using a Go-style template")
    from tuidock.cli.commands.containerviews import cmd_inspect_containers

    p.set_defaults(handler=cmd_inspect_containers)


def _prune_args(p: argparse.ArgumentParser) -> None:
    from tuidock.cli.commands.volumes import add_prune_filter_arg

    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    add_prune_filter_arg(p)
    p.set_defaults(handler=cmd_prune)


def _run_args(p: argparse.ArgumentParser) -> None:
    _create_flags(p)
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
    _create_flags(p)
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
    from tuidock.cli.commands.containerviews import cmd_logs

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
    from tuidock.cli.commands.containerviews import cmd_ps

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
    from tuidock.cli.commands.containerviews import cmd_top

    p.set_defaults(handler=cmd_top)


def _attach_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("--no-stdin", action="store_true", help="Do not attach STDIN")
    p.add_argument("--sig-proxy", default="true", choices=["true", "false"])
    p.add_argument("--detach-keys", help="Key sequence to detach (default ctrl-p,ctrl-q)")
    p.set_defaults(handler=cmd_attach)


def _port_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("private_port", nargs="?", metavar="PRIVATE_PORT[/PROTO]")
    p.set_defaults(handler=cmd_port)


def cmd_port(args: argparse.Namespace) -> int:
    """`port`: the published ports of a running container, as `docker port` prints them."""
    from tuidock.core.status import ContainerStatus
    from tuidock.runtime.engine import default_engine
    from tuidock.runtime.network import endpoint
    from tuidock.runtime.network.ports import format_port

    engine = default_engine()
    cid = engine.containers.resolve(args.container)
    ep = endpoint.load(engine.containers.store.path(cid)) or {}
    if not ContainerStatus.of(engine.containers.store.state(cid)).is_active:
        ep = {}  # the proxy is gone: nothing is published
    want = args.private_port
    if want and "/" not in want:
        want += "/tcp"
    shown = 0
    for p in ep.get("Ports") or []:
        if not p.get("host_port"):
            continue  # an ephemeral port not bound yet: the container is not running
        if want and want != f"{p['container_port']}/{p['protocol']}":
            continue
        ip = p["host_ip"] or "0.0.0.0"
        print(f"{ip}:{p['host_port']}" if want else format_port(p))
        shown += 1
    if want and not shown:
        raise TuidockError(f"No public port '{want}' published for {args.container}")
    return 0


# -- run, create, start ---------------------------------------------------------------


def _options(args: argparse.Namespace):  # -> CreateOptions
    from tuidock.runtime.container.options import (
        CreateOptions,
        parse_cpus,
        parse_labels,
        parse_memory,
    )

    if args.security_opt:
        from tuidock.runtime.container.securityopt import parse as parse_security_opt

        parse_security_opt(args.security_opt)  # a bad option or profile fails before a pull
    return CreateOptions(
        image=args.image,
        command=list(args.command),
        name=args.name,
        env=args.env,
        env_files=args.env_file,
        workdir=args.workdir,
        user=args.user,
        entrypoint=args.entrypoint,
        hostname=args.hostname,
        memory=parse_memory(args.memory) if args.memory is not None else None,
        cpus=parse_cpus(args.cpus) if args.cpus is not None else None,
        pids_limit=args.pids_limit,
        init=args.init,
        read_only=args.read_only,
        cap_add=args.cap_add,
        cap_drop=args.cap_drop,
        privileged=args.privileged,
        security_opt=args.security_opt,
        network=args.network,
        restart=args.restart,
        labels=parse_labels(args.label),
        publish=args.publish,
        publish_all=args.publish_all,
        ip=args.ip,
        dns=args.dns,
        add_hosts=args.add_host,
        network_aliases=args.network_alias,
        volumes=args.volume,
        mounts=args.mount,
        tmpfs=args.tmpfs,
        tty=args.tty,
        stdin=args.interactive,
        auto_remove=args.rm,
        stop_signal=args.stop_signal,
        stop_timeout=args.stop_timeout,
    )


def _ensure_image(engine, image: str, platform: str | None) -> None:
    """Pull the image when it is not local, printing to stderr as `docker run` does.

    With --platform, a local image of another platform counts as missing (the
    pull fetches the one asked for), as Docker; if what is then local still does
    not match, Docker's error."""
    from tuidock.core.platforms import Platform, parse_platform
    from tuidock.errors import NotFound

    want = parse_platform(platform) if platform else None
    try:
        rec = engine.image(image)
        if want is None or _is_for(rec, want):
            return
    except NotFound:
        pass
    from tuidock.cli.progress import PlainProgress
    from tuidock.core import reference as refmod

    ref = refmod.parse(image)
    print(f"Unable to find image '{ref.familiar()}' locally", file=sys.stderr)
    engine.pull(image, want, PlainProgress(sys.stderr))
    print(f"Status: Downloaded newer image for {ref.familiar()}", file=sys.stderr)
    rec = engine.image(image)
    if want is not None and not _is_for(rec, want):
        raise NotFound(
            f"image with reference {image} was found but does not match the specified "
            f"platform: wanted {want}, actual: {Platform(rec.os, rec.architecture, rec.variant)}",
            "Pick a platform the image is built for, or leave out --platform.",
        )


def _is_for(rec, want) -> bool:
    return want.matches({"os": rec.os, "architecture": rec.architecture, "variant": rec.variant})


def _engine_error(exc: TuidockError) -> TuidockError:
    """`run`/`create` exit 125 on an engine error, as Docker (126/127 stay)."""
    if getattr(exc, "exit_code", 1) not in (126, 127):
        exc.exit_code = 125
    return exc


def _create(args: argparse.Namespace, engine) -> str:
    opts = _options(args)
    _ensure_image(engine, opts.image, args.platform)
    cid, warnings = engine.create_container(opts)
    for w in warnings:
        print(f"WARNING: {w}", file=sys.stderr)
    return cid


def cmd_create(args: argparse.Namespace) -> int:
    from tuidock.runtime.engine import default_engine

    try:
        print(_create(args, default_engine()))
    except TuidockError as exc:
        raise _engine_error(exc) from None
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from tuidock.runtime.engine import default_engine

    if args.tty and args.interactive and not args.detach and not sys.stdin.isatty():
        # As Docker: raw-mode keyboard input needs a keyboard (drop -t to pipe stdin).
        raise TuidockError("the input device is not a TTY")
    engine = default_engine()
    try:
        opts = _options(args)
        _ensure_image(engine, opts.image, args.platform)
        cid, client, warnings = engine.run(opts, attach=not args.detach)
    except TuidockError as exc:
        raise _engine_error(exc) from None
    for w in warnings:
        print(f"WARNING: {w}", file=sys.stderr)
    if args.detach:
        print(cid)
        return 0
    return _pump(client, args.tty, args.interactive, args.sig_proxy == "true", args.detach_keys)


def _pump(client, tty: bool, stdin: bool, sig_proxy: bool, detach_keys: str | None) -> int:
    from tuidock.cli.commands.attach import DETACH_KEYS, DETACHED, Session, parse_detach_keys

    keys = parse_detach_keys(detach_keys) if detach_keys else DETACH_KEYS
    try:
        code = Session(client, tty=tty, stdin=stdin, sig_proxy=sig_proxy, detach_keys=keys).run()
    finally:
        client.close()
    if code == DETACHED:
        return 0
    return code


def cmd_start(args: argparse.Namespace) -> int:
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
        return _pump(client, bool(config.get("Tty")), args.interactive, True, args.detach_keys)
    return _each(args.containers, lambda name: engine.start_container(name))


def cmd_attach(args: argparse.Namespace) -> int:
    from tuidock.runtime.engine import default_engine

    engine = default_engine()
    cid = engine.containers.resolve(args.container)
    config = engine.containers.store.read_config(cid)["Config"]
    stdin = not args.no_stdin and bool(config.get("OpenStdin"))
    client = engine.attach_container(cid, stdin=stdin)
    return _pump(client, bool(config.get("Tty")), stdin, args.sig_proxy == "true", args.detach_keys)


# -- stop, kill, rm, ... -----------------------------------------------------------------


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
    from tuidock.runtime.container.options import signal_number
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


def cmd_prune(args: argparse.Namespace) -> int:
    from tuidock.core.humanize import human_size
    from tuidock.core.prunefilter import parse_prune_filters
    from tuidock.runtime.engine import default_engine

    filters = parse_prune_filters(args.filter)
    if not args.force:
        if not sys.stdin.isatty():
            raise UsageError(
                "this will remove all stopped containers; confirmation needs a terminal",
                "Add -f to prune without a prompt.",
            )
        answer = input(
            "WARNING! This will remove all stopped containers.\n"
            "Are you sure you want to continue? [y/N] "
        )
        if answer.strip().lower() not in ("y", "yes"):
            return 0
    removed, reclaimed = default_engine().prune_containers(filters)
    if removed:
        print("Deleted Containers:")
        for cid in removed:
            print(cid)
        print()
    print(f"Total reclaimed space: {human_size(reclaimed)}")
    return 0
