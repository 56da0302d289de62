"""From fork to exec: the container's first process.

`spawn` runs in the single-threaded monitor process. It moves the monitor's
future children into a new pid namespace, forks, puts the child into the
container's cgroup, and lets it go. The child builds the container around
itself (namespaces, mounts, pivot_root, hostname, loopback, seccomp
filter, user, tty, capabilities) and execs the command.

The child reports a failure as one line on an O_CLOEXEC error pipe and
exits: EOF with no data means the exec succeeded. Every mount it made lives
in its own mount namespace and disappears with it, so a failed start leaves
nothing on the host but the cgroup, which the caller destroys.

Everything the child needs is imported at the top of this module: after
pivot_root the host's Python modules are out of reach.
"""

from __future__ import annotations

import errno
import fcntl
import gc
import os
import signal
import socket
import struct
from typing import NoReturn

from tuidock.core import trace
from tuidock.core.record import Record
from tuidock.core.spec import ContainerSpec
from tuidock.errors import TuidockError, failure_reason
from tuidock.runtime.container import securityopt
from tuidock.runtime.container.init import initproc, rootfs
from tuidock.runtime.linux import capabilities, userdb
from tuidock.runtime.linux import syscalls as sc
from tuidock.runtime.linux.cgroups import ContainerCgroup

# Imported up front: the lookup runs inside the container root, where
# host modules cannot be imported any more.
from tuidock.runtime.linux.lookpath import look_path
from tuidock.runtime.linux.seccomp import load as seccomp_load

# Docker's --init is a static tini bind-mounted read-only; Debian's `tini`
# package ships one. Without it, initproc is the fallback.
INIT_BINARY = "/usr/bin/tini-static"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TTY_GID = 5

_TIOCSCTTY = 0x540E
_TIOCSPTLCK = 0x40045431
_TIOCGPTN = 0x80045430
_TIOCGPTPEER = 0x5441
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


