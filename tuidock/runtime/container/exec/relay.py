"""The client's end of an exec: copying bytes between our stdio and the
command's (its pty master with -t, pipes otherwise), raw mode, window size.

Writes towards the command never block the loop (its input may be full
while it waits for us to read its output): they are queued and sent as the
fd becomes writable. Writes to our own stdout/stderr block, as a terminal
or a pipe reader sets the pace.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import struct
import termios
import time
import tty
from collections.abc import Callable, Iterator

_READ = select.POLLIN | select.POLLPRI
_GONE = select.POLLHUP | select.POLLERR | select.POLLNVAL
# After the command exited, what it printed is still read until its output
# reaches EOF, or until nothing came for this long (a background process of
# the container may hold the pipe or the terminal open forever).
DRAIN_IDLE = 0.1
DRAIN_LIMIT = 2.0


def resize(master_fd: int, rows: int, cols: int) -> None:
    """Set the window size of a terminal (a pty master): its foreground
    process group gets SIGWINCH. The UI calls this on its own PTY, the CLI
    inside passes it on to the container's pts."""
    fcntl.ioctl(master_fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def terminal_size(*fds: int) -> tuple[int, int] | None:
    """(rows, cols) of the first fd that is a terminal with a size."""
    for fd in fds:
        try:
            rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
        except OSError:
            continue
        if rows or cols:
            return rows, cols
    return None


class RawMode:
    """Our terminal in raw mode: keys (Ctrl-C, Ctrl-Z...) go to the command's
    terminal as bytes. `restore` is idempotent; `apply` again after SIGCONT
    (a shell resets the terminal of a job it stopped)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.saved: list | None = None

    def apply(self) -> None:
        if self.saved is None:
            self.saved = termios.tcgetattr(self.fd)
        # TCSANOW, not setraw's default TCSAFLUSH: keys typed ahead are kept.
        tty.setraw(self.fd, termios.TCSANOW)

    def restore(self) -> None:
        if self.saved is not None:
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        self.apply()
        try:
            yield
        finally:
            self.restore()


def write_all(fd: int, data: bytes) -> None:
    """Blocking write of everything, also to an fd someone made non-blocking."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            select.select([], [fd], [])


class Relay:
    """Copies outputs of the command to ours and our input to it until the
    command (the process behind `pidfd`) has exited and its output is drained.

    With -t the pty master is both an output and the input's destination.
    `on_wake` runs when the signal wakeup fd becomes readable; returning
    True ends the relay at once (SIGTERM/SIGHUP of a terminal session).
    """

    def __init__(self, pidfd: int | None, wake_fd: int, on_wake: Callable[[], bool]) -> None:
        self.pidfd = pidfd
        self.wake_fd = wake_fd
        self.on_wake = on_wake
        self.outputs: dict[int, int] = {}  # command's fd -> ours
        self.src = -1  # our input (stdin), -1 when not read (any more)
        self.dst = -1  # the command's input, -1 when closed
        self.close_at_eof = False
        self.pending = b""  # input the command has not accepted yet
        self.poller = select.poll()
        self.masks: dict[int, int] = {}

    def add_output(self, src: int, dst: int) -> None:
        self.outputs[src] = dst

    def set_input(self, src: int, dst: int, close_at_eof: bool) -> None:
        """Copy `src` to `dst`; close `dst` at EOF of `src` (a pipe; never a pty master)."""
        os.set_blocking(dst, False)
        self.src, self.dst, self.close_at_eof = src, dst, close_at_eof

    def run(self) -> None:
        self._watch(self.wake_fd, _READ)
        if self.pidfd is not None:
            self._watch(self.pidfd, _READ)
        try:
            self._update(self.src)
        except (OSError, ValueError):
            self.src = -1  # e.g. a regular file: poll() cannot watch it
        for fd in self.outputs:
            self._update(fd)
        deadline: float | None = None
        while self.outputs or self.pidfd is not None:
            timeout = None
            if deadline is not None:
                timeout = max(0.0, min(DRAIN_IDLE, deadline - time.monotonic())) * 1000
            events = self.poller.poll(timeout)
            if not events:
                return  # exited, and its outputs stayed silent (or kept on too long)
            for fd, mask in events:
                if fd == self.wake_fd:
                    _drain_wakeups(fd)
                    if self.on_wake():
                        return
                    continue
                if fd == self.pidfd:
                    # Exited: read what it wrote until EOF, idle or the deadline.
                    self._watch(fd, 0)
                    self.pidfd = None
                    deadline = time.monotonic() + DRAIN_LIMIT
                    self._stop_input()
                    continue
                if mask & select.POLLOUT and fd == self.dst:
                    self._flush_input()
                if mask & (_READ | _GONE):
                    if fd in self.outputs:
                        self._copy_output(fd)
                    elif fd == self.src:
                        self._read_input()
                    elif fd == self.dst:
                        self._flush_input()  # its reader is gone: the write says so

    # -- poll registrations: one mask per fd (the master is input and output)

    def _watch(self, fd: int, mask: int) -> None:
        if fd < 0:
            return
        if mask:
            if self.masks.get(fd) != mask:
                self.poller.register(fd, mask)
                self.masks[fd] = mask
        elif fd in self.masks:
            self.poller.unregister(fd)
            del self.masks[fd]

    def _update(self, fd: int) -> None:
        mask = 0
        if fd in self.outputs:
            mask |= _READ
        if fd == self.dst and self.pending:
            mask |= select.POLLOUT
        if fd == self.src and not self.pending:
            mask |= _READ  # more of ours only once the command took the last chunk
        self._watch(fd, mask)

    # -- copying

    def _copy_output(self, fd: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""  # EIO from a pty master: no slave fd is open any more
        if data:
            write_all(self.outputs[fd], data)
            return
        del self.outputs[fd]
        self._update(fd)

    def _read_input(self) -> None:
        try:
            data = os.read(self.src, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._stop_input()
            if self.close_at_eof and not self.pending:
                self._close_dst()
            return
        self.pending += data
        self._flush_input()

    def _flush_input(self) -> None:
        if self.dst < 0:
            self.pending = b""
        else:
            try:
                while self.pending:
                    self.pending = self.pending[os.write(self.dst, self.pending) :]
            except BlockingIOError:
                pass
            except OSError:
                self.pending = b""  # it closed its input: drop what it will never read
        if not self.pending and self.src < 0 and self.close_at_eof:
            self._close_dst()
        self._update(self.dst)
        self._update(self.src)

    def _stop_input(self) -> None:
        src, self.src = self.src, -1
        self._watch(src, 0)

    def _close_dst(self) -> None:
        dst, self.dst = self.dst, -1
        if dst >= 0:
            if dst not in self.outputs:
                self._watch(dst, 0)
            os.close(dst)


def _drain_wakeups(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.read(fd, 512)
