"""DockerBackend: the Backend protocol over the Docker Engine API, through the Docker SDK.

One backend drives Docker and Podman's Docker-compatible service, reached at
an Endpoint (unix://, tcp:// with TLS, ssh:// through the system ssh client
as the docker CLI does: backends/sshdial.py). The SDK does the transport,
the hijacked exec streams and API version negotiation; this module maps the API's answers to
base.py's neutral types and its errors to TuidockError subclasses, so no
SDK, requests or urllib3 text reaches the user.

Podman answers the same API with differences, each handled at the line that
meets it (look for "Podman"): image IDs without "sha256:", a `system_cpu_usage`
that is not the host's total CPU time, no memory cache figures, `top` rows as
one unsplit string, pull progress without byte counts, no final pull digest.

Costs of the live dashboard:
- images_stamp / containers_stamp: one events stream kept open by a daemon
  thread; the stamp is (connection generation, events seen), so a tick costs
  no request at all. Until the stream is up the stamps are None (list).
- stats: on Docker one stats stream per running container (a thread each,
  blocked in recv; the daemon writes a line a second; a tick decodes only the
  last line): a one-shot request waits for the daemon's next collection
  cycle, so polls took 13 s a tick for 50 containers. On ssh:// a connection
  is an ssh process here and a `docker system dial-stdio` there, so streams
  are bounded (SSH_STREAMS, for the containers the dashboard shows first)
  and the rest polled one-shot in turn on SSH_POLLERS threads: at most 12
  ssh processes for the stats whatever the containers. On Podman one libpod
  request a tick answers every container. Measured with 50 running
  containers (bench/ui_engine_bench.py): 0.5% of a core for Docker's
  streams, 0.1% for Podman's polls; over ssh:// the app keeps 16 ssh
  processes (56 with a stream each), every container has figures 9 s after
  the first tick, and the first full paint takes 5 s instead of 23 s.
- logs: one follow stream per followed container, read by a thread that
  stops when the follower closes; close() shuts the stream's socket down, so
  it returns at once even while the reader waits on a quiet container.
- events view: one more events stream (all types) while it is open, read by
  a thread into a buffer, as logs are.

The SDK is imported inside functions only: the CLI's hot paths never load it.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tuidock.backends.base import (
    ALL_SEPARATOR,
    MERGE_OVERHEAD,
    BuildOutcome,
    ContainerSummary,
    CopyOutcome,
    DiskUsage,
    DiskUsageRow,
    EventRecord,
    Facts,
    FileChange,
    HistoryEntry,
    ImageSummary,
    LogLine,
    NetworkSummary,
    PruneOutcome,
    PullEvent,
    PullOutcome,
    PushOutcome,
    RemoveOutcome,
    RunOutcome,
    StatsSample,
    VolumeSummary,
    merge_new,
    merged_before,
    printable,
    tag_line,
)
from tuidock.backends.unixget import daemon_error, image_id, unreachable
from tuidock.errors import Conflict, EngineUnreachable, NotFound, TuidockError, UsageError

if TYPE_CHECKING:
    from collections.abc import Hashable

    from docker import APIClient

    from tuidock.backends.base import BuildSpec, PullProgress, RunSpec
    from tuidock.backends.dockerattach import DockerAttach
    from tuidock.backends.endpoint import Endpoint

SHELLS = ("/bin/bash", "/bin/sh")
MIN_API = "1.24"  # what the client speaks until the daemon's version is known
FIRST_ANSWER_WAIT = 3.0  # seconds a sample waits for new streams' first answers
STATS_POOL = 4096  # connections kept by the stats streams' client: one a running container
SSH_STREAMS = 6  # stats streams on ssh://, for the containers the dashboard shows first
SSH_POLLERS = 6  # threads (connections, ssh processes) polling the others on ssh://
POLL_PERIOD = 2.0  # seconds at least between two one-shot polls of one container
POLL_TIMEOUT = 30  # seconds a one-shot poll may take (it waits for the next cycle, <= 1 s)
LOG_RECHECK = 2.0  # seconds between checks whether an ended log stream can resume
CLOSE_WAIT = 2.0  # seconds close() waits for a log reader thread to end


# -- errors ------------------------------------------------------------------------------


def _reason(exc: BaseException) -> str:
    """The few words saying why a connection failed, from the innermost cause."""
    import ssl

    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, ssl.SSLError):
            return f"TLS handshake failed: {e.reason or e}".lower()
        if isinstance(e, OSError) and e.strerror:
            return e.strerror.lower()
        todo += [x for x in (e.__cause__, e.__context__) if x is not None]
        todo += [a for a in e.args if isinstance(a, BaseException)]
        inner = getattr(e, "reason", None)
        if isinstance(inner, BaseException):
            todo.append(inner)
    return "no answer"


def _unreachable(host: str, exc: BaseException) -> EngineUnreachable:
    return unreachable(host, _reason(exc))


def _explanation(exc: Any) -> str:
    """The daemon's own message of an APIError, on one line."""
    text = exc.explanation if isinstance(exc.explanation, str) else ""
    if not text and exc.response is not None:
        text = exc.response.reason or ""
    return " ".join((text or "request failed").split())


@contextmanager
def api_errors(host: str) -> Iterator[None]:
    """SDK and transport errors as TuidockError subclasses (NotFound, Conflict, unreachable)."""
    import docker.errors
    import requests.exceptions

    try:
        yield
    except docker.errors.NotFound as e:
        raise NotFound(_explanation(e)) from None
    except docker.errors.APIError as e:
        # The words of the lean path's (backends/unixget.py), so both read alike.
        raise daemon_error(e.status_code or 500, _explanation(e)) from None
    except (requests.exceptions.ConnectionError, ConnectionError) as e:
        raise _unreachable(host, e) from None
    except requests.exceptions.RequestException as e:
        raise TuidockError(f"the Docker engine at {host} failed: {_reason(e)}") from None
    except docker.errors.DockerException as e:
        # Raised by the client's constructor when the version probe fails.
        raise _unreachable(host, e) from None


def make_client(endpoint: Endpoint, timeout: int = 60, pool: int | None = None) -> APIClient:
    """An API client for `endpoint`, the API version negotiated (one request); `pool`:
    the connections it keeps open at most (the SDK's default, 10, when None)."""
    import docker
    import docker.tls

    tls: docker.tls.TLSConfig | bool = False
    if endpoint.tls is not None:
        t = endpoint.tls
        tls = docker.tls.TLSConfig(
            client_cert=(t.cert, t.key) if t.cert and t.key else None,
            ca_cert=t.ca,
            verify=(t.ca or True) if t.verify else False,
        )
    ssh = endpoint.scheme == "ssh"
    with api_errors(endpoint.host):
        api = docker.APIClient(
            # ssh:// goes through backends/sshdial (the system ssh client, as the
            # docker CLI: the user's ssh config, agent and known_hosts apply).
            base_url="tcp://localhost:2375" if ssh else endpoint.host,
            version=MIN_API,
            timeout=timeout,
            tls=tls,
        )
        if ssh:
            from tuidock.backends import sshdial

            sshdial.mount(api, endpoint.host, timeout)
        if pool:
            _widen_pools(api, pool)
        if endpoint.tls is not None and endpoint.tls.ca:
            # requests lets $REQUESTS_CA_BUNDLE override the session's CA file:
            # the daemon's CA must win, so the environment is not consulted.
            api.trust_env = False
        # The SDK's version="auto", done after the line above so that it sees it.
        api._version = api._retrieve_server_version()
        return api


def _widen_pools(api: APIClient, size: int) -> None:
    """Let `api` keep `size` connections to its host on any transport: urllib3 logs a
    warning (on the terminal) for each connection it discards from a full pool."""
    import requests.adapters

    for adapter in {id(a): a for a in api.adapters.values()}.values():
        if hasattr(adapter, "max_pool_size"):  # the SDK's unix adapter, sshdial's
            adapter.max_pool_size = size  # read when its pool is made, on first use
        elif isinstance(adapter, requests.adapters.HTTPAdapter):  # tcp://, TLS
            adapter.init_poolmanager(adapter._pool_connections, size, adapter._pool_block)


# -- conversions -------------------------------------------------------------------------


def rfc3339(value: int | str | None) -> str:
    if isinstance(value, str):
        return "" if value.startswith("0001-01-01") else value
    if not value:
        return ""
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def full_tag(tag: str) -> str:
    """docker.io/library/x:1 for Docker's familiar x:1 (Podman already sends full names)."""
    from tuidock.core.reference import parse

    try:
        return str(parse(tag))
    except TuidockError:
        return tag


def _format_ports(ports: list[dict] | None) -> str:
    out = []
    for p in ports or []:
        private = f"{p.get('PrivatePort')}/{p.get('Type', 'tcp')}"
        if p.get("PublicPort"):
            out.append(f"{p.get('IP') or '0.0.0.0'}:{p['PublicPort']}->{private}")
        else:
            out.append(private)
    return ", ".join(out)


# Podman's compat list may carry libpod's own state names.
_STATES = {"configured": "created", "initialized": "created", "stopped": "exited"}


def _exit_code(status_text: str) -> int:
    """137 from Docker's "Exited (137) 3 minutes ago"."""
    if "(" in status_text and ")" in status_text:
        try:
            return int(status_text.split("(", 1)[1].split(")", 1)[0])
        except ValueError:
            return 0
    return 0


