"""`python -m tuidock.backends.dockerexec [TLS flags] HOST CONTAINER [CMD...]`: exec -it.

The UI's shell pane runs an argv in a PTY of its own; for a Docker or Podman
engine this is that argv, with no docker CLI needed. It creates a TTY exec
(backends/execops.py, the flow the CLI's `exec` runs too) with this
terminal's size (ConsoleSize in the start: the size from the first byte on
engines that read it, Docker 23+ with API 1.42; older Docker and Podman
take the resize sent right after the start, before any input), puts this
terminal in raw mode, relays bytes both ways over the hijacked socket,
passes the window size on at start and on every SIGWINCH, and exits with
the exec's exit code as the engine reports it. Errors are one or two lines,
as the CLI's.

On a plain unix:// HOST (no TLS flags) the requests go over the lean client
(backends/unixget.py): no argparse, no SDK, no http/email; the shell's
first byte comes ~200 ms sooner than through the SDK, which stays for
tcp:// (TLS) and ssh://.

The relays of a hijacked stream live here, for every caller: `relay` (a
terminal, raw, with its size) serves the CLI's `exec -it`, `attach` and
attached `run`/`start -a` on these engines, or a non-TTY session whose
demuxed output it hands to a callback; `pump_frames` splits a multiplexed
stream onto our stdout and stderr (exec, attach and logs without a TTY).
Both take the SDK's hijacked response or a plain socket (the lean unix://
client's, backends/unixget.py `upgrade`); end of input half-closes it.

Imports stay lazy (argparse, the endpoint's dataclasses, the SDK): the lean
`tuidock -H unix://... exec` loads this module and no more than the stdlib's
select, signal, termios and tty.
"""

from __future__ import annotations

import os
import select
import signal
import sys

from tuidock.errors import TuidockError, report

TYPE_CHECKING = False  # typing and collections.abc stay off the lean exec path
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import Any

    from tuidock.backends.execops import LeanExec, SdkExec


def _parse(argv: list[str]) -> argparse.Namespace:
    import argparse

    p = argparse.ArgumentParser(prog="python -m tuidock.backends.dockerexec")
    p.add_argument("--tls", action="store_true")
    p.add_argument("--tlsverify", action="store_true")
    p.add_argument("--tlscacert")
    p.add_argument("--tlscert")
    p.add_argument("--tlskey")
    p.add_argument("host")
    p.add_argument("container")
    p.add_argument("command", nargs=argparse.REMAINDER)
    return p.parse_args(argv)


def _send(sock: Any, data: bytes) -> None:
    """Write to the SDK's hijacked socket, whichever transport's object it is."""
    target = getattr(sock, "_sock", sock)
    if hasattr(target, "sendall"):
        target.sendall(data)
    else:
        os.write(target.fileno(), data)


def _recv(sock: Any) -> bytes:
    target = getattr(sock, "_sock", sock)
    if hasattr(target, "recv"):
        return target.recv(65536)
    return os.read(target.fileno(), 65536)


def _size(fd: int) -> tuple[int, int] | None:
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return size.lines, size.columns


def relay(
    sock: Any,
    resize: Callable[[int, int], None] | None = None,
    *,
    stdin_open: bool = True,
    output: Callable[[bytes], None] | None = None,
    detach: bytes | None = None,
) -> bool:
    """Bytes between this terminal and a hijacked exec or attach socket until its output ends.

    With `resize` (a TTY session) the terminal is put in raw mode, and its size
    is passed on now and at every SIGWINCH. `output` takes what the engine sends
    (default: written to stdout as is; a non-TTY attach demuxes it). End of input
    half-closes the socket, so the process reads EOF as with `docker`.

    With `detach` (the detach keys' bytes) typed input is watched for them
    (backends/detachwatch.py): once typed, the relay ends there and returns
    True; the caller leaves the process running. False: the output ended.
    """
    import termios
    import tty

    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    saved = termios.tcgetattr(stdin) if resize is not None and os.isatty(stdin) else None
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    old_wakeup = signal.set_wakeup_fd(wake_w)
    old_handler = signal.signal(signal.SIGWINCH, lambda *_: None)
    target = getattr(sock, "_sock", sock)
    write = output or (lambda data: write_all(stdout, data))
    watch = None
    if detach:
        from tuidock.backends.detachwatch import DetachWatch

        watch = DetachWatch(detach)

    def pass_size() -> None:
        size = _size(stdin)
        if size is not None and resize is not None:
            try:
                resize(*size)
            except Exception:
                pass  # the process may have ended meanwhile

    try:
        if saved is not None:
            tty.setraw(stdin)
        pass_size()
        while True:
            if hasattr(target, "pending") and target.pending():
                ready = [target]  # TLS: bytes already decrypted wait in the SSL object
            else:
                fds = [target, wake_r] + ([stdin] if stdin_open else [])
                ready, _, _ = select.select(fds, [], [])
            # Read whether or not select saw it: a SIGWINCH delivered as select
            # returned for typed input has its byte here already (the C handler
            # runs before select returns to Python), and the new size must reach
            # the engine before the keys typed after the resize.
            if woken(wake_r):
                pass_size()
            if target in ready:
                data = _recv(sock)
                if not data:
                    return False
                write(data)
            if stdin_open and stdin in ready:
                data = os.read(stdin, 65536)
                if data and watch is not None:
                    data, detached = watch.feed(data)
                    if data:
                        _send(sock, data)
                    if detached:
                        return True
                elif data:
                    _send(sock, data)
                else:
                    stdin_open = False
                    _close_write(sock)
    finally:
        if saved is not None:
            termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
        signal.signal(signal.SIGWINCH, old_handler)
        signal.set_wakeup_fd(old_wakeup)
        os.close(wake_r)
        os.close(wake_w)