class ExecFailed(TuidockError):
    """The command could not be executed: 127 not found, 126 not executable."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Spawned(Record):
    pid: int  # host pid of the container's PID 1
    pty_master: int | None  # master fd when spec.terminal
    # Keeps the container's root filesystem alive after PID 1 exits: the
    # last reference to a writable overlay syncs its upper filesystem
    # (tens to hundreds of ms), and without this fd that would happen
    # inside PID 1's exit and delay its exit status. Close it once the exit
    # is recorded; the close then pays for the sync. O_CLOEXEC.
    rootfs_fd: int | None = None


class _ExecError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


# ------------------------------------------------------------------ parent


def spawn(
    spec: ContainerSpec, cgroup: ContainerCgroup, stdio: tuple[int, int, int] | None
) -> Spawned:
    """Start the container's first process; returns once it has exec'd.

    Call once per process, from a single-threaded process (the monitor): the
    caller itself enters a new pid namespace for its children. `stdio`
    becomes fds 0, 1, 2 of the container when not spec.terminal (None:
    inherit the caller's); the caller keeps and closes its own copies. With
    spec.terminal the container gets a pts of its own devpts as 0, 1, 2 and
    its controlling tty, and `Spawned.pty_master` is the master side.

    Raises ExecFailed (exit_code 126/127) when the command cannot be run, and
    TuidockError("cannot start container: <step>: <reason>") for any other
    failure; either way the child is gone and reaped, and only the cgroup
    is left for the caller to destroy.
    """
    if not spec.args:
        raise TuidockError("cannot start container: no command specified")
    caps = capabilities.effective_caps(spec.cap_add, spec.cap_drop, spec.privileged)
    try:
        seccomp = securityopt.read_filter(spec.seccomp_filter)
    except OSError as e:
        raise TuidockError(f"cannot start container: seccomp filter: {e.strerror}") from None
    if spec.privileged:
        cgroup.allow_all_devices()
    plan = rootfs.RootfsPlan(
        cgroup_views=cgroup.views(),
        nodev=not cgroup.has_device_control,
        init_binary=INIT_BINARY if spec.init and os.path.isfile(INIT_BINARY) else None,
    )
    _enter_new_pid_namespace()
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    sync_r, sync_w = os.pipe2(os.O_CLOEXEC)
    parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            # No collector run may finalize a monitor object whose fd the
            # child has closed (its complaint would land in the container).
            gc.disable()
            os.close(err_r)
            os.close(sync_w)
            parent_sock.close()
            child = _Child(spec, plan, caps, seccomp, stdio, err_w, sync_r, child_sock)
            code = child.run()
        finally:
            os._exit(code)
    os.close(err_w)
    os.close(sync_r)
    child_sock.close()
    received: list[int] = []
    try:
        with parent_sock:
            # The child builds its mounts meanwhile: joining a cgroup costs
            # an RCU grace period (~10 ms), the biggest single step here.
            join_error = _join_cgroup(cgroup, pid, sync_w)
            _msg, received, _flags, _addr = socket.recv_fds(parent_sock, 1, 2)
        for fd in received:
            os.set_inheritable(fd, False)
        report = _read_all(err_r)
    except BaseException:
        _reap(pid)
        _close_all(received)
        raise
    finally:
        os.close(err_r)
    if report or join_error is not None or len(received) != (2 if spec.terminal else 1):
        _reap(pid)
        _close_all(received)
        if not report and join_error is not None:
            raise join_error
        raise _error_from(report)
    master = received[1] if spec.terminal else None
    return Spawned(pid, master, received[0])


def _join_cgroup(cgroup: ContainerCgroup, pid: int, sync_w: int) -> TuidockError | None:
    """Put `pid` into `cgroup`, then tell it so; on failure kill it instead."""
    try:
        try:
            cgroup.add(pid)
        except TuidockError as e:
            os.kill(pid, signal.SIGKILL)
            return TuidockError(f"cannot start container: join cgroup: {e.message}")
        try:
            os.write(sync_w, b"1")
        except BrokenPipeError:
            pass  # the child died already; its report says why
        return None
    finally:
        os.close(sync_w)


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


def _enter_new_pid_namespace() -> None:
    if os.readlink("/proc/self/ns/pid") != os.readlink("/proc/self/ns/pid_for_children"):
        raise TuidockError(
            "cannot start container: spawn() runs once per process "
            "(this process already made a pid namespace for its children)"
        )
    sc.unshare(sc.CLONE_NEWPID)


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _reap(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _error_from(report: bytes) -> TuidockError:
    line = report.decode(errors="replace").strip().splitlines()
    if not line:
        return TuidockError("cannot start container: the setup process died")
    code_text, _, message = line[0].partition(" ")
    code = int(code_text) if code_text.isdigit() else 1
    if code in (126, 127):
        return ExecFailed(f"cannot start container: {message}", code)
    return TuidockError(f"cannot start container: {message}")


# ------------------------------------------------------------------- child


class _Child:
    """The container's first process, from fork to exec."""

    def __init__(
        self,
        spec: ContainerSpec,
        plan: rootfs.RootfsPlan,
        caps: set[int],
        seccomp: bytes | None,
        stdio: tuple[int, int, int] | None,
        err_w: int,
        sync_r: int,
        sock: socket.socket,
    ) -> None:
        self.spec = spec
        self.plan = plan
        self.caps = caps
        self.seccomp = seccomp
        self.stdio = stdio
        self.err_w = err_w
        self.sync_r = sync_r
        self.sock = sock
        self.step = "start"
        plan.step = self._set_step

    def _set_step(self, name: str) -> None:
        self.step = name

    def run(self) -> int:
        """Exec the command, or report why not and return the exit code."""
        try:
            self._setup_and_exec()
        except _ExecError as e:
            self._report(e.code, f"exec: {e.reason}")
            return e.code
        except BaseException as e:
            self._report(1, f"{self.step}: {failure_reason(e)}")
        return 1

    def _report(self, code: int, message: str) -> None:
        line = f"{code} {message}".replace("\n", " ") + "\n"
        try:
            os.write(self.err_w, line.encode(errors="replace"))
        except OSError:
            pass

    def _setup_and_exec(self) -> None:
        spec = self.spec
        self.step = "prctl"
        # A dead monitor takes the container with it; non-dumpable keeps
        # container processes from ptrace-ing or reading /proc of this one
        # while it still holds host resources (CVE-2019-5736).
        sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
        sc.prctl(sc.PR_SET_DUMPABLE, 0)
        os.setsid()

        self.step = "namespaces"
        cgroupns = os.path.exists("/proc/self/ns/cgroup")
        self._namespaces()
        rootfd = rootfs.prepare(spec, self.plan)
        trace.mark("init: rootfs mounted")  # after pivot_root a trace file is out of reach
        self.step = "pivot_root"
        rootfs.pivot(rootfd)

        if spec.hostname:
            self.step = "sethostname"
            socket.sethostname(spec.hostname)
        if spec.network != "host":
            self.step = "loopback"
            _loopback_up()
        self.step = "user"
        user = userdb.resolve(spec.user)
        self.step = "workdir"
        cwd = spec.cwd or "/"
        os.makedirs(cwd, 0o755, exist_ok=True)
        if spec.readonly_rootfs:
            self.step = "read-only rootfs"
            rootfs.remount_root_readonly(self.plan.nodev and not spec.privileged)
        env = _environment(spec, user.home)

        self.step = "stdio"
        keep = [os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)]
        if spec.terminal:
            keep.append(self._setup_tty(user.uid))
        elif self.stdio is not None:
            _install_stdio(self.stdio)
        socket.send_fds(self.sock, [b"f"], keep)
        for fd in keep:
            os.close(fd)
        self.sock.close()
        self.step = "close fds"
        low, high = sorted((self.err_w, self.sync_r))
        os.closerange(3, low)
        os.closerange(low + 1, high)
        os.closerange(high + 1, 1 << 20)

        self.step = "join cgroup"
        # Everything above overlapped the parent's cgroup join (an RCU grace
        # period, ~10 ms). EOF instead of the byte: the parent is gone.
        if os.read(self.sync_r, 1) != b"1":
            os._exit(1)
        os.close(self.sync_r)
        if cgroupns:
            # After joining: the namespace's root is the cgroup we are in.
            sc.unshare(sc.CLONE_NEWCGROUP)

        if self.seccomp is not None and not spec.no_new_privs:
            # Still holding CAP_SYS_ADMIN: no no_new_privs needed (runc's order).
            self.step = "seccomp"
            seccomp_load.install(self.seccomp)
        self.step = "user"
        os.setgroups(user.sgids)
        os.setgid(user.gid)
        if user.uid != 0:
            sc.prctl(sc.PR_SET_KEEPCAPS, 1)
        os.setuid(user.uid)
        if user.uid != 0:
            # A credential change clears the parent-death signal.
            sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
        self.step = "capabilities"
        capabilities.apply_caps(self.caps, user.uid)
        self.step = "workdir"
        os.chdir(cwd)
        os.umask(0o022)
        if spec.no_new_privs:
            self.step = "no-new-privileges"
            seccomp_load.set_no_new_privs()
            if self.seccomp is not None:
                self.step = "seccomp"
                seccomp_load.install(self.seccomp)

        self.step = "exec"
        program = _find_executable(spec.args[0], env.get("PATH", ""))
        if not spec.init:
            _exec(program, spec.args, env)
        if self.plan.init_binary is not None:
            _exec(rootfs.INIT_TARGET, [rootfs.INIT_TARGET, "--", *spec.args], env)
        initproc.run(lambda: self._exec_reporting(program, env), self.err_w, spec.terminal)

    def _exec_reporting(self, program: str, env: dict[str, str]) -> NoReturn:
        try:
            _exec(program, self.spec.args, env)
        except _ExecError as e:
            self._report(e.code, f"exec: {e.reason}")
            os._exit(e.code)
        except BaseException as e:
            self._report(1, f"exec: {failure_reason(e)}")
        os._exit(1)

    def _namespaces(self) -> None:
        network = self.spec.network
        flags = sc.CLONE_NEWNS | sc.CLONE_NEWUTS | sc.CLONE_NEWIPC
        if network == "none":
            flags |= sc.CLONE_NEWNET
        elif network != "host" and not network.startswith("netns:"):
            raise TuidockError(f"unknown network mode {network!r}")
        sc.unshare(flags)
        if network.startswith("netns:"):
            fd = os.open(network.removeprefix("netns:"), os.O_RDONLY | os.O_CLOEXEC)
            try:
                sc.setns(fd, sc.CLONE_NEWNET)
            finally:
                os.close(fd)

    def _setup_tty(self, uid: int) -> int:
        """A pts of the container's own devpts as 0-2 and controlling tty;
        returns the master, for the parent."""
        master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        fcntl.ioctl(master, _TIOCSPTLCK, struct.pack("i", 0))
        try:
            slave = fcntl.ioctl(master, _TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY)
        except OSError:
            (number,) = struct.unpack("I", fcntl.ioctl(master, _TIOCGPTN, b"\0\0\0\0"))
            slave = os.open(f"/dev/pts/{number}", os.O_RDWR | os.O_NOCTTY)
        os.fchown(slave, uid, TTY_GID)
        os.fchmod(slave, 0o620)
        fcntl.ioctl(slave, _TIOCSCTTY, 0)
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        if slave > 2:
            os.close(slave)
        return master