def split_top(titles: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """Podman's compat `top` answers one title string and one string per row: split them."""
    if len(titles) == 1 and " " in titles[0].strip():
        titles = titles[0].split()
        rows = [r[0].split(None, len(titles) - 1) if len(r) == 1 else r for r in rows]
    return titles, rows


def memory_usage(mem: dict) -> int:
    """Usage minus the page cache, as the docker CLI shows it (v1 total_inactive_file, v2
    inactive_file). Podman sends no `stats` map: its usage is taken as is."""
    usage = int(mem.get("usage") or 0)
    stats = mem.get("stats") or {}
    for key in ("total_inactive_file", "inactive_file"):
        if key in stats and stats[key] < usage:
            return usage - int(stats[key])
    return usage


def cpu_percent(
    s: dict, prev: tuple[int, int, float] | None, now: float, podman: bool
) -> tuple[float, tuple[int, int, float]]:
    """CPU % of a stats answer `s` against the counters of the previous one (`prev`,
    read at monotonic `now`), and the counters to keep for the next one."""
    cpu = s.get("cpu_stats") or {}
    total = int((cpu.get("cpu_usage") or {}).get("total_usage") or 0)
    system = int(cpu.get("system_cpu_usage") or 0)
    percent = 0.0
    if prev is not None:
        d_cpu = total - prev[0]
        if podman:
            # Podman's system_cpu_usage is the host's busy time, not all CPU
            # time: docker's formula would inflate. Δsystem = Δwall × online
            # CPUs makes the same formula: Δcpu / Δwall × 100.
            d_wall = (now - prev[2]) * 1e9
            percent = d_cpu / d_wall * 100 if d_cpu > 0 and d_wall > 0 else 0.0
        else:
            d_sys = system - prev[1]
            online = cpu.get("online_cpus") or len(
                (cpu.get("cpu_usage") or {}).get("percpu_usage") or ()
            )
            if d_cpu > 0 and d_sys > 0:
                percent = d_cpu / d_sys * online * 100
    return percent, (total, system, now)


def io_bytes(stats: dict) -> tuple[int, int, int, int]:
    """(net rx, net tx, block read, block write) of a stats answer, as the docker CLI sums
    them: every interface of `networks`; the Read and Write entries of
    blkio_stats.io_service_bytes_recursive (lower case "read"/"write" on cgroup v2,
    None when Podman or a v2 host has no figures)."""
    rx = tx = 0
    for net in (stats.get("networks") or {}).values():
        rx += int(net.get("rx_bytes") or 0)
        tx += int(net.get("tx_bytes") or 0)
    read = write = 0
    for entry in (stats.get("blkio_stats") or {}).get("io_service_bytes_recursive") or ():
        op = str(entry.get("op") or "").lower()
        if op == "read":
            read += int(entry.get("value") or 0)
        elif op == "write":
            write += int(entry.get("value") or 0)
    return rx, tx, read, write


# Docker's diff kinds: 0 modified, 1 added, 2 deleted.
DIFF_KINDS = {0: "C", 1: "A", 2: "D"}


# -- the change stamps -------------------------------------------------------------------


class EventWatch:
    """A daemon thread on the events stream counting container and image events."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.lock = threading.Lock()
        self.generation = 0
        self.counts = {"container": 0, "image": 0}
        self.touched: set[str] = set()  # container IDs an event named since last asked
        self.live = False
        self._thread: threading.Thread | None = None
        self._stream: Any = None
        self._closed = False

    def stamp(self, kind: str) -> Hashable | None:
        with self.lock:
            if not self.live:
                self._ensure()
                return None
            return (self.generation, self.counts[kind])

    def take_touched(self) -> set[str]:
        with self.lock:
            out, self.touched = self.touched, set()
            return out

    def _ensure(self) -> None:
        if self._closed or (self._thread is not None and self._thread.is_alive()):
            return
        self._thread = threading.Thread(target=self._run, name="docker-events", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            client = make_client(self.endpoint, timeout=None)  # type: ignore[arg-type]
            stream = client.events(decode=True, filters={"type": ["container", "image"]})
        except Exception:
            return  # unreachable: the stamps stay None and listings report why
        with self.lock:
            self._stream = stream
            self.generation += 1
            self.live = True
        try:
            for ev in stream:
                kind = ev.get("Type") or ""
                action = ev.get("Action") or ev.get("status") or ""
                # Only counted, never read: Podman's image IDs lack "sha256:" and it
                # says `remove` where Docker says `destroy`.
                if kind not in self.counts or action.startswith("exec_"):
                    continue  # exec events change nothing that a listing shows
                with self.lock:
                    self.counts[kind] += 1
                    if kind == "container":
                        self.touched.add(ev.get("id") or "")
        except Exception:
            pass
        finally:
            with self.lock:
                self.live = False
                self._stream = None
            client.close()

    def close(self) -> None:
        with self.lock:
            self._closed = True
            stream = self._stream
        if stream is not None:
            stream.close()


# -- stats -------------------------------------------------------------------------------


class _StatsStream:
    """One running container's stats stream (Docker sends one answer a second), read by
    a daemon thread that keeps only the last complete answer, undecoded: the sampler
    decodes the one it shows."""

    def __init__(self, client: APIClient, cid: str) -> None:
        self.cid = cid
        self.last: bytes | None = None
        self.ended = False
        self.answered = threading.Event()  # set at the first answer, or at the end
        self._lock = threading.Lock()
        self._stream: Any = None
        self._closed = False
        self.thread = threading.Thread(
            target=self._run, args=(client,), name=f"docker-stats-{cid[:12]}", daemon=True
        )
        self.thread.start()

    def _run(self, client: APIClient) -> None:
        from docker.types.daemon import CancellableStream

        try:
            response = client._get(
                client._url("/containers/{0}/stats", self.cid), params={"stream": True}, stream=True
            )
            client._raise_for_status(response)
            stream = CancellableStream(client._stream_helper(response, decode=False), response)
            with self._lock:
                if self._closed:
                    stream.close()
                    return
                self._stream = stream
            buf = b""
            for chunk in stream:
                if not isinstance(chunk, bytes):
                    break  # not chunked: an error answer, decoded by the SDK
                buf += chunk
                # One JSON document a line; an answer may span chunks.
                head, newline, buf = buf.rpartition(b"\n")
                if newline:
                    self.last = head.rpartition(b"\n")[2]
                    self.answered.set()
        except Exception:
            pass  # the container stopped or went, or the engine did: the stream ends
        finally:
            self.ended = True
            self.answered.set()
            with self._lock:
                self._stream = None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()  # shuts the socket down: the reading thread returns


class _RoundRobin:
    """One-shot stats polls of the containers beyond the streams, on a few threads of
    their own, in turn: the container polled longest ago (never: first, in the
    dashboard's order) next, none again within POLL_PERIOD.

    Each thread holds at most one connection of its client (on ssh:// one ssh
    process), so the processes stay at `threads` whatever the containers.
    A one-shot answer (API 1.41+) has no previous counters, and Docker (20.10)
    still sends it at the next collection cycle, so a poll takes up to 1 s
    (measured: 1.0 s each, back to back) and a thread refreshes about one
    container a second. CPU% is taken against this container's previous poll,
    so its first figures read 0%. A container that stopped or went fails its poll and is skipped
    until it is asked for again by want(). figures() never waits.
    """

    def __init__(self, client: APIClient, threads: int) -> None:
        self._client = client
        self._cond = threading.Condition()
        self._order: list[str] = []
        self._due: dict[str, float] = {}  # cid -> monotonic time it may be polled again
        self._busy: set[str] = set()
        self._figures: dict[str, StatsSample] = {}
        self._prev: dict[str, tuple[int, int, float]] = {}
        self._closed = False
        self.threads = [
            threading.Thread(target=self._run, name=f"docker-stats-poll-{i}", daemon=True)
            for i in range(threads)
        ]
        for thread in self.threads:
            thread.start()

    def want(self, ids: list[str]) -> None:
        """Poll `ids` from now on (in this order of preference), forget the others."""
        with self._cond:
            if ids == self._order:
                return
            self._order = list(ids)
            wanted = set(ids)
            for table in (self._due, self._figures, self._prev):
                for cid in [c for c in table if c not in wanted]:
                    del table[cid]
            self._cond.notify_all()

    def figures(self) -> tuple[dict[str, StatsSample], set[str]]:
        """The last figures of each container, and which containers were polled yet."""
        with self._cond:
            return dict(self._figures), set(self._due)

    def _next(self) -> tuple[str | None, float | None]:
        """The container to poll now, else how long until one is due (None: none asked)."""
        now = time.monotonic()
        best: str | None = None
        best_due = 0.0
        for cid in self._order:
            if cid in self._busy:
                continue
            due = self._due.get(cid, 0.0)
            if best is None or due < best_due:
                best, best_due = cid, due
        if best is None:
            return None, None
        if best_due <= now:
            return best, None
        return None, best_due - now

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    cid, wait = self._next()
                    if cid is not None:
                        break
                    self._cond.wait(wait)
                self._busy.add(cid)
                prev = self._prev.get(cid)
            figures: StatsSample | None = None
            counters = None
            try:
                client = self._client
                answer = client._result(
                    client._get(
                        client._url("/containers/{0}/stats", cid),
                        params={"stream": False, "one-shot": True},
                    ),
                    json=True,
                )
                figures, counters = docker_figures(answer, prev)
            except Exception:
                pass  # stopped, removed, or the engine went: no figures this turn
            with self._cond:
                self._busy.discard(cid)
                if cid in self._order:  # still asked for
                    self._due[cid] = time.monotonic() + POLL_PERIOD
                    if figures is not None:
                        self._figures[cid] = figures
                        self._prev[cid] = counters  # type: ignore[assignment]
                    else:
                        self._figures.pop(cid, None)
                        self._prev.pop(cid, None)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._order = []
            self._cond.notify_all()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        # Closed after the threads: a request in flight returns its connection to
        # an open pool, which this closes (on ssh:// ending its process).
        self._client.close()


class DockerStats:
    """Docker: one stats stream per running container asked for, on one client of their own.

    Docker has no call answering the stats of every container, and a one-shot
    request waits for the daemon's next collection cycle (one a second, for
    the containers someone subscribed to) when another request came within
    it: 50 one-shot requests on 4 threads took 13 s a tick. Streams cost one
    thread each, blocked in recv, and a line read a second; the JSON is decoded
    only when sampled. sample() starts the streams of new IDs, ends those of IDs
    no longer asked for (stopped, removed: the dashboard asks for running ones),
    and starts again one that ended while its container is still asked for (the
    engine restarted). A stopped container's stream goes on with empty answers:
    left out. CPU% comes from the answer's own previous counters (precpu_stats),
    as the docker CLI shows it.

    On ssh:// every connection is its own ssh process here and its own `docker
    system dial-stdio` on the server, so a stream each would be 50 of both for
    50 containers. There the first SSH_STREAMS ids (the dashboard asks in its
    own order: the rows on top) get streams, and the rest are polled one-shot
    by a _RoundRobin on SSH_POLLERS threads: SSH_STREAMS + SSH_POLLERS ssh
    processes at most, for any number of containers. The trade-off: beyond
    the first rows figures are fresh about every max(POLL_PERIOD, rest /
    SSH_POLLERS) seconds instead of every second (a poll waits for the
    daemon's next 1 s cycle: 50 containers, 44 polled on 6 threads, about
    8 s), and such a container's first figures read 0% CPU (a one-shot
    answer has no previous counters) and come within one such round after
    it is first asked for, not within the tick. More pollers buy freshness
    with ssh processes, one container a second each. Other designs weighed: ssh multiplexing (ControlMaster) saves
    the handshakes but still runs an ssh client here and a dial-stdio there
    per connection; forwarding the engine's socket through one `ssh -L`
    needs the remote socket's path, which an ssh:// endpoint does not name.
    """

    def __init__(self, backend: DockerBackend) -> None:
        self.backend = backend
        # ssh://: a stream is one ssh process here and one `docker system
        # dial-stdio` there; the streams are bounded and the rest polled.
        ssh = backend.endpoint.scheme == "ssh"
        self.stream_limit: int | None = SSH_STREAMS if ssh else None
        self.streams: dict[str, _StatsStream] = {}
        self._poller: _RoundRobin | None = None
        self._client: APIClient | None = None
        self._decoded: dict[str, tuple[bytes, StatsSample | None]] = {}
        self._closed = False

    def _stream_client(self) -> APIClient:
        if self._client is None:
            # No timeout (a paused container's stream may stay silent); a pool
            # as large as the streams, so that urllib3 never discards (and logs).
            self._client = make_client(self.backend.endpoint, timeout=None, pool=STATS_POOL)  # type: ignore[arg-type]
        return self._client

    def sample(self, ids: list[str]) -> dict[str, StatsSample]:
        if self._closed:
            return {}  # a worker's last tick after the screen closed: no new stream
        # ids come in the dashboard's order: the first ones get the streams.
        streamed = ids if self.stream_limit is None else ids[: self.stream_limit]
        polled = [] if self.stream_limit is None else ids[self.stream_limit :]
        wanted = set(ids)
        keep = set(streamed)
        for gone in [cid for cid in self.streams if cid not in keep]:
            self.streams.pop(gone).close()
        for gone in [cid for cid in self._decoded if cid not in wanted]:
            del self._decoded[gone]
        if polled or self._poller is not None:
            with api_errors(self.backend.location):
                self._round_robin().want(polled)
        started: list[_StatsStream] = []
        for cid in streamed:
            stream = self.streams.get(cid)
            if stream is None or (stream.ended and stream.last is None):
                with api_errors(self.backend.location):
                    stream = self.streams[cid] = _StatsStream(self._stream_client(), cid)
                started.append(stream)
        # The first answers come at the daemon's next cycle: waited for here (a
        # worker's thread), so that a running container never shows without figures.
        deadline = time.monotonic() + FIRST_ANSWER_WAIT
        for stream in started:
            stream.answered.wait(max(0.0, deadline - time.monotonic()))
        out: dict[str, StatsSample] = {}
        for cid in streamed:
            stream = self.streams[cid]
            raw = stream.last
            if stream.ended:
                del self.streams[cid]  # started again on the next tick
            if raw is None:
                continue
            seen = self._decoded.get(cid)
            if seen is None or seen[0] is not raw:
                seen = (raw, docker_sample(raw))
                self._decoded[cid] = seen
            if seen[1] is not None:
                out[cid] = seen[1]
        if self._poller is not None:
            figures, tried = self._poller.figures()
            for cid in polled:
                got = figures.get(cid)
                if cid not in tried and (seen := self._decoded.get(cid)) is not None:
                    got = seen[1]  # its stream's last answer until its first poll
                elif cid in tried:
                    self._decoded.pop(cid, None)
                if got is not None:
                    out[cid] = got
        return out

    def _round_robin(self) -> _RoundRobin:
        if self._poller is None:
            # Its own client: a one-shot answer comes at once, so a timeout
            # bounds a request to a stalled engine; one connection per thread.
            client = make_client(self.backend.endpoint, timeout=POLL_TIMEOUT, pool=SSH_POLLERS)  # type: ignore[arg-type]
            self._poller = _RoundRobin(client, SSH_POLLERS)
        return self._poller

    def threads(self) -> list[threading.Thread]:
        polling = self._poller.threads if self._poller is not None else []
        return [*(s.thread for s in self.streams.values()), *polling]

    def close(self) -> None:
        self._closed = True
        streams = list(self.streams.values())
        self.streams.clear()
        self._decoded.clear()
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.close()  # wakes its threads; joined below with the streams'
        for stream in streams:
            stream.close()
        for stream in streams:
            stream.thread.join(5)
        if poller is not None:
            poller.join(5)
        if self._client is not None:
            self._client.close()
            self._client = None


def docker_sample(raw: bytes) -> StatsSample | None:
    """A StatsSample of one line of Docker's stats stream; None for a stopped container."""
    import json

    try:
        s = json.loads(raw)
    except ValueError:
        return None
    pre = s.get("precpu_stats") or {}
    pre_total = int((pre.get("cpu_usage") or {}).get("total_usage") or 0)
    pre_system = int(pre.get("system_cpu_usage") or 0)
    prev = (pre_total, pre_system, 0.0) if pre_system else None  # the first answer has none
    return docker_figures(s, prev)[0]


def docker_figures(
    s: dict, prev: tuple[int, int, float] | None
) -> tuple[StatsSample | None, tuple[int, int, float]]:
    """A StatsSample of one Docker stats answer, CPU% against the counters `prev` (None:
    0%), and this answer's counters; None for a stopped container."""
    mem = s.get("memory_stats") or {}
    percent, counters = cpu_percent(s, prev, 0.0, podman=False)
    if not mem:
        return None, counters  # not running: Docker answers empty figures
    # The same answer carries the I/O counters: every sample has them.
    sample = StatsSample(
        percent,
        memory_usage(mem),
        int(mem.get("limit") or 0),
        int((s.get("pids_stats") or {}).get("current") or 0),
        *io_bytes(s),
    )
    return sample, counters


class PodmanStats:
    """Podman: one request a tick for every running container (libpod's stats endpoint,
    which Podman's service answers next to the compatible API); CPU% from the previous
    tick's counters (CPUNano against SystemNano, the wall clock in ns)."""

    def __init__(self, backend: DockerBackend) -> None:
        self.backend = backend
        self.prev: dict[str, tuple[int, int]] = {}  # cid -> (CPUNano, SystemNano)

    def sample(self, ids: list[str]) -> dict[str, StatsSample]:
        if not ids:
            self.prev.clear()
            return {}
        api = self.backend.api()
        with api_errors(self.backend.location):
            # Every running container: naming them fails the whole answer when one
            # of them stopped meanwhile.
            answer = api._result(
                api._get(api._url("/libpod/containers/stats"), params={"stream": False}),
                json=True,
            )
        wanted = set(ids)
        out: dict[str, StatsSample] = {}
        prev, self.prev = self.prev, {}
        for s in (answer or {}).get("Stats") or ():
            cid = s.get("ContainerID") or ""
            if cid not in wanted:
                continue
            cpu, system = int(s.get("CPUNano") or 0), int(s.get("SystemNano") or 0)
            if not system:
                continue  # stopped meanwhile: Podman answers zeros, read at no time
            self.prev[cid] = (cpu, system)
            percent = 0.0
            if cid in prev:
                d_cpu, d_sys = cpu - prev[cid][0], system - prev[cid][1]
                percent = d_cpu / d_sys * 100 if d_cpu > 0 and d_sys > 0 else 0.0
            out[cid] = StatsSample(
                percent,
                int(s.get("MemUsage") or 0),
                int(s.get("MemLimit") or 0),
                int(s.get("PIDs") or 0),
                int(s.get("NetInput") or 0),
                int(s.get("NetOutput") or 0),
                int(s.get("BlockInput") or 0),
                int(s.get("BlockOutput") or 0),
            )
        return out

    def threads(self) -> list[threading.Thread]:
        return []

    def close(self) -> None:
        self.prev.clear()


class EngineStats:
    """The stats sampler of the engine behind the backend (DockerStats or PodmanStats),
    chosen at the first sample: which engine answers may cost a request, and samplers
    are made on the UI's thread, sampled in workers."""

    def __init__(self, backend: DockerBackend) -> None:
        self.backend = backend
        self._impl: DockerStats | PodmanStats | None = None

    def sample(self, ids: list[str]) -> dict[str, StatsSample]:
        if self._impl is None:
            podman = self.backend.is_podman
            self._impl = PodmanStats(self.backend) if podman else DockerStats(self.backend)
        return self._impl.sample(ids)

    def threads(self) -> list[threading.Thread]:
        """The threads reading stats streams now (none on Podman)."""
        return self._impl.threads() if self._impl is not None else []

    def close(self) -> None:
        if self._impl is not None:
            self._impl.close()


# -- events ------------------------------------------------------------------------------


class DockerEvents:
    """An EventFollower: a thread reads the events stream into a buffer.

    Its own connection (no timeout: the stream is idle between events), closed
    with the follower. A stream that fails (engine gone) ends the thread; what
    was read stays readable.
    """

    def __init__(self, backend: DockerBackend, since_ns: int | None) -> None:
        self.backend = backend
        self.lock = threading.Lock()
        self.buffer: list[EventRecord] = []
        self._stream: Any = None
        self._closed = False
        self.error = ""
        # The API counts in seconds: an event of the since's second before it is dropped here.
        self._since_ns = since_ns
        since = None if since_ns is None else since_ns // 1_000_000_000
        self._thread = threading.Thread(
            target=self._run, args=(since,), name="docker-events-view", daemon=True
        )
        self._thread.start()

    def _run(self, since: int | None) -> None:
        try:
            client = make_client(self.backend.endpoint, timeout=None)  # type: ignore[arg-type]
        except Exception as exc:
            self.error = _reason(exc)
            return
        try:
            # `until` unset and `since` set: the stored events, then the live ones.
            stream = client.events(since=since, decode=True)
            with self.lock:
                if self._closed:
                    stream.close()
                    return
                self._stream = stream
            for message in stream:
                record = EventRecord.of(message)
                if self._since_ns is not None and record.time_ns < self._since_ns:
                    continue
                with self.lock:
                    self.buffer.append(record)
        except Exception as exc:
            if not self._closed:
                self.error = _reason(exc)
        finally:
            client.close()

    def read_new(self) -> list[EventRecord]:
        with self.lock:
            out, self.buffer = self.buffer, []
        if not out and self.error and not self._thread.is_alive():
            # Once, after the last events read: the view says why nothing more comes.
            error, self.error = self.error, ""
            raise EngineUnreachable(
                f"the events stream of {self.backend.location} ended: {error}",
                "Close the events view and open it again once the engine answers.",
                self.backend.location,
                error,
            )
        return out

    def close(self) -> None:
        with self.lock:
            self._closed = True
            stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()


# -- streamed responses ----------------------------------------------------------------


def response_socket(response: Any) -> Any:
    """The socket under a streamed requests Response, or None if this SDK hides it.

    requests -> urllib3 HTTPResponse (.raw) -> http.client.HTTPResponse (._fp)
    -> BufferedReader (.fp) -> SocketIO (.raw) -> the socket (._sock): unix,
    tcp (an SSLSocket under TLS) and ssh (our end of a socketpair) alike.
    urllib3's connection (.raw._connection.sock) is the second way in.
    """
    raw = getattr(response, "raw", None)
    fp = getattr(getattr(raw, "_fp", None), "fp", None)
    sock = getattr(getattr(fp, "raw", None), "_sock", None)
    if sock is None:
        sock = getattr(getattr(raw, "_connection", None), "sock", None)
    return sock


def shut_response(response: Any) -> None:
    """End a streamed response now, even while another thread reads it.

    response.close() alone is not enough: the BufferedReader's close takes the
    lock the reading thread holds while it waits in recv, so it waits for the
    next chunk or the client's timeout (60 s) on a quiet stream. Shutting the
    socket down first makes that recv return at once (EOF), the reader lets the
    lock go, and the close that follows is immediate.
    """
    import socket

    sock = response_socket(response)
    for end in (
        lambda: sock.shutdown(socket.SHUT_RDWR),
        lambda: response.close(),
    ):
        with contextlib.suppress(Exception):  # already shut, or never connected
            end()


# -- logs --------------------------------------------------------------------------------


class DockerLogs:
    """A LogFollower: a thread reads the container's follow stream into a buffer.

    The stream ends when the container stops; `read_new` then checks now and
    then whether it was removed (gone) or started again (follow resumes after
    the last line seen).
    """

    # What the buffer holds at most between two read_new: a flood the view
    # does not read that fast is passed over (oldest first, counted in
    # `skipped`) and read back by time if the user scrolls to it.
    MAX_BUFFER = 256 << 10

    def __init__(
        self,
        backend: DockerBackend,
        cid: str,
        recheck: float = LOG_RECHECK,
        since: str = "",
        tail: int | None = None,
    ) -> None:
        self.backend = backend
        self.cid = cid
        self.recheck = recheck
        self._window_since = since
        self._window_tail = tail
        self.lock = threading.Lock()
        self.buffer: list[LogLine] = []
        self.buffered = 0  # the buffer's bytes, as MERGE_OVERHEAD counts them
        self.max_buffer = self.MAX_BUFFER  # DockerAllLogs gives each container a share
        self.skipped = 0  # lines passed over: the buffer was full
        self._last_data = 0.0  # monotonic time the stream last sent lines
        self.last_time = ""
        self._gone = False
        self._closed = False
        self._response: Any = None
        self._started_at = ""
        self._next_check = 0.0
        self._thread = self._spawn()

    def _spawn(self) -> threading.Thread:
        self._resumed_after = self.last_time
        t = threading.Thread(target=self._run, name="docker-logs", daemon=True)
        t.start()
        return t

    def _run(self) -> None:
        import docker.errors

        try:
            api = self.backend.api()
            info = api.inspect_container(self.cid)
            self._started_at = info["State"].get("StartedAt") or ""
            tty = bool(info["Config"].get("Tty"))
            params: dict[str, Any] = {
                "stdout": 1,
                "stderr": 1,
                "timestamps": 1,
                "follow": 1,
                "tail": "all" if self._window_tail is None else str(self._window_tail),
            }
            if self.last_time:
                params["since"] = self.last_time
                params["tail"] = "all"
            elif self._window_since:
                # "seconds.nanos": Podman does not read RFC 3339 here.
                params["since"] = unix_time(self._window_since) or self._window_since
            # The SDK's logs() drops which stream a frame came from: read the frames here.
            res = api._get(api._url("/containers/{0}/logs", self.cid), params=params, stream=True)
            self._response = res
            api._raise_for_status(res)
            # close() may have run before the response was stored: it looks again here.
            if not self._closed:
                self._read(res.iter_content(chunk_size=None), tty)
        except docker.errors.NotFound:
            self._gone = True
        except Exception:
            pass  # closed, or the engine went away: read_new checks again later
        finally:
            res, self._response = self._response, None
            if res is not None and self._closed:
                shut_response(res)  # stored after close() looked: never read, never reused
            elif res is not None:
                res.close()  # read to its end: the connection goes back to the pool

    def _read(self, chunks: Iterator[bytes], tty: bool) -> None:
        for stderr, lines in split_frames(chunks, tty):
            self._take(lines, stderr)

    def _take(self, raw: list[bytes], stderr: bool) -> None:
        out = []
        for line in stamped_lines(raw, stderr):
            if self._resumed_after and line.time <= self._resumed_after:
                # `since` has second granularity: skip what was read before. Podman's
                # stamps have whole seconds too, so lines of that second may repeat.
                continue
            out.append(line)
        self._last_data = time.monotonic()
        if out:
            size = sum(len(line.text) for line in out) + MERGE_OVERHEAD * len(out)
            with self.lock:
                self.buffer += out
                self.buffered += size
                self.last_time = max(self.last_time, out[-1].time)
                if self.buffered > self.max_buffer:
                    self._pass_over()

    def _pass_over(self) -> None:
        """Down to half the buffer's bound, oldest lines first (under the lock)."""
        k = 0
        size = self.buffered
        while size > self.max_buffer // 2 and k < len(self.buffer) - 1:
            size -= len(self.buffer[k].text) + MERGE_OVERHEAD
            k += 1
        del self.buffer[:k]
        self.buffered = size
        self.skipped += k

    def settled(self, now: float, quiet: float) -> bool:
        """Whether the stream sent its backlog: connected, nothing for `quiet` s."""
        if not self._thread.is_alive():
            return True  # ended (stopped container) or failed: nothing more to wait for
        return self._response is not None and now - self._last_data >= quiet

    def read_new(self) -> list[LogLine]:
        with self.lock:
            out, self.buffer = self.buffer, []
            self.buffered = 0
        if not self._thread.is_alive() and not self._gone and not self._closed:
            self._maybe_resume()
        return out

    # The first look back before a line: this many seconds, then 8 times more
    # each round until max_bytes are found or the container's creation is passed.
    # `tail` cannot bound it: the engines take the last N lines of the whole
    # log first and apply `until` after.
    LOOK_BACK = 2.0

    def read_before(self, line: LogLine, max_bytes: int) -> list[LogLine]:
        """`logs --since T-d --until T` windows, widened until they hold max_bytes;
        only the newest max_bytes of a window are kept while it streams in. An
        engine that answers no window (Podman's `until` gives nothing, and its
        stamps have whole seconds) is read from the start up to the line."""
        api = self.backend.api()
        with api_errors(self.backend.location):
            info = api.inspect_container(self.cid)
        tty = bool(info["Config"].get("Tty"))
        created = info.get("Created") or ""
        until = float(unix_time(line.time) or 0)
        # Nothing older than the since window is shown: no window reaches past it.
        floor = float(unix_time(self._window_since) or 0) if self._window_since else 0.0
        span = self.LOOK_BACK
        while until:
            since = max(until - span, floor)
            params = {"since": f"{since:.9f}", "until": unix_time(line.time)}
            kept = self._fetch(params, tty, max_bytes, lambda got: got.time >= line.time)
            if sum(len(x.text) + MERGE_OVERHEAD for x in kept) >= max_bytes // 2:
                return kept
            if since == floor:
                return kept
            if not created or stamp_before(since, created):
                if kept:
                    return kept
                break  # nothing in any window: maybe none before, maybe no `until`
            span *= 8
        found = False

        def stop(got: LogLine) -> bool:
            nonlocal found
            found = found or (got.time, got.text) == (line.time, line.text)
            return found or got.time > line.time

        return self._fetch({}, tty, max_bytes, stop)

    def _fetch(
        self,
        params: dict[str, str],
        tty: bool,
        max_bytes: int,
        stop: Callable[[LogLine], bool],
    ) -> list[LogLine]:
        """The newest `max_bytes` of the log's lines (in `params`' window) before
        the first one `stop` accepts, read as a stream into a bounded deque."""
        import collections

        api = self.backend.api()
        kept: collections.deque[LogLine] = collections.deque()
        size = 0
        query = {"stdout": 1, "stderr": 1, "timestamps": 1, **params}
        with api_errors(self.backend.location):
            res = api._get(api._url("/containers/{0}/logs", self.cid), params=query, stream=True)
            api._raise_for_status(res)
            try:
                for stderr, raw in split_frames(res.iter_content(chunk_size=None), tty):
                    for got in stamped_lines(raw, stderr):
                        if stop(got):
                            return sorted(kept, key=lambda x: x.time)
                        kept.append(got)
                        size += len(got.text) + MERGE_OVERHEAD
                        while size > max_bytes and len(kept) > 1:
                            size -= len(kept.popleft().text) + MERGE_OVERHEAD
            finally:
                res.close()
        return sorted(kept, key=lambda x: x.time)

    def _maybe_resume(self) -> None:
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + self.recheck
        import docker.errors

        try:
            state = self.backend.api().inspect_container(self.cid)["State"]
        except docker.errors.NotFound:
            self._gone = True
            return
        except Exception:
            return
        restarted = state.get("Running") and (state.get("StartedAt") or "") != self._started_at
        if restarted and not self._closed:  # no reader starts after close()
            self._thread = self._spawn()

    def gone(self) -> bool:
        return self._gone

    def close(self) -> None:
        """End the follow now: the stream's socket is shut (its reader wakes from
        recv at once), and the reader thread is waited for, a bounded while."""
        self._closed = True
        res = self._response
        if res is not None:
            shut_response(res)
        thread = self._thread
        if thread is not threading.current_thread():
            # Bounded: a reader still connecting to an engine that went away sees
            # _closed when its request ends (it is a daemon thread meanwhile).
            thread.join(CLOSE_WAIT)


# The stamp `timestamps=1` puts before each frame's text.
_FRAME_STAMP = re.compile(rb"\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d) ")


def split_frames(chunks: Iterator[bytes], tty: bool) -> Iterator[tuple[bool, list[bytes]]]:
    """A logs body of `timestamps=1` as (stderr, complete lines) per frame:
    8-byte frame headers unless a TTY; each stream's unfinished line waits for
    its end (or the body's). Podman sends each piece of a line the container
    wrote in several writes as a frame of its own, stamped: the stamp of a
    piece that continues a line is left out (the line keeps its first)."""
    buf = b""
    partial = {False: b"", True: b""}
    for chunk in chunks:
        buf += chunk
        while buf:
            if tty:
                stderr, data, buf = False, buf, b""
            else:
                if len(buf) < 8:
                    break
                size = int.from_bytes(buf[4:8], "big")
                if len(buf) < 8 + size:
                    break
                stderr, data, buf = buf[0] == 2, buf[8 : 8 + size], buf[8 + size :]
                if partial[stderr] and (stamp := _FRAME_STAMP.match(data)):
                    data = data[stamp.end() :]
            *lines, partial[stderr] = (partial[stderr] + data).split(b"\n")
            yield stderr, lines
    for stderr, rest in partial.items():
        if rest:
            yield stderr, [rest]


def stamped_lines(raw: list[bytes], stderr: bool) -> list[LogLine]:
    """Lines of a `timestamps=1` body ("<RFC 3339> text") as LogLines."""
    out = []
    for line in raw:
        text = line.decode("utf-8", "replace")
        stamp, _, rest = text.partition(" ")
        out.append(LogLine(stamp, stderr, printable(rest)))
    return out


def unix_time(stamp: str) -> str:
    """RFC 3339 ("2024-05-01T12:00:00.123456789Z", or with an offset) as the
    "seconds.nanoseconds" the logs endpoint's since/until take; "" if unreadable."""
    head, dot, rest = stamp.partition(".")
    frac = ""
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        frac, rest = rest[:digits], rest[digits:]
    else:
        head, rest = stamp[:19], stamp[19:]
    try:
        when = datetime.strptime(head + (rest or "Z").replace("Z", "+00:00"), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return ""
    return f"{int(when.timestamp())}.{(frac + '000000000')[:9]}"


def stamp_before(seconds: float, stamp: str) -> bool:
    """Whether the UNIX time `seconds` is before the RFC 3339 `stamp`."""
    t = unix_time(stamp)
    return bool(t) and seconds < float(t)


class DockerAllLogs:
    """An AllLogsFollower: one DockerLogs per container named, their reads merged
    by time (base.merge_new), each line prefixed with its container's name.

    The buffers' bound (DockerLogs.MAX_BUFFER) is shared out between the
    containers, so many flooding containers hold what one does between two
    polls. read_before asks each container for its lines before the line's
    stamp (DockerLogs.read_before: since/until windows, never older than the
    since window) and merges them (base.merged_before).
    """

    MIN_BUFFER = 32 << 10  # a container's share of the buffers' bound, at least

    def __init__(self, backend: DockerBackend, since: str = "", tail: int | None = None) -> None:
        self.backend = backend
        self._since = since
        self._tail = tail
        self.tails: dict[str, DockerLogs] = {}
        self._started = False  # the first containers were named: the tail window was given
        self._gone_skipped = 0
        self._names: dict[str, str] = {}
        self._shown_to = ""  # the newest stamp read_new returned
        self._settle_until = 0.0  # see read_new
        self._merged = False  # a first read was returned
        self._skipped_seen: dict[str, int] = {}  # each stream's `skipped` at the last read
        self.skipped = 0

    # The first reads wait (at most this long) until every stream has sent
    # its backlog: the logs come in side by side, and a merge of one whole
    # backlog with another's first part would put lines out of order.
    SETTLE = 3.0
    QUIET = 0.2  # a stream that sent nothing for this long has sent its backlog

    def read_new(self, names: dict[str, str]) -> list[LogLine]:
        self._names = names
        if not self._started and names:
            self._settle_until = time.monotonic() + self.SETTLE
        for cid in set(self.tails) - set(names):
            tail = self.tails.pop(cid)
            self._gone_skipped += tail.skipped
            self._skipped_seen.pop(cid, None)
            tail.close()
        share = max(self.MIN_BUFFER, DockerLogs.MAX_BUFFER // max(1, len(names)))
        parts: list[tuple[list[LogLine], bool]] = []
        for cid in sorted(names):
            tail = self.tails.get(cid)
            if tail is None:
                # The tail window is for the containers named at the first read.
                window = None if self._started else self._tail
                tail = DockerLogs(self.backend, cid, 5 * LOG_RECHECK, self._since, window)
                self.tails[cid] = tail
            tail.max_buffer = share
        now = time.monotonic()
        if now < self._settle_until and any(
            not t.settled(now, self.QUIET) for t in self.tails.values()
        ):
            self._started = True
            return []
        self._settle_until = 0.0
        for cid in sorted(names):
            tail = self.tails[cid]
            name = names.get(cid) or cid[:12]
            lines = [tag_line(line, cid, name) for line in tail.read_new()]
            # Passed over since the last read returned (the thread drops lines
            # while a read waits for the streams to settle, too).
            parts.append((lines, tail.skipped != self._skipped_seen.get(cid, 0)))
            self._skipped_seen[cid] = tail.skipped
        # Under a tail window each container keeps its last N at first: no cut.
        out = merge_new(parts, self._tail is None or self._merged, self._shown_to)
        if out:
            self._shown_to = max(self._shown_to, out[-1].time)
        self._merged = self._merged or bool(names)
        self._started = self._started or bool(names)
        self.skipped = self._gone_skipped + sum(t.skipped for t in self.tails.values())
        return out

    def read_before(self, line: LogLine, max_bytes: int) -> list[LogLine]:
        if not isinstance(line.at, tuple):
            return []
        own = line.at[0]
        names = self._names
        probe = LogLine(line.time, line.stderr, "")
        found: dict[str, tuple[list[LogLine], bool]] = {}
        for cid, tail in sorted(self.tails.items()):
            mine = probe
            if cid == own:
                # Its own log: the line as that log has it, the name's prefix off.
                text = line.text[len(line.source) + len(ALL_SEPARATOR) :]
                mine = LogLine(line.time, line.stderr, text)
            try:
                got = tail.read_before(mine, max_bytes)
            except TuidockError:
                if cid == own:
                    raise
                continue  # removed meanwhile: the others still read back
            # Less than half of max_bytes: the container's read reached its
            # log's start (DockerLogs.read_before returns once it has half).
            whole = sum(len(x.text) + MERGE_OVERHEAD for x in got) < max_bytes // 2
            name = names.get(cid) or cid[:12]
            found[cid] = ([tag_line(x, cid, name) for x in got], whole)
        return merged_before(found, line, max_bytes)

    def close(self) -> None:
        for tail in self.tails.values():
            tail.close()
        self.tails.clear()


# -- the backend -------------------------------------------------------------------------


class _Canceller:
    """Shuts a streamed response's socket down when `cancel` is set (shut_response).

    A read blocked in a long RUN step wakes only when its socket is shut. The
    SDK's stream helper holds the response as its argument, which is where it
    is found; if a later SDK hides it, the cancel takes effect at the next line.
    """

    def __init__(self, stream: Any, cancel: threading.Event) -> None:
        self.cancel = cancel
        self.done = threading.Event()
        frame = getattr(stream, "gi_frame", None)
        self.response = frame.f_locals.get("response") if frame is not None else None
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while not self.done.is_set():
            if self.cancel.wait(0.2):
                self._shut()
                return

    def _shut(self) -> None:
        if self.response is not None:
            shut_response(self.response)

    def stop(self) -> None:
        self.done.set()
        self.thread.join()


class DockerBackend:
    """A Docker or Podman engine at `endpoint` (see the module's docstring)."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._api: APIClient | None = None
        self._lock = threading.Lock()
        self._podman: bool | None = None
        self._events = EventWatch(endpoint)
        self._started: dict[str, tuple[str, int]] = {}  # running cid -> (StartedAt, Pid)

    # -- plumbing ----------------------------------------------------------------------

    def api(self) -> APIClient:
        """The client, made on first use (and again after a failed attempt)."""
        with self._lock:
            if self._api is None:
                self._api = make_client(self.endpoint)
            return self._api

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with api_errors(self.location):
            return fn(*args, **kwargs)

    @property
    def is_podman(self) -> bool:
        if self._podman is None:
            version = self._call(lambda: self.api().version())
            names = [c.get("Name", "") for c in version.get("Components") or []]
            self._podman = any("Podman" in n for n in names)
        return self._podman

    def _api_older(self, version: str) -> bool:
        """Whether the negotiated API version is below `version` (e.g. "1.42")."""
        from docker.utils import version_lt

        return version_lt(self.api().api_version, version)

    def close(self) -> None:
        self._events.close()
        if self._api is not None:
            self._api.close()

    # -- facts and change stamps -------------------------------------------------------

    @property
    def location(self) -> str:
        return self.endpoint.host

    def facts(self) -> Facts:
        info = self._call(lambda: self.api().info())
        version = info.get("CgroupVersion") or "?"
        return Facts(self.location, f"v{version}" if version.isdigit() else version)

    def images_stamp(self) -> Hashable | None:
        return self._events.stamp("image")

    def containers_stamp(self) -> Hashable | None:
        return self._events.stamp("container")

    # -- images ------------------------------------------------------------------------

    def list_images(self) -> list[ImageSummary]:
        out = []
        for img in self._call(lambda: self.api().images()):
            tags = tuple(full_tag(t) for t in img.get("RepoTags") or () if t != "<none>:<none>")
            out.append(
                ImageSummary(
                    image_id(img["Id"]),
                    tags,
                    int(img.get("Size") or 0),
                    rfc3339(img.get("Created")),
                )
            )
        return out

    def pull(
        self,
        name: str,
        platform: str | None,
        progress: PullProgress,
        cancel: threading.Event,
    ) -> PullOutcome:
        from docker.utils import parse_repository_tag

        from tuidock.core.reference import parse

        ref = parse(name)
        repo, tag = parse_repository_tag(name)
        # Without a tag the API pulls every tag of the repository: `latest`, as `docker pull`.
        tag = tag or "latest"
        shown = f"{repo}@{tag}" if tag.startswith("sha256:") else f"{repo}:{tag}"
        progress(PullEvent("status", status=f"{ref.reference}: Pulling from {ref.path}"))
        downloaded = False
        with api_errors(self.location):
            stream = self.api().pull(repo, tag, stream=True, decode=True, platform=platform)
            try:
                for ev in stream:
                    if cancel.is_set():
                        raise TuidockError(f"pull of {shown} cancelled")
                    if "error" in ev:
                        raise TuidockError(
                            " ".join(str(ev.get("error")).split()),
                            "Check the name, the registry and its credentials.",
                        )
                    status = str(ev.get("status") or "")
                    detail = ev.get("progressDetail") or {}
                    if ev.get("id") and detail is not None and "Pulling from" not in status:
                        # Podman's service sends layer statuses without byte counts.
                        progress(
                            PullEvent(
                                "layer",
                                str(ev["id"]),
                                status,
                                int(detail.get("current") or 0),
                                int(detail.get("total") or 0),
                            )
                        )
                        downloaded = downloaded or status in ("Downloading", "Download complete")
                    elif status.startswith("Digest:"):
                        progress(PullEvent("status", status=status))
                    elif status.startswith("Status: Downloaded"):
                        downloaded = True
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
            info = self.api().inspect_image(shown)
        return PullOutcome(image_id(info["Id"]), downloaded)

    def build(
        self,
        spec: BuildSpec,
        on_line: Callable[[str], None],
        cancel: threading.Event,
    ) -> BuildOutcome:
        """The engine's own builder (Docker's classic one, Podman's buildah) over /build.

        The SDK sends the context as a tar, .dockerignore applied. Cancelling
        shuts the response's socket down: the daemon stops a build whose client
        went away and removes its intermediate container (forcerm).
        """
        from docker.utils import parse_repository_tag

        from tuidock.backends.base import OutputLines

        out = OutputLines(on_line)
        tags = list(spec.tags)
        dockerfile = spec.dockerfile
        if dockerfile and os.path.isabs(dockerfile):
            # The API takes it relative to the context; the SDK adds an outside one.
            inside = os.path.relpath(dockerfile, spec.context)
            dockerfile = inside if not inside.startswith("..") else dockerfile
        image = ""
        with api_errors(self.location):
            stream = self.api().build(
                path=spec.context,
                dockerfile=dockerfile,
                tag=tags[0] if tags else None,
                buildargs=dict(spec.build_args) or None,
                target=spec.target,
                nocache=spec.no_cache,
                pull=spec.pull,
                labels=dict(spec.labels) or None,
                network_mode=spec.network,
                rm=True,
                forcerm=True,
                decode=True,
            )
            watcher = _Canceller(stream, cancel)
            try:
                for ev in stream:
                    if cancel.is_set():
                        break
                    if "error" in ev:
                        raise TuidockError(" ".join(str(ev["error"]).split()))
                    text = ev.get("stream")
                    if isinstance(text, str):
                        out.feed(text.encode())
                        if text.startswith("Successfully built "):
                            image = image or text.split()[-1]
                    aux = ev.get("aux")
                    if isinstance(aux, dict) and aux.get("ID"):
                        image = str(aux["ID"])
            except Exception:
                if cancel.is_set():
                    image = ""  # the socket was shut under the read: a cancel, not an error
                else:
                    raise
            finally:
                watcher.stop()
                out.flush()
                stream.close()
            if cancel.is_set():
                raise TuidockError("build cancelled")
            if not image:
                raise TuidockError("the engine ended the build without an image ID")
            for extra in tags[1:]:
                repo, tag = parse_repository_tag(extra)
                self.api().tag(image, repo, tag or "latest")
            image_id_ = image_id(self.api().inspect_image(image)["Id"])
        return BuildOutcome(image_id_, tuple(full_tag(t) for t in tags))

    def push(self, source: str, dest: str | None = None) -> list[PushOutcome]:
        from docker.utils import parse_repository_tag

        if dest:
            self.tag(source, dest)
        target = dest or source
        repo, tag = parse_repository_tag(target)
        tag = tag or "latest"
        digest = ""
        with api_errors(self.location):
            for ev in self.api().push(repo, tag, stream=True, decode=True):
                if "error" in ev:
                    raise TuidockError(" ".join(str(ev["error"]).split()))
                aux = ev.get("aux") or {}
                digest = aux.get("Digest") or digest
                status = str(ev.get("status") or "")
                if not digest and "digest: sha256:" in status:
                    digest = "sha256:" + status.split("digest: sha256:", 1)[1].split()[0]
            if not digest:
                # Podman's compat push reports no digest: the image's repo digests have it.
                for rd in self.api().inspect_image(target).get("RepoDigests") or []:
                    if rd.split("@", 1)[0] in (repo, full_tag(repo).rsplit(":", 1)[0]):
                        digest = rd.split("@", 1)[1]
        return [PushOutcome(full_tag(f"{repo}:{tag}"), digest)]

    def tag(self, source: str, target: str) -> None:
        from docker.utils import parse_repository_tag

        repo, tag = parse_repository_tag(target)
        if not self._call(lambda: self.api().tag(source, repo, tag or "latest")):
            raise TuidockError(f"cannot tag {source} as {target}")

    def remove_images(self, names: list[str], force: bool = False) -> RemoveOutcome:
        outcome = RemoveOutcome()
        for name in names:
            try:
                report = self._call(lambda n=name: self.api().remove_image(n, force=force))
            except NotFound as e:
                outcome.errors.append(f"Error: {e.message}")
                continue
            except TuidockError as e:
                if isinstance(e, EngineUnreachable):
                    raise
                outcome.errors.append(e.message)
                continue
            for item in report or []:
                if "Untagged" in item:
                    outcome.untagged.append(item["Untagged"])
                if "Deleted" in item:
                    outcome.deleted.append(image_id(item["Deleted"]))
        return outcome

    def image_history(self, name: str) -> list[HistoryEntry]:
        rows = self._call(lambda: self.api().history(name))
        return [
            HistoryEntry(
                image_id(r.get("Id") or "<missing>"),
                rfc3339(r.get("Created")),
                r.get("CreatedBy") or "",
                int(r.get("Size") or 0),
                r.get("Comment") or "",
            )
            for r in rows
        ]

    def inspect_image(self, name: str) -> dict:
        info = self._call(lambda: self.api().inspect_image(name))
        info["Id"] = image_id(info.get("Id", ""))
        return info

    # -- networks ----------------------------------------------------------------------

    def _attachments(self) -> list[tuple[str, list[str], list[str]]]:
        """(name, its networks, its volumes) of every container: one listing, as
        the network and volume lists carry no users (Docker's network list
        leaves Containers empty; its volume list has no users at all)."""
        out = []
        for c in self._call(lambda: self.api().containers(all=True)):
            name = ((c.get("Names") or ["/" + c["Id"][:12]])[0]).lstrip("/")
            nets = list(((c.get("NetworkSettings") or {}).get("Networks") or {}).keys())
            vols = [m.get("Name", "") for m in c.get("Mounts") or [] if m.get("Type") == "volume"]
            out.append((name, nets, vols))
        return out

    def list_networks(self) -> list[NetworkSummary]:
        """The default network first ("bridge"; Podman's compat API may call it
        "podman"), then the user's; host and none are modes, not listed."""
        rows = self._call(lambda: self.api().networks())
        users: dict[str, list[str]] = {}
        for cname, nets, _ in self._attachments():
            for net in nets:
                users.setdefault(net, []).append(cname)
        out = []
        for n in rows:
            name = str(n.get("Name"))
            if name in ("host", "none"):
                continue
            config = (n.get("IPAM") or {}).get("Config") or []
            subnets = ",".join(str(c["Subnet"]) for c in config if c.get("Subnet"))
            out.append(
                NetworkSummary(
                    name,
                    str(n.get("Driver") or ""),
                    str(n.get("Id") or ""),
                    subnets,
                    tuple(sorted(users.get(name, ()))),
                )
            )
        return sorted(out, key=lambda n: (n.name not in ("bridge", "podman"), n.name))

    def inspect_network(self, name: str) -> dict:
        return self._call(lambda: self.api().inspect_network(name))

    def create_network(self, name: str, subnet: str | None = None) -> NetworkSummary:
        from docker.types import IPAMConfig, IPAMPool

        ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=subnet)]) if subnet else None
        if any(n.name == name for n in self.list_networks()):
            # Docker refuses a duplicate name (409) since API 1.44 only; older
            # daemons would make a second network of the same name.
            raise Conflict(f"network with name {name} already exists", "Pick another name.")
        made = self._call(
            lambda: self.api().create_network(
                name, driver="bridge", ipam=ipam, enable_ipv6=bool(subnet and ":" in subnet)
            )
        )
        return NetworkSummary(name, "bridge", str(made.get("Id") or ""), subnet or "")

    def remove_network(self, name: str) -> None:
        self._call(lambda: self.api().remove_network(name))

    def connect_network(self, name: str, container: str) -> None:
        self._call(lambda: self.api().connect_container_to_network(container, name))

    def disconnect_network(self, name: str, container: str) -> None:
        self._call(lambda: self.api().disconnect_container_from_network(container, name))

    # -- volumes -----------------------------------------------------------------------

    def list_volumes(self) -> list[VolumeSummary]:
        answer = self._call(lambda: self.api().volumes()) or {}
        users: dict[str, list[str]] = {}
        for cname, _, vols in self._attachments():
            for vol in vols:
                users.setdefault(vol, []).append(cname)
        return [
            VolumeSummary(
                str(v.get("Name")),
                str(v.get("Driver") or "local"),
                str(v.get("Mountpoint") or ""),
                str(v.get("CreatedAt") or ""),
                tuple(sorted(users.get(str(v.get("Name")), ()))),
            )
            for v in answer.get("Volumes") or []  # Docker sends null when there are none
        ]

    def inspect_volume(self, name: str) -> dict:
        return self._call(lambda: self.api().inspect_volume(name))

    def create_volume(self, name: str) -> VolumeSummary:
        import docker.errors

        try:
            self.api().inspect_volume(name)
        except docker.errors.NotFound:
            pass
        except docker.errors.DockerException:
            pass  # the create below says what is wrong
        else:
            # Docker returns an existing volume as if made; Podman answers 409.
            raise Conflict(f"volume {name} already exists", "Pick another name.")
        v = self._call(lambda: self.api().create_volume(name, driver="local"))
        return VolumeSummary(
            str(v.get("Name") or name),
            str(v.get("Driver") or "local"),
            str(v.get("Mountpoint") or ""),
            str(v.get("CreatedAt") or ""),
        )

    def remove_volume(self, name: str, force: bool = False) -> None:
        self._call(lambda: self.api().remove_volume(name, force=force))

    @property
    def force_removes_volume_users(self) -> bool:
        # Docker answers 409 whatever force says, and so does Podman's compat
        # DELETE /volumes/{name}?force=true (measured: "volume is being used");
        # only its libpod API's force removes the containers, which this client does not speak.
        return False

    # -- disk use and prune ------------------------------------------------------------

    def disk_usage(self) -> DiskUsage:
        """GET /system/df summed as `docker system df` does. It walks every
        container's writable layer and volume on the daemon's side: seconds on
        a large host, so the UI asks only when the disk view is shown."""
        df = self._call(lambda: self.api().df())
        images = df.get("Images") or []
        active_images = [i for i in images if (i.get("Containers") or 0) > 0]
        # Docker's df: the layers' total, less what the images in use hold
        # alone (their size without what they share with others).
        layers = int(df.get("LayersSize") or sum(int(i.get("Size") or 0) for i in images))
        used = sum(
            int(i.get("Size") or 0) - max(int(i.get("SharedSize") or 0), 0) for i in active_images
        )
        containers = df.get("Containers") or []
        sizes = {c["Id"]: int(c.get("SizeRw") or 0) for c in containers}
        running = [c for c in containers if c.get("State") in ("running", "paused", "restarting")]
        volumes = df.get("Volumes") or []
        vsize = {
            str(v.get("Name")): max(int((v.get("UsageData") or {}).get("Size") or 0), 0)
            for v in volumes
        }
        vused = {
            str(v.get("Name"))
            for v in volumes
            if int((v.get("UsageData") or {}).get("RefCount") or 0) > 0
        }
        # Podman's compat df has no build cache (BuildCache null): an empty row.
        cache = df.get("BuildCache") or []
        rows = [
            DiskUsageRow("Images", len(images), len(active_images), layers, max(layers - used, 0)),
            DiskUsageRow(
                "Containers",
                len(containers),
                len(running),
                sum(sizes.values()),
                sum(sizes[c["Id"]] for c in containers if c not in running),
            ),
            DiskUsageRow(
                "Local Volumes",
                len(volumes),
                len(vused),
                sum(vsize.values()),
                sum(s for n, s in vsize.items() if n not in vused),
            ),
            DiskUsageRow(
                "Build Cache",
                len(cache),
                sum(1 for c in cache if c.get("InUse")),
                sum(int(c.get("Size") or 0) for c in cache),
                sum(
                    int(c.get("Size") or 0)
                    for c in cache
                    if not c.get("InUse") and not c.get("Shared")
                ),
            ),
        ]
        return DiskUsage(rows, vsize, sizes)

    def prune(self, kind: str) -> PruneOutcome:
        api = self.api()
        if kind == "containers":
            r = self._call(api.prune_containers)
            return PruneOutcome(
                list(r.get("ContainersDeleted") or []), r.get("SpaceReclaimed") or 0
            )
        if kind == "images":
            r = self._call(lambda: api.prune_images(filters={"dangling": True}))
            deleted = [d["Deleted"] for d in r.get("ImagesDeleted") or [] if d.get("Deleted")]
            return PruneOutcome(deleted, r.get("SpaceReclaimed") or 0)
        if kind == "volumes":
            # Docker (API 1.42+) prunes only anonymous volumes unless all=true,
            # and older daemons reject the filter; Podman prunes every unused
            # one and answers "Invalid filter 'all'".
            filters = None if self.is_podman or self._api_older("1.42") else {"all": "true"}
            r = self._call(lambda: api.prune_volumes(filters=filters))
            return PruneOutcome(list(r.get("VolumesDeleted") or []), r.get("SpaceReclaimed") or 0)
        if kind == "networks":
            r = self._call(api.prune_networks)
            return PruneOutcome(list(r.get("NetworksDeleted") or []))
        raise ValueError(f"unknown prune kind {kind!r}")

    # -- containers --------------------------------------------------------------------

    def list_containers(self) -> list[ContainerSummary]:
        rows = self._call(lambda: self.api().containers(all=True))
        touched = self._events.take_touched()
        out = []
        for row in rows:
            cid = row["Id"]
            state = str(row.get("State") or "")
            state = _STATES.get(state, state)
            started, pid = "", 0
            if state in ("running", "paused", "restarting"):
                if cid in touched or cid not in self._started or not self._events.live:
                    self._started.pop(cid, None)
                    started, pid = self._started_of(cid)
                else:
                    started, pid = self._started[cid]
            names = row.get("Names") or [cid[:12]]
            out.append(
                ContainerSummary(
                    id=cid,
                    name=names[0].lstrip("/"),
                    image=row.get("Image") or "",
                    status=state,
                    started_at=started,
                    exit_code=_exit_code(str(row.get("Status") or "")),
                    ports=_format_ports(row.get("Ports")),
                    pid=pid,
                )
            )
        alive = {c.id for c in out}
        for cid in set(self._started) - alive:
            del self._started[cid]
        # Docker lists newest first; Podman's compat list does not promise it.
        created = {r["Id"]: int(r.get("Created") or 0) for r in rows}
        out.sort(key=lambda c: -created[c.id])
        return out

    def _started_of(self, cid: str) -> tuple[str, int]:
        """StartedAt and Pid, which the list lacks: one inspect, cached while no event names it."""
        try:
            state = self._call(lambda: self.api().inspect_container(cid))["State"]
        except NotFound:
            return "", 0
        value = (rfc3339(state.get("StartedAt")), int(state.get("Pid") or 0))
        self._started[cid] = value
        return value

    def _run_options(self, spec: RunSpec) -> tuple[dict, dict]:
        """The dialog's text values as create_container and host-config arguments.

        Parsed with the embedded engine's own rules (the same messages as the
        CLI's `run`); the daemon then applies them as `docker run` would.
        """
        from tuidock.core.flagvalues import int_flag
        from tuidock.runtime.container.options import (
            parse_cpus,
            parse_memory,
            parse_restart,
            parse_volume_flag,
        )
        from tuidock.runtime.network.ports import parse_publish

        bindings: dict[str, list] = {}
        exposed: list[tuple[int, str]] = []
        for text in spec.ports:
            for m in parse_publish(text):
                host = f"{m.host_port}-{m.host_port_end}" if m.host_port_end else m.host_port
                bindings.setdefault(f"{m.container_port}/{m.protocol}", []).append(
                    (m.host_ip, host or None) if m.host_ip else host or None
                )
                exposed.append((m.container_port, m.protocol))
        for text in spec.volumes:
            parse_volume_flag(text)  # the daemon takes the -v text itself
        host: dict[str, Any] = {"network_mode": spec.network or "bridge"}
        if bindings:
            if host["network_mode"] in ("none", "host"):
                raise UsageError(
                    f"published ports are discarded with --network {host['network_mode']}",
                    "Pick bridge or a user network, or clear the ports.",
                )
            host["port_bindings"] = bindings
        if spec.volumes:
            host["binds"] = list(spec.volumes)
        if spec.restart and spec.restart != "no":
            host["restart_policy"] = parse_restart(spec.restart)
        if spec.memory:
            host["mem_limit"] = parse_memory(spec.memory)
        if spec.cpus:
            cpus = parse_cpus(spec.cpus)
            if cpus:
                host["nano_cpus"] = int(cpus * 1e9)
        if spec.pids_limit:
            host["pids_limit"] = int_flag("--pids-limit")(spec.pids_limit)
        create = {
            "command": list(spec.command) or None,
            "name": spec.name or None,
            "environment": list(spec.env),
            "ports": exposed or None,
            "tty": spec.tty,
            "stdin_open": spec.tty,
        }
        return create, host

    def check_run(self, spec: RunSpec) -> None:
        self._run_options(spec)
        network = spec.network or "bridge"
        if network not in ("bridge", "none", "host"):
            self._call(lambda: self.api().inspect_network(network))  # a user network must exist

    def run(self, spec: RunSpec) -> RunOutcome:
        import docker.errors

        api = self.api()
        create_args, host_args = self._run_options(spec)

        def create() -> dict:
            return api.create_container(
                spec.image, host_config=api.create_host_config(**host_args), **create_args
            )

        with api_errors(self.location):
            try:
                made = create()
            except docker.errors.ImageNotFound:
                self.pull(spec.image, None, lambda ev: None, threading.Event())
                made = create()
            cid = made["Id"]
            try:
                api.start(cid)
            except BaseException:
                # A failed start leaves no container behind.
                api.remove_container(cid, force=True)
                raise
        return RunOutcome(cid, [w for w in made.get("Warnings") or [] if w])

    def start(self, cid: str) -> None:
        self._call(lambda: self.api().start(cid))

    def stop(self, cid: str, timeout: int | None = None) -> None:
        self._call(lambda: self.api().stop(cid, timeout=timeout))

    def restart(self, cid: str, timeout: int | None = None) -> None:
        self._call(lambda: self.api().restart(cid, timeout=10 if timeout is None else timeout))

    def kill(self, cid: str, signal: str | int = "KILL") -> None:
        from tuidock.core.flagvalues import signal_number

        # Checked here: the engine's own message for a bad name differs by engine.
        signum = signal_number(signal)
        self._call(lambda: self.api().kill(cid, signal=signum))

    def pause(self, cid: str) -> None:
        self._call(lambda: self.api().pause(cid))

    def unpause(self, cid: str) -> None:
        self._call(lambda: self.api().unpause(cid))

    def remove(self, cid: str, force: bool = False) -> None:
        self._call(lambda: self.api().remove_container(cid, force=force))

    def rename(self, cid: str, new_name: str) -> None:
        self._call(lambda: self.api().rename(cid, new_name))

    def commit(self, cid: str, reference: str) -> str:
        from docker.utils import parse_repository_tag

        repo, tag = parse_repository_tag(reference)
        made = self._call(lambda: self.api().commit(cid, repo, tag or "latest"))
        return image_id(made["Id"])

    def top(self, cid: str) -> tuple[list[str], list[list[str]]]:
        res = self._call(lambda: self.api().top(cid))
        return split_top(list(res.get("Titles") or []), list(res.get("Processes") or []))

    def inspect_container(self, cid: str) -> dict:
        return self._call(lambda: self.api().inspect_container(cid))

    def diff(self, cid: str) -> list[FileChange]:
        try:
            changes = self._call(lambda: self.api().diff(cid)) or []
        except NotFound:
            raise
        except TuidockError:
            # Podman answers an unknown name with a 500 ("layer not known"):
            # inspect says NotFound as Docker would; a real failure is raised as is.
            self.inspect_container(cid)
            raise
        return [FileChange(DIFF_KINDS.get(c.get("Kind"), "?"), c.get("Path", "")) for c in changes]

    def _container_id(self, name: str) -> str:
        try:
            return self._call(lambda: self.api().inspect_container(name))["Id"]
        except NotFound:
            # The docker CLI's wording, for Docker and Podman alike.
            raise NotFound(f"No such container: {name}") from None

    def copy_from_container(self, cid: str, src: str, dest: str) -> CopyOutcome:
        from tuidock.backends import dockercopy

        return dockercopy.copy_out(self, self._container_id(cid), src, dest)

    def copy_to_container(self, cid: str, src: str, dest: str) -> CopyOutcome:
        from tuidock.backends import dockercopy

        return dockercopy.copy_in(self, self._container_id(cid), src, dest)

    def shell_command(self, cid: str) -> list[str]:
        import docker.errors

        info = self.inspect_container(cid)
        name = (info.get("Name") or cid[:12]).lstrip("/")
        if not info["State"].get("Running") or info["State"].get("Paused"):
            raise TuidockError(f"container {name} is not running")
        wanted = [s for s in (os.environ.get("TUIDOCK_SHELL", "").strip(),) if s]
        candidates = wanted + [s for s in SHELLS if s not in wanted]
        api = self.api()
        for path in candidates:
            try:
                # The archive endpoint stats the path (symlinks as links) without an exec.
                with api_errors(self.location):
                    stream, _stat = api.get_archive(info["Id"], path)
                    stream.close()
            except NotFound:
                continue
            except docker.errors.DockerException:
                continue
            return [*exec_argv(self.endpoint), info["Id"], path]
        raise TuidockError(
            f"no shell in container {name}: none of {', '.join(candidates)} is an executable file",
            hint="Run a command in it instead: docker exec -it CONTAINER COMMAND",
        )

    def attach(self, cid: str) -> DockerAttach:
        from tuidock.backends.dockerattach import DockerAttach, SdkAttachOps

        return DockerAttach.open(SdkAttachOps(self), cid)

    def attach_command(self, cid: str) -> list[str]:
        from tuidock.backends.attachrelay import relay_argv

        return relay_argv([*endpoint_args(self.endpoint)], cid)

    # -- live data ---------------------------------------------------------------------

    def stats_sampler(self, io: bool = False) -> EngineStats:
        return EngineStats(self)  # the I/O counters come in the same answers

    def follow_events(self, since_ns: int | None = None) -> DockerEvents:
        return DockerEvents(self, since_ns)

    def follow_log(self, cid: str, since: str = "", tail: int | None = None) -> DockerLogs:
        return DockerLogs(self, cid, since=since, tail=tail)

    def follow_all_logs(self, since: str = "", tail: int | None = None) -> DockerAllLogs:
        return DockerAllLogs(self, since, tail)


def exec_argv(endpoint: Endpoint) -> list[str]:
    """`python -m tuidock.backends.dockerexec [TLS flags] HOST`: add CONTAINER and CMD."""
    return [sys.executable, "-m", "tuidock.backends.dockerexec", *endpoint_args(endpoint)]


def endpoint_args(endpoint: Endpoint) -> list[str]:
    """`[TLS flags] HOST`: the endpoint on the command line of a session program."""
    argv: list[str] = []
    tls = endpoint.tls
    if tls is not None:
        argv.append("--tlsverify" if tls.verify else "--tls")
        for flag, value in (
            ("--tlscacert", tls.ca),
            ("--tlscert", tls.cert),
            ("--tlskey", tls.key),
        ):
            if value:
                argv += [flag, value]
    return [*argv, endpoint.host]