def woken(wake_r: int) -> bool:
    """Whether a signal came since the last call (the wakeup pipe drained)."""
    try:
        return bool(os.read(wake_r, 512))
    except BlockingIOError:
        return False


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _close_write(sock: Any) -> None:
    """Half-close: the engine closes the process's stdin, its output still flows."""
    import socket

    target = getattr(sock, "_sock", sock)
    try:
        target.shutdown(socket.SHUT_WR)
    except (OSError, AttributeError):
        pass  # a transport without half-close (ssh): the input just stops


def write_frames(frames: list[tuple[int, bytes]]) -> None:
    for stream, payload in frames:
        write_all(2 if stream == 2 else 1, payload)


def pump_frames(sock: Any, raw: bool, stdin: bool, on_signal: Any = None) -> None:
    """Relay a hijacked attach/exec stream until its output ends: frames to our stdout
    and stderr, our stdin (when `stdin`) to it, its write side closed at our EOF.
    Signals in `on_signal` ({signum: fn}) are handled between reads."""
    from tuidock.backends.dockerattach import FrameSplitter

    target = getattr(sock, "_sock", sock)
    splitter = FrameSplitter(raw)
    in_fd = sys.stdin.fileno() if stdin else None
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    old_wakeup = signal.set_wakeup_fd(wake_w)
    pending: list[int] = []
    saved = {s: signal.signal(s, lambda n, _f: pending.append(n)) for s in on_signal or {}}
    sys.stdout.flush()
    try:
        if in_fd is not None and not _pollable(in_fd):
            # A regular file or /dev/null cannot be polled: send it all now.
            _send(target, sys.stdin.buffer.read())
            _close_write(target)
            in_fd = None
        while True:
            if hasattr(target, "pending") and target.pending():
                ready = [target]  # TLS: bytes already decrypted wait in the SSL object
            else:
                fds = [target, wake_r] + ([in_fd] if in_fd is not None else [])
                ready, _, _ = select.select(fds, [], [])
            if wake_r in ready:
                os.read(wake_r, 512)
                for signum in pending:
                    on_signal[signum](signum)
                pending.clear()
            if target in ready:
                data = _recv(target)
                if not data:
                    return
                write_frames(splitter.feed(data))
            if in_fd is not None and in_fd in ready:
                data = os.read(in_fd, 65536)
                if data:
                    _send(target, data)
                else:
                    in_fd = None
                    _close_write(target)
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
        signal.set_wakeup_fd(old_wakeup)
        os.close(wake_r)
        os.close(wake_w)


def _pollable(fd: int) -> bool:
    import stat

    mode = os.fstat(fd).st_mode
    return not (stat.S_ISREG(mode) or (stat.S_ISCHR(mode) and not os.isatty(fd)))


def _lean_host(argv: list[str]) -> str | None:
    """The host when `argv` is `unix://PATH CONTAINER [CMD...]` (no TLS flags), else None."""
    if len(argv) >= 2 and argv[0].startswith("unix://"):
        return argv[0]
    return None


def _ops(argv: list[str]) -> tuple[LeanExec | SdkExec, str, list[str]]:
    """The exec client for the endpoint on the command line, the container, the command."""
    from tuidock.backends.execops import LeanExec, SdkExec

    host = _lean_host(argv)
    if host is not None:
        from tuidock.backends.unixget import UnixGet

        return LeanExec(UnixGet(host)), argv[1], argv[2:]
    from tuidock.backends.docker import DockerBackend, make_client
    from tuidock.backends.endpoint import Endpoint, TLSConfig

    args = _parse(argv)
    tls = None
    if args.tls or args.tlsverify:
        tls = TLSConfig(args.tlsverify, args.tlscacert, args.tlscert, args.tlskey)
    backend = DockerBackend(Endpoint(name=args.host, host=args.host, tls=tls))
    # No read timeout: the session's stream may idle for hours (select waits on it).
    api = make_client(backend.endpoint, timeout=None)  # type: ignore[arg-type]
    return SdkExec(backend, api), args.container, args.command


def run(argv: list[str]) -> int:
    """The pane's session: a TTY exec of CMD (/bin/sh) relayed until its output
    ends; its exit code (126/127 when it cannot start, as the CLI's)."""
    from tuidock.backends.execops import finish, open_exec, start_failure

    ops, container, command = _ops(argv)
    body = {
        "User": "",
        "Privileged": False,
        "Tty": True,
        "AttachStdin": True,
        "AttachStdout": True,
        "AttachStderr": True,
        "Cmd": command or ["/bin/sh"],
        "Env": [f"TERM={os.environ.get('TERM') or 'xterm'}"],
    }
    start: dict[str, object] = {"Detach": False, "Tty": True}
    size = _size(sys.stdin.fileno())
    if size is not None:
        start["ConsoleSize"] = list(size)  # from the first byte where read (module docstring)
    try:
        exec_id, sock = open_exec(ops, container, body, start)
    except TuidockError as exc:
        code = start_failure(exc.message)
        if code is None:
            raise
        report(exc)
        return code
    try:
        relay(sock, lambda h, w: ops.resize(exec_id, h, w))
    except OSError:
        pass  # the connection dropped: the exit code below says what became of the exec
    finally:
        sock.close()
    return finish(ops, exec_id)


def main() -> None:
    try:
        code = run(sys.argv[1:])
    except TuidockError as exc:
        code = report(exc)
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
