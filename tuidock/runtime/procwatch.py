"""Signal and wait for processes that are not our children, safely.

`stop`, `kill` and `rm -f` act on a container's PID 1 and its monitor from a
different process than the one that started them. A pidfd opened on the
pid, then checked against the start time we recorded, is a handle that can
never hit a stranger that reused the pid; it also becomes readable when the
process exits, which is how we wait without polling.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal

from tuidock.runtime.containerstore import proc_start_time


class ProcHandle:
    def __init__(self, pid: int, start_time: int | None) -> None:
        self.fd: int | None = None
        if not pid:
            return
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            return
        current = proc_start_time(pid)
        if current is None or (start_time is not None and current != start_time):
            os.close(fd)  # gone, or the pid now belongs to someone else
            return
        self.fd = fd

    @property
    def alive(self) -> bool:
        return self.fd is not None and not self.wait(0)

    def send(self, signum: int) -> bool:
        if self.fd is None:
            return False
        try:
            signal.pidfd_send_signal(self.fd, signum)
            return True
        except ProcessLookupError:
            return False

    def wait(self, timeout: float | None) -> bool:
        """True once the process has exited (within `timeout` seconds; None = forever)."""
        if self.fd is None:
            return True
        ready, _, _ = select.select([self.fd], [], [], timeout)
        return bool(ready)

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None

    def __enter__(self) -> ProcHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
