"""Test helper: run a function inside a network namespace of the test's making."""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000


def in_netns(path: str, fn: Callable[[], T]) -> T:
    """fn() in a thread that entered the netns file `path`: setns(CLONE_NEWNET) moves
    only the calling thread, and a socket stays in the namespace it was made in."""
    out: list[T] = []

    def body() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(path, os.O_RDONLY)
        try:
            assert libc.setns(fd, CLONE_NEWNET) == 0, os.strerror(ctypes.get_errno())
        finally:
            os.close(fd)
        out.append(fn())

    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert out, f"fn failed in netns {path}"
    return out[0]
