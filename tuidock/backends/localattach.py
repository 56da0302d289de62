"""An attach stream on the embedded engine: the monitor's attach socket as an AttachStream.

The container's monitor (runtime/container/monitor) serves every attach
client; this wraps one `AttachClient` connection in the neutral shape the
UI's attach session reads (backends/base.py). The exit frame ends the
stream (or, when the monitor still has work that shows, such as --rm's
removal, its close after it): with a restart policy the monitor goes on to
the next run, but an attach session ends with the run it attached to, as
`docker attach` does.
Closing the socket is a detach: the monitor drops the client and the
container runs on. Cost: one socket, one recv per `read`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tuidock.core.status import ContainerStatus
from tuidock.errors import Conflict

if TYPE_CHECKING:
    from tuidock.runtime.container.monitor.protocol import AttachClient
    from tuidock.runtime.container.service import Containers


class LocalAttach:
    """An AttachStream over the monitor's attach socket."""

    def __init__(self, client: AttachClient, name: str, tty: bool, stdin: bool) -> None:
        self.client = client
        self.name = name
        self.tty = tty
        self.stdin = stdin
        self.ended = False
        self._exit: dict | None = None

    @classmethod
    def open(cls, containers: Containers, ref: str) -> LocalAttach:
        store = containers.store
        cid = store.resolve(ref)
        state = store.state(cid)
        status = ContainerStatus.of(state)
        if status == ContainerStatus.PAUSED:
            raise Conflict("You cannot attach to a paused container, unpause it first")
        config = store.read_config(cid)
        name = (config.get("Name") or cid[:12]).lstrip("/")
        tty = bool(config["Config"].get("Tty"))
        stdin = bool(config["Config"].get("OpenStdin"))
        # The service refuses a container that is not running (a Conflict).
        client = containers.attach(cid, stdin=stdin)
        return cls(client, name, tty, stdin)

    def fileno(self) -> int:
        return self.client.fileno()

    def read(self) -> list[tuple[int, bytes]]:
        from tuidock.runtime.container.monitor import protocol as proto

        if self.ended:
            return []
        frames = self.client.read_frames()
        if not frames:
            self.ended = True  # the monitor is gone: its last exit frame (if any) stands
            return []
        out: list[tuple[int, bytes]] = []
        for kind, payload in frames:
            if self.ended:
                break  # what follows belongs to a restarted run
            if kind == proto.STDOUT:
                out.append((1, payload))
            elif kind == proto.STDERR:
                out.append((2, payload))
            elif kind == proto.EXIT:
                self._exit = json.loads(payload)
                # Without "Last" the monitor still has visible work (removal with --rm,
                # the network's teardown): the end is its close, as for the CLI.
                if self._exit.get("Restarting") or self._exit.get("Last"):
                    self.ended = True
        return out

    def write(self, data: bytes) -> None:
        if self.stdin:
            self.client.send_stdin(data)

    def resize(self, rows: int, cols: int) -> None:
        if self.tty:
            self.client.resize(rows, cols)

    def exit_code(self) -> int | None:
        if self._exit is None:
            return None
        return int(self._exit.get("ExitCode", 0))

    def close(self) -> None:
        self.client.close()
