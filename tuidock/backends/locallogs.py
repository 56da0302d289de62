"""The local backend's log followers: a container's log file, all of it, then what is appended.

The monitor writes containers/<id>/ctr.log as JSON lines {"time", "stream",
"log"} and rotates it to ctr.log.1. The followers read the files themselves
(follow = tail the file) instead of holding a pipe, so following costs one
stat per poll and nothing is lost if the UI is closed and opened again. The
logs pane's worker drives them through the LogFollower protocol.
"""

from __future__ import annotations

import json
import os

from tuidock.backends.base import LogLine, printable
from tuidock.runtime.container.logs import LOG_NAME


def parse(raw: bytes) -> LogLine | None:
    try:
        obj = json.loads(raw)
        return LogLine(
            obj.get("time", ""), obj.get("stream") == "stderr", printable(obj.get("log", ""))
        )
    except (ValueError, AttributeError, TypeError):
        return None  # a torn or foreign line: skip it


class LogTail:
    """Reads ctr.log.1 + ctr.log once, then only what was appended; follows rotation."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.path = os.path.join(directory, LOG_NAME)
        self._f = None
        self._ino: int | None = None
        self._pending = b""

    def read_new(self) -> list[LogLine]:
        """Lines written since the last call (on the first call: the whole log)."""
        out: list[LogLine] = []
        if self._f is None:
            self._read_file(self.path + ".1", out)
            if not self._open():
                return out
        self._drain(out)
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return out
        if st.st_ino != self._ino:
            # Rotated: the rest of the old file was drained above; start on the new one.
            self._open()
            self._drain(out)
        return out

    def _open(self) -> bool:
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - stays open between polls
        except FileNotFoundError:
            return False
        self.close()
        self._f = f
        self._ino = os.fstat(f.fileno()).st_ino
        self._pending = b""
        return True

    def _drain(self, out: list[LogLine]) -> None:
        assert self._f is not None
        data = self._f.read()
        if not data:
            return
        data = self._pending + data
        lines = data.split(b"\n")
        self._pending = lines.pop()
        for raw in lines:
            if raw:
                line = parse(raw)
                if line is not None:
                    out.append(line)

    @staticmethod
    def _read_file(path: str, out: list[LogLine]) -> None:
        try:
            with open(path, "rb") as f:
                for raw in f:
                    if raw.endswith(b"\n"):
                        line = parse(raw)
                        if line is not None:
                            out.append(line)
        except FileNotFoundError:
            pass

    def gone(self) -> bool:
        return not os.path.isdir(self.directory)

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


class AllTails:
    """Every container's log as one stream (lazydocker users asked for it).

    Each poll reads what each container appended and merges the batch by
    time (the monitor's RFC 3339 UTC stamps sort as text); containers that
    appear are tailed from their first line, removed ones are dropped.
    """

    SEPARATOR = " | "

    def __init__(self, containers_dir: str) -> None:
        self.containers_dir = containers_dir
        self.tails: dict[str, LogTail] = {}

    def read_new(self, names: dict[str, str]) -> list[LogLine]:
        try:
            present = {e for e in os.listdir(self.containers_dir) if len(e) == 64}
        except FileNotFoundError:
            present = set()
        for cid in set(self.tails) - present:
            self.tails.pop(cid).close()
        out: list[LogLine] = []
        for cid in sorted(present):
            tail = self.tails.get(cid)
            if tail is None:
                tail = self.tails[cid] = LogTail(os.path.join(self.containers_dir, cid))
            name = names.get(cid) or cid[:12]
            for line in tail.read_new():
                line.source = name
                line.text = name + self.SEPARATOR + line.text
                out.append(line)
        out.sort(key=lambda line: line.time)
        return out

    def close(self) -> None:
        for tail in self.tails.values():
            tail.close()
        self.tails.clear()
