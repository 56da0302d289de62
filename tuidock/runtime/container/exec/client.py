"""`tuidock exec`: run a command in a running container.

The calling process (the CLI, single-threaded) forks a child at once,
then finds the container's PID 1, computes what the command gets (the
container's env, user and capabilities, -e/-u/-w/--privileged on top),
sends that plan to the child, moves the child into the container's
cgroups and lets it go on; the join and the exec happen in
runtime/execchild.py. The work overlaps: the child loads the syscall
layer while we read the state, and our cgroup move's grace period starts
early (see cgroupfiles.prewarm). This side hands over its stdio (or relays
it), forwards signals, and returns the command's exit code: the child
ends the way the command did.

stdio without -t: a pipe or /dev/null of ours is handed to the command as
is (the fast path: nothing to copy). Anything else is relayed through a
pipe: a terminal (the command could TIOCSTI keystrokes into the host's
shell or read the user's typing after we exit), a regular file (through
/proc/self/fd/N the container could reopen it read-write), a socket or a
directory (a host directory fd is a way out of the root, CVE-2024-21626).
Without -i the command's stdin is /dev/null; with -d everything is.

This module sits on the hot path of `tuidock exec CONTAINER true`: it
imports little, and nothing heavy before it knows it needs it.
"""

from __future__ import annotations

import gc
import os
import stat

# `signal` is `_signal` plus enum wrappers; importing enum costs exec's hot
# path ~4 ms in a plain install. The functions and numbers are the same.
try:
    import _signal as signal
except ImportError:  # not CPython
    import signal  # type: ignore[no-redef]

from tuidock.errors import TuidockError
from tuidock.runtime.container.exec import plan as ep
from tuidock.runtime.container.exec.plan import ExecError
from tuidock.runtime.linux import cgroupfiles

# Only for annotations: what reads the container's files is imported by
# the code that needs it, after the fork, while the child loads its own.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

# Character devices the container's device cgroup allows anyway.
_HARMLESS_DEVICES = frozenset(os.makedev(1, minor) for minor in (3, 5, 7, 8, 9))


class Target:
    """A running container, as exec needs it."""

    __slots__ = ("cid", "pid", "spec", "start_time")

    def __init__(self, cid: str, pid: int, start_time: int | None, spec: dict) -> None:
        self.cid = cid
        self.pid = pid  # host pid of PID 1
        self.start_time = start_time
        self.spec = spec  # containers/<id>/spec.json (runtime/spec.py's ContainerSpec, as read)


def find_container(container: str, root: str | Path | None = None) -> Target:
    """The running container `container` (name, ID or unique ID prefix) names."""
    from tuidock.core import statusrules
    from tuidock.runtime.store import execs as execstore
    from tuidock.runtime.store.ctrlayout import ContainerDir

    base = os.fspath(root) if root else execstore.data_root()
    try:
        cid = execstore.resolve(base, container)
        files = ContainerDir.of(base, cid)
        state = execstore.read_json(files.state)
    except FileNotFoundError:
        raise ExecError(f"No such container: {container}") from None
    except TuidockError as e:
        raise ExecError(e.message, hint=e.hint) from None
    except (OSError, ValueError) as e:
        raise ExecError(f"cannot read the state of container {container}: {e}") from None
    # Plain strings (statusrules, not ContainerStatus): enum is not loaded here.
    status = state.get("Status")
    if status == statusrules.PAUSED and state.get("PauseOwner"):
        # Paused by a process (commit): thawed here if that process is gone.
        from pathlib import Path

        from tuidock.runtime.store.containers import ContainerStore

        try:
            state = ContainerStore(Path(base)).state(cid)
        except TuidockError as e:
            raise ExecError(e.message, hint=e.hint) from None
        status = state.get("Status")
    if status == statusrules.PAUSED:
        raise ExecError(f"container {cid} is paused, unpause the container before exec")
    if status == statusrules.RESTARTING:
        raise ExecError(f"container {cid} is restarting, wait until the container is running")
    if status not in statusrules.EXECUTABLE or not state.get("Pid"):
        raise ExecError(f"container {cid} is not running")
    try:
        spec = execstore.read_json(files.spec)
    except (OSError, ValueError) as e:
        raise ExecError(f"cannot read the spec of container {cid}: {e}") from None
    return Target(cid, int(state["Pid"]), state.get("PidStartTime"), spec)


