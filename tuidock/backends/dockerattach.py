"""An attach stream on a Docker or Podman engine: the Engine API's hijacked
attach socket as an AttachStream (backends/base.py).

The socket carries what `docker attach` gets: with a TTY raw bytes, without
one 8-byte-headed frames (byte 0: 1 stdout, 2 stderr; bytes 4-7 the length,
big-endian), split by `FrameSplitter` (the CLI's logs and attach use it too).
The engine ends the stream when the container stops; a stream that ends
while the container still runs was detached by the engine. The session
(backends/attachrelay.py) watches for ctrl-p ctrl-q itself and never sends
the pair, so the engine's own watch for the same default keys never fires.

Its requests go over either client, as exec's (backends/execops.py):
`LeanAttachOps` over backends/unixget.py on a plain unix:// host (the
UI's attach session, backends/attachrelay.py, then starts without the
SDK), `SdkAttachOps` over DockerBackend's client for tcp:// (TLS) and
ssh:// (`DockerBackend.attach`).

TLS: bytes the SSL object has already decrypted do not make the socket
readable again, so `read` drains them with the rest.
"""

from __future__ import annotations

import os

from tuidock.errors import Conflict, TuidockError

TYPE_CHECKING = False  # typing stays off the lean exec path (FrameSplitter)
if TYPE_CHECKING:
    from typing import Any

    from tuidock.backends.docker import DockerBackend
    from tuidock.backends.unixget import UnixGet


# How long a stream's end may precede the engine's record of the exit.
EXIT_WAIT = 10


class FrameSplitter:
    """Bytes of a multiplexed stream in, (stream, payload) frames out."""

    def __init__(self, raw: bool) -> None:
        self.raw = raw
        self.buf = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        if self.raw:
            return [(1, data)] if data else []
        self.buf += data
        out = []
        while len(self.buf) >= 8:
            size = int.from_bytes(self.buf[4:8], "big")
            if len(self.buf) < 8 + size:
                break
            out.append((self.buf[0], self.buf[8 : 8 + size]))
            self.buf = self.buf[8 + size :]
        return out


def raw_socket(sock: Any) -> Any:
    """The socket object under the SDK's hijacked response, whichever transport."""
    return getattr(sock, "_sock", sock)


class LeanAttachOps:
    """The attach requests over the lean unix:// client (backends/unixget.py)."""

    def __init__(self, client: UnixGet) -> None:
        self.client = client

    def inspect(self, ref: str) -> dict:
        from tuidock.backends.unixget import quote

        return self.client.get(f"/containers/{quote(ref)}/json")  # type: ignore[return-value]

    def attach_socket(self, cid: str, params: dict) -> Any:
        from tuidock.backends.unixget import query_string

        return self.client.upgrade(f"/containers/{cid}/attach?{query_string(params)}", None)

    def resize(self, cid: str, rows: int, cols: int) -> None:
        self.client.post(f"/containers/{cid}/resize", None, {"h": rows, "w": cols})

    def wait(self, cid: str) -> int | None:
        from tuidock.backends.unixget import UnixGet

        try:
            answer = UnixGet(self.client.host, timeout=EXIT_WAIT).post(f"/containers/{cid}/wait")
        except TuidockError:
            return None  # no answer in time (still running), or removed meanwhile (--rm)
        return int((answer or {}).get("StatusCode") or 0)  # type: ignore[attr-defined]


class SdkAttachOps:
    """The same requests over DockerBackend's SDK client (tcp://, TLS, ssh://)."""

    def __init__(self, backend: DockerBackend) -> None:
        self.backend = backend

    def inspect(self, ref: str) -> dict:
        return self.backend.inspect_container(ref)

    def attach_socket(self, cid: str, params: dict) -> Any:
        return self.backend._call(self.backend.api().attach_socket, cid, params=params)

    def resize(self, cid: str, rows: int, cols: int) -> None:
        self.backend._call(self.backend.api().resize, cid, height=rows, width=cols)

    def wait(self, cid: str) -> int | None:
        import docker.errors
        import requests.exceptions

        try:
            answer = self.backend.api().wait(cid, timeout=EXIT_WAIT)
        except (requests.exceptions.Timeout, requests.exceptions.ConnectionError):
            return None  # a read timeout: still running (the engine detached us)
        except docker.errors.APIError:
            return None  # removed meanwhile (--rm): its code is gone with it
        return int(answer.get("StatusCode") or 0)


class DockerAttach:
    """An AttachStream over `POST /containers/{id}/attach` (hijacked), its requests
    sent by `ops` (LeanAttachOps or SdkAttachOps)."""

    def __init__(
        self,
        ops: LeanAttachOps | SdkAttachOps,
        cid: str,
        sock: Any,
        name: str,
        tty: bool,
        stdin: bool,
    ) -> None:
        self.ops = ops
        self.cid = cid
        self.sock = sock
        self.target = raw_socket(sock)
        self.name = name
        self.tty = tty
        self.stdin = stdin
        self.ended = False
        self.splitter = FrameSplitter(raw=tty)
        if hasattr(self.target, "settimeout"):
            self.target.settimeout(None)  # select says when to read; the API timeout is not ours

    @classmethod
    def open(cls, ops: LeanAttachOps | SdkAttachOps, ref: str) -> DockerAttach:
        info = ops.inspect(ref)
        cid, config = info["Id"], info.get("Config") or {}
        state = info.get("State") or {}
        if state.get("Paused"):
            raise Conflict("You cannot attach to a paused container, unpause it first")
        if not state.get("Running"):
            raise Conflict("You cannot attach to a stopped container, start it first")
        name = (info.get("Name") or cid[:12]).lstrip("/")
        tty = bool(config.get("Tty"))
        stdin = bool(config.get("OpenStdin"))
        params = {"stdin": int(stdin), "stdout": 1, "stderr": 1, "stream": 1}
        sock = ops.attach_socket(cid, params)
        return cls(ops, cid, sock, name, tty, stdin)

    def fileno(self) -> int:
        return self.target.fileno()

    def _recv(self) -> bytes:
        target = self.target
        if hasattr(target, "recv"):
            return target.recv(65536)
        return os.read(target.fileno(), 65536)

    def read(self) -> list[tuple[int, bytes]]:
        if self.ended:
            return []
        try:
            data = self._recv()
            while data and hasattr(self.target, "pending") and self.target.pending():
                data += self._recv()
        except OSError:
            data = b""  # the connection dropped: exit_code says what became of the container
        if not data:
            self.ended = True
            return []
        return self.splitter.feed(data)

    def write(self, data: bytes) -> None:
        if not self.stdin:
            return
        target = self.target
        if hasattr(target, "sendall"):
            target.sendall(data)
        else:
            view = memoryview(data)
            while view:
                view = view[os.write(target.fileno(), view) :]

    def resize(self, rows: int, cols: int) -> None:
        if self.tty:
            self.ops.resize(self.cid, rows, cols)

    def exit_code(self) -> int | None:
        """The exit code once the container has stopped; None if it still runs.

        The stream may end a moment before the engine records the exit, so
        this waits for it (as `docker attach` does), up to EXIT_WAIT seconds."""
        return self.ops.wait(self.cid)

    def close(self) -> None:
        self.sock.close()
