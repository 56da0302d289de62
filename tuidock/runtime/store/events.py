"""The events log: one JSON line per engine event, as `docker events` shows them.

There is no daemon to hold an event stream, so every process that changes
state (CLI calls, the UI, container monitors) appends to one file under the
data root, and `tuidock events` reads and follows it. Each event is a single
`write()` of one line on an O_APPEND descriptor, so lines of concurrent
writers never interleave. The file is rotated by size, keeping one old file.

Recording an event must never fail the operation it describes: `record`
swallows every error. Only the stdlib is used: monitors and `ps` import this.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator

from tuidock.runtime.store.ctrlayout import ContainerDir

LOG_NAME = "events.log"
MAX_BYTES = 4 << 20  # rotate past this; one old file is kept (events.log.1)
FOLLOW_POLL = 0.1  # seconds between looks at a followed file


def log_path(root: str | os.PathLike) -> str:
    # os.path, not pathlib: `exec` records events and keeps its imports few.
    return os.path.join(os.fspath(root), LOG_NAME)


def make_event(
    type_: str, action: str, actor_id: str, attrs: dict | None = None, time_ns: int | None = None
) -> dict:
    """Docker's events.Message, with its JSON field names."""
    now = time.time_ns() if time_ns is None else time_ns
    attributes = {str(k): str(v) for k, v in (attrs or {}).items()}
    event: dict = {}
    if type_ in ("container", "image"):
        # The legacy fields Docker still sends for these two (empty ones left out).
        event = {"status": action, "id": actor_id}
        if type_ == "container" and attributes.get("image"):
            event["from"] = attributes["image"]
    event.update(
        {
            "Type": type_,
            "Action": action,
            "Actor": {"ID": actor_id, "Attributes": attributes},
            "scope": "local",
            "time": now // 1_000_000_000,
            "timeNano": now,
        }
    )
    return event


def record(
    root: str | os.PathLike, type_: str, action: str, actor_id: str, attrs: dict | None = None
) -> None:
    """Append one event; never raises (a lost event must not fail the real operation)."""
    try:
        line = json.dumps(make_event(type_, action, actor_id, attrs), separators=(",", ":"))
        _append(log_path(root), (line + "\n").encode())
    except Exception:
        pass


def container_attrs(config: dict, **extra: object) -> dict:
    """Attributes of a container event: its labels, image and name, as Docker sends them."""
    cfg = config.get("Config") or {}
    attrs = dict(cfg.get("Labels") or {})
    attrs["image"] = cfg.get("Image") or config.get("ImageName") or config.get("Image", "")
    attrs["name"] = str(config.get("Name", "")).lstrip("/")
    attrs.update({k: v for k, v in extra.items() if v is not None})
    return attrs


def record_container(
    root: str | os.PathLike, action: str, cid: str, config: dict | None = None, **extra: object
) -> None:
    """A container event; reads config.json when the caller has none at hand."""
    try:
        if config is None:
            with open(ContainerDir.of(root, cid).config, "rb") as f:
                config = json.load(f)
        attrs = container_attrs(config, **extra)
    except Exception:
        attrs = {k: v for k, v in extra.items() if v is not None}
    record(root, "container", action, cid, attrs)


def record_exit(root: str | os.PathLike, cid: str, config: dict, exit_code: int, oom: bool) -> None:
    """What the monitor sees when PID 1 ends: `oom` (if the kernel killed it), then `die`."""
    if oom:
        record_container(root, "oom", cid, config)
    record_container(root, "die", cid, config, exitCode=exit_code)


def record_mounts(root: str | os.PathLike, cid: str, config: dict) -> None:
    """A `volume mount` event per named or anonymous volume a starting container mounts."""
    for m in config.get("Mounts") or []:
        if m.get("Type") == "volume":
            attrs = {
                "container": cid,
                "destination": m.get("Destination", ""),
                "driver": m.get("Driver") or "local",
                "propagation": m.get("Propagation", ""),
                "read/write": str(bool(m.get("RW", True))).lower(),
            }
            record(root, "volume", "mount", m.get("Name", ""), attrs)


def record_image_removal(
    root: str | os.PathLike, image_id: str, report: object, untagged_from: int, deleted_from: int
) -> None:
    """`untag` per reference an rmi/prune dropped, then `delete` if the image went too.

    `report` is the engine's RemoveReport; only its entries from the given
    positions on belong to this image.
    """
    for ref in report.untagged[untagged_from:]:  # type: ignore[attr-defined]
        record(root, "image", "untag", image_id, {"name": ref})
    for gone in report.deleted[deleted_from:]:  # type: ignore[attr-defined]
        record(root, "image", "delete", gone, {"name": gone})


