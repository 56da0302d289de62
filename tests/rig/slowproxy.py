"""A TCP proxy on loopback that slows what a real registry sends back.

Pulls from a local registry finish in milliseconds; to kill one half-way or
to overlap two, the test puts this proxy in front of the registry. It also
keeps the request heads it forwarded, so a test can see a Range header.
"""

from __future__ import annotations

import socket
import threading
import time


class SlowProxy:
    def __init__(self, target: str, rate: int = 256 * 1024) -> None:
        host, _, port = target.rpartition(":")
        self.target = (host, int(port))
        self.rate = rate  # bytes per second towards the client; 0 = unlimited
        self.requests: list[bytes] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._sock.getsockname()[1]}"

    def __enter__(self) -> SlowProxy:
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._sock.close()
        with self._lock:
            for c in self._conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
        for t in self._threads:
            t.join(timeout=5)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._conns += [client, upstream]
            for args in ((client, upstream, False), (upstream, client, True)):
                t = threading.Thread(target=self._pump, args=args, daemon=True)
                t.start()
                self._threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket, slow: bool) -> None:
        try:
            while not self._stop.is_set():
                data = src.recv(16384 if slow else 65536)
                if not data:
                    break
                if not slow:
                    with self._lock:
                        self.requests.append(data)
                elif self.rate:
                    time.sleep(len(data) / self.rate)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def saw(self, needle: bytes) -> bool:
        with self._lock:
            return any(needle in r for r in self.requests)
