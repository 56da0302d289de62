"""`python -m tuidock.backends.attachrelay [TLS flags] (local | HOST) CONTAINER`: an attach session.

The UI's shell pane runs an argv in a PTY of its own (widgets/shell.py);
for an attach this is that argv, on every backend: it opens
`Backend.attach` (an AttachStream, backends/base.py) and relays bytes
between this terminal and the container's main process until one of:

- ctrl-p ctrl-q typed (docker's default detach keys): the session ends, the
  container runs on; exit status 0;
- the container's output ends: its exit code is the last line and the exit
  status (0 and a line saying so if it still runs, the engine having
  detached us).

A container with a TTY gets this terminal in raw mode and its size (now
and at every SIGWINCH). One without a TTY gets a line discipline of our own
making: no canonical mode (the detach keys arrive as typed), echo and CR->NL
kept so typed lines look and end as on a terminal; made without -i it is
output only, and the first line says so. Errors are one or two lines, as
the CLI's, and a nonzero exit status. `local` is the embedded engine at
$TUIDOCK_ROOT (the environment passes it on).

A plain unix:// HOST (Docker's or Podman's socket, no TLS flags) is
attached over the lean client (backends/dockerattach.py LeanAttachOps over
backends/unixget.py): no argparse, no SDK, no http/email before the first
byte; tcp:// (TLS) and ssh:// go through DockerBackend and the SDK.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys

from tuidock.backends.detachwatch import DetachWatch
from tuidock.backends.dockerexec import woken
from tuidock.errors import TuidockError, report

TYPE_CHECKING = False  # typing, argparse and base.py's dataclasses stay off the lean path
if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator

    from tuidock.backends.base import AttachStream

LOCAL = "local"


def relay_argv(where: list[str], cid: str) -> list[str]:
    """The argv of a session: `where` is ["local"] or an endpoint's `[TLS flags] HOST`."""
    return [sys.executable, "-m", "tuidock.backends.attachrelay", *where, cid]


def _parse(argv: list[str]) -> argparse.Namespace:
    import argparse

    p = argparse.ArgumentParser(prog="python -m tuidock.backends.attachrelay")
    p.add_argument("--tls", action="store_true")
    p.add_argument("--tlsverify", action="store_true")
    p.add_argument("--tlscacert")
    p.add_argument("--tlscert")
    p.add_argument("--tlskey")
    p.add_argument("where", help="local, or the engine's host URL")
    p.add_argument("container")
    return p.parse_args(argv)


def open_stream(args: argparse.Namespace) -> AttachStream:
    if args.where == LOCAL:
        from tuidock.backends.local import open_local

        return open_local().attach(args.container)
    from tuidock.backends.docker import DockerBackend
    from tuidock.backends.endpoint import Endpoint, TLSConfig

    tls = None
    if args.tls or args.tlsverify:
        tls = TLSConfig(args.tlsverify, args.tlscacert, args.tlscert, args.tlskey)
    return DockerBackend(Endpoint(name=args.where, host=args.where, tls=tls)).attach(args.container)


@contextlib.contextmanager
def _terminal_mode(fd: int, stream: AttachStream) -> Iterator[None]:
    if not os.isatty(fd):
        yield
        return
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        if stream.tty:
            tty.setraw(fd, termios.TCSANOW)  # TCSANOW: keys typed ahead are kept
        else:
            mode = termios.tcgetattr(fd)
            mode[0] &= ~(termios.IXON | termios.IXOFF)  # ctrl-q reaches us
            mode[3] &= ~(termios.ICANON | termios.ISIG | termios.IEXTEN)
            if not stream.stdin:
                mode[3] &= ~termios.ECHO  # nothing typed goes anywhere
            mode[6][termios.VMIN], mode[6][termios.VTIME] = 1, 0
            termios.tcsetattr(fd, termios.TCSANOW, mode)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _say(line: str) -> None:
    """A line of the session's own, on a line of its own whatever the mode."""
    _write_all(1, f"\r\n[{line}]\r\n".encode())


def _pass_size(stream: AttachStream, fd: int) -> None:
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return
    try:
        stream.resize(size.lines, size.columns)
    except TuidockError:
        pass  # it may have exited meanwhile: the stream's end says so


def session(stream: AttachStream, in_fd: int = 0) -> int:
    """Relay until a detach or the container's exit: the exit status (see the docstring)."""
    watch = DetachWatch()
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    old_wakeup = signal.set_wakeup_fd(wake_w)
    old_winch = signal.signal(signal.SIGWINCH, lambda *_: None)
    detached = False
    try:
        with _terminal_mode(in_fd, stream):
            if stream.tty:
                _pass_size(stream, in_fd)
            else:  # said once the mode is set, so keys typed on seeing it count
                what = "input and output" if stream.stdin else "output only: started without -i"
                _write_all(
                    1, f"[attached to {stream.name}, {what}; ctrl-p ctrl-q detaches]\r\n".encode()
                )
            fds = [stream.fileno(), wake_r, in_fd]
            while not stream.ended and not detached:
                ready, _, _ = select.select(fds, [], [])
                # Drained whether or not select saw it: a resize comes before the
                # keys typed after it (backends/dockerexec.py relay).
                if woken(wake_r) and stream.tty:
                    _pass_size(stream, in_fd)
                if stream.fileno() in ready:
                    for fd, data in stream.read():
                        _write_all(2 if fd == 2 else 1, data)
                if in_fd in ready:
                    data = os.read(in_fd, 65536)
                    if not data:
                        fds.remove(in_fd)  # our input ended: output still flows
                        continue
                    send, detached = watch.feed(data)
                    if send and stream.stdin:
                        stream.write(send)
    finally:
        signal.signal(signal.SIGWINCH, old_winch)
        signal.set_wakeup_fd(old_wakeup)
        os.close(wake_r)
        os.close(wake_w)
    if detached:
        stream.close()
        _say(f"detached from {stream.name}; it keeps running")
        return 0
    code = stream.exit_code()
    stream.close()
    if code is None:
        _say(f"the engine ended the attach to {stream.name}; it keeps running")
        return 0
    _say(f"{stream.name} exited with code {code}")
    return code


def _lean_stream(argv: list[str]) -> AttachStream | None:
    """The stream over the lean client when `argv` is `unix://PATH CONTAINER` (no TLS
    flags): no argparse, no SDK before the first byte. None for any other argv."""
    if len(argv) != 2 or not argv[0].startswith("unix://"):
        return None
    from tuidock.backends.dockerattach import DockerAttach, LeanAttachOps
    from tuidock.backends.unixget import UnixGet

    return DockerAttach.open(LeanAttachOps(UnixGet(argv[0])), argv[1])


def run(argv: list[str]) -> int:
    stream = _lean_stream(argv) or open_stream(_parse(argv))
    return session(stream)


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
