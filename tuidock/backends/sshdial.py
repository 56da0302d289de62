"""ssh:// for the Docker SDK's client: `ssh HOST docker system dial-stdio`, as the docker CLI.

Each HTTP connection is one run of the system ssh client whose stdin and
stdout are one end of a socketpair; the client reads and writes the other
end, a real socket, so http.client, the hijacked exec stream and select()
work on it as on a unix socket (no relay thread). The user's ssh config,
agent and known_hosts apply; BatchMode=yes because no terminal can answer a
password or host key prompt under the UI (an unknown host key fails at once
instead of hanging).

ssh's stderr is kept: when the stream ends before the engine answered, the
read raises ConnectionError with ssh's last line ("Host key verification
failed.", "Connection refused"), which backends/docker.api_errors turns into
its one-line "cannot reach" error. The process is reaped when its connection
closes. A client keeps one pool of connections for every URL, so the ssh
processes it runs are at most the requests it has in flight at once (and the
idle connections its pool keeps, max_pool_size). The SDK's own ssh transport is not used: it imports paramiko even to
shell out, and lets ssh write to the terminal the UI draws on.

Only imported by backends/docker.make_client for ssh:// endpoints.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
from urllib.parse import urlsplit

import requests.adapters
import urllib3
import urllib3.connection
import urllib3.connectionpool
from docker.transport.basehttpadapter import BaseHTTPAdapter

BASE_URL = "http+docker://localssh"  # what the APIClient's requests go to
SSH_OPTIONS = ("-o", "BatchMode=yes")
EXIT_WAIT = 5.0  # seconds to wait for ssh's exit status once its stream ended


def ssh_argv(host: str) -> list[str]:
    """The ssh command line for an ssh://[user@]host[:port] endpoint."""
    parts = urlsplit(host)
    argv = ["ssh", *SSH_OPTIONS]
    if parts.username:
        argv += ["-l", parts.username]
    if parts.port:
        argv += ["-p", str(parts.port)]
    return [*argv, "--", parts.hostname or "", "docker system dial-stdio"]


class SSHStream(socket.socket):
    """Our end of the socketpair; when ssh failed, reads and writes raise with ssh's own words."""

    proc: subprocess.Popen[bytes] | None = None
    _error: ConnectionError | None = None

    def recv_into(self, buffer, nbytes: int = 0, flags: int = 0) -> int:  # type: ignore[override]
        try:
            n = super().recv_into(buffer, nbytes, flags)
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise self._failure() or exc from None
        if n == 0 and (failure := self._failure()) is not None:
            raise failure
        return n

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        try:
            data = super().recv(bufsize, flags)
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise self._failure() or exc from None
        if not data and (failure := self._failure()) is not None:
            raise failure
        return data

    def sendall(self, data, flags: int = 0) -> None:  # type: ignore[override]
        try:
            super().sendall(data, flags)
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise self._failure() or exc from None

    def _failure(self) -> ConnectionError | None:
        """ssh's last stderr line as an error once ssh exited non-zero, else None."""
        proc = self.proc
        if self._error is not None or proc is None:
            return self._error
        try:
            code = proc.wait(EXIT_WAIT)
        except subprocess.TimeoutExpired:
            return None
        if code == 0:
            return None
        err = proc.stderr.read() if proc.stderr is not None else b""
        lines = [ln.strip() for ln in err.decode(errors="replace").splitlines() if ln.strip()]
        text = lines[-1].rstrip(".") if lines else f"ssh exited with status {code}"
        self._error = ConnectionError(0, text)
        return self._error

    def close(self) -> None:
        super().close()
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(EXIT_WAIT)
            if proc.stderr is not None:
                proc.stderr.close()


def dial(host: str, timeout: float | None) -> SSHStream:
    ours, theirs = socket.socketpair()
    stream = SSHStream(ours.family, ours.type, fileno=ours.detach())
    try:
        stream.proc = subprocess.Popen(
            ssh_argv(host),
            stdin=theirs,
            stdout=theirs,
            stderr=subprocess.PIPE,
            start_new_session=True,  # the UI's Ctrl+C is not ssh's
        )
    except OSError as exc:
        stream.close()
        raise ConnectionError(0, f"cannot run ssh: {exc.strerror or exc}") from None
    finally:
        theirs.close()
    stream.settimeout(timeout)
    return stream


class SSHConnection(urllib3.connection.HTTPConnection):
    def __init__(self, host: str, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.ssh_host = host

    def connect(self) -> None:
        self.sock = dial(self.ssh_host, self.timeout)


class SSHConnectionPool(urllib3.connectionpool.HTTPConnectionPool):
    def __init__(self, host: str, timeout: float | None, maxsize: int) -> None:
        super().__init__("localhost", timeout=timeout, maxsize=maxsize)
        self.ssh_host = host

    def _new_conn(self) -> SSHConnection:
        return SSHConnection(self.ssh_host, self.timeout)


class SSHAdapter(BaseHTTPAdapter):
    __attrs__ = [*requests.adapters.HTTPAdapter.__attrs__, "pools", "ssh_host", "timeout"]  # noqa: RUF012 - requests reads it for pickling

    def __init__(self, host: str, timeout: float | None, max_pool_size: int = 4) -> None:
        self.ssh_host = host
        self.timeout = timeout
        self.max_pool_size = max_pool_size
        self.pools = urllib3._collections.RecentlyUsedContainer(1, dispose_func=lambda p: p.close())
        super().__init__()

    def get_connection(self, url, proxies=None):  # type: ignore[no-untyped-def,override]
        # One pool for every URL: all go to the same engine, and a pool per URL
        # (the SDK's unix adapter keys them so) would dial an ssh process per
        # container path and close them as its few pools are evicted.
        with self.pools.lock:
            pool = self.pools.get(BASE_URL)
            if pool is None:
                pool = SSHConnectionPool(self.ssh_host, self.timeout, self.max_pool_size)
                self.pools[BASE_URL] = pool
        return pool

    def request_url(self, request, proxies):  # type: ignore[no-untyped-def,override]
        return request.path_url


def mount(api: object, host: str, timeout: float | None) -> None:
    """Point an APIClient (made for a placeholder tcp:// URL, never dialed) at `host` over ssh."""
    adapter = SSHAdapter(host, timeout)
    api.mount(BASE_URL, adapter)  # type: ignore[attr-defined]
    api._custom_adapter = adapter  # type: ignore[attr-defined]
    api.base_url = BASE_URL  # type: ignore[attr-defined]
