"""The attach socket: how clients talk to a container's monitor.

Each running container's monitor listens on a unix stream socket,
`<runtime dir>/<first 16 hex of the ID>/attach.sock` (the path is recorded
in state.json as "AttachSocket"). A client may also get an already
connected socket: `run` and `start -a` hand one end of a socketpair to the
monitor they launch, so not a byte of early output is missed.

Everything on the socket is a frame: 1 type byte, a 4-byte big-endian
payload length, the payload (at most 1 MiB).

Client -> monitor
    'H' hello    JSON {"stdin": bool, "stdout": bool, "stderr": bool};
                 must come first. A client that says nothing gets no output
                 (a `wait`-only client).
    'i' stdin    raw bytes for the container's stdin (pipe or PTY); needs
                 "stdin": true in the hello and a container made with -i or -t
    'c' close    end of the client's stdin: the container's stdin pipe is
                 closed (as Docker's StdinOnce); ignored with a PTY
    'r' resize   4 bytes: rows, cols as big-endian uint16 (PTY only)
    'k' signal   4 bytes: big-endian signal number, sent to the container's
                 PID 1 (the CLI's --sig-proxy)

Monitor -> client
    's' started  JSON {"Pid": n} each time the process (re)starts
    'o' stdout   bytes (with a PTY, everything the terminal prints)
    'e' stderr   bytes (never with a PTY)
    'x' exit     JSON {"ExitCode": n, "OOMKilled": b, "Restarting": b,
                 "Removed": b, "Error": str, "Last": b}, sent once the exit is
                 recorded (and, with --rm, the container removed). With a
                 restart policy the socket stays open and more frames follow.
                 "Last": the monitor has nothing left to do that anyone could
                 see (no removal, no network teardown pending): a client
                 may go without waiting for the socket to close.

A client that stops reading holds the container's output back (as a
blocked Docker attach does) once its queue passes QUEUE_LIMIT.
"""

from __future__ import annotations

import json
import os
import socket
import struct

HELLO, STDIN, STDIN_CLOSE, RESIZE, SIGNAL = b"H", b"i", b"c", b"r", b"k"
STARTED, STDOUT, STDERR, EXIT = b"s", b"o", b"e", b"x"
HEADER = struct.Struct(">cI")
MAX_FRAME = 1 << 20
QUEUE_LIMIT = 1 << 20
# sun_path holds 108 bytes including the NUL.
_SUN_PATH_MAX = 107


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


def json_frame(kind: bytes, obj: object) -> bytes:
    return frame(kind, json.dumps(obj).encode())


class FrameReader:
    """Splits a byte stream into (type, payload) frames."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        self.buf += data
        out = []
        while len(self.buf) >= HEADER.size:
            kind, size = HEADER.unpack_from(self.buf)
            if size > MAX_FRAME:
                raise ValueError(f"attach frame too large ({size} bytes)")
            end = HEADER.size + size
            if len(self.buf) < end:
                break
            out.append((kind, bytes(self.buf[HEADER.size : end])))
            del self.buf[:end]
        return out


def socket_path(runtime_dir: str, cid: str) -> str:
    return os.path.join(runtime_dir, cid[:16], "attach.sock")


def _short(path: str) -> tuple[str, int | None]:
    """A path that fits in sun_path: through /proc/self/fd when the real one is too long."""
    if len(os.fsencode(path)) <= _SUN_PATH_MAX:
        return path, None
    fd = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    return f"/proc/self/fd/{fd}/{os.path.basename(path)}", fd


def bind(sock: socket.socket, path: str) -> None:
    short, fd = _short(path)
    try:
        sock.bind(short)
    finally:
        if fd is not None:
            os.close(fd)


def connect(path: str, timeout: float | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    short, fd = _short(path)
    try:
        sock.settimeout(timeout)
        sock.connect(short)
        sock.settimeout(None)
    except OSError:
        sock.close()
        raise
    finally:
        if fd is not None:
            os.close(fd)
    return sock


class AttachClient:
    """The client end of an attach connection (blocking socket)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = FrameReader()
        self._pending: list[tuple[bytes, bytes]] = []

    def fileno(self) -> int:
        return self.sock.fileno()

    def hello(self, stdin: bool = False, stdout: bool = True, stderr: bool = True) -> None:
        self.send(json_frame(HELLO, {"stdin": stdin, "stdout": stdout, "stderr": stderr}))

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_stdin(self, data: bytes) -> None:
        for i in range(0, len(data), MAX_FRAME):
            self.send(frame(STDIN, data[i : i + MAX_FRAME]))

    def close_stdin(self) -> None:
        self.send(frame(STDIN_CLOSE))

    def resize(self, rows: int, cols: int) -> None:
        self.send(frame(RESIZE, struct.pack(">HH", rows, cols)))

    def signal(self, signum: int) -> None:
        self.send(frame(SIGNAL, struct.pack(">I", signum)))

    def read_frames(self) -> list[tuple[bytes, bytes]]:
        """What one recv brings; [] means the monitor closed the connection."""
        if self._pending:
            out, self._pending = self._pending, []
            return out
        while True:
            data = self.sock.recv(1 << 16)
            if not data:
                return []
            frames = self.reader.feed(data)
            if frames:
                return frames

    def wait_exit(self) -> dict | None:
        """Block until the next exit frame; None if the monitor went away first."""
        while True:
            frames = self.read_frames()
            if not frames:
                return None
            for kind, payload in frames:
                if kind == EXIT:
                    return json.loads(payload)

    def close(self) -> None:
        self.sock.close()
