"""A container's log file, in Docker's json-file shape.

One JSON object per line: {"log": text, "stream": "stdout"|"stderr",
"time": RFC 3339 with nanoseconds}. A line of output is one entry, its
newline included; a partial line is written as an entry of its own once it
reaches PARTIAL_MAX bytes or has waited PARTIAL_WAIT seconds, so a prompt
without a newline still shows up in `logs -f`.

Output is bytes, not necessarily UTF-8: it is decoded with surrogateescape
and json.dumps writes the lone surrogates as \\udcXX escapes, so reading the
file back gives the exact bytes (Docker replaces invalid UTF-8 instead).

ctr.log is rotated to ctr.log.1 when it passes MAX_SIZE; one old file is
kept. Readers read ctr.log.1 then ctr.log.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tuidock.runtime.store import ctrlayout

MAX_SIZE = 10 * 1024 * 1024
PARTIAL_MAX = 16 * 1024
PARTIAL_WAIT = 1.0
LOG_NAME = ctrlayout.LOG


def rfc3339_nano(ns: int) -> str:
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


class LogWriter:
    """Used by the monitor: lines in, JSON entries out, rotation."""

    def __init__(self, directory: str, max_size: int = MAX_SIZE) -> None:
        self.path = os.path.join(directory, LOG_NAME)
        self.max_size = max_size
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self.size = os.fstat(self.fd).st_size
        self.partial: dict[str, bytearray] = {}
        self.partial_since: dict[str, float] = {}

    def write(self, stream: str, data: bytes) -> None:
        buf = self.partial.setdefault(stream, bytearray())
        if not buf:
            self.partial_since[stream] = time.monotonic()
        buf += data
        out = []
        ns = time.time_ns()
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                break
            out.append(self._entry(stream, bytes(buf[: nl + 1]), ns))
            del buf[: nl + 1]
        while len(buf) >= PARTIAL_MAX:
            out.append(self._entry(stream, bytes(buf[:PARTIAL_MAX]), ns))
            del buf[:PARTIAL_MAX]
        if buf and out:
            self.partial_since[stream] = time.monotonic()
        if out:
            self._append(b"".join(out))

    def flush_partial(self, force: bool = False) -> None:
        now = time.monotonic()
        for stream, buf in self.partial.items():
            if buf and (force or now - self.partial_since.get(stream, now) >= PARTIAL_WAIT):
                self._append(self._entry(stream, bytes(buf), time.time_ns()))
                buf.clear()

    def next_deadline(self) -> float | None:
        """Seconds until a partial line is due, None if none waits."""
        waits = [
            self.partial_since[s] + PARTIAL_WAIT - time.monotonic()
            for s, b in self.partial.items()
            if b
        ]
        return max(0.0, min(waits)) if waits else None

    @staticmethod
    def _entry(stream: str, data: bytes, ns: int) -> bytes:
        text = data.decode("utf-8", "surrogateescape")
        return (
            json.dumps({"log": text, "stream": stream, "time": rfc3339_nano(ns)}).encode() + b"\n"
        )

    def _append(self, data: bytes) -> None:
        if self.size + len(data) > self.max_size and self.size > 0:
            self._rotate()
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        self.size += len(data)

    def _rotate(self) -> None:
        os.close(self.fd)
        os.replace(self.path, self.path + ".1")
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self.size = 0

    def close(self) -> None:
        self.flush_partial(force=True)
        os.close(self.fd)


# -- reading ---------------------------------------------------------------------


@dataclass
class LogEntry:
    time: str
    stream: str
    data: bytes

    @property
    def timestamp(self) -> float:
        from tuidock.core.humanize import parse_time

        return parse_time(self.time) or 0.0


def parse_line(line: bytes) -> LogEntry | None:
    try:
        obj = json.loads(line)
        return LogEntry(
            obj.get("time", ""),
            obj.get("stream", "stdout"),
            obj.get("log", "").encode("utf-8", "surrogateescape"),
        )
    except (ValueError, AttributeError, UnicodeEncodeError):
        return None  # a torn or foreign line: skip it rather than fail the whole read


def _entries(path: str) -> Iterator[LogEntry]:
    try:
        with open(path, "rb") as f:
            for line in f:
                if line.endswith(b"\n"):
                    entry = parse_line(line)
                    if entry is not None:
                        yield entry
    except FileNotFoundError:
        return


def read_all(directory: str) -> list[LogEntry]:
    path = os.path.join(directory, LOG_NAME)
    return [*_entries(path + ".1"), *_entries(path)]


class LogReader:
    """Reads a container's log: what is there now, then (follow) what comes.

    One open file carries the read from the existing entries into the
    follow, so no entry written in between is lost or repeated.
    """

    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory, LOG_NAME)
        self.f = None
        self.ino: int | None = None
        self.pending = b""

    def _open(self) -> bool:
        try:
            nf = open(self.path, "rb")  # noqa: SIM115 - kept open while following
        except FileNotFoundError:
            return False
        if self.f is not None:
            self.f.close()
        self.f = nf
        self.ino = os.fstat(nf.fileno()).st_ino
        self.pending = b""
        return True

    def existing(self) -> list[LogEntry]:
        old = list(_entries(self.path + ".1"))
        self._open()
        return old + list(self._drain())

    def _drain(self) -> Iterator[LogEntry]:
        """Complete lines from the open file up to its end, across a rotation."""
        while True:
            if self.f is None and not self._open():
                return
            assert self.f is not None
            chunk = self.f.read(1 << 16)
            if chunk:
                self.pending += chunk
                *lines, self.pending = self.pending.split(b"\n")
                for line in lines:
                    entry = parse_line(line + b"\n")
                    if entry is not None:
                        yield entry
                continue
            try:
                rotated = os.stat(self.path).st_ino != self.ino
            except FileNotFoundError:
                rotated = False
            if not rotated:
                return
            self._open()

    def follow(self, still_running: Callable[[], bool], poll: float = 0.05) -> Iterator[LogEntry]:
        """New entries until `still_running()` says no and all that was written is read.

        The monitor writes the last output before it records the exit, so
        asking first and draining after never loses the tail.
        """
        while True:
            alive = still_running()
            got = False
            for entry in self._drain():
                got = True
                yield entry
            if not alive:
                return
            if not got:
                time.sleep(poll)

    def close(self) -> None:
        if self.f is not None:
            self.f.close()
            self.f = None
