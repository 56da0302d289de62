"""Writer threads for the unpacker: small regular files created off the reader's thread.

Creating an inode is what unpacking a layer mostly costs on ext4 (openat
with O_CREAT is three quarters of `tar -xzf`'s time there), and the kernel
does it for two threads at once about 1.5 times as fast as for one. So the
unpacker, which must read the tar stream in order, hands each small regular
file (its data already read into memory) to a few writer threads and goes on
parsing.

Ordering is the unpacker's business, not this module's: it hands over only
files whose parent directories are proven real directories, and calls
`settle(rel)` before it does anything at or through a path that may have a
pending file, and `drain()` before it removes a directory. The pool keeps
the pending files by path for that. A writer never replaces anything: when
the path is taken (O_EXCL fails), the job comes back to the unpacker's
thread, which clears the path and writes it there, in archive order, the
next time it settles that path or drains.

Memory is bounded: `submit` blocks while more than `max_buffered` bytes of
file data are waiting to be written.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections import deque
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

Xattrs = list[tuple[str, bytes]]

_PENDING, _DONE, _TAKEN, _FAILED = range(4)


@dataclass(eq=False)
class FileJob:
    """One regular file to create at `rel` (relative to the layer root fd)."""

    rel: str
    name: str  # the archive's name, for messages
    data: bytes
    uid: int
    gid: int
    mode: int
    xattrs: Xattrs
    times: tuple[int, int]
    state: int = field(default=_PENDING)
    error: BaseException | None = None

    @property
    def taken(self) -> bool:
        """The path was taken: the unpacker must clear it and write the file itself."""
        return self.state == _TAKEN


def set_xattrs(target: int | str, xattrs: Xattrs, name: str) -> None:
    """Set xattrs on an fd or (without following) a path; unsupported ones are skipped."""
    for xname, value in xattrs:
        try:
            if isinstance(target, int):
                os.setxattr(target, xname, value)
            else:
                os.setxattr(target, xname, value, follow_symlinks=False)
        except OSError as e:
            # Like containerd: a filesystem without xattrs, or an xattr this
            # kind of file cannot carry (user.* on a symlink), is not worth
            # failing a pull for.
            if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
                log.warning("layer entry %r: cannot set xattr %s: %s", name, xname, e.strerror)
                continue
            raise


def finish_file(
    fd: int, uid: int, gid: int, mode: int, xattrs: Xattrs, times: tuple[int, int], name: str
) -> None:
    """Owner, mode, xattrs and times of a regular file written through `fd`, in that order."""
    os.fchown(fd, uid, gid)
    # After chown, which clears setuid/setgid.
    os.fchmod(fd, mode)
    if xattrs:
        # After chown too, which drops security.capability.
        set_xattrs(fd, xattrs, name)
    os.utime(fd, ns=times)


def write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class WriterPool:
    """A few threads creating small files below `root_fd`; see the module notes."""

    def __init__(self, root_fd: int, workers: int, max_buffered: int) -> None:
        self._root = root_fd
        self._max_buffered = max_buffered
        self._cond = threading.Condition()
        self._queue: deque[FileJob] = deque()
        self._buffered = 0
        self._in_flight = 0
        self._closing = False
        # rel -> its newest unsettled job; only the unpacker's thread touches it.
        self._pending: dict[str, FileJob] = {}
        self._failed: FileJob | None = None
        self._threads = [
            threading.Thread(target=self._work, name=f"layer-writer-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    # ------------------------------------------------------ unpacker's side

    def submit(self, job: FileJob) -> None:
        """Queue `job`; blocks while too much data waits. Raises a writer's failure."""
        size = len(job.data)
        with self._cond:
            self._raise_failure()
            while self._buffered and self._buffered + size > self._max_buffered:
                self._cond.wait()
                self._raise_failure()
            self._buffered += size
            self._in_flight += 1
            self._queue.append(job)
            self._cond.notify_all()
        self._pending[job.rel] = job

    def settle(self, rel: str) -> FileJob | None:
        """Wait for the pending file at `rel`, if any; returns it if its path was taken."""
        job = self._pending.pop(rel, None)
        if job is None:
            return None
        with self._cond:
            while job.state == _PENDING:
                self._cond.wait()
            self._raise_failure()
        return job if job.state == _TAKEN else None

    def drain(self) -> list[FileJob]:
        """Wait for every queued file; returns those whose path was taken, in archive order."""
        with self._cond:
            while self._in_flight:
                self._cond.wait()
            self._raise_failure()
        taken = [job for job in self._pending.values() if job.state == _TAKEN]
        self._pending.clear()
        return taken

    def has_pending(self) -> bool:
        return bool(self._pending)

    def close(self) -> None:
        """Stop the threads; queued files not yet started are dropped."""
        with self._cond:
            self._closing = True
            self._queue.clear()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join()

    def _raise_failure(self) -> None:
        failed = self._failed
        if failed is not None and failed.error is not None:
            raise failed.error

    # ------------------------------------------------------- writers' side

    def _work(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while not self._queue and not self._closing:
                    cond.wait()
                if self._closing:
                    return
                job = self._queue.popleft()
            try:
                self._write(job)
                state = _DONE
            except FileExistsError:
                state = _TAKEN
            except BaseException as e:
                # Anything (OverflowError from utime too): a job left pending
                # would leave the unpacker waiting for it forever.
                job.error = e
                state = _FAILED
            with cond:
                job.state = state
                if state == _FAILED and self._failed is None:
                    self._failed = job
                self._buffered -= len(job.data)
                self._in_flight -= 1
                cond.notify_all()

    def _write(self, job: FileJob) -> None:
        fd = os.open(job.rel, CREATE_FLAGS, 0o600, dir_fd=self._root)
        try:
            if job.data:
                write_all(fd, job.data)
            finish_file(fd, job.uid, job.gid, job.mode, job.xattrs, job.times, job.name)
        finally:
            os.close(fd)

    def failed_name(self) -> str | None:
        return self._failed.name if self._failed is not None else None

    def failed_error(self) -> BaseException | None:
        return self._failed.error if self._failed is not None else None
