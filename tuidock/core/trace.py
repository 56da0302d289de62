"""Step timestamps of a command, for benchmarks: off unless TUIDOCK_TRACE is set.

`TUIDOCK_TRACE=1` writes one line per step to the process's stderr;
`TUIDOCK_TRACE=/some/file` appends them to that file, which is how the
steps of the CLI, the container monitor and the container's first process
(each a process of its own, the monitor's stderr being its log) end up
side by side. A line is `<unix time, µs> <pid> <step>`. Unset, `mark` is a
test of a module constant: nothing is imported, formatted or written.
"""

from __future__ import annotations

import os

_DEST = os.environ.get("TUIDOCK_TRACE", "")


def mark(step: str) -> None:
    if not _DEST:
        return
    import time

    line = f"{time.time():.6f} {os.getpid()} {step}\n".encode()
    try:
        if _DEST == "1":
            os.write(2, line)
            return
        fd = os.open(_DEST, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except OSError:
        pass  # a trace must never change what the command does
