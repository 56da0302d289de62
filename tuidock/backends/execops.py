"""The exec protocol of the Engine API, written once over either client.

An exec is four requests: POST /containers/{name}/exec (create), POST
/exec/{id}/start (the hijacked stream, or detached), POST /exec/{id}/resize
while a TTY session runs, GET /exec/{id}/json (the exit code). Two ways to
send them:
- `LeanExec` over backends/unixget.py's client, for a plain unix:// host: a
  socket per request and the hijacked stream as a plain socket; no SDK
  import and no /version round trip (~200 ms of imports before the first
  byte of a shell otherwise);
- `SdkExec` over DockerBackend's SDK client, for tcp:// (TLS) and ssh://.
Both send the same JSON bodies and word their errors the same way (unixget's
`daemon_error` / `unreachable`, which the SDK path's api_errors uses too).

The flow above them (`open_exec`: create, the refusal worded from the
container's state, start; `finish`: the exit code) serves the CLI's
`tuidock -H ... exec` (cli/remote/exec.py) and the shell pane's program
(backends/dockerexec.py `run`). A `start` body's ConsoleSize ([rows, cols])
sizes the TTY from its first byte where the engine reads it (Docker 23+,
API 1.42); Docker 20.10 and Podman 4 ignore it and take the resize the
relays send right after the start, before they pass any input on.

Imports stay lazy: the lean path loads unixget and errors, nothing else.
"""

from __future__ import annotations

from tuidock.errors import Conflict, NotFound, TuidockError

TYPE_CHECKING = False  # typing stays off the lean path
if TYPE_CHECKING:
    from typing import Any

    from tuidock.backends.docker import DockerBackend
    from tuidock.backends.unixget import UnixGet

# What the runtimes write when the exec's process cannot start (runc, crun, Podman).
_NOT_FOUND = ("executable file not found", "no such file or directory")
_NOT_RUNNABLE = ("permission denied", "exec format error", "is a directory")
# Seconds an exec whose stream has ended may take to show its exit code (`finish`).
EXIT_WAIT = 2.0


class LeanExec:
    """The exec requests over the lean unix:// client (backends/unixget.py)."""

    def __init__(self, client: UnixGet) -> None:
        self.client = client

    def container(self, name: str) -> dict:
        from tuidock.backends.unixget import quote

        return self.client.get(f"/containers/{quote(name)}/json")  # type: ignore[return-value]

    def create(self, cid: str, body: dict) -> str:
        from tuidock.backends.unixget import quote

        return self.client.post(f"/containers/{quote(cid)}/exec", body)["Id"]  # type: ignore[index]

    def start(self, exec_id: str, body: dict) -> Any:
        """The hijacked stream (a plain socket), or None when `body` says Detach."""
        if body["Detach"]:
            self.client.post(f"/exec/{exec_id}/start", body)
            return None
        return self.client.upgrade(f"/exec/{exec_id}/start", body)

    def resize(self, exec_id: str, rows: int, cols: int) -> None:
        self.client.post(f"/exec/{exec_id}/resize", None, {"h": rows, "w": cols})

    def inspect(self, exec_id: str) -> dict:
        return self.client.get(f"/exec/{exec_id}/json")  # type: ignore[return-value]


class SdkExec:
    """The same requests over DockerBackend's SDK client (tcp://, TLS, ssh://); a
    start body's ConsoleSize is not sent (the SDK's exec_start has no such field)."""

    def __init__(self, backend: DockerBackend, api: Any = None) -> None:
        """`api`: a client of the backend's endpoint made for the caller (the pane's
        has no read timeout), else the backend's own."""
        self.backend = backend
        self.api = api if api is not None else backend.api()

    def container(self, name: str) -> dict:
        return self.backend._call(self.api.inspect_container, name)

    def create(self, cid: str, body: dict) -> str:
        api = self.api

        def post() -> dict:
            url = api._url("/containers/{0}/exec", cid)
            return api._result(api._post_json(url, data=body), True)

        return self.backend._call(post)["Id"]

    def start(self, exec_id: str, body: dict) -> Any:
        from tuidock.backends.docker import api_errors

        with api_errors(self.backend.location):
            if body["Detach"]:
                self.api.exec_start(exec_id, detach=True, tty=body["Tty"])
                return None
            return self.api.exec_start(exec_id, tty=body["Tty"], socket=True)

    def resize(self, exec_id: str, rows: int, cols: int) -> None:
        self.api.exec_resize(exec_id, height=rows, width=cols)

    def inspect(self, exec_id: str) -> dict:
        return self.backend._call(self.api.exec_inspect, exec_id)


def start_failure(text: str) -> int | None:
    """126/127 when the engine's answer says the process could not start."""
    low = text.lower()
    if "exec failed" not in low and "executable" not in low and "oci runtime" not in low:
        return None
    if any(w in low for w in _NOT_FOUND):
        return 127
    if any(w in low for w in _NOT_RUNNABLE):
        return 126
    return 126


def refusal(ops: LeanExec | SdkExec, name: str) -> None:
    """The engine refused to make the exec: say why in docker's words, read from the
    container's state (Docker and Podman word the refusals differently); returns
    when the state explains nothing, for the engine's own words."""
    try:
        info = ops.container(name)
    except NotFound:
        raise TuidockError(f"No such container: {name}") from None
    state = info.get("State") or {}
    if not state.get("Running"):
        raise TuidockError(f"container {info['Id'][:12]} is not running")
    if state.get("Paused"):
        raise TuidockError(f"container {info['Id'][:12]} is paused, unpause the container first")


def open_exec(ops: LeanExec | SdkExec, container: str, body: dict, start: dict) -> tuple[str, Any]:
    """Create the exec in `container` and start it: (exec id, the hijacked stream or
    None when detached). The container is addressed by the name given: its state
    is only read when the engine refuses (one request fewer on the way every exec
    takes), to word the refusal."""
    try:
        exec_id = ops.create(container, body)
    except (NotFound, Conflict):
        refusal(ops, container)
        raise
    return exec_id, ops.start(exec_id, start)


def finish(ops: LeanExec | SdkExec, exec_id: str) -> int:
    """The exec's exit code once its stream has ended: its own; 0 when it runs on
    (its output closed, yet it runs: as docker's); 126 when it never ran.

    The stream can end a moment before the engine records the exit (Docker
    closes the output as the process goes, then handles the exit event): an
    inspect in between says Running with no code. So a running exec is asked
    again, for up to EXIT_WAIT seconds, before it counts as running on."""
    import time

    deadline = time.monotonic() + EXIT_WAIT
    while True:
        done = ops.inspect(exec_id)
        code = done.get("ExitCode")
        if code is not None:
            return int(code)
        if not done.get("Running"):
            return 126
        if time.monotonic() >= deadline:
            return 0
        time.sleep(0.02)
