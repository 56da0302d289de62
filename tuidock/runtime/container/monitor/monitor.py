"""The per-container monitor: one small process per running container.

Started by `containers.start` through monitorlaunch (exec'd as
`python -I -S -c <boot> ...` from a threaded caller such as the UI, forked
from a single-threaded one such as the CLI, or pre-started by `run`), or by
hand as `python -m tuidock.runtime.container.monitor.monitor <container dir> <status fd>
<attach fd|-> <socket path>`. It ends up double-forked (fork, setsid, fork),
nobody's child, so it outlives the CLI or the UI that started it, names
itself `tdmon-<ID prefix>`, works in its container's directory, and then,
single-threaded, in one selectors loop:

- creates the cgroup and the stdio pipes, calls isolation.spawn() (which
  gives a PTY master with -t), and reports one JSON line on the status fd:
  {"ok": true, "pid": N} or {"error": "...", "exit_code": 125|126|127,
  "monitor": PID, "monitor_start": T}; on a failure everything is cleaned up
  *before* the report and the monitor exits right after it, and the caller
  waits for that exit, so it never returns while a half-started container or
  its monitor is still around;
- copies the container's output to the log file (ctrlog) and to attached
  clients, and client input to the container (attach.py has the protocol);
- reaps PID 1, records ExitCode (128+n for a signal), OOMKilled and
  FinishedAt, destroys the cgroup, applies the restart policy (a stop or a
  fatal kill recorded ManuallyStopped first, so it never restarts), honours
  --rm, tells the clients, removes its socket and exits.

The isolation code sets PDEATHSIG=SIGKILL in the container's PID 1: a
monitor killed with SIGKILL takes the container down, and the next reader of
the state reconciles it (containerstore). The monitor holds no lock while it
waits. Its own errors go to <container dir>/monitor.log.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gc
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time
from pathlib import Path

from tuidock.core import trace
from tuidock.core.spec import ContainerSpec
from tuidock.core.status import ContainerStatus
from tuidock.errors import NotFound
from tuidock.runtime.container.logs import LogWriter
from tuidock.runtime.container.monitor import protocol as proto
from tuidock.runtime.container.monitor.server import AttachServer, Client
from tuidock.runtime.linux.procwatch import proc_start_time
from tuidock.runtime.store import events
from tuidock.runtime.store.containers import ContainerStore, now_rfc3339
from tuidock.runtime.store.ctrlayout import ContainerDir

# After PID 1 exits its namespace dies and the pipes close at once; this
# bounds the wait for their EOF should something else hold them.
DRAIN_TIMEOUT = 2.0
# Docker's restart backoff: 100 ms doubling up to a minute, reset after 10 s of running.
BACKOFF_START, BACKOFF_MAX, BACKOFF_RESET_AFTER = 0.1, 60.0, 10.0
# How often a waiting monitor looks at state.json for a stop request.
STATE_POLL = 0.1
_FATAL_START = 125


class Monitor:
    def __init__(self, cdir: str, status_fd: int, attach_fd: int | None, sock_path: str) -> None:
        self.cdir = cdir
        self.files = ContainerDir(cdir)
        self.cid = os.path.basename(cdir.rstrip("/"))
        self.store = ContainerStore(Path(cdir).absolute().parent.parent)
        self.status_fd: int | None = status_fd
        self.attach_fd = attach_fd
        self.sock_path = sock_path
        self.sel = selectors.DefaultSelector()
        self.server = AttachServer(self.sel, sock_path, self._on_frame, self._on_pressure, self.log)
        self.outputs: dict[int, str] = {}  # fd -> "stdout" | "stderr"
        self.paused_outputs = False
        self.stdin_fd: int | None = None
        self.stdin_buf = bytearray()
        self.stdin_close_wanted = False
        self.pty: int | None = None
        self.pid = 0
        self.wait_status: int | None = None
        self.winsize: tuple[int, int] | None = None
        self.terminate = False
        self.cgroup = None
        self.logw: LogWriter | None = None
        self.net = None  # network.endpoint.Attachment on the bridge

    # -- bookkeeping ---------------------------------------------------------------

    def log(self, msg: str) -> None:
        with contextlib.suppress(OSError), open(self.files.monitor_log, "a") as f:
            f.write(f"{now_rfc3339()} monitor[{os.getpid()}] {msg}\n")

    def report(self, obj: dict) -> None:
        if self.status_fd is None:
            return
        with contextlib.suppress(OSError):
            os.write(self.status_fd, (json.dumps(obj) + "\n").encode())
        with contextlib.suppress(OSError):
            os.close(self.status_fd)
        self.status_fd = None

    def update_state(self, **fields: object) -> dict | None:
        try:
            return self.store.update_state(self.cid, lambda s: s.update(fields))
        except NotFound:
            # Removed under us (rm -f races the exit): nothing left to record.
            return None

    # -- main ------------------------------------------------------------------------

    def run(self) -> None:
        trace.mark("monitor: serving")
        with open(self.files.config, "rb") as f:
            self.config = json.load(f)
        self.spec = ContainerSpec.load(Path(self.files.spec))
        me = os.getpid()
        self.pidns_fd = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        self.update_state(
            MonitorPid=me,
            MonitorStartTime=proc_start_time(me),
            AttachSocket=self.sock_path,
            ManuallyStopped=False,
        )
        self._setup_signals()
        self.server.listen()
        if self.attach_fd is not None:
            # The caller's own end: it gets output from the first byte on.
            first_client = self.server.add(socket.socket(fileno=self.attach_fd))
            first_client.stdout = first_client.stderr = True
        self.logw = LogWriter(self.cdir)
        if not self._network_up():
            return
        events.record_mounts(self.store.root, self.cid, self.config)
        first = True
        delay = BACKOFF_START
        while True:
            started = time.monotonic()
            error = self._start(first)
            if error is not None:
                if first:
                    self._fail_first_start(*error)
                    return
                exit_code = error[1]
                self.log(f"restart failed: {error[0]}")
            else:
                if first and not gc.isenabled():
                    # Started with the GC off (fast imports); this process may live
                    # for months, so from here on it collects.
                    gc.freeze()
                    gc.enable()
                if first:
                    self._import_exit_path()
                first = False
                self._serve_until_exit()
                exit_code = self._exit_code()
                trace.mark("monitor: container exited")
            oom = self._teardown_cgroup()
            if time.monotonic() - started >= BACKOFF_RESET_AFTER:
                delay = BACKOFF_START
            restart = self._record_exit(exit_code, oom, error[0] if error else "")
            events.record_exit(self.store.root, self.cid, self.config, exit_code, oom)
            last = not restart and self._done_at_exit()
            if last:
                # No new client from here on, and the socket's path is free for
                # the next start the moment the client below has its answer.
                self.server.close_listener()
            self.server.broadcast(
                proto.json_frame(
                    proto.EXIT,
                    {
                        "ExitCode": exit_code,
                        "OOMKilled": oom,
                        "Restarting": restart,
                        "Removed": False,
                        "Error": error[0] if error else "",
                        "Last": last,
                    },
                )
            )
            trace.mark("monitor: exit sent")
            if not restart or not self._backoff(delay):
                break
            delay = min(delay * 2, BACKOFF_MAX)
            with contextlib.suppress(NotFound):
                self.store.update_state(
                    self.cid, lambda s: s.update(RestartCount=s["RestartCount"] + 1)
                )
        self._finish(exit_code, oom)

    # -- starting ----------------------------------------------------------------------

    def _start(self, first: bool) -> tuple[str, int] | None:
        """Create the cgroup and the process; (message, exit code) on failure."""
        from tuidock.errors import TuidockError
        from tuidock.runtime.container.init.spawn import spawn
        from tuidock.runtime.linux import syscalls as sc
        from tuidock.runtime.linux.cgroups import ContainerCgroup

        child_ends: list[int] = []
        try:
            self.cgroup = ContainerCgroup.create(self.cid, self.spec.limits)
            stdio = None
            if not self.spec.terminal:
                if self.spec.stdin:
                    r, w = os.pipe2(os.O_CLOEXEC)
                    self.stdin_fd = w
                else:
                    r = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
                out_r, out_w = os.pipe2(os.O_CLOEXEC)
                err_r, err_w = os.pipe2(os.O_CLOEXEC)
                child_ends = [r, out_w, err_w]
                stdio = (r, out_w, err_w)
                self._add_output(out_r, "stdout")
                self._add_output(err_r, "stderr")
            if not first:
                # spawn() moved our future children into the last container's pid
                # namespace (dead now); our own namespace is allowed back in.
                sc.setns(self.pidns_fd, sc.CLONE_NEWPID)
            trace.mark("monitor: cgroup made")
            spawned = spawn(self.spec, self.cgroup, stdio)
            trace.mark("monitor: spawned")
        except Exception as exc:
            for fd in child_ends:
                os.close(fd)
            self._close_container_fds()
            if self.cgroup is not None:
                with contextlib.suppress(Exception):
                    self.cgroup.destroy()
                self.cgroup = None
            if isinstance(exc, TuidockError):
                code = getattr(exc, "exit_code", _FATAL_START)
                code = code if code in (126, 127) else _FATAL_START
                return exc.message, code
            self.log("spawn failed:\n" + _traceback())
            return f"cannot start container: {type(exc).__name__}: {exc}", _FATAL_START
        for fd in child_ends:
            os.close(fd)
        self.pid = spawned.pid
        self.wait_status = None
        if spawned.pty_master is not None:
            self.pty = spawned.pty_master
            os.set_blocking(self.pty, False)
            self._add_output(self.pty, "stdout")
            if self.winsize:
                self._resize(*self.winsize)
        if self.stdin_fd is not None:
            os.set_blocking(self.stdin_fd, False)
        self.update_state(
            Status=ContainerStatus.RUNNING,
            Running=True,
            Paused=False,
            Restarting=False,
            OOMKilled=False,
            Dead=False,
            Pid=self.pid,
            PidStartTime=proc_start_time(self.pid),
            ExitCode=0,
            PendingExitCode=None,
            Error="",
            StartedAt=now_rfc3339(),
        )
        events.record_container(self.store.root, "start", self.cid, self.config)
        if first:
            self.report({"ok": True, "pid": self.pid})
        self.server.broadcast(proto.json_frame(proto.STARTED, {"Pid": self.pid}))
        return None

    # -- the container's network endpoint --------------------------------------

    def _network_up(self) -> bool:
        """Bring the bridge endpoint up once, before the first start (restarts reuse it)."""
        if not os.path.exists(self.files.network):
            return True  # none, host: nothing to set up
        from tuidock.runtime.network.endpoint import Attachment

        self.net = Attachment(self.cdir, self.cid)
        try:
            self.net.up()
        except Exception as exc:
            self.log("network setup failed:\n" + _traceback())
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            self._fail_first_start(f"cannot set up the network: {message}", _FATAL_START)
            return False
        return True

    def _network_down(self, removed: bool) -> None:
        """Tear the endpoint down; give the address back if the container is gone."""
        if self.net is not None:
            try:
                from tuidock.runtime.linux import syscalls as sc

                # The NAT update (nat.py) runs `nft`: a fork into the container's pid
                # namespace fails (ENOMEM) once its PID 1 is gone; fork into ours.
                with contextlib.suppress(OSError):
                    sc.setns(self.pidns_fd, sc.CLONE_NEWPID)
                self.net.down()
            except Exception:
                self.log("network teardown failed (reconciled later):\n" + _traceback())
            self.net = None
        if removed and os.path.exists(os.path.join(self.store.root, "networks")):
            from tuidock.runtime.network import endpoint

            with contextlib.suppress(Exception):
                endpoint.release(self.store.root, self.cid)

    def _import_exit_path(self) -> None:
        """Import now what the exit path imports lazily (--rm, volumes, endpoints).

        A monitor lives as long as its container, across upgrades of the
        package under it: a module it first imports at the exit may have moved
        or changed by then. Importing them while the container runs, after
        the caller has its answer, pins the code this monitor started with.
        """
        from tuidock.runtime.linux import syscalls

        del syscalls
        if self.config.get("Mounts"):
            from tuidock.runtime.store import volumes

            del volumes
        if os.path.exists(os.path.join(self.store.root, "networks")):
            from tuidock.runtime.network import endpoint

            del endpoint

    def _auto_remove(self) -> None:
        """--rm: the container goes, and its anonymous volumes with it (as Docker)."""
        self.store.remove_dir(self.cid)
        events.record_container(self.store.root, "destroy", self.cid, self.config)
        mounts = self.config.get("Mounts") or []
        if mounts:
            from tuidock.runtime.store.volumes import VolumeStore

            with contextlib.suppress(Exception):
                VolumeStore(self.store.root).remove_anonymous(mounts)

    def _fail_first_start(self, message: str, exit_code: int) -> None:
        auto_remove = self.config.get("HostConfig", {}).get("AutoRemove")
        events.record_container(self.store.root, "die", self.cid, self.config, exitCode=exit_code)
        self._network_down(removed=bool(auto_remove))
        if self.logw:
            self.logw.close()
            self.logw = None
        if auto_remove:
            self._auto_remove()
        else:
            self.update_state(
                ExitCode=exit_code,
                Error=message,
                MonitorPid=0,
                MonitorStartTime=None,
                AttachSocket="",
            )
        self.server.close_listener()
        self.server.close_all(timeout=0)
        self.report({"error": message, "exit_code": exit_code, **_whoami()})

    # -- the loop ---------------------------------------------------------------------

    def _serve_until_exit(self) -> None:
        drain_deadline = None
        while True:
            if self.wait_status is not None:
                if not self.outputs:
                    break
                if drain_deadline is None:
                    drain_deadline = time.monotonic() + DRAIN_TIMEOUT
                elif time.monotonic() >= drain_deadline:
                    self.log("output still open after PID 1 exited; closing it")
                    break
            timeout = self.logw.next_deadline() if self.logw else None
            if drain_deadline is not None:
                left = max(0.0, drain_deadline - time.monotonic())
                timeout = left if timeout is None else min(timeout, left)
            self._poll(timeout)
        self._close_container_fds()
        if self.logw:
            self.logw.flush_partial(force=True)

    def _poll(self, timeout: float | None) -> None:
        for key, mask in self.sel.select(timeout):
            kind = key.data
            fd = key.fd
            if kind == "wakeup":
                self._on_wakeup()
            elif kind == "listener":
                self.server.accept()
            elif kind == "output":
                if mask & selectors.EVENT_WRITE:
                    self._flush_stdin()  # the PTY master takes input too
                if mask & selectors.EVENT_READ and fd in self.outputs:
                    self._on_output(fd)
            elif kind == "stdin":
                self._flush_stdin()
            elif kind == "client":
                self.server.ready(fd, mask)
        if self.logw:
            self.logw.flush_partial()

    def _on_wakeup(self) -> None:
        with contextlib.suppress(OSError):
            os.read(self.wakeup_r, 512)
        if self.terminate and self.pid and self.wait_status is None:
            # Asked to go away (SIGTERM, e.g. at shutdown): take the container with us,
            # recorded as a stop so no restart follows.
            self.terminate = False
            with contextlib.suppress(Exception):
                self.update_state(ManuallyStopped=True)
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
        while self.pid and self.wait_status is None:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid == self.pid:
                self.wait_status = status
                # Kept in state at once: should the monitor die while it cleans
                # up, the reconciling reader still finds the real exit code.
                with contextlib.suppress(Exception):
                    self.update_state(PendingExitCode=self._exit_code())

    def _exit_code(self) -> int:
        if self.wait_status is None:
            return 255
        code = os.waitstatus_to_exitcode(self.wait_status)
        return 128 - code if code < 0 else code

    # -- container output and input ----------------------------------------------------

    def _add_output(self, fd: int, stream: str) -> None:
        os.set_blocking(fd, False)
        self.outputs[fd] = stream
        if not self.paused_outputs:
            self._register_output(fd)

    def _register_output(self, fd: int) -> None:
        # The PTY master is also where input goes: ask for writability while input waits.
        want_write = fd == self.pty and bool(self.stdin_buf)
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if want_write else 0)
        self.sel.register(fd, events, "output")

    def _on_output(self, fd: int) -> None:
        stream = self.outputs[fd]
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError as exc:
            # EIO: every holder of the PTY's slave side is gone.
            if exc.errno != errno.EIO:
                self.log(f"reading {stream}: {exc}")
            data = b""
        if not data:
            self._drop_output(fd)
            return
        if self.logw:
            self.logw.write(stream, data)
        kind = proto.STDOUT if stream == "stdout" else proto.STDERR
        self.server.broadcast(proto.frame(kind, data), stream)

    def _drop_output(self, fd: int) -> None:
        self.outputs.pop(fd, None)
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(fd)
        if fd == self.pty:
            return  # closed with the rest in _close_container_fds
        os.close(fd)

    def _close_container_fds(self) -> None:
        for fd in list(self.outputs):
            self._drop_output(fd)
        if self.pty is not None:
            with contextlib.suppress(OSError):
                os.close(self.pty)
            self.pty = None
        self._close_stdin()
        self.stdin_close_wanted = False

    def _close_stdin(self) -> None:
        if self.stdin_fd is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(self.stdin_fd)
            os.close(self.stdin_fd)
            self.stdin_fd = None
        self.stdin_buf.clear()

    def _queue_stdin(self, data: bytes) -> None:
        target = self.pty if self.pty is not None else self.stdin_fd
        if target is None or self.wait_status is not None:
            return
        was_empty = not self.stdin_buf
        self.stdin_buf += data
        if was_empty:
            self._flush_stdin()

    def _flush_stdin(self) -> None:
        target = self.pty if self.pty is not None else self.stdin_fd
        if target is None:
            self.stdin_buf.clear()
            return
        while self.stdin_buf:
            try:
                n = os.write(target, self.stdin_buf)
            except BlockingIOError:
                break
            except OSError:
                # The container closed its stdin (EPIPE) or ended: drop what is queued.
                self.stdin_buf.clear()
                if target == self.stdin_fd:
                    self._close_stdin()
                return
            del self.stdin_buf[:n]
        if target == self.pty:
            # The PTY master is registered as an output: ask for writability on the same key.
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.stdin_buf else 0)
            with contextlib.suppress(KeyError, ValueError):
                self.sel.modify(target, events, "output")
            return
        if self.stdin_buf:
            try:
                self.sel.register(target, selectors.EVENT_WRITE, "stdin")
            except KeyError:
                pass
        else:
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(target)
            if self.stdin_close_wanted:
                self._close_stdin()

    def _resize(self, rows: int, cols: int) -> None:
        self.winsize = (rows, cols)
        if self.pty is not None:
            with contextlib.suppress(OSError):
                fcntl.ioctl(self.pty, _TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    # -- attach clients -------------------------------------------------------------------

    def _on_frame(self, client: Client, kind: bytes, payload: bytes) -> None:
        if kind == proto.STDIN and client.stdin:
            self._queue_stdin(payload)
        elif kind == proto.STDIN_CLOSE and client.stdin and self.pty is None:
            self.stdin_close_wanted = True
            if not self.stdin_buf:
                self._close_stdin()
        elif kind == proto.RESIZE and len(payload) == 4:
            self._resize(*struct.unpack(">HH", payload))
        elif kind == proto.SIGNAL and len(payload) == 4:
            (signum,) = struct.unpack(">I", payload)
            if self.pid and self.wait_status is None:
                with contextlib.suppress(OSError, ValueError):
                    os.kill(self.pid, signum)

    def _on_pressure(self, full: bool) -> None:
        """A client lags too far behind: stop reading the container's output (and resume)."""
        self.paused_outputs = full
        for fd in self.outputs:
            if full:
                with contextlib.suppress(KeyError, ValueError):
                    self.sel.unregister(fd)
            else:
                self._register_output(fd)

    # -- the end -----------------------------------------------------------------------------

    def _teardown_cgroup(self) -> bool:
        oom = False
        if self.cgroup is not None:
            with contextlib.suppress(Exception):
                oom = bool(self.cgroup.oom_killed())
            try:
                self.cgroup.destroy()
            except Exception:
                self.log("destroying the cgroup:\n" + _traceback())
            self.cgroup = None
        return oom

    def _restart_wanted(self, exit_code: int, state: dict) -> bool:
        policy = self.config.get("HostConfig", {}).get("RestartPolicy") or {}
        name = policy.get("Name") or "no"
        if state.get("ManuallyStopped") or name == "no":
            return False
        if name in ("always", "unless-stopped"):
            return True
        if name == "on-failure":
            limit = int(policy.get("MaximumRetryCount") or 0)
            return exit_code != 0 and (limit == 0 or state["RestartCount"] < limit)
        return False

    def _record_exit(self, exit_code: int, oom: bool, error: str) -> bool:
        restart = False

        def change(state: dict) -> None:
            nonlocal restart
            restart = self._restart_wanted(exit_code, state)
            state.update(
                Status=ContainerStatus.RESTARTING if restart else ContainerStatus.EXITED,
                Running=False,
                Paused=False,
                Restarting=restart,
                OOMKilled=oom,
                Pid=0,
                PidStartTime=None,
                ExitCode=exit_code,
                PendingExitCode=None,
                Error=error,
                FinishedAt=now_rfc3339(),
            )
            if not restart:
                state.update(MonitorPid=0, MonitorStartTime=None, AttachSocket="")

        try:
            self.store.update_state(self.cid, change)
        except NotFound:
            restart = False  # removed under us (rm -f): nothing to record, nothing to restart
        self.pid = 0
        return restart

    def _backoff(self, delay: float) -> bool:
        """Wait before a restart, serving clients; False if a stop came meanwhile."""
        deadline = time.monotonic() + delay
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            self._poll(min(left, STATE_POLL))
            if self.terminate or self._stop_requested():
                return False

    def _stop_requested(self) -> bool:
        try:
            return bool(self.store.state(self.cid, False).get("ManuallyStopped"))
        except NotFound:
            return True

    def _done_at_exit(self) -> bool:
        """Whether, once the exit is recorded, nothing is left that another
        command could see: no --rm removal, no network endpoint to take down.
        Then the exit frame is the last word and an attached client may go."""
        return self.net is None and not self.config.get("HostConfig", {}).get("AutoRemove")

    def _finish(self, exit_code: int, oom: bool) -> None:
        removed = False
        try:
            status = self.store.state(self.cid, False)["Status"]
        except NotFound:
            status, removed = None, True
        if status == ContainerStatus.RESTARTING:
            # Stopped during the backoff: settle as exited.
            self.update_state(
                Status=ContainerStatus.EXITED,
                Restarting=False,
                MonitorPid=0,
                MonitorStartTime=None,
                AttachSocket="",
            )
        if not removed and self.config.get("HostConfig", {}).get("AutoRemove"):
            if self.logw:
                self.logw.close()
                self.logw = None
            self._auto_remove()
            trace.mark("monitor: removed")
            removed = True
        self._network_down(removed)
        self.server.close_listener()
        if removed:
            self.server.broadcast(
                proto.json_frame(
                    proto.EXIT,
                    {
                        "ExitCode": exit_code,
                        "OOMKilled": oom,
                        "Restarting": False,
                        "Removed": True,
                        "Error": "",
                        "Last": True,
                    },
                )
            )
        self.server.close_all()
        if self.logw:
            self.logw.close()

    # -- signals ----------------------------------------------------------------------------

    def _setup_signals(self) -> None:
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.wakeup_r = r
        signal.set_wakeup_fd(w)
        self.sel.register(r, selectors.EVENT_READ, "wakeup")

        def on_term(signum: int, frame: object) -> None:
            self.terminate = True

        signal.signal(signal.SIGCHLD, lambda s, f: None)
        signal.signal(signal.SIGTERM, on_term)
        # The session is ours alone, but a stray SIGHUP/SIGINT must not end the monitor.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)


