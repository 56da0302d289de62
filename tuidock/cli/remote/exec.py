"""`tuidock exec` on a Docker/Podman engine, as `docker exec`.

The command line is cli/commands/exec.py's (`parse`, USAGE): the same flags and
usage errors whichever engine runs the command. One POST
/containers/{name}/exec (the container's state is read only when the engine
refuses, to word why), one POST /exec/{id}/start: detached (-d) it
returns at once; with -t on a terminal the bytes go through
backends/dockerexec.py's relay (raw terminal, resize on start and SIGWINCH);
otherwise the multiplexed frames are split onto our stdout and stderr
(`pump_frames`) and -i sends our stdin (its end closes the exec's). Then
GET /exec/{id}/json for the exit code.

Two ways to the same requests (backends/execops.py, whose flow `_run` and
the shell pane's program share):
- on a unix:// host `LeanExec`, over backends/unixget.py's client: a socket
  per request and the hijacked stream as a plain socket, no SDK import and
  no /version round trip (the SDK path's ~80 ms of imports made `exec`
  three times the docker CLI's run);
- on tcp:// (TLS) and ssh:// `SdkExec`, over the SDK's client.

Exit codes as docker's: the command's own (the exec's inspect), 126 when it
cannot be run, 127 when it is not found, 125 when tuidock failed (no such
container, not running, a bad option, the engine unreachable). An exec
left by its detach keys (-it; ctrl-p,ctrl-q or --detach-keys, watched here
as the docker CLI does) still runs: 0.
"""

from __future__ import annotations

import os
import sys

from tuidock.backends.execops import LeanExec, SdkExec, finish, open_exec, start_failure
from tuidock.errors import TuidockError, report

TYPE_CHECKING = False  # typing stays off the lean path
if TYPE_CHECKING:
    import argparse

    from tuidock.backends.docker import DockerBackend
    from tuidock.backends.unixget import UnixGet


def _environment(env: list[str], files: list[str]) -> list[str]:
    """-e and --env-file entries; a bare NAME takes our value, or is dropped if unset."""
    lines: list[str] = []
    if files:
        from tuidock.runtime.container.options import read_env_file

        lines = [line for path in files for line in read_env_file(path)]
    out = []
    for item in lines + env:
        if "=" in item:
            out.append(item)
        elif item in os.environ:
            out.append(f"{item}={os.environ[item]}")
    return out


def _terminal_size() -> list[int] | None:
    try:
        size = os.get_terminal_size(sys.stdin.fileno())
    except OSError:
        return None
    return [size.lines, size.columns]


def _detach_keys(text: str | None) -> bytes:
    """--detach-keys as bytes, docker's ctrl-p,ctrl-q when not given (watched here:
    Podman's service passes them on to the process)."""
    from tuidock.backends.detachwatch import DETACH_KEYS

    if not text:
        return DETACH_KEYS
    from tuidock.cli.commands.container_io import parse_detach_keys

    return parse_detach_keys(text)


