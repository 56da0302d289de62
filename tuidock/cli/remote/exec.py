"""`tuidock exec` on a Docker/Podman engine, as `docker exec`.

The command line is cli/commands/exec.py's (`parse`, USAGE): the same flags and
usage errors whichever engine runs the command. One exec_create, one
exec_start: detached (-d) it returns at once; with -t on a terminal the bytes
go through backends/dockerexec.py's relay (raw terminal, resize on start and
SIGWINCH); otherwise the multiplexed frames are split onto our stdout and
stderr and -i sends our stdin (its end closes the exec's).

Exit codes as docker's: the command's own (exec_inspect), 126 when it cannot
be run, 127 when it is not found, 125 when tuidock failed (no such container,
not running, a bad option).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from tuidock.errors import NotFound, TuidockError, report

if TYPE_CHECKING:
    import argparse

    from tuidock.backends.docker import DockerBackend

# What the runtimes write when the exec's process cannot start (runc, crun, Podman).
_NOT_FOUND = ("executable file not found", "no such file or directory")
_NOT_RUNNABLE = ("permission denied", "exec format error", "is a directory")


def _environment(env: list[str], files: list[str]) -> list[str]:
    """-e and --env-file entries; a bare NAME takes our value, or is dropped if unset."""
    from tuidock.runtime.container.options import read_env_file

    out = []
    for item in [line for path in files for line in read_env_file(path)] + env:
        if "=" in item:
            out.append(item)
        elif item in os.environ:
            out.append(f"{item}={os.environ[item]}")
    return out


def _start_failure(text: str) -> int | None:
    """126/127 when the engine's answer says the process could not start."""
    low = text.lower()
    if "exec failed" not in low and "executable" not in low and "oci runtime" not in low:
        return None
    if any(w in low for w in _NOT_FOUND):
        return 127
    if any(w in low for w in _NOT_RUNNABLE):
        return 126
    return 126


def _run(argv: list[str], backend: DockerBackend) -> int:
    from tuidock.backends.docker import api_errors
    from tuidock.cli.commands.exec import USAGE, parse

    args = parse(argv)
    if args.help:
        sys.stdout.write(USAGE)
        return 0
    api = backend.api()
    try:
        info = backend._call(api.inspect_container, args.container)
    except NotFound:
        raise TuidockError(f"No such container: {args.container}") from None
    state = info.get("State") or {}
    if not state.get("Running"):
        raise TuidockError(f"container {info['Id'][:12]} is not running")
    if state.get("Paused"):
        raise TuidockError(f"container {info['Id'][:12]} is paused, unpause the container first")
    environment = _environment(args.env, args.env_file)
    if args.tty:
        environment = [f"TERM={os.environ.get('TERM') or 'xterm'}", *environment]
    try:
        with api_errors(backend.location):
            exec_id = api.exec_create(
                info["Id"],
                args.command,
                stdout=not args.detach,
                stderr=not args.detach,
                stdin=args.interactive and not args.detach,
                tty=args.tty,
                privileged=args.privileged,
                user=args.user or "",
                environment=environment or None,
                workdir=args.workdir,
            )["Id"]
            if args.detach:
                api.exec_start(exec_id, detach=True, tty=args.tty)
                return 0
            sock = api.exec_start(exec_id, tty=args.tty, socket=True)
    except TuidockError as exc:
        code = _start_failure(exc.message)
        if code is None:
            raise
        print(f"Error: {exc.message}", file=sys.stderr)
        return code
    try:
        if args.tty and os.isatty(sys.stdin.fileno()):
            from tuidock.backends.dockerexec import relay

            relay(
                sock,
                lambda h, w: api.exec_resize(exec_id, height=h, width=w),
                stdin_open=args.interactive,
            )
        else:
            from tuidock.cli.remote.container_io import pump_frames

            pump_frames(sock, args.tty, args.interactive)
    except OSError:
        pass  # the connection dropped: the exit code below says what became of the exec
    finally:
        sock.close()
    with api_errors(backend.location):
        done = api.exec_inspect(exec_id)
    code = done.get("ExitCode")
    if code is None:
        return 126  # the process never ran
    return int(code)


def cmd_exec(args: argparse.Namespace, backend: DockerBackend) -> int:
    """Run `exec` with the raw argv after the word; exit code as docker's."""
    try:
        return _run(args.exec_argv, backend)
    except TuidockError as exc:
        # Every failure of tuidock's own (a bad option, no such container, the
        # engine's refusal) is 125, as the docker CLI's; never the command's code.
        report(exc)
        return 125
    except KeyboardInterrupt:
        return 130
