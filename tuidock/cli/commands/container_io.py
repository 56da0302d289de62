"""A container's streams and files from the host: attach (and the attached
`run` and `start -a`), logs, cp and export.

The attach client pumps the attach socket (runtime/container/monitor) to our
stdout/stderr and our stdin to the container until the container exits, and
returns its exit code. With a terminal (-t) our terminal is put in raw mode
(restored on every way out, signals included), its size follows SIGWINCH,
and ctrl-p ctrl-q detaches (the container keeps running). Without one,
signals we receive are forwarded to the container's PID 1 (Docker's
--sig-proxy).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import selectors
import signal
import sys
from collections.abc import Iterator

from tuidock.errors import UsageError
from tuidock.runtime.container.exec.plan import PROXIED
from tuidock.runtime.container.exec.relay import write_all
from tuidock.runtime.container.monitor import protocol as proto

DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q
DETACHED = -1


@contextlib.contextmanager
def _raw_terminal(fd: int) -> Iterator[None]:
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        # TCSANOW, not setraw's default TCSAFLUSH: keys typed ahead are kept.
        tty.setraw(fd, termios.TCSANOW)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _term_size(fd: int) -> tuple[int, int] | None:
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return size.lines, size.columns


class Session:
    def __init__(
        self,
        client: proto.AttachClient,
        tty: bool,
        stdin: bool,
        sig_proxy: bool = True,
        detach_keys: bytes = DETACH_KEYS,
    ) -> None:
        self.client = client
        self.tty = tty
        self.stdin = stdin
        self.sig_proxy = sig_proxy and not tty
        self.detach_keys = detach_keys
        self.held = b""  # a detach sequence begun but not complete
        self.pending_signals: list[int] = []
        self.exit: dict | None = None

    def run(self) -> int:
        """Pump until the container exits: its exit code, or DETACHED."""
        in_fd = sys.stdin.fileno() if self.stdin else None
        raw = self.tty and in_fd is not None and os.isatty(in_fd)
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        old_wakeup = signal.set_wakeup_fd(wake_w)
        handled = list(PROXIED if self.sig_proxy else ())
        if self.tty:
            handled.append(signal.SIGWINCH)
        if raw:
            # Raw mode: a SIGTERM or SIGHUP must still restore the terminal on the way out.
            handled += [s for s in (signal.SIGTERM, signal.SIGHUP) if s not in handled]
        saved = {s: signal.signal(s, self._on_signal) for s in handled}
        try:
            with _raw_terminal(in_fd) if raw else contextlib.nullcontext():
                if self.tty:
                    size = _term_size(in_fd if in_fd is not None else 1)
                    if size:
                        self.client.resize(*size)
                return self._loop(in_fd, wake_r)
        finally:
            for s, h in saved.items():
                signal.signal(s, h)
            signal.set_wakeup_fd(old_wakeup)
            os.close(wake_r)
            os.close(wake_w)

    def _on_signal(self, signum: int, frame: object) -> None:
        # Only noted here: the loop sends it, so a frame is never cut in two.
        self.pending_signals.append(signum)

    def _loop(self, in_fd: int | None, wake_r: int) -> int:
        sel = selectors.DefaultSelector()
        sel.register(self.client.sock, selectors.EVENT_READ, "sock")
        sel.register(wake_r, selectors.EVENT_READ, "wake")
        if in_fd is not None:
            try:
                sel.register(in_fd, selectors.EVENT_READ, "stdin")
            except (ValueError, PermissionError):
                # A regular file or /dev/null cannot be polled: send it all now.
                self._send_stdin(sys.stdin.buffer.read())
                self.client.close_stdin()
                in_fd = None
        out_fd, err_fd = sys.stdout.fileno(), sys.stderr.fileno()
        sys.stdout.flush()
        while True:
            for key, _ in sel.select():
                if key.data == "wake":
                    with contextlib.suppress(OSError):
                        os.read(wake_r, 512)
                    self._flush_signals(in_fd)
                elif key.data == "stdin":
                    data = os.read(key.fd, 1 << 16)
                    if not data:
                        sel.unregister(key.fd)
                        if not self.tty:
                            self.client.close_stdin()
                        continue
                    if self._send_stdin(data):
                        return DETACHED
                else:
                    frames = self.client.read_frames()
                    if not frames:
                        # The monitor is gone: its last exit frame (if any) stands.
                        return self._code()
                    for kind, payload in frames:
                        if kind == proto.STDOUT:
                            write_all(out_fd, payload)
                        elif kind == proto.STDERR:
                            write_all(err_fd, payload)
                        elif kind == proto.EXIT:
                            self.exit = json.loads(payload)
                            if self.exit.get("Restarting") or self.exit.get("Last"):
                                return self._code()
                            # Otherwise read on to the last frame or the monitor's
                            # close: with --rm the container is removed by then.

    def _code(self) -> int:
        if self.exit is None:
            return 125
        return int(self.exit.get("ExitCode", 0))

    def _flush_signals(self, in_fd: int | None) -> None:
        signals, self.pending_signals = self.pending_signals, []
        for signum in signals:
            if signum == signal.SIGWINCH:
                size = _term_size(in_fd if in_fd is not None else 1)
                if size:
                    self.client.resize(*size)
            elif self.sig_proxy:
                self.client.signal(signum)
            else:
                # SIGTERM/SIGHUP under a raw terminal: leave (restoring it) and let the
                # default action follow.
                raise SystemExit(128 + signum)

    def _send_stdin(self, data: bytes) -> bool:
        """Forward keyboard input; True when the detach sequence was typed."""
        if not self.tty or not self.detach_keys:
            self.client.send_stdin(data)
            return False
        buf = self.held + data
        self.held = b""
        keys = self.detach_keys
        idx = buf.find(keys)
        if idx >= 0:
            if idx:
                self.client.send_stdin(buf[:idx])
            return True
        # Hold back a tail that may be the start of the sequence.
        for n in range(min(len(keys) - 1, len(buf)), 0, -1):
            if buf.endswith(keys[:n]):
                self.held = buf[-n:]
                buf = buf[:-n]
                break
        if buf:
            self.client.send_stdin(buf)
        return False


def parse_detach_keys(text: str) -> bytes:
    """Docker's --detach-keys: "ctrl-p,ctrl-q", letters, "ctrl-@"..."""
    out = bytearray()
    for part in text.split(","):
        part = part.strip().lower()
        if part.startswith("ctrl-") and len(part) == 6:
            ch = part[5]
            if "a" <= ch <= "z":
                out.append(ord(ch) - ord("a") + 1)
                continue
            special = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}
            if ch in special:
                out.append(special[ch])
                continue
        elif len(part) == 1:
            out.append(ord(part))
            continue
        from tuidock.errors import UsageError

        raise UsageError(f"invalid detach keys: {text!r}")
    return bytes(out)


