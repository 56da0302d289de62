"""`run` and `create` on a Docker/Podman engine, and the attached session they share
with `start -a`.

Flags are the local parser's; their values become Engine API fields through
DockerBackend._run_options (the run dialog's mapping, with the embedded
engine's parsing rules and messages), extended here with what the dialog
does not ask for (entrypoint, user, capabilities, mounts, ...).

As `docker run`:
- a missing image is pulled first ("Unable to find image 'X' locally", the
  pull's progress lines, "Status: Downloaded newer image for X", on stderr);
- `-d` prints the full ID; attached, the output is streamed as it comes
  (stdout and stderr demuxed to ours), and the exit code is the container's;
- `-it` relays this terminal in raw mode with its size (dockerexec.relay);
- the attach is made before the start, so no output is missed;
- exit codes: 125 for an engine or flag error, 126 when the command cannot
  be run, 127 when it is not found.

Nothing is left half-made: a container whose start failed is removed when
--rm was given (docker leaves it otherwise, and so does this), an attached
--rm container is removed once it exits, and Ctrl-C before the start
removes the container just created. Attached --rm is removed here rather
than by the daemon (AutoRemove), so its exit code can still be read;
detached --rm sets AutoRemove, as nobody is left to remove it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from tuidock.errors import NotFound, TuidockError, UsageError

if TYPE_CHECKING:
    import argparse

    from tuidock.backends.docker import DockerBackend


# -- flags -> Engine API -----------------------------------------------------------------


def _security_opts(items: list[str]) -> list[str]:
    """The docker CLI sends a seccomp profile's JSON, not its file name."""
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if key.strip() == "seccomp" and sep and value not in ("unconfined", "builtin"):
            from tuidock.runtime.linux.seccomp.profile import load_file

            _profile, text = load_file(value)
            item = f"seccomp={text}"
        out.append(item)
    return out


def api_options(args: argparse.Namespace, backend: DockerBackend) -> tuple[dict, dict, dict]:
    """(create_container kwargs, create_host_config kwargs, endpoint config or {})."""
    from tuidock.backends.base import RunSpec
    from tuidock.runtime.container.options import (
        env_list,
        normalize_caps,
        parse_labels,
        parse_mount_flag,
        parse_tmpfs_flag,
    )

    anonymous = [v for v in args.volume if ":" not in v]
    spec = RunSpec(
        image=args.image,
        command=list(args.command),
        name=args.name,
        env=env_list(args.env_file, args.env),
        network=args.network,
        ports=list(args.publish),
        volumes=[v for v in args.volume if ":" in v],
        restart=args.restart,
        memory=args.memory or "",
        cpus=args.cpus or "",
        pids_limit=str(args.pids_limit) if args.pids_limit is not None else "",
        tty=args.tty,
    )
    create, host = backend._run_options(spec)
    for v in anonymous:
        if not v.startswith("/"):
            raise UsageError(f"invalid volume specification: '{v}'")
    create.update(
        stdin_open=args.interactive,
        # The SDK only sets these when asked; None leaves the image's values.
        # One argv word, as the docker CLI (the SDK would split a string on spaces);
        # "" clears the image's entrypoint.
        entrypoint=[args.entrypoint] if args.entrypoint is not None else None,
        working_dir=args.workdir,
        user=args.user,
        hostname=args.hostname,
        labels=parse_labels(args.label) or None,
        stop_signal=args.stop_signal,
        stop_timeout=args.stop_timeout,
        volumes=anonymous or None,
    )
    if args.pids_limit is not None and args.pids_limit <= 0:
        host["pids_limit"] = -1  # docker: 0 or -1 is unlimited
    tmpfs = {}
    mounts = []
    for text in args.tmpfs:
        req = parse_tmpfs_flag(text)
        tmpfs[req.target] = ",".join(req.options)
    for text in args.mount:
        from docker.types import Mount

        req = parse_mount_flag(text)
        if req.type == "tmpfs":
            tmpfs[req.target] = ",".join(req.options)
        else:
            mounts.append(Mount(req.target, req.source or None, req.type, req.readonly))
    extra: dict[str, Any] = {
        "init": args.init or None,
        "privileged": args.privileged,
        "read_only": args.read_only or None,
        "cap_add": normalize_caps(args.cap_add) or None,
        "cap_drop": normalize_caps(args.cap_drop) or None,
        "security_opt": _security_opts(args.security_opt) or None,
        "dns": args.dns or None,
        "extra_hosts": list(args.add_host) or None,
        "tmpfs": tmpfs or None,
        "mounts": mounts or None,
        "publish_all_ports": args.publish_all,
    }
    host.update({k: v for k, v in extra.items() if v is not None})
    endpoint = {}
    if args.ip or args.network_alias:
        endpoint = {"ipv4_address": args.ip, "aliases": list(args.network_alias) or None}
    return create, host, endpoint


