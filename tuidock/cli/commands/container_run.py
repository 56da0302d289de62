"""`run` and `create`: their flags, the options they make, and the image pulled if missing."""

from __future__ import annotations

import argparse
import sys

from tuidock.core import trace
from tuidock.core.flagvalues import int_flag
from tuidock.errors import TuidockError


def create_flags(p: argparse.ArgumentParser) -> None:
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


def _options(args: argparse.Namespace):  # -> CreateOptions
    from tuidock.runtime.container.options import (
        CreateOptions,
        parse_cpus,
        parse_labels,
        parse_memory,
        read_env_file,
    )

    if args.security_opt:
        from tuidock.runtime.container.securityopt import parse as parse_security_opt

        parse_security_opt(args.security_opt)  # a bad option or profile fails before a pull
    # Read now, as docker's CLI does: a bad env file fails before a pull.
    from_files = [item for path in args.env_file for item in read_env_file(path)]
    return CreateOptions(
        image=args.image,
        command=list(args.command),
        name=args.name,
        env=from_files + args.env,  # the files' entries first: -e wins
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
    from tuidock.cli.commands.container_io import pump
    from tuidock.runtime.engine import default_engine

    if args.tty and args.interactive and not args.detach and not sys.stdin.isatty():
        # As Docker: raw-mode keyboard input needs a keyboard (drop -t to pipe stdin).
        raise TuidockError("the input device is not a TTY")
    engine = default_engine()
    try:
        opts = _options(args)
        _ensure_image(engine, opts.image, args.platform)
        trace.mark("cli: image resolved")
        cid, client, warnings = engine.run(opts, attach=not args.detach)
    except TuidockError as exc:
        raise _engine_error(exc) from None
    for w in warnings:
        print(f"WARNING: {w}", file=sys.stderr)
    if args.detach:
        print(cid)
        return 0
    code = pump(client, args.tty, args.interactive, args.sig_proxy == "true", args.detach_keys)
    trace.mark("cli: session ended")
    return code