def _install_stdio(stdio: tuple[int, int, int]) -> None:
    # Lifted above 2 first: a source fd may itself be 0, 1 or 2.
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in stdio]
    for target, fd in enumerate(high):
        os.dup2(fd, target)
        os.close(fd)


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        # struct ifreq: 16-byte name and a union of 24 bytes (flags first).
        req = struct.pack("16sH22x", b"lo", 0)
        (flags,) = struct.unpack_from("H", fcntl.ioctl(s, _SIOCGIFFLAGS, req), 16)
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | _IFF_UP))


def _environment(spec: ContainerSpec, home: str) -> dict[str, str]:
    env = {"PATH": DEFAULT_PATH, "HOSTNAME": spec.hostname}
    if spec.terminal:
        env["TERM"] = "xterm"
    for item in spec.env:
        key, sep, value = item.partition("=")
        if key and sep:
            env[key] = value
    env.setdefault("HOME", home or "/")
    return env


def _find_executable(name: str, path: str) -> str:
    """The file execve should run, looked up as Go's exec.LookPath (runc) does."""
    found = look_path(name, path)
    if found is None:
        raise _ExecError(127, f'"{name}": executable file not found in $PATH')
    return found


def _reset_signals() -> None:
    """Default dispositions and an empty mask: Python ignores SIGPIPE and
    SIGXFSZ, and an ignored signal would stay ignored across exec."""
    for sig in range(1, signal.NSIG):
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, ())


def _exec(program: str, args: list[str], env: dict[str, str]) -> NoReturn:
    _reset_signals()
    try:
        os.execve(program, args, env)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            raise _ExecError(
                127, f'"{args[0]}": stat {program}: no such file or directory'
            ) from None
        if e.errno in (errno.EACCES, errno.EPERM):
            raise _ExecError(126, f'"{args[0]}": permission denied') from None
        raise _ExecError(126, f'"{args[0]}": {e.strerror.lower() if e.strerror else e}') from None
