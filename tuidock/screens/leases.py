"""Leases: who still uses a Backend, so that a replaced one is closed exactly once, when idle.

The app hands out its backend to screens, and screens hand it to jobs that
run in threads (a pull, a stop, a build). When the context switcher replaces
the backend, a job started before the switch may still be talking to the old
one: closing it at once would cut that job off, never closing it would leak
its connections (and the events thread of a Docker backend). So every job
takes a lease on the backend it calls (`acquire` on the UI thread when it
starts, `release` from its thread when it ends) and the app `retire`s the
backend it replaces: a retired backend is closed by whoever drops its last
lease, or at once when it has none.

Thread-safe (one lock; close() runs outside it). Cost: a dict entry per
backend in use. A backend without close() (the embedded engine holds no
connection) is simply dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tuidock.backends.base import Backend


def close_backend(backend: Backend) -> None:
    """close() the backend if it has one; a failure to close is not the user's problem."""
    close = getattr(backend, "close", None)
    if close is None:
        return
    try:
        close()
    except Exception:  # a connection already gone
        pass


class Leases:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count: dict[int, int] = {}
        self._retired: dict[int, Backend] = {}
        self.closed: list[Backend] = []  # every backend closed here, in order (tests read it)

    def acquire(self, backend: Backend) -> Backend:
        with self._lock:
            self._count[id(backend)] = self._count.get(id(backend), 0) + 1
        return backend

    def release(self, backend: Backend) -> None:
        key = id(backend)
        with self._lock:
            left = self._count.get(key, 0) - 1
            if left > 0:
                self._count[key] = left
                return
            self._count.pop(key, None)
            doomed = self._retired.pop(key, None)
        if doomed is not None:
            self._close(doomed)

    def retire(self, backend: Backend) -> None:
        """No new work goes to `backend`: close it now if unused, else on its last release."""
        key = id(backend)
        with self._lock:
            if self._count.get(key):
                self._retired[key] = backend
                return
        self._close(backend)

    def users(self, backend: Backend) -> int:
        with self._lock:
            return self._count.get(id(backend), 0)

    def is_retired(self, backend: Backend) -> bool:
        with self._lock:
            return id(backend) in self._retired

    @contextmanager
    def held(self, backend: Backend) -> Iterator[Backend]:
        self.acquire(backend)
        try:
            yield backend
        finally:
            self.release(backend)

    def _close(self, backend: Backend) -> None:
        close_backend(backend)
        with self._lock:
            self.closed.append(backend)