# -- image -------------------------------------------------------------------------------


def pull_missing(backend: DockerBackend, image: str, platform: str | None) -> None:
    """Pull `image` printing what `docker run` prints to stderr."""
    from tuidock.cli.progress import PlainProgress
    from tuidock.core import reference as refmod

    try:
        shown = refmod.parse(image).familiar()
    except TuidockError:
        shown = image
    print(f"Unable to find image '{shown}' locally", file=sys.stderr)
    backend.pull(image, platform, PlainProgress(sys.stderr), threading.Event())
    print(f"Status: Downloaded newer image for {shown}", file=sys.stderr)


def _create(args: argparse.Namespace, backend: DockerBackend, auto_remove: bool) -> str:
    import docker.errors

    from tuidock.backends.docker import api_errors

    create_args, host_args, endpoint = api_options(args, backend)
    # Not detached (and `create`, as the docker CLI): Attach* set, and with -i StdinOnce,
    # so the engine closes the process's stdin when the attached client's input ends.
    create_args["detach"] = bool(getattr(args, "detach", False))
    if auto_remove:
        host_args["auto_remove"] = True
    api = backend.api()

    def create() -> dict:
        networking = None
        if endpoint:
            networking = api.create_networking_config(
                {args.network: api.create_endpoint_config(**endpoint)}
            )
        return api.create_container(
            args.image,
            host_config=api.create_host_config(**host_args),
            networking_config=networking,
            platform=args.platform,
            **create_args,
        )

    with api_errors(backend.location):
        try:
            made = create()
        except docker.errors.ImageNotFound:
            made = None
    if made is None:
        pull_missing(backend, args.image, args.platform)
        made = backend._call(create)
    for w in made.get("Warnings") or []:
        if w:
            print(f"WARNING: {w}", file=sys.stderr)
    return made["Id"]


def _run_error(exc: TuidockError) -> TuidockError:
    """Docker's codes: 127 command not found, 126 cannot be run, 125 anything else."""
    if getattr(exc, "exit_code", 1) in (126, 127):
        return exc
    text = exc.message.lower()
    missing = "not found" in text and any(w in text for w in ("executable", "$path", "command"))
    if missing or ("no such file or directory" in text and "exec" in text):
        exc.exit_code = 127
    elif "permission denied" in text or "is a directory" in text:
        exc.exit_code = 126
    else:
        exc.exit_code = 125
    return exc


def _remove(backend: DockerBackend, cid: str) -> None:
    """Force-remove `cid` and its anonymous volumes; gone already is fine."""
    try:
        backend._call(backend.api().remove_container, cid, v=True, force=True)
    except NotFound:
        pass
    except TuidockError:
        pass  # the engine refused (or is gone): the error that brought us here matters more


# -- the attached session ----------------------------------------------------------------

# What `_session` returns when the user detached (the detach keys): docker's exit
# code 0, and the container is neither waited for nor removed.
DETACHED = -1


def _open_attach(
    backend: DockerBackend, cid: str, stdin: bool, detach_keys: str | None = None
) -> Any:
    params: dict[str, Any] = {"stdin": int(stdin), "stdout": 1, "stderr": 1, "stream": 1}
    if detach_keys:
        params["detachKeys"] = detach_keys  # the engine watches for them on our stdin
    return backend._call(backend.api().attach_socket, cid, params=params)


def detach_bytes(text: str | None) -> bytes:
    """--detach-keys as bytes (docker's default ctrl-p,ctrl-q when not given)."""
    from tuidock.backends.detachwatch import DETACH_KEYS

    if not text:
        return DETACH_KEYS
    from tuidock.cli.commands.container_io import parse_detach_keys

    return parse_detach_keys(text)


