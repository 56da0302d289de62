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
kept. LogTail, the one reader, reads ctr.log.1 then ctr.log and follows
the rotation; `tuidock logs` and the UI's log pane (through the local
backend) both use it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

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


@dataclass(slots=True)
class LogEntry:
    time: str
    stream: str
    data: bytes
    # Where the entry starts: (inode of its file, byte offset), for reading back
    # what came before it (read_before); None for entries not read from a file.
    at: tuple[int, int] | None = None

    @property
    def timestamp(self) -> float:
        from tuidock.core.humanize import parse_time

        return parse_time(self.time) or 0.0


def _entry(obj: object, at: tuple[int, int] | None) -> LogEntry | None:
    try:
        return LogEntry(
            obj.get("time", ""),  # type: ignore[attr-defined]
            obj.get("stream", "stdout"),  # type: ignore[attr-defined]
            obj.get("log", "").encode("utf-8", "surrogateescape"),  # type: ignore[attr-defined]
            at,
        )
    except (AttributeError, UnicodeEncodeError):
        return None  # a foreign line: skip it rather than fail the whole read


def parse_line(line: bytes, at: tuple[int, int] | None = None) -> LogEntry | None:
    try:
        return _entry(json.loads(line), at)
    except ValueError:
        return None  # a torn line


# Lines decoded by one json.loads of "[l1,l2,...]": one C call instead of one per
# line (about 3x faster on 100-byte lines), short enough that the GIL is handed
# back to the UI thread within a millisecond or so.
BULK = 512


# Builds an entry from a decoded JSON line and its place: LogEntry by default; the
# UI's reader makes its own records straight from the JSON (no bytes round trip).
MakeEntry = Callable[[Any, tuple[int, int]], Any]


def _parse_lines(
    lines: list[bytes], out: list, ino: int, pos: int, make: MakeEntry | None = None
) -> None:
    """Appends the entries of complete `lines`, the first at byte `pos` of file `ino`."""
    make = make or _entry
    keep: list[bytes] = []
    starts: list[int] = []
    for line in lines:
        if line:
            keep.append(line)
            starts.append(pos)
        pos += len(line) + 1
    for k in range(0, len(keep), BULK):
        part = keep[k : k + BULK]
        try:
            objs = json.loads(b"[" + b",".join(part) + b"]")
        except ValueError:
            objs = None
        if not isinstance(objs, list) or len(objs) != len(part):
            # A torn or foreign line (or one holding "a,b") in this part: one at a time.
            objs = [None] * len(part)
            for j, line in enumerate(part):
                try:
                    objs[j] = json.loads(line)
                except ValueError:
                    pass
        for obj, at in zip(objs, starts[k : k + BULK], strict=True):
            if obj is not None and (entry := make(obj, (ino, at))) is not None:
                out.append(entry)


def _parse_complete(
    data: bytes, out: list, ino: int = 0, pos: int = 0, make: MakeEntry | None = None
) -> bytes:
    """Appends the entries of `data`'s complete lines to `out`; returns the unfinished rest."""
    *lines, rest = data.split(b"\n")
    _parse_lines(lines, out, ino, pos, make)
    return rest


