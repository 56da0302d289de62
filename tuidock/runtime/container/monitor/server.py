"""The monitor's side of the attach socket (the protocol is in attach.py).

Listens on the container's socket, keeps one outgoing queue per client and
fans the container's output out to them, all non-blocking on the monitor's
own selector. What clients send (stdin, resize, signals) goes to the
monitor through `on_frame`; when a client falls QUEUE_LIMIT behind,
`on_pressure(True)` asks the monitor to stop reading the container's output
until it catches up (`on_pressure(False)`).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import socket
import time
from collections.abc import Callable

from tuidock.runtime.container.monitor import protocol as proto


class Client:
    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.reader = proto.FrameReader()
        self.out = bytearray()
        self.stdin = self.stdout = self.stderr = False


class AttachServer:
    def __init__(
        self,
        sel: selectors.BaseSelector,
        path: str,
        on_frame: Callable[[Client, bytes, bytes], None],
        on_pressure: Callable[[bool], None],
        log: Callable[[str], None],
    ) -> None:
        self.sel = sel
        self.path = path
        self.on_frame = on_frame
        self.on_pressure = on_pressure
        self.log = log
        self.clients: dict[int, Client] = {}
        self.listener: socket.socket | None = None
        self.full = False

    # -- the socket ------------------------------------------------------------------

    def listen(self) -> None:
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        proto.bind(sock, self.path)
        os.chmod(self.path, 0o600)
        sock.listen(16)
        sock.setblocking(False)
        self.listener = sock
        self.sel.register(sock, selectors.EVENT_READ, "listener")

    def close_listener(self) -> None:
        """Stop accepting clients and remove the socket; once only, since the
        next start of the container binds a socket at the same path."""
        if self.listener is None:
            return
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(self.listener)
        self.listener.close()
        self.listener = None
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(self.path))

    def accept(self) -> None:
        assert self.listener is not None
        try:
            sock, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        self.add(sock)

    # -- clients -----------------------------------------------------------------------

    def add(self, sock: socket.socket) -> Client:
        client = Client(sock)
        self.clients[sock.fileno()] = client
        self.sel.register(sock, selectors.EVENT_READ, "client")
        return client

    def drop(self, client: Client) -> None:
        self.clients.pop(client.sock.fileno(), None)
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(client.sock)
        client.sock.close()
        self._pressure()

    def ready(self, fd: int, mask: int) -> None:
        """The selector says a client's socket is readable and/or writable."""
        client = self.clients.get(fd)
        if client is not None and mask & selectors.EVENT_WRITE:
            self._flush(client)
        client = self.clients.get(fd)
        if client is not None and mask & selectors.EVENT_READ:
            self._receive(client)

    def _receive(self, client: Client) -> None:
        try:
            data = client.sock.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.drop(client)
            return
        try:
            frames = client.reader.feed(data)
        except ValueError as exc:
            self.log(f"dropping an attach client: {exc}")
            self.drop(client)
            return
        for kind, payload in frames:
            if kind == proto.HELLO:
                try:
                    want = json.loads(payload)
                except ValueError:
                    want = {}
                client.stdin = bool(want.get("stdin"))
                client.stdout = bool(want.get("stdout"))
                client.stderr = bool(want.get("stderr"))
            else:
                self.on_frame(client, kind, payload)

    # -- sending -----------------------------------------------------------------------

    def broadcast(self, data: bytes, stream: str | None = None) -> None:
        """Queue a frame for every client that wants it (`stream` None: everyone)."""
        for client in list(self.clients.values()):
            if (stream == "stdout" and not client.stdout) or (
                stream == "stderr" and not client.stderr
            ):
                continue
            was_empty = not client.out
            client.out += data
            if was_empty:
                self._flush(client)
        self._pressure()

    def _flush(self, client: Client) -> None:
        while client.out:
            try:
                n = client.sock.send(client.out, socket.MSG_NOSIGNAL)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.drop(client)
                return
            del client.out[:n]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if client.out else 0)
        with contextlib.suppress(KeyError, ValueError):
            self.sel.modify(client.sock, events, "client")
        self._pressure()

    def _pressure(self) -> None:
        full = any(len(c.out) > proto.QUEUE_LIMIT for c in self.clients.values())
        if full != self.full:
            self.full = full
            self.on_pressure(full)

    def close_all(self, timeout: float = 5.0) -> None:
        """Send what is queued (blocking, within `timeout` in all) and hang up."""
        deadline = time.monotonic() + timeout
        for client in list(self.clients.values()):
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(client.sock)
            try:
                client.sock.setblocking(True)
                client.sock.settimeout(max(0.01, deadline - time.monotonic()))
                if client.out:
                    client.sock.sendall(client.out, socket.MSG_NOSIGNAL)
            except OSError:
                pass
            client.sock.close()
        self.clients.clear()
