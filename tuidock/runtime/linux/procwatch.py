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


def proc_start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (start time in clock ticks), None if no such process.

    A zombie still has its entry; it counts as gone.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = data[data.rfind(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def process_alive(pid: int, start_time: int | None) -> bool:
    if not pid:
        return False
    current = proc_start_time(pid)
    return current is not None and (start_time is None or current == start_time)


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
