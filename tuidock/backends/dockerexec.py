"""`python -m tuidock.backends.dockerexec [TLS flags] HOST CONTAINER [CMD...]`: exec -it.

The UI's shell pane runs an argv in a PTY of its own; for a Docker or Podman
engine this is that argv, with no docker CLI needed. It creates a TTY exec
through the SDK, puts this terminal in raw mode, relays bytes both ways over
the hijacked socket, passes the window size on at start and on every
SIGWINCH, and exits with the exec's exit code as the engine reports it.
Errors are one or two lines, as the CLI's.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import sys
from typing import Any

from tuidock.backends.endpoint import Endpoint, TLSConfig
from tuidock.errors import TuidockError, report


def _parse(argv: list[str]) -> argparse.Namespace:
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
    api: Any,
    exec_id: str,
    sock: Any,
    resize_to: Any = None,
    stdin_open: bool = True,
) -> None:
    """Bytes between this terminal and the exec until the exec's output ends.

    `resize_to(height, width)` replaces the exec's resize (an attach resizes the
    container); without `stdin_open` the keyboard is not read (`exec -t` without -i)."""
    import termios
    import tty

    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    saved = termios.tcgetattr(stdin) if os.isatty(stdin) else None
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    old_wakeup = signal.set_wakeup_fd(wake_w)
    old_handler = signal.signal(signal.SIGWINCH, lambda *_: None)
    target = getattr(sock, "_sock", sock)

    def resize() -> None:
        size = _size(stdin)
        if size is not None:
            try:
                if resize_to is not None:
                    resize_to(size[0], size[1])
                else:
                    api.exec_resize(exec_id, height=size[0], width=size[1])
            except Exception:
                pass  # the exec may have ended meanwhile

    try:
        if saved is not None:
            tty.setraw(stdin)
        resize()
        while True:
            if hasattr(target, "pending") and target.pending():
                ready = [target]  # TLS: bytes already decrypted wait in the SSL object
            else:
                fds = [target, wake_r] + ([stdin] if stdin_open else [])
                ready, _, _ = select.select(fds, [], [])
            if wake_r in ready:
                os.read(wake_r, 512)
                resize()
            if target in ready:
                data = _recv(sock)
                if not data:
                    return
                os.write(stdout, data)
            if stdin_open and stdin in ready:
                data = os.read(stdin, 65536)
                if data:
                    _send(sock, data)
                else:
                    stdin_open = False
    finally:
        if saved is not None:
            termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
        signal.signal(signal.SIGWINCH, old_handler)
        signal.set_wakeup_fd(old_wakeup)
        os.close(wake_r)
        os.close(wake_w)


def run(argv: list[str]) -> int:
    from tuidock.backends.docker import api_errors, make_client

    args = _parse(argv)
    tls = None
    if args.tls or args.tlsverify:
        tls = TLSConfig(args.tlsverify, args.tlscacert, args.tlscert, args.tlskey)
    endpoint = Endpoint(name=args.host, host=args.host, tls=tls)
    api = make_client(endpoint, timeout=None)  # type: ignore[arg-type]
    command = args.command or ["/bin/sh"]
    term = os.environ.get("TERM") or "xterm"
    with api_errors(endpoint.host):
        exec_id = api.exec_create(
            args.container, command, stdin=True, tty=True, environment=[f"TERM={term}"]
        )["Id"]
        sock = api.exec_start(exec_id, tty=True, socket=True)
    try:
        relay(api, exec_id, sock)
    except OSError:
        pass  # the connection dropped: the exit code below says what became of the exec
    finally:
        sock.close()
    with api_errors(endpoint.host):
        code = api.exec_inspect(exec_id).get("ExitCode")
    return 0 if code is None else int(code)


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