def pump(client, tty: bool, stdin: bool, sig_proxy: bool, detach_keys: str | None) -> int:
    """Run an attach session over `client` to its end; a detach counts as success."""
    keys = parse_detach_keys(detach_keys) if detach_keys else DETACH_KEYS
    try:
        code = Session(client, tty=tty, stdin=stdin, sig_proxy=sig_proxy, detach_keys=keys).run()
    finally:
        client.close()
    if code == DETACHED:
        return 0
    return code


def cmd_attach(args: argparse.Namespace) -> int:
    from tuidock.runtime.engine import default_engine

    engine = default_engine()
    cid = engine.containers.resolve(args.container)
    config = engine.containers.store.read_config(cid)["Config"]
    stdin = not args.no_stdin and bool(config.get("OpenStdin"))
    client = engine.attach_container(cid, stdin=stdin)
    return pump(client, bool(config.get("Tty")), stdin, args.sig_proxy == "true", args.detach_keys)


# -- logs ---------------------------------------------------------------------------------


def parse_since(text: str, now: float | None = None) -> float:
    """Docker's --since/--until: RFC 3339, a Unix timestamp, or a Go duration ago (10m, 1h30m)."""
    import re
    import time

    from tuidock.core.humanize import parse_time

    text = text.strip()
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if parts and "".join(n + u for n, u in parts) == text:
        return (now or time.time()) - sum(float(n) * units[u] for n, u in parts)
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    ts = parse_time(text)
    if ts is None and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        ts = parse_time(text + "T00:00:00Z")
    if ts is None:
        raise UsageError(
            f"invalid time value: {text!r}", "Use RFC 3339 (2024-01-02T15:04:05Z) or 10m."
        )
    return ts


def parse_tail(text: str) -> int | None:
    """--tail: a line count, or None for all ("all", empty or negative)."""
    if text in ("all", ""):
        return None
    try:
        tail = int(text)
    except ValueError:
        raise UsageError(f"invalid --tail value: {text!r}") from None
    return None if tail < 0 else tail


def cmd_logs(args: argparse.Namespace) -> int:
    import os

    from tuidock.runtime.engine import default_engine

    tail = parse_tail(args.tail)
    since = parse_since(args.since) if args.since else None
    until = parse_since(args.until) if args.until else None
    engine = default_engine()
    out, err = sys.stdout.fileno(), sys.stderr.fileno()
    sys.stdout.flush()
    for entry in engine.container_logs(
        args.container, follow=args.follow, tail=tail, since=since, until=until
    ):
        data = entry.data
        if args.timestamps:
            data = entry.time.encode() + b" " + data
        fd = err if entry.stream == "stderr" else out
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    return 0


# -- cp -------------------------------------------------------------------------------------------


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
        out = sys.stdout.buffer if dst_path == "-" else None
        ctrcopy.copy_from_container(
            engine.containers, cid, src_path, dst_path, out, args.archive, args.follow_link
        )
        return 0
    assert dst_ctr is not None
    cid = engine.containers.resolve(dst_ctr)
    stdin = sys.stdin.buffer if src_path == "-" else None
    ctrcopy.copy_to_container(engine.containers, cid, src_path, dst_path, stdin, args.archive)
    return 0


# -- export -----------------------------------------------------------------------------


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