def _session(
    backend: DockerBackend,
    cid: str,
    sock: Any,
    tty: bool,
    stdin: bool,
    sig_proxy: bool,
    detach_keys: str | None = None,
) -> int:
    """Relay until the output ends (the container's exit code) or the detach keys
    are typed (DETACHED). The keys are watched here as well as by the engine:
    Podman's service passes them on to the process."""
    from tuidock.backends.dockerexec import relay

    api = backend.api()
    old: dict[int, Any] = {}
    if sig_proxy and not tty:

        def forward(signum: int, _frame: Any) -> None:
            try:
                api.kill(cid, signum)
            except Exception:
                pass  # it may have exited meanwhile

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            old[sig] = signal.signal(sig, forward)
    try:
        if tty:
            keys = detach_bytes(detach_keys) if stdin else None
            resize = lambda h, w: api.resize(cid, height=h, width=w)  # noqa: E731
            if relay(sock, resize, stdin_open=stdin, detach=keys):
                return DETACHED  # the socket closes below; the container runs on
        else:
            from tuidock.cli.remote.container_io import FrameSplitter, write_frames

            frames = FrameSplitter(raw=False)
            relay(sock, None, stdin_open=stdin, output=lambda d: write_frames(frames.feed(d)))
    except OSError:
        pass  # the connection dropped: the wait below says what became of the container
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        sock.close()
    if stdin:
        from tuidock.cli.remote.container_io import _still_running

        if _still_running(backend, cid):
            return DETACHED  # the detach keys: the engine let go, the container runs on
    from tuidock.backends.docker import make_client

    waiter = make_client(backend.endpoint, timeout=None)  # type: ignore[arg-type]
    try:
        return int(backend._call(waiter.wait, cid).get("StatusCode") or 0)
    finally:
        waiter.close()


def _check_terminal(tty: bool, stdin: bool) -> None:
    if tty and stdin and not os.isatty(sys.stdin.fileno()):
        # As Docker: raw-mode keyboard input needs a keyboard (drop -t to pipe stdin).
        raise TuidockError("the input device is not a TTY")


def attach_and_start(backend: DockerBackend, name: str, stdin: bool, sig_proxy: bool) -> int:
    """`start -a [-i]`: attach, start, relay; the container's exit code."""
    info = backend.inspect_container(name)
    tty = bool((info.get("Config") or {}).get("Tty"))
    _check_terminal(tty, stdin)
    cid = info["Id"]
    sock = _open_attach(backend, cid, stdin)
    try:
        backend._call(backend.api().start, cid)
    except BaseException:
        sock.close()
        raise
    code = _session(backend, cid, sock, tty, stdin, sig_proxy)
    return 0 if code == DETACHED else code


# -- the commands ------------------------------------------------------------------------


def cmd_create(args: argparse.Namespace, backend: DockerBackend) -> int:
    try:
        cid = _create(args, backend, auto_remove=args.rm)
    except TuidockError as exc:
        raise _run_error(exc) from None
    print(cid)
    return 0


def cmd_run(args: argparse.Namespace, backend: DockerBackend) -> int:
    if not args.detach:
        _check_terminal(args.tty, args.interactive)
    if args.detach_keys:
        detach_bytes(args.detach_keys)  # a bad value is a usage error before anything is made
    cid = ""
    sock = None
    try:
        # Detached, nobody is left to remove it: the daemon does (AutoRemove).
        cid = _create(args, backend, auto_remove=args.rm and args.detach)
        if not args.detach:
            sock = _open_attach(backend, cid, args.interactive, args.detach_keys)
        backend._call(backend.api().start, cid)
    except TuidockError as exc:
        if sock is not None:
            sock.close()
        if cid and args.rm:
            _remove(backend, cid)
        raise _run_error(exc) from None
    except BaseException:
        # Ctrl-C before the start: the container just made goes too.
        if sock is not None:
            sock.close()
        if cid:
            _remove(backend, cid)
        raise
    if args.detach:
        print(cid)
        return 0
    code = None  # None: interrupted, removed as any attached --rm
    try:
        code = _session(
            backend,
            cid,
            sock,
            args.tty,
            args.interactive,
            args.sig_proxy == "true",
            args.detach_keys,
        )
    finally:
        # Detached (the keys), it runs on: docker's --rm would remove it at its exit
        # (AutoRemove); attached --rm is ours to do, so this one is left in place.
        if args.rm and code != DETACHED:
            _remove(backend, cid)
    return 0 if code == DETACHED else code