def exec_environment(
    spec: dict, tty: bool, env: Sequence[str] = (), env_files: Sequence[str] = ()
) -> dict[str, str]:
    """Docker's order: defaults (PATH, HOSTNAME, TERM with -t), the
    container's env, then --env-file, then -e. HOME comes from the user's
    passwd entry inside the container when nothing set it."""
    out = {"PATH": ep.DEFAULT_PATH}
    if spec.get("hostname"):
        out["HOSTNAME"] = spec["hostname"]
    if tty:
        out["TERM"] = "xterm"
    for item in spec.get("env") or []:
        key, sep, value = item.partition("=")
        if key and sep:
            out[key] = value
    if env or env_files:
        from tuidock.runtime.container.options import merge_env

        merged = merge_env([f"{k}={v}" for k, v in out.items()], list(env_files), list(env))
        out = dict(item.partition("=")[::2] for item in merged)
    return out


def make_plan(
    target: Target,
    args: Sequence[str],
    *,
    env: Sequence[str] = (),
    env_files: Sequence[str] = (),
    user: str | None = None,
    cwd: str | None = None,
    tty: bool = False,
    privileged: bool = False,
    detach: bool = False,
) -> ep.Plan:
    if not args:
        raise ExecError("no command specified")
    if cwd is not None and not cwd.startswith("/"):
        raise ExecError(
            f"the working directory '{cwd}' is invalid, it needs to be an absolute path"
        )
    spec = target.spec
    return ep.Plan(
        cid=target.cid,
        pid=target.pid,
        start_time=target.start_time,
        args=list(args),
        env=exec_environment(spec, tty, env, env_files),
        user=user if user is not None else spec.get("user") or "",
        cwd=cwd or spec.get("cwd") or "/",
        # The same capabilities as PID 1 (an exec'd process is never more
        # privileged than the container), all of them with --privileged as Docker.
        cap_add=list(spec.get("cap_add") or []),
        cap_drop=list(spec.get("cap_drop") or []),
        privileged=bool(spec.get("privileged")) or privileged,
        tty=tty,
        detach=detach,
        seccomp=_seccomp_filter(target),
        no_new_privs=bool(spec.get("no_new_privs")),
    )


def _seccomp_filter(target: Target) -> bytes | None:
    # Read here, on the host: the child joins the container's mount namespace.
    path = target.spec.get("seccomp_filter") or ""
    if not path:
        return None
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ExecError(f"cannot read the seccomp filter of {target.cid}: {e.strerror}") from None


def exec_in(
    container: str | Target,
    args: Sequence[str],
    *,
    env: Sequence[str] = (),
    env_files: Sequence[str] = (),
    user: str | None = None,
    cwd: str | None = None,
    tty: bool = False,
    interactive: bool = False,
    privileged: bool = False,
    detach: bool = False,
    root: Path | None = None,
    prewarm: int = 0,
) -> int:
    """Run `args` in the running container; returns its exit code.

    Uses this process's stdin/stdout/stderr as `docker exec` does its
    terminal's. With `detach` it returns 0 once the command runs. Raises
    ExecError (exit_code 125/126/127) when the command could not be run.
    Forks: call it from a single-threaded process only (the UI runs
    `shells.shell_command()` in a PTY of its own instead). `prewarm` is
    the pid of a cgroupfiles.prewarm() helper the caller started earlier.
    """
    try:
        if not _single_threaded():
            raise ExecError(
                "exec_in() forks and must run in a single-threaded process",
                hint="From the UI, run shells.shell_command() in a PTY instead.",
            )
        if not args:
            raise ExecError("no command specified")
        if cwd is not None and not cwd.startswith("/"):
            raise ExecError(
                f"the working directory '{cwd}' is invalid, it needs to be an absolute path"
            )
    except BaseException:
        cgroupfiles.wait(prewarm)
        raise

    started: list[tuple[str, str]] = []  # (container ID, exec ID) once planned

    def prepare() -> ep.Plan:
        target = container if isinstance(container, Target) else find_container(container, root)
        plan = make_plan(
            target,
            args,
            env=env,
            env_files=env_files,
            user=user,
            cwd=cwd,
            tty=tty,
            privileged=privileged,
            detach=detach,
        )
        started.append(_record_exec_start(target.cid, args, root))
        return plan

    # The helper starts the cgroup move's grace period while we fork and plan.
    code = _Session(tty, interactive, detach, prewarm or cgroupfiles.prewarm()).run(prepare)
    if started and not detach:
        _record_exec_die(*started[0], root, code)
    return code


