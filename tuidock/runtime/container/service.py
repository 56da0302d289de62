"""Container lifecycle: start, stop, kill, restart, pause, rename, rm, prune, wait, logs, ps, inspect...

The Engine delegates its container methods here; creation is in create.py.
Every operation works on the on-disk state (store/containers.py) and talks to a container's monitor only
through its pid (signals, via pidfd) and its attach socket; nothing here
waits with a lock held.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from tuidock.core import trace
from tuidock.core.flagvalues import signal_number
from tuidock.core.status import ContainerStatus
from tuidock.errors import Conflict, NotFound, TuidockError
from tuidock.runtime.container.monitor import protocol as proto
from tuidock.runtime.container.views import (
    ContainerInfo,
    command_line,
    inspect_document,
    matches,
    ps_rows,
)
from tuidock.runtime.linux.procwatch import ProcHandle
from tuidock.runtime.store import events, paths
from tuidock.runtime.store.containers import (
    ZERO_TIME,
    ContainerStore,
    container_cgroup,
    destroy_cgroup,
)

TYPE_CHECKING = False  # typing itself costs ~2 ms of a CLI start
if TYPE_CHECKING:
    from tuidock.core.prunefilter import PruneFilter
    from tuidock.runtime.container.logs import LogEntry
    from tuidock.runtime.container.monitor.launch import Prestarted
    from tuidock.runtime.container.options import CreateOptions
    from tuidock.runtime.image.service import ImageService

START_TIMEOUT = 30.0
MONITOR_EXIT_TIMEOUT = 5.0  # a failed monitor only has to exit; bounded all the same
DEFAULT_STOP_TIMEOUT = 10
# After SIGKILL a container is gone in milliseconds; this only bounds a wedged monitor.
KILL_WAIT = 10.0
# A stop timeout longer than this (136 years) waits forever, as -1 does.
FOREVER_S = 1 << 32


class StartError(TuidockError):
    """The container could not start; exit_code is 125, 126 or 127 as Docker's."""

    def __init__(self, message: str, exit_code: int = 125, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.exit_code = exit_code


class Containers:
    def __init__(self, images: ImageService) -> None:
        self.images = images
        self.root = images.root
        self.store = ContainerStore(images.root)

    def resolve(self, ref: str) -> str:
        return self.store.resolve(ref)

    # -- create -----------------------------------------------------------------------

    def create(self, opts: CreateOptions) -> tuple[str, list[str]]:
        """Make a container (not started); returns its ID and warnings (see create.py)."""
        from tuidock.runtime.container import create

        return create.create(self.images, self.store, opts)

    # -- start ---------------------------------------------------------------------------

    def run(
        self, opts: CreateOptions, attach: bool = False
    ) -> tuple[str, proto.AttachClient | None, list[str]]:
        """create + start; the monitor is forked first, to load while we create."""
        from tuidock.runtime.container.monitor.launch import Prestarted
        from tuidock.runtime.container.options import on_bridge

        if on_bridge(opts.network):  # see network.PRELOAD
            from tuidock.runtime import network

            network.PRELOAD = True
        with Prestarted() as monitor:
            cid, warnings = self.create(opts)
            trace.mark("cli: created")
            _, client = self.start(cid, attach=attach, stdin=opts.stdin, prestarted=monitor)
        return cid, client, warnings

    def start(
        self,
        ref: str,
        attach: bool = False,
        stdin: bool = False,
        prestarted: Prestarted | None = None,
    ) -> tuple[str, proto.AttachClient | None]:
        """Start a container; with `attach`, also a client that sees its output from byte one.

        A container that is already running is left alone (attached to, if asked).
        """
        cid = self.store.resolve(ref)
        with self.store.op_lock(cid):
            state = self.store.state(cid)
            if ContainerStatus.of(state).is_active:
                return cid, self.attach(cid, stdin=stdin) if attach else None
            return cid, self._launch(cid, attach, stdin, prestarted)

    def _launch(
        self, cid: str, attach: bool, stdin: bool, prestarted: Prestarted | None
    ) -> proto.AttachClient | None:
        from tuidock.runtime.container.monitor.launch import start_monitor

        cdir = self.store.path(cid)
        sock_path = proto.socket_path(str(paths.runtime_dir()), cid)
        status_r, status_w = os.pipe()
        ours = theirs = None
        if attach:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            events.record_container(self.root, "attach", cid)
        try:
            start_monitor(
                str(cdir), status_w, theirs.fileno() if theirs else None, sock_path, prestarted
            )
        except BaseException:
            os.close(status_r)
            if ours:
                ours.close()
            raise
        finally:
            os.close(status_w)
            if theirs:
                theirs.close()
        trace.mark("cli: monitor handed off")
        client = None
        if ours is not None:
            client = proto.AttachClient(ours)
            client.hello(stdin=stdin)
        try:
            line = _read_status(status_r, START_TIMEOUT)
        finally:
            os.close(status_r)
        trace.mark("cli: start reported")
        if line is None or line == "timeout":
            if client:
                client.close()
            self._abandoned_start(cid, timed_out=line == "timeout")
        try:
            status = json.loads(line)  # type: ignore[arg-type]
        except ValueError:
            status = {"error": f"container monitor said {line!r}", "exit_code": 125}
        if not status.get("ok"):
            if client:
                client.close()
            if status.get("monitor"):
                # It exits right after the report: be gone before we return.
                with ProcHandle(status["monitor"], status.get("monitor_start")) as mon:
                    mon.wait(MONITOR_EXIT_TIMEOUT)
            code = int(status.get("exit_code") or 125)
            raise StartError(status.get("error") or "cannot start container", code)
        return client

    def _abandoned_start(self, cid: str, timed_out: bool) -> None:
        """The monitor died (or hung) before it reported: clean up, then raise."""
        state = self.store.state(cid, reconcile=False)
        ProcHandle(state["MonitorPid"], state["MonitorStartTime"]).send(signal.SIGKILL)
        time.sleep(0.05)
        destroy_cgroup(cid)
        config = self.store.read_config(cid)
        why = (
            f"the container did not start within {START_TIMEOUT:.0f} s"
            if timed_out
            else "the container monitor exited before starting the container"
        )
        if config["HostConfig"].get("AutoRemove"):
            self.store.remove_dir(cid)
            hint = None
        else:
            self.store.update_state(
                cid,
                lambda s: s.update(
                    Status=ContainerStatus.CREATED
                    if s["StartedAt"] == ZERO_TIME
                    else ContainerStatus.EXITED,
                    Running=False,
                    Paused=False,
                    Restarting=False,
                    Pid=0,
                    MonitorPid=0,
                    MonitorStartTime=None,
                    ExitCode=125,
                    Error=why,
                ),
            )
            hint = f"See {self.store.files(cid).monitor_log}."
        raise StartError(why, 125, hint)

    # -- attach ------------------------------------------------------------------------------

    def attach(
        self, ref: str, stdin: bool = False, stdout: bool = True, stderr: bool = True
    ) -> proto.AttachClient:
        """A client connected to a running container's monitor (output from now on)."""
        cid = self.store.resolve(ref)
        state = self.store.state(cid)
        if not ContainerStatus.of(state).is_active or not state.get("AttachSocket"):
            raise Conflict("You cannot attach to a stopped container, start it first")
        try:
            sock = proto.connect(state["AttachSocket"], timeout=5)
        except OSError as exc:
            raise TuidockError(f"cannot attach to container {cid[:12]}: {exc.strerror}") from None
        client = proto.AttachClient(sock)
        client.hello(stdin=stdin, stdout=stdout, stderr=stderr)
        events.record_container(self.root, "attach", cid)
        return client

    # -- stop, kill, restart -------------------------------------------------------------------

    def stop(self, ref: str, timeout: int | None = None) -> str:
        """StopSignal, then SIGKILL after `timeout` seconds (default 10; -1 waits forever)."""
        cid = self.store.resolve(ref)
        state = self.store.state(cid)
        if not ContainerStatus.of(state).can_stop:
            return cid  # as docker: stopping a stopped container is a no-op
        config = self.store.read_config(cid)
        sig = signal_number(config["Config"].get("StopSignal") or "SIGTERM")
        if timeout is None:
            timeout = config["Config"].get("StopTimeout", DEFAULT_STOP_TIMEOUT)
        # Recorded before any signal: the monitor must not restart what we stop.
        state = self.store.update_state(cid, lambda s: s.update(ManuallyStopped=True))
        events.record_container(self.root, "kill", cid, config, signal=int(sig))
        with ProcHandle(state["MonitorPid"], state["MonitorStartTime"]) as monitor:
            # Twice at most: PID 1 may have exited on its own and been restarted
            # just before our request landed; the monitor ends after that run.
            for _ in range(2):
                with ProcHandle(state["Pid"], state["PidStartTime"]) as pid1:
                    pid1.send(sig)
                    if state["Status"] == ContainerStatus.PAUSED:
                        self._thaw(cid)  # a frozen process gets the signal only once thawed
                    # select() takes no timeout past about 292 years.
                    forever = timeout < 0 or timeout > FOREVER_S
                    if not pid1.wait(None if forever else timeout):
                        events.record_container(self.root, "kill", cid, config, signal=9)
                        pid1.send(signal.SIGKILL)
                        pid1.wait(KILL_WAIT)
                if monitor.wait(KILL_WAIT):
                    break
                try:
                    state = self.store.state(cid)
                except NotFound:
                    break
                if not ContainerStatus.of(state).is_active:
                    break
        with contextlib.suppress(NotFound):
            self.store.state(cid)  # reconciles, should the monitor have died meanwhile
        events.record_container(self.root, "stop", cid, config)
        return cid

    def kill(self, ref: str, sig: str | int = "KILL") -> str:
        cid = self.store.resolve(ref)
        signum = signal_number(sig)
        state = self.store.state(cid)
        if not ContainerStatus.of(state).can_kill:
            raise Conflict(f"Cannot kill container: {ref}: Container {cid} is not running")
        config = self.store.read_config(cid)
        stop_sig = signal_number(config["Config"].get("StopSignal") or "SIGTERM")
        # As Docker: SIGKILL and the stop signal end the restart policy; others
        # (SIGHUP, SIGUSR1...) are messages to the process.
        fatal = signum in (signal.SIGKILL, stop_sig)
        if fatal:
            state = self.store.update_state(cid, lambda s: s.update(ManuallyStopped=True))
        events.record_container(self.root, "kill", cid, config, signal=int(signum))
        with ProcHandle(state["Pid"], state["PidStartTime"]) as pid1:
            if not pid1.send(signum):
                raise Conflict(f"Cannot kill container: {ref}: Container {cid} is not running")
            if state["Status"] == ContainerStatus.PAUSED and signum == signal.SIGKILL:
                self._thaw(cid)
            if signum == signal.SIGKILL:
                # Wait for the exit to be recorded, so `kill; ps` shows it exited.
                pid1.wait(KILL_WAIT)
                with ProcHandle(state["MonitorPid"], state["MonitorStartTime"]) as monitor:
                    monitor.wait(KILL_WAIT)
        return cid

    def restart(self, ref: str, timeout: int | None = None) -> str:
        cid = self.stop(ref, timeout)
        self.start(cid)
        events.record_container(self.root, "restart", cid)
        return cid

    # -- remove ---------------------------------------------------------------------------------

    def remove(self, ref: str, force: bool = False, volumes: bool = False) -> str:
        """`rm`; with `volumes` (rm -v) also the container's anonymous volumes, as Docker."""
        cid = self.store.resolve(ref)
        mounts: list[dict] = []
        if volumes:
            with contextlib.suppress(NotFound):
                mounts = self.store.read_config(cid).get("Mounts") or []
        with self.store.op_lock(cid):
            try:
                state = self.store.state(cid)
            except NotFound:
                return cid  # it was a --rm container whose monitor died: already gone
            if ContainerStatus.of(state).is_active:
                if not force:
                    name = self.store.read_config(cid)["Name"]
                    raise Conflict(
                        f'cannot remove container "{name}": container is running: stop the '
                        "container before removing or force remove",
                        "Use `tuidock rm -f` to kill and remove it.",
                    )
                self._kill_for_removal(cid, state)
            config = self.store.read_config(cid)
            destroy_cgroup(cid)
            self.store.remove_dir(cid)
            events.record_container(self.root, "destroy", cid, config)
            _release_network(self.root, cid)
        if mounts:
            from tuidock.runtime.store.volumes import VolumeStore

            VolumeStore(self.root).remove_anonymous(mounts)
        return cid

    def _kill_for_removal(self, cid: str, state: dict) -> None:
        state = self.store.update_state(cid, lambda s: s.update(ManuallyStopped=True))
        events.record_container(self.root, "kill", cid, signal=9)
        with ProcHandle(state["MonitorPid"], state["MonitorStartTime"]) as monitor:
            with ProcHandle(state["Pid"], state["PidStartTime"]) as pid1:
                pid1.send(signal.SIGKILL)
                if state["Status"] == ContainerStatus.PAUSED:
                    self._thaw(cid)
                pid1.wait(KILL_WAIT)
            if not monitor.wait(KILL_WAIT):
                monitor.send(signal.SIGKILL)
                monitor.wait(KILL_WAIT)

    def prune(self, filters: PruneFilter | None = None) -> tuple[list[str], int]:
        """Remove every container that is not running; (IDs, bytes reclaimed)."""
        removed, reclaimed = [], 0
        for cid in self.store.ids():
            try:
                if ContainerStatus.of(self.store.state(cid)).is_active:
                    continue
                if filters and not _prunable(filters, self.store.read_config(cid)):
                    continue
                size = paths.disk_usage(Path(self.store.files(cid).upper))
                with self.store.op_lock(cid):
                    if ContainerStatus.of(self.store.state(cid)).is_active:
                        continue
                    config = self.store.read_config(cid)
                    destroy_cgroup(cid)
                    self.store.remove_dir(cid)
                    events.record_container(self.root, "destroy", cid, config)
                    _release_network(self.root, cid)
            except NotFound:
                continue
            removed.append(cid)
            reclaimed += size
        return removed, reclaimed

    # -- wait --------------------------------------------------------------------------------------

    def wait(self, ref: str) -> int:
        """Block until the container stops (its next exit); its exit code."""
        cid = self.store.resolve(ref)
        last = 0
        while True:
            try:
                state = self.store.state(cid)
            except NotFound:
                return last  # removed (--rm) after it exited
            last = state["ExitCode"]
            if not ContainerStatus.of(state).is_active:
                return last
            try:
                client = proto.AttachClient(proto.connect(state["AttachSocket"], timeout=5))
            except (OSError, TypeError):
                time.sleep(0.05)
                continue
            with contextlib.closing(client):
                client.hello(stdout=False, stderr=False)
                result = client.wait_exit()
            if result is not None:
                return int(result["ExitCode"])

    # -- logs ----------------------------------------------------------------------------------------

    def logs(
        self,
        ref: str,
        follow: bool = False,
        tail: int | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> Iterator[LogEntry]:
        from tuidock.runtime.container.logs import LogTail

        cid = self.store.resolve(ref)
        reader = LogTail(str(self.store.path(cid)))

        def wanted(e: LogEntry) -> bool:
            if since is None and until is None:
                return True
            ts = e.timestamp
            return (since is None or ts >= since) and (until is None or ts <= until)

        def running() -> bool:
            try:
                return ContainerStatus.of(self.store.state(cid)).is_active
            except NotFound:
                return False

        try:
            entries = [e for e in reader.read_new() if wanted(e)]
            if tail is not None and tail >= 0:
                entries = entries[len(entries) - tail :] if tail else []
            yield from entries
            if follow:
                for entry in reader.follow(running):
                    if until is not None and entry.timestamp > until:
                        return
                    if wanted(entry):
                        yield entry
        finally:
            reader.close()

    # -- rename, pause -------------------------------------------------------------------------------

    def rename(self, ref: str, new: str) -> str:
        cid = self.store.resolve(ref)
        old = self.store.read_config(cid)["Name"].lstrip("/")
        self.store.rename(cid, new)
        events.record_container(self.root, "rename", cid, oldName=old)
        return cid

    def pause(self, ref: str, lease: bool = False) -> str:
        """`pause`; with `lease` (commit) the pause ends with this process if it is killed."""
        cid = self.store.resolve(ref)
        self.store.state(cid)  # a dead monitor or pauser is reconciled first
        self.store.pause(cid, lease=lease)
        events.record_container(self.root, "pause", cid)
        return cid

    def unpause(self, ref: str) -> str:
        cid = self.store.resolve(ref)
        state = self.store.state(cid)
        if not ContainerStatus.of(state).can_unpause:
            raise Conflict(f"Container {cid} is not paused")
        self._thaw(cid)
        events.record_container(self.root, "unpause", cid)
        return cid

    def _thaw(self, cid: str) -> None:
        with contextlib.suppress(NotFound):
            self.store.thaw(cid)

    # -- reading -----------------------------------------------------------------------------------------

    def info(self, cid: str) -> ContainerInfo:
        config = self.store.read_config(cid)
        state = self.store.state(cid)
        return ContainerInfo(
            id=cid,
            name=config["Name"].lstrip("/"),
            image=config.get("ImageName") or config.get("Image", ""),
            image_id=config.get("Image", ""),
            command=command_line(config.get("Path", ""), config.get("Args") or []),
            created=config.get("Created", ""),
            state=state,
            labels=(config.get("Config") or {}).get("Labels") or {},
            network=(config.get("HostConfig") or {}).get("NetworkMode", ""),
        )

    def list(
        self, all: bool = False, filters: dict[str, list[str]] | None = None
    ) -> list[ContainerInfo]:
        """`ps`: running containers (all with `all`), newest first, filtered as Docker's --filter."""
        filters = filters or {}
        out = []
        _reconcile_network()  # endpoints of monitors killed by SIGKILL
        for cid in self.store.ids():
            try:
                info = self.info(cid)
            except (NotFound, ValueError, KeyError):
                continue  # removed meanwhile, or half-created
            if not (all or filters.get("status") or info.status.is_active):
                continue
            if matches(info, filters):
                out.append(info)
        out.sort(key=lambda i: i.created, reverse=True)
        return out

    def inspect(self, ref: str) -> dict:
        cid = self.store.resolve(ref)
        config = self.store.read_config(cid)
        state = self.store.state(cid)
        lower = ""
        with contextlib.suppress(OSError, ValueError), open(self.store.files(cid).spec, "rb") as f:
            lower = ":".join(json.loads(f.read()).get("lower_dirs") or [])
        return inspect_document(config, state, self.store.path(cid), lower)

    def stats(self, ref: str) -> object:
        """A cgroup stats snapshot (CgroupStats) of a running container."""
        cid = self.store.resolve(ref)
        if not ContainerStatus.of(self.store.state(cid)).is_up:
            raise Conflict(f"Container {cid} is not running")
        return container_cgroup(cid).stats()

    def top(self, ref: str, ps_args: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
        """`ps` output (default `-ef`) for the container's processes: (header, rows)."""
        cid = self.store.resolve(ref)
        if not ContainerStatus.of(self.store.state(cid)).is_up:
            raise Conflict(f"Container {cid} is not running")
        return ps_rows(container_cgroup(cid).pids(), ps_args or ["-ef"])


# -- helpers ---------------------------------------------------------------------------------------


def _prunable(filters: PruneFilter, config: dict) -> bool:
    labels = (config.get("Config") or {}).get("Labels")
    return filters.allows(config.get("Created"), labels)


def _read_status(fd: int, timeout: float) -> str | None:
    """The monitor's one status line; None if it closed without one, "timeout" if none came."""
    deadline = time.monotonic() + timeout
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            return "timeout"
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            return buf.decode(errors="replace").strip() or None
        buf += chunk
    return buf.split(b"\n", 1)[0].decode(errors="replace")


def _reconcile_network() -> None:
    """Tear down endpoints whose monitor died (one stat when none ever ran)."""
    if not (paths.runtime_dir() / "net").is_dir():
        return
    from tuidock.runtime.network import endpoint

    try:
        endpoint.reconcile()
    except Exception:
        pass  # best effort: `ps` must still list containers; the next call retries


def _release_network(root: Path, cid: str) -> None:
    """After rm, the container's bridge address is free again."""
    if not (root / "networks").is_dir():
        return  # no network was ever used with this data root
    from tuidock.runtime.network import endpoint

    endpoint.release(root, cid)