def record_network(
    root: str | os.PathLike, action: str, config: dict, container: str | None = None
) -> None:
    """A network event; `config` is the network's record (Id, Name, Driver)."""
    attrs = {"name": config.get("Name", ""), "type": config.get("Driver") or "bridge"}
    if container:
        attrs["container"] = container
    record(root, "network", action, config.get("Id") or attrs["name"], attrs)


def _append(path: str, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        if os.fstat(fd).st_size + len(data) > MAX_BYTES:
            os.close(fd)
            fd = -1
            _rotate(path)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        os.write(fd, data)
    finally:
        if fd >= 0:
            os.close(fd)


def _rotate(path: str) -> None:
    # Under a lock and re-checked: two writers that both saw a full file must
    # not both rename, or the second would push the fresh file over the old one.
    lock = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_size >= MAX_BYTES:
                os.replace(path, path + ".1")
    finally:
        os.close(lock)


# -- reading -------------------------------------------------------------------------------


def _parse_lines(chunk: bytes) -> Iterator[dict]:
    for raw in chunk.splitlines():
        try:
            event = json.loads(raw)
        except ValueError:
            continue  # a torn line from a crash mid-write, or junk: skip it
        if isinstance(event, dict) and "timeNano" in event:
            yield event


class Follower:
    """Reads the current log from a position on, across rotations."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.path = log_path(root)
        self.fd: int | None = None
        self.ino: int | None = None
        self.buf = b""

    def start_at_end(self) -> None:
        """Everything written from now on, nothing before."""
        self._open()
        if self.fd is not None:
            os.lseek(self.fd, 0, os.SEEK_END)

    def open_with_rotated(self) -> list[dict]:
        """Open the current file at its start; return the rotated file's events.

        The current file is opened before the rotated one is read, so an event
        written meanwhile is read once, by the follower's next poll.
        """
        self._open()
        with contextlib.suppress(FileNotFoundError), open(self.path + ".1", "rb") as old:
            if os.fstat(old.fileno()).st_ino != self.ino:
                return list(_parse_lines(old.read()))
        return []

    def _open(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        self.fd, self.ino, self.buf = fd, os.fstat(fd).st_ino, b""

    def _drain(self) -> bytes:
        chunks = []
        while self.fd is not None:
            data = os.read(self.fd, 1 << 16)
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)

    def poll(self) -> list[dict]:
        """New complete events since the last call."""
        if self.fd is None:
            self._open()
            if self.fd is None:
                return []
        data = self._drain()
        try:
            rotated = os.stat(self.path).st_ino != self.ino
        except FileNotFoundError:
            rotated = True
        if rotated:
            # What was appended to the old file before the rename, then the new file.
            data += self._drain()
            os.close(self.fd)  # type: ignore[arg-type]
            self.fd = None
            data += self._missed_rotation()
            self._open()
            data += self._drain()
        self.buf += data
        complete, sep, rest = self.buf.rpartition(b"\n")
        if not sep:
            return []
        self.buf = rest
        return list(_parse_lines(complete))

    def _missed_rotation(self) -> bytes:
        """The whole rotated file if it is not the one we read (two rotations in one poll)."""
        try:
            with open(self.path + ".1", "rb") as f:
                return b"" if os.fstat(f.fileno()).st_ino == self.ino else f.read()
        except FileNotFoundError:
            return b""

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def stream(
    root: str | os.PathLike,
    since_ns: int | None,
    until_ns: int | None,
    follow: bool,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[dict]:
    """Events in [since, until]: stored ones when a bound is given, then new ones if `follow`.

    Following ends when `until` has passed.
    """
    follower = Follower(root)
    try:
        if since_ns is not None or until_ns is not None:
            for event in follower.open_with_rotated():
                if _in_range(event, since_ns, until_ns):
                    yield event
        else:
            follower.start_at_end()
        first = True
        while first or follow:
            if not first:
                if until_ns is not None and time.time_ns() > until_ns:
                    return
                sleep(FOLLOW_POLL)
            first = False
            for event in follower.poll():
                if _in_range(event, since_ns, until_ns):
                    yield event
    finally:
        follower.close()


def _in_range(event: dict, since_ns: int | None, until_ns: int | None) -> bool:
    t = event.get("timeNano", 0)
    return (since_ns is None or t >= since_ns) and (until_ns is None or t <= until_ns)
