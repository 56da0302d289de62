"""Run the tuidock CLI as a user would: a fresh process, its own environment."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass


@dataclass
class Result:
    code: int
    out: str
    err: str


def tuidock(*args: str, input: str | None = None, timeout: float = 120) -> Result:
    proc = subprocess.run(
        [sys.executable, "-m", "tuidock", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ),
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def assert_clean_error(res: Result) -> None:
    """A failure the way users must see one: non-zero, short, no traceback."""
    assert res.code != 0, res.out
    assert "Traceback" not in res.err, res.err
    lines = [line for line in res.err.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 3, res.err
    assert lines[0].startswith("Error: "), res.err


def tuidock_popen(*args: str) -> subprocess.Popen:
    """The CLI as a background process (a stream such as `events`), text pipes."""
    return subprocess.Popen(
        [sys.executable, "-m", "tuidock", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def run_in_pty(
    argv: list[str],
    size: tuple[int, int],
    replies: list[tuple[bytes, object]] = (),  # type: ignore[assignment]
    timeout: float = 60,
) -> tuple[int, bytes]:
    """Run `argv` on a new pty whose size is `size` (rows, cols) before the program
    starts; when the output holds a reply's bytes, do its action once, in order
    (bytes: typed; a (rows, cols) tuple: the pty resized). (exit code, all output)."""
    import pty
    import select
    import struct
    import termios
    import time
    from fcntl import ioctl

    pid, fd = pty.fork()
    if pid == 0:  # the child: the size set on its own terminal, then the program
        try:
            ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    out, todo, ended = b"", list(replies), False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not select.select([fd], [], [], 1)[0]:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""  # EIO: the child closed its side
            if not chunk:
                ended = True
                break
            out += chunk
            while todo and todo[0][0] in out:
                action = todo.pop(0)[1]
                if isinstance(action, bytes):
                    os.write(fd, action)
                else:
                    rows, cols = action  # type: ignore[misc]
                    ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    finally:
        if not ended:
            os.kill(pid, 9)  # timed out or failed half-way: the child is not left behind
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), out