class LogTail:
    """A container's log: all of it on the first read, then what was appended.

    The first read takes ctr.log.1 and then ctr.log from an open file; the
    same file carries on into the following reads, so no entry written in
    between is lost or repeated. Following costs one stat per poll: the
    file is read only when its size passed the offset read so far, or the
    path has a new inode (rotated: the old file is read to its end first,
    the writer having finished it before the rename).
    """

    def __init__(self, directory: str, make: MakeEntry | None = None) -> None:
        self.directory = directory
        self.make = make  # None: LogEntry records
        self.path = f"{directory}/{LOG_NAME}"
        self._f: BinaryIO | None = None
        self._ino: int | None = None
        self._offset = 0
        self._pending = b""
        self._started = False
        self.skipped = 0  # bytes passed over by read_new(max_bytes)

    def read_new(self, max_bytes: int | None = None) -> list[LogEntry]:
        """Entries written since the last call (on the first call: the whole log).

        With `max_bytes`, a backlog larger than that is skipped up to its last
        `max_bytes` (from a line start; `skipped` counts the bytes): a viewer
        of a container that floods its log parses what it can show, not
        everything written since its last look. The file keeps it all.
        """
        out: list[LogEntry] = []
        if not self._started:
            self._started = True
            try:
                with open(self.path + ".1", "rb") as f:
                    st = os.fstat(f.fileno())
                    if max_bytes is None or st.st_size <= max_bytes:
                        _parse_complete(f.read(), out, st.st_ino, 0, self.make)
            except FileNotFoundError:
                pass
        if self._f is None and not self._open():
            return out
        while True:
            try:
                st: os.stat_result | None = os.stat(self.path)
            except FileNotFoundError:
                st = None
            if st is not None and st.st_ino == self._ino and st.st_size == self._offset:
                return out
            same = st is not None and st.st_ino == self._ino
            if max_bytes is not None and same:
                self._skip_to(st.st_size - max_bytes)  # type: ignore[union-attr]
            # Up to the size just seen, not to EOF: a writer faster than this
            # parser would otherwise keep one read going (and its list growing).
            self._read_to_end(out, st.st_size if same and max_bytes is not None else None)  # type: ignore[union-attr]
            if st is None or st.st_ino == self._ino:
                return out
            self._open()

    def _open(self) -> bool:
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - stays open between reads
        except FileNotFoundError:
            return False
        self.close()
        self._f = f
        self._ino = os.fstat(f.fileno()).st_ino
        self._offset = 0
        self._pending = b""
        return True

    def _skip_to(self, offset: int) -> None:
        """Continue from the first line that starts at or after `offset`."""
        assert self._f is not None
        if offset <= self._offset:
            return
        self._f.seek(offset)
        partial = self._f.readline()  # the rest of a line cut by the seek
        self.skipped += offset + len(partial) - self._offset
        self._offset = offset + len(partial)
        self._pending = b""

    def _read_to_end(self, out: list[LogEntry], end: int | None = None) -> None:
        assert self._f is not None
        assert self._ino is not None
        while chunk := self._f.read(1 << 18 if end is None else min(1 << 18, end - self._offset)):
            start = self._offset - len(self._pending)
            self._offset += len(chunk)
            self._pending = _parse_complete(self._pending + chunk, out, self._ino, start, self.make)

    def follow(self, still_running: Callable[[], bool], poll: float = 0.05) -> Iterator[LogEntry]:
        """New entries until `still_running()` says no and all that was written is read.

        The monitor writes the last output before it records the exit, so
        asking first and reading after never loses the tail.
        """
        while True:
            alive = still_running()
            entries = self.read_new()
            yield from entries
            if not alive:
                return
            if not entries:
                time.sleep(poll)

    def gone(self) -> bool:
        """True once the container directory was removed: nothing more will come."""
        return not os.path.isdir(self.directory)

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


def read_before(
    directory: str, at: tuple[int, int], max_bytes: int, make: MakeEntry | None = None
) -> list:
    """The entries just before the one at `at` (oldest first), about `max_bytes` of them.

    `at` is an entry's (inode, offset): in ctr.log, what precedes it there and
    then the end of ctr.log.1; in ctr.log.1, what precedes it there. A file
    rotated away since (neither inode) has nothing older left: []. Reads
    files of its own, so it may run beside a LogTail in another thread.
    """
    ino, offset = at
    path = f"{directory}/{LOG_NAME}"
    files = [path, path + ".1"]
    out: list = []
    end: int | None = offset
    for k, name in enumerate(files):
        try:
            f = open(name, "rb")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            continue
        with f:
            st = os.fstat(f.fileno())
            if end is not None and st.st_ino != ino:
                continue  # `at` is not in this file: maybe in the older one
            if end is None and st.st_ino == ino:
                break  # rotated meanwhile: this is the file just read
            if end is None:
                end = st.st_size
            start = max(0, end - max_bytes)
            f.seek(start)
            data = f.read(end - start)
        if start > 0:
            cut = data.find(b"\n") + 1  # a line cut by the window's start: not read
            data, start = data[cut:], start + cut
        found: list = []
        _parse_complete(data + b"\n", found, st.st_ino, start, make)
        out[:0] = found
        max_bytes -= len(data)
        if start > 0 or max_bytes <= 0 or k == len(files) - 1:
            break
        end = None  # ctr.log read from its start: the rest is the end of ctr.log.1
    return out


def read_all(directory: str) -> list[LogEntry]:
    tail = LogTail(directory)
    try:
        return tail.read_new()
    finally:
        tail.close()


class AllTails:
    """Every container's log as one stream of (container ID, entry).

    Each read takes what each container appended and merges the batch by
    time (the monitor's RFC 3339 UTC stamps sort as text); containers that
    appear are tailed from their first line, removed ones are dropped.
    """

    def __init__(self, containers_dir: str) -> None:
        self.containers_dir = containers_dir
        self.tails: dict[str, LogTail] = {}

    def read_new(self) -> list[tuple[str, LogEntry]]:
        try:
            present = {e for e in os.listdir(self.containers_dir) if len(e) == 64}
        except FileNotFoundError:
            present = set()
        for cid in set(self.tails) - present:
            self.tails.pop(cid).close()
        out: list[tuple[str, LogEntry]] = []
        for cid in sorted(present):
            tail = self.tails.get(cid)
            if tail is None:
                tail = self.tails[cid] = LogTail(f"{self.containers_dir}/{cid}")
            out.extend((cid, entry) for entry in tail.read_new())
        out.sort(key=lambda item: item[1].time)
        return out

    def close(self) -> None:
        for tail in self.tails.values():
            tail.close()
        self.tails.clear()