def _record_exec_start(cid: str, args: Sequence[str], root: Path | None) -> tuple[str, str]:
    """Docker's exec_create and exec_start events; (container ID, the new exec ID)."""
    from tuidock.runtime.store import events
    from tuidock.runtime.store import execs as execstore

    exec_id = os.urandom(32).hex()
    command = " ".join(args)
    for action in ("exec_create", "exec_start"):
        events.record_container(
            root or execstore.data_root(), f"{action}: {command}", cid, execID=exec_id
        )
    return cid, exec_id


def _record_exec_die(cid: str, exec_id: str, root: Path | None, exit_code: int) -> None:
    from tuidock.runtime.store import events
    from tuidock.runtime.store import execs as execstore

    base = root or execstore.data_root()
    events.record_container(base, "exec_die", cid, execID=exec_id, exitCode=exit_code)


def _single_threaded() -> bool:
    try:
        return len(os.listdir("/proc/self/task")) <= 1
    except OSError:
        return True


def _hand_over(fd: int) -> bool | None:
    """Whether our fd may go to the command as is; None when it is closed."""
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    if stat.S_ISFIFO(st.st_mode):
        return True
    if stat.S_ISCHR(st.st_mode):
        return st.st_rdev in _HARMLESS_DEVICES and not os.isatty(fd)
    return False