def _run(argv: list[str], ops: LeanExec | SdkExec) -> int:
    from tuidock.cli.commands.exec import USAGE, parse

    args = parse(argv)
    if args.help:
        sys.stdout.write(USAGE)
        return 0
    environment = _environment(args.env, args.env_file)
    if args.tty:
        environment = [f"TERM={os.environ.get('TERM') or 'xterm'}", *environment]
    body: dict[str, object] = {
        "User": args.user or "",
        "Privileged": args.privileged,
        "Tty": args.tty,
        "AttachStdin": args.interactive and not args.detach,
        "AttachStdout": not args.detach,
        "AttachStderr": not args.detach,
        "Cmd": args.command,
        "Env": environment or None,
    }
    if args.workdir is not None:
        body["WorkingDir"] = args.workdir
    if args.detach_keys:
        _detach_keys(args.detach_keys)  # a bad value is a usage error before the exec is made
        body["DetachKeys"] = args.detach_keys
    start: dict[str, object] = {"Detach": args.detach, "Tty": args.tty}
    size = _terminal_size() if args.tty else None
    if size is not None:
        start["ConsoleSize"] = size  # from the first byte where read (backends/execops.py)
    try:
        exec_id, sock = open_exec(ops, args.container, body, start)
    except TuidockError as exc:
        code = start_failure(exc.message)
        if code is None:
            raise
        print(f"Error: {exc.message}", file=sys.stderr)
        return code
    if sock is None:
        return 0  # detached
    try:
        if args.tty and os.isatty(sys.stdin.fileno()):
            from tuidock.backends.dockerexec import relay

            keys = _detach_keys(args.detach_keys) if args.interactive else None
            resize = lambda h, w: ops.resize(exec_id, h, w)  # noqa: E731
            if relay(sock, resize, stdin_open=args.interactive, detach=keys):
                return 0  # detached (the keys): the exec runs on, as docker's
        else:
            from tuidock.backends.dockerexec import pump_frames

            pump_frames(sock, args.tty, args.interactive)
    except OSError:
        pass  # the connection dropped: the exit code below says what became of the exec
    finally:
        sock.close()
    return finish(ops, exec_id)


def cmd_exec(args: argparse.Namespace, engine: DockerBackend | UnixGet) -> int:
    """Run `exec` with the raw argv after the word; exit code as docker's. `engine` is
    the lean client on a unix:// host (dispatch: `lean_unix`), else the backend."""
    from tuidock.backends.unixget import UnixGet

    ops = LeanExec(engine) if isinstance(engine, UnixGet) else SdkExec(engine)
    try:
        return _run(args.exec_argv, ops)
    except TuidockError as exc:
        # Every failure of tuidock's own (a bad option, no such container, the
        # engine's refusal) is 125, as the docker CLI's; never the command's code.
        report(exc)
        return 125
    except KeyboardInterrupt:
        return 130


cmd_exec.lean_unix = True  # type: ignore[attr-defined]


class _GlobalFlags:
    """The engine flags before the word, as global_endpoint_args' Namespace has them."""

    global_host: str | None = None
    global_context: str | None = None


def lean_main(argv: list[str]) -> int | None:
    """`tuidock [-H URL | -c NAME] exec ...` run without argparse when the engine is a
    plain unix:// host (cli/endpoints.py `remote_endpoint`): no parser built, no SDK.
    None when the flags before `exec` are anything else (TLS, a form not plainly
    ours) or the engine is not such a host: cli/main.py then goes its usual way.
    Only the -H/-c forms of `command_word` are read; a flag given twice counts once,
    the last, as argparse has it."""
    flags = _GlobalFlags()
    i = 0
    while i < len(argv) and argv[i] != "exec":
        arg = argv[i]
        name, eq, value = arg.partition("=")
        if arg in ("-H", "--host", "-c", "--context") and i + 1 < len(argv):
            name, value, i = arg, argv[i + 1], i + 2
        elif name in ("--host", "--context") and eq:
            i += 1
        elif arg[:2] in ("-H", "-c") and len(arg) > 2 and arg[2] != "=":
            name, value, i = arg[:2], arg[2:], i + 1
        else:
            return None
        if name in ("-H", "--host"):
            flags.global_host = value
        else:
            flags.global_context = value
    if i >= len(argv):
        return None
    from tuidock.cli.endpoints import lean_unix_host

    host = lean_unix_host(flags)  # type: ignore[arg-type]
    if host is None:
        return None
    import gc

    if not gc.isenabled():
        # As cli/main.py: the startup objects frozen, collection from here on.
        gc.freeze()
        gc.enable()
    from tuidock.backends.unixget import UnixGet

    args = _GlobalFlags()
    args.exec_argv = argv[i + 1 :]  # type: ignore[attr-defined]
    return cmd_exec(args, UnixGet(host))  # type: ignore[arg-type]