_TIOCSWINSZ = 0x5414


def _traceback() -> str:
    import traceback  # only on errors: it costs ~5 ms to import

    return traceback.format_exc()


def detach() -> None:
    """The second half of the double fork: a new session (unless this process
    already leads one, as after Popen's start_new_session), then a fork whose
    child, not a session leader, can never acquire a terminal; init adopts it."""
    try:
        os.setsid()
    except PermissionError:
        pass  # already a session leader
    if os.fork() > 0:
        os._exit(0)


def _whoami() -> dict:
    """What a failure report carries so that the starter can wait for our exit."""
    pid = os.getpid()
    return {"monitor": pid, "monitor_start": proc_start_time(pid)}


def serve(cdir: str, status_fd: int, attach_fd: int | None, sock_path: str) -> None:
    """Be the monitor of the container in `cdir` (after `detach`); never returns.

    It names itself `tdmon-<ID prefix>` (what ps and top show) and works in its
    container's directory, so `ls -l /proc/PID/cwd` tells which container it
    watches even when it was forked from the CLI and has the CLI's command line.
    """
    os.chdir(cdir)
    with contextlib.suppress(OSError), open("/proc/self/comm", "w") as f:
        f.write("tdmon-" + os.path.basename(cdir.rstrip("/"))[:9])
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    # Passed in inheritable (pass_fds, SCM_RIGHTS): keep them out of the container.
    os.set_inheritable(status_fd, False)
    if attach_fd is not None:
        os.set_inheritable(attach_fd, False)
    mon = Monitor(cdir, status_fd, attach_fd, sock_path)
    try:
        mon.run()
    except BaseException as exc:  # the monitor must never die silently
        mon.log("fatal:\n" + _traceback())
        mon.report(
            {"error": f"container monitor failed: {exc}", "exit_code": _FATAL_START, **_whoami()}
        )
        os._exit(1)
    os._exit(0)


def main(argv: list[str] | None = None) -> None:
    """`python -m tuidock.runtime.container.monitor.monitor <container dir> <status fd> <attach fd|-> <socket>`."""
    args = sys.argv[1:] if argv is None else argv
    cdir, status_fd, attach_arg, sock_path = args[0], int(args[1]), args[2], args[3]
    detach()
    serve(cdir, status_fd, None if attach_arg == "-" else int(attach_arg), sock_path)


def preload() -> None:
    """Import what starting a container needs (a pre-started monitor does this early)."""
    from tuidock.runtime.container.init import spawn as isolation
    from tuidock.runtime.linux import cgroups, syscalls

    syscalls.libc()  # resolves the C library now, not on the start's critical path
    del cgroups, isolation
    # a bridge container's monitor needs pyroute2 (~0.13 s): load it now.
    net = sys.modules.get("tuidock.runtime.network")
    if net is not None and getattr(net, "PRELOAD", False):
        from tuidock.runtime.network import links

        del links


if __name__ == "__main__":
    main()