class _Session:
    """The CLI's side of one exec: fork, stdio, signals, exit code.

    The child is forked first, before the container is even looked up: it
    loads the syscall layer (ctypes, ~10 ms) while we read the container's
    state and plan, then waits for the plan on a pipe. One more byte on
    that pipe, once we have moved it into the container's cgroups, lets it
    fork the command.
    """

    def __init__(self, tty: bool, interactive: bool, detach: bool, prewarm: int) -> None:
        self.prewarm = prewarm  # pid of the cgroupfiles.prewarm() helper, 0: none
        self.tty = tty
        self.interactive = interactive
        self.detach = detach
        self.child_fd: int | None = None
        self.child_pid = 0
        self.close_after_fork: list[int] = []  # the command's ends of pipes, /dev/null
        self.parent_only: list[int] = []  # our ends: the children must not hold them
        self.relay_out: list[tuple[int, int]] = []  # (read end, our fd)
        self.relay_in: tuple[int, int] | None = None  # (our stdin, write end)
        self.stdio: tuple[int, int, int] | None = None
        self.winsize: tuple[int, int] | None = None
        self.signals: list[int] = []
        self.stop_signal = 0

    # -- stdio

    def _devnull(self) -> int:
        fd = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        self.close_after_fork.append(fd)
        return fd

    def _plan_stdio(self) -> None:
        if self.detach:
            null = self._devnull()
            self.stdio = (null, null, null)  # Docker discards a detached exec's output
            return
        if self.tty:
            if self.interactive and not os.isatty(0):
                raise ExecError("the input device is not a TTY", exit_code=1)
            self.winsize = _iorelay().terminal_size(0, 1)
            return
        fds: list[int] = []
        stdin_ok = _hand_over(0) if self.interactive else None
        if stdin_ok:
            fds.append(0)
        elif stdin_ok is False:
            r, w = os.pipe2(os.O_CLOEXEC)
            self.close_after_fork.append(r)
            self.parent_only.append(w)
            self.relay_in = (0, w)
            fds.append(r)
        else:
            fds.append(self._devnull())
        for ours in (1, 2):
            ok = _hand_over(ours)
            if ok:
                fds.append(ours)
            elif ok is None:
                fds.append(self._devnull())
            else:
                r, w = os.pipe2(os.O_CLOEXEC)
                self.close_after_fork.append(w)
                self.parent_only.append(r)
                self.relay_out.append((r, ours))
                fds.append(w)
        self.stdio = (fds[0], fds[1], fds[2])

    # -- the run

    def run(self, prepare: Callable[[], ep.Plan]) -> int:
        sock = None
        plan_w = err_r = -1
        try:
            self._plan_stdio()
            send_master = None
            if self.tty and not self.detach:
                import socket

                sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                self.close_after_fork.append(child_sock.detach())
                child_end = self.close_after_fork[-1]
                self.parent_only.append(sock.fileno())

                def send_master(fd: int, _end: int = child_end) -> None:
                    with socket.socket(fileno=os.dup(_end)) as s:
                        socket.send_fds(s, [b"m"], [fd])

            err_r, err_w = os.pipe2(os.O_CLOEXEC)
            plan_r, plan_w = os.pipe2(os.O_CLOEXEC)
            self.parent_only += [err_r, plan_w]
            # Blocked across the fork: the handlers that forward signals need
            # the child's pidfd; the child unblocks once its command exists.
            signal.pthread_sigmask(signal.SIG_BLOCK, ep.PROXIED)
            try:
                pid = os.fork()
                if pid == 0:
                    _child(plan_r, err_w, send_master, self.parent_only)
                self.child_pid = pid
                os.close(err_w)
                os.close(plan_r)
                self._close_child_ends()
                try:
                    self.child_fd = os.pidfd_open(pid)
                except OSError:
                    self.child_fd = None
                saved = self._install_handlers()
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, ep.PROXIED)
            try:
                plan_w, ours = -1, plan_w  # _prepare_child closes it
                join_error = self._prepare_child(prepare, ours)
                return self._after_fork(err_r, sock, join_error)
            finally:
                self._restore_handlers(saved)
        finally:
            cgroupfiles.wait(self.prewarm)
            self._close_child_ends()
            if sock is not None:
                sock.close()
            for fd in (self.child_fd, plan_w, err_r, *[r for r, _ in self.relay_out]):
                if fd is not None and fd >= 0:
                    _close_quietly(fd)
            if self.relay_in is not None:
                _close_quietly(self.relay_in[1])

    def _prepare_child(self, prepare: Callable[[], ep.Plan], plan_w: int) -> ExecError | None:
        """Plan, send the plan, move the child into the container's cgroups
        and let it go on; on failure stop it (a plan never sent: it exits)."""
        try:
            try:
                plan = prepare()
                plan.stdio, plan.winsize = self.stdio, self.winsize
                files = ep.cgroup_files(plan)
                _write_all(plan_w, ep.encode_plan(plan))
            except BaseException:
                self._forward(signal.SIGKILL)
                self._wait()
                raise
            finally:
                cgroupfiles.wait(self.prewarm)  # the grace period has passed: the move is quick
                self.prewarm = 0
            try:
                ep.join_cgroups(files, self.child_pid)
            except ExecError as e:
                self._forward(signal.SIGKILL)
                return e
            try:
                os.write(plan_w, b"1")
            except BrokenPipeError:
                pass  # it died already; its report says why
            return None
        finally:
            os.close(plan_w)

    def _close_child_ends(self) -> None:
        for fd in self.close_after_fork:
            _close_quietly(fd)
        self.close_after_fork = []

    def _after_fork(self, err_r: int, sock: object, join_error: ExecError | None) -> int:
        master = None
        try:
            if sock is not None:
                import socket

                assert isinstance(sock, socket.socket)
                try:
                    _msg, fds, _flags, _addr = socket.recv_fds(sock, 16, 1)
                except OSError:
                    fds = []
                master = fds[0] if fds else None
            report = _read_all(err_r)
            if report or join_error or (self.tty and not self.detach and master is None):
                code = self._wait()
                if join_error is not None and not report:
                    raise join_error
                raise _failure(report, code)
            if self.detach:
                self._wait()
                return 0
            if master is not None:
                return self._terminal_session(master)
            if self.relay_out or self.relay_in:
                self._relay(None)
            return self._wait()
        finally:
            if master is not None:
                os.close(master)

    # -- waiting and signals

    def _wait(self) -> int:
        while True:
            try:
                _, status = os.waitpid(self.child_pid, 0)
            except ChildProcessError:
                return 125
            if os.WIFSIGNALED(status):
                return 128 + os.WTERMSIG(status)
            if os.WIFEXITED(status):
                return os.WEXITSTATUS(status)

    def _install_handlers(self) -> dict[int, object]:
        saved: dict[int, object] = {}
        for sig in ep.PROXIED:
            saved[sig] = signal.signal(sig, self._on_signal)
        if self.tty:
            saved[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, self._on_signal)
        return saved

    def _restore_handlers(self, saved: dict[int, object]) -> None:
        for sig, handler in saved.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]

    def _on_signal(self, sig: int, _frame: object) -> None:
        if self.tty and sig in (signal.SIGWINCH, signal.SIGCONT, signal.SIGTERM, signal.SIGHUP):
            self.signals.append(sig)  # the terminal session handles these
            return
        self._forward(sig)

    def _forward(self, sig: int) -> None:
        try:
            if self.child_fd is not None:
                signal.pidfd_send_signal(self.child_fd, sig)
            elif self.child_pid:
                os.kill(self.child_pid, sig)
        except (ProcessLookupError, OSError):
            pass

    # -- relays

    def _relay(self, master: int | None, on_wake=None) -> None:
        io = _iorelay()
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        old_wakeup = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        try:
            relay = io.Relay(self.child_fd, wake_r, on_wake or (lambda: False))
            if master is not None:
                relay.add_output(master, 1)
                if self.interactive:
                    relay.set_input(0, master, close_at_eof=False)
            for r, ours in self.relay_out:
                relay.add_output(r, ours)
            if self.relay_in is not None:
                relay.set_input(self.relay_in[0], self.relay_in[1], close_at_eof=True)
                self.relay_in = None  # the relay closes it
            relay.run()
        finally:
            signal.set_wakeup_fd(old_wakeup)
            os.close(wake_r)
            os.close(wake_w)

    def _terminal_session(self, master: int) -> int:
        io = _iorelay()
        raw = io.RawMode(0) if self.interactive and os.isatty(0) else None

        def on_wake() -> bool:
            signals, self.signals = self.signals, []
            for sig in signals:
                if sig in (signal.SIGTERM, signal.SIGHUP):
                    # Leave: closing the master hangs the command up.
                    self.stop_signal = sig
                    return True
                if sig == signal.SIGCONT and raw is not None:
                    raw.apply()  # our shell reset the terminal while we were stopped
                size = io.terminal_size(0, 1)
                if size:
                    io.resize(master, *size)
            return False

        if raw is not None:
            raw.apply()
        try:
            self._relay(master, on_wake)
        finally:
            if raw is not None:
                raw.restore()
        if self.stop_signal:
            return 128 + self.stop_signal
        return self._wait()


def _child(plan_r: int, err_w: int, send_master, parent_only: list[int]) -> None:
    """The forked child: never returns to the caller's code."""
    try:
        # No collector run may finalize an object of ours (a socket) in here.
        gc.disable()
        for fd in parent_only:
            os.close(fd)
        # Loaded here, not by the CLI: ctypes and the syscall layer come in
        # while the CLI reads the container's state and joins the cgroups.
        from tuidock.runtime.container.exec import child as execchild

        execchild.intermediate(plan_r, err_w, send_master)
    finally:
        os._exit(125)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _iorelay():  # -> module; only -t and relayed stdio pay for termios & co.
    from tuidock.runtime.container.exec import relay as iorelay

    return iorelay


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    return b"".join(chunks)


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _failure(report: bytes, code: int) -> ExecError:
    line = report.decode(errors="replace").strip().splitlines()
    if not line:
        return ExecError("exec failed: the setup process died", 125 if code == 0 else code)
    code_text, _, message = line[0].partition(" ")
    exit_code = int(code_text) if code_text.isdigit() else 125
    return ExecError(message, exit_code)
