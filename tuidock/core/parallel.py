"""Waiting for transfers that run side by side (pull's and push's layers)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent.futures import Future, as_completed


def wait_all(
    futures: Iterable[Future], cancel: threading.Event, cancelled: type[BaseException]
) -> None:
    """Wait for every future; the first failure sets `cancel` so the others stop.

    Raises that failure: the cause, not one of the `cancelled` errors it led to.
    An interruption (Ctrl-C) while waiting also stops the others.
    """
    first: BaseException | None = None
    try:
        for fut in as_completed(futures):
            exc = fut.exception()
            if exc is not None:
                cancel.set()
                if first is None or isinstance(first, cancelled):
                    first = exc
    except BaseException:
        cancel.set()
        raise
    if first is not None:
        raise first
