"""The processes between `tuidock exec` and its command: join, then exec.

`intermediate` runs in a child forked by the CLI (single-threaded). It
makes itself non-dumpable before it touches anything of the container
(CVE-2019-5736: container processes may not ptrace it or open its
/proc/<pid>/exe or fds), reads the plan the CLI sends (this module's
syscall layer loads meanwhile), joins PID 1's namespaces, and waits until
the CLI has moved it into PID 1's cgroups. Then it forks the command's
process, which lands in the container's pid namespace, waits for it and
ends the same way (exit code, or the same signal), so the CLI's waitpid of
its own child gives the command's status. `-d` forks once more so the CLI
can reap.

The command's process sets up its stdio (a pts of the container's own
devpts with -t), rlimits, the container's seccomp filter (read by the
CLI), user, capabilities (PID 1's set), working directory, closes every
fd but 0-2 (CVE-2024-21626) and execs. A failure before the exec is one
line "CODE message" on an O_CLOEXEC error pipe; EOF without a line means
the exec happened.

Everything is imported before the import system is sealed, and the seal
comes before joining: after setns(mnt) a path-based import would read
files of the container's root into this host process.
"""

from __future__ import annotations

import errno
import fcntl
import gc
import os
import resource
import stat
import struct
import sys

# `signal` is `_signal` plus enum wrappers; importing enum costs exec's hot
# path ~4 ms in a plain install. The functions and numbers are the same.
try:
    import _signal as signal
except ImportError:  # not CPython
    import signal  # type: ignore[no-redef]

from tuidock.errors import TuidockError, failure_reason
from tuidock.runtime.container.exec.plan import (
    PROXIED,
    ExecError,
    Plan,
    check_alive,
    decode_plan,
    not_running,
    open_proc,
    read_at,
)
from tuidock.runtime.linux import capabilities, userdb
from tuidock.runtime.linux import syscalls as sc

# Imported up front: the lookup runs inside the container root, where
# host modules cannot be imported any more.
from tuidock.runtime.linux.lookpath import look_path
from tuidock.runtime.linux.seccomp import load as seccomp_load

# `typing` costs exec's hot path ~2 ms; annotations are strings here anyway.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import NoReturn

    SendFd = Callable[[int], None]

TTY_GID = 5
# Joined in this order; user first (it decides what the others allow); pid
# last and on its own: it only places our children, after the -d fork.
NAMESPACES = (
    ("user", sc.CLONE_NEWUSER),
    ("ipc", sc.CLONE_NEWIPC),
    ("uts", sc.CLONE_NEWUTS),
    ("net", sc.CLONE_NEWNET),
    ("cgroup", sc.CLONE_NEWCGROUP),
    ("mnt", sc.CLONE_NEWNS),
    ("pid", sc.CLONE_NEWPID),
)

_TIOCSCTTY = 0x540E
_TIOCSPTLCK = 0x40045431
_TIOCGPTN = 0x80045430
_TIOCGPTPEER = 0x5441
_TIOCSWINSZ = 0x5414
_PTMX_DEV = os.makedev(5, 2)
# /proc/<pid>/limits names -> Linux RLIMIT_* numbers (the resource module
# does not name all of them, e.g. RLIMIT_LOCKS).
_RLIMITS = {
    "Max cpu time": 0,
    "Max file size": 1,
    "Max data size": 2,
    "Max stack size": 3,
    "Max core file size": 4,
    "Max resident set": 5,
    "Max processes": 6,
    "Max open files": 7,
    "Max locked memory": 8,
    "Max address space": 9,
    "Max file locks": 10,
    "Max pending signals": 11,
    "Max msgqueue size": 12,
    "Max nice priority": 13,
    "Max realtime priority": 14,
    "Max realtime timeout": 15,
}


# -------------------------------------------------------------- intermediate


def intermediate(plan_r: int, err_w: int, send_master: SendFd | None) -> NoReturn:
    """Body of the CLI's child; never returns.

    The CLI forks with PROXIED blocked: they stay blocked until the
    command's process exists, then are forwarded to it. `plan_r` brings
    the plan (EOF: the CLI gave up and says why), then one byte once the
    CLI has moved us into the container's cgroups. With -t (and not -d),
    `send_master` hands the pty master to the CLI.
    """
    code = 125
    try:
        _Intermediate(plan_r, err_w, send_master).run()
    except ExecError as e:
        _report(err_w, e.exit_code, e.message)
        code = e.exit_code
    except TuidockError as e:
        _report(err_w, 125, e.message)
    except BaseException as e:  # anything else is a bug: still one line, no traceback
        _report(err_w, 125, f"exec setup: {failure_reason(e)}")
    finally:
        os._exit(code)


class _Intermediate:
    def __init__(self, plan_r: int, err_w: int, send_master: SendFd | None) -> None:
        self.plan_r = plan_r
        self.err_w = err_w
        self.send_master = send_master
        self.child = 0
        self.child_fd: int | None = None  # pidfd of the command's process

    def run(self) -> NoReturn:
        # No collector run may finalize an object of the CLI whose fd is
        # gone, and the container must never see this process's memory.
        gc.disable()
        sc.prctl(sc.PR_SET_DUMPABLE, 0)
        # Out of the CLI's process group: signals from the CLI's terminal go
        # to the CLI, which forwards them once (not twice) through here.
        os.setpgid(0, 0)
        plan = decode_plan(self._read)
        if plan is None:
            os._exit(125)  # the CLI found no container to join; it says so
        self.plan = plan
        caps = capabilities.effective_caps(plan.cap_add, plan.cap_drop, plan.privileged)

        proc = open_proc(plan)
        try:
            limits = _read_limits(proc)
            ns_fds = _open_namespaces(proc, plan)
            check_alive(proc, plan)  # the fds above belong to PID 1, not to a successor
        finally:
            os.close(proc)
        _seal_imports()
        pid_ns = ns_fds.pop() if ns_fds and ns_fds[-1][2] == "pid" else None
        try:
            self._join(ns_fds)
            user = _resolve_user(plan.user)
            plan.env.setdefault("HOME", user.home or "/")
            master = slave = None
            if plan.tty:
                master, slave = _open_pty(user.uid, plan.winsize)
            if self._read(1) != b"1":
                os._exit(125)  # the CLI could not put us into the cgroups; it reports why
            os.close(self.plan_r)
            if plan.detach:
                self._detach()
            if pid_ns is not None:
                self._join([pid_ns])
        finally:
            if pid_ns is not None:
                os.close(pid_ns[0])
        try:
            self.child = os.fork()
        except OSError as e:
            if e.errno == errno.ENOMEM:  # the pid namespace's init is gone
                raise not_running(plan.cid) from None
            raise
        if self.child == 0:
            _command(plan, caps, user, limits, self.err_w, slave)
        # The error pipe's last writer must be the command's exec, and the
        # command's ends of its stdio pipes must be its alone: the CLI sees
        # EOF on an output only once every write end is closed.
        os.close(self.err_w)
        for fd in {*(plan.stdio or ()), slave if slave is not None else -1}:
            if fd > 2:
                os.close(fd)
        if master is not None and self.send_master is not None:
            try:
                self.send_master(master)
            except OSError:
                pass  # the CLI is gone; the command gets a hangup
            os.close(master)
            master = None
        try:
            self.child_fd = os.pidfd_open(self.child)
        except OSError:
            self.child_fd = None
        for sig in PROXIED:
            signal.signal(sig, self._forward)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, PROXIED)
        if plan.detach:
            if master is None:
                os._exit(0)
            _drain(master)  # -dt: hold the terminal for it, discard what it prints
        _relay(self.child)

    def _read(self, size: int) -> bytes:
        """Exactly `size` bytes from the CLI, or fewer at EOF."""
        data = b""
        while len(data) < size:
            chunk = os.read(self.plan_r, size - len(data))
            if not chunk:
                break
            data += chunk
        return data

    def _join(self, ns_fds: list[tuple[int, int, str]]) -> None:
        host_root = os.stat("/")
        try:
            for fd, kind, name in ns_fds:
                try:
                    sc.setns(fd, kind)
                except OSError as e:
                    raise ExecError(
                        f"cannot join the container's {name} namespace: {e.strerror}", 125
                    ) from None
                if name == "mnt":
                    root = os.stat("/")
                    if (root.st_dev, root.st_ino) == (host_root.st_dev, host_root.st_ino):
                        raise ExecError(
                            "joining the container's mount namespace left the host's root", 125
                        )
        finally:
            for fd, _, name in ns_fds:
                if name != "pid":
                    os.close(fd)

    def _detach(self) -> None:
        """-d: the CLI reaps this process now; a child goes on, adopted by
        init, in a session without the CLI's terminal and without its stdio
        (the CLI's caller waits for EOF on the pipes it gave the CLI)."""
        if os.fork() != 0:
            os._exit(0)
        os.setsid()
        if self.plan.stdio is not None:
            for fd in (0, 1, 2):
                os.dup2(self.plan.stdio[fd], fd)

    def _forward(self, sig: int, _frame: object = None) -> None:
        try:
            if self.child_fd is not None:
                signal.pidfd_send_signal(self.child_fd, sig)
            else:
                os.kill(self.child, sig)
        except ProcessLookupError:
            pass


def _relay(child: int) -> NoReturn:
    """Wait for the command; end as it ended (a signal is re-raised on ourselves)."""
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except ChildProcessError:
            os._exit(125)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(status))


def _drain(master: int) -> None:
    while True:
        try:
            if not os.read(master, 65536):
                return
        except OSError:
            return  # EIO: every slave fd is closed, the command is gone


def _seal_imports() -> None:
    # Built-in and frozen modules only: the path finders (and the editable
    # install's finder) would open files by path, inside the container.
    sys.path.clear()
    sys.path_importer_cache.clear()
    sys.meta_path[:] = [
        f for f in sys.meta_path if getattr(f, "__module__", "") == "_frozen_importlib"
    ]


def _open_namespaces(proc: int, plan: Plan) -> list[tuple[int, int, str]]:
    """(fd, type, name) of each of PID 1's namespaces that differs from ours,
    in NAMESPACES order (so pid, when present, is last)."""
    out: list[tuple[int, int, str]] = []
    try:
        for name, kind in NAMESPACES:
            try:
                fd = os.open(f"ns/{name}", os.O_RDONLY | os.O_CLOEXEC, dir_fd=proc)
            except FileNotFoundError:
                if name in ("user", "cgroup"):
                    continue  # a kernel without this namespace type
                raise not_running(plan.cid) from None
            except OSError:
                raise not_running(plan.cid) from None
            theirs = os.fstat(fd)
            try:
                ours = os.stat(f"/proc/self/ns/{name}")
            except OSError:
                ours = None
            if ours is not None and (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino):
                os.close(fd)
                if name == "mnt":
                    raise ExecError(f"container {plan.cid} shares the host's mount namespace", 125)
                continue  # e.g. --network host; joining one's own user ns is even an error
            out.append((fd, kind, name))
    except BaseException:
        for fd, _, _ in out:
            os.close(fd)
        raise
    return out


# ------------------------------------------------------------------ limits


def _read_limits(proc: int) -> list[tuple[int, int, int]]:
    """PID 1's rlimits, as (resource, soft, hard), from /proc/<pid>/limits."""
    try:
        text = read_at(proc, "limits").decode(errors="replace")
    except OSError:
        return []
    out = []
    for line in text.splitlines()[1:]:
        name = line[:26].strip()
        number = _RLIMITS.get(name)
        parts = line[26:].split()
        if number is None or len(parts) < 2:
            continue
        soft, hard = (resource.RLIM_INFINITY if p == "unlimited" else int(p) for p in parts[:2])
        out.append((number, soft, hard))
    return out


def _apply_limits(limits: list[tuple[int, int, int]]) -> None:
    for number, soft, hard in limits:
        try:
            resource.setrlimit(number, (soft, hard))
        except (OSError, ValueError):
            # Raising a hard limit needs CAP_SYS_RESOURCE, which the caller
            # may lack: stay at ours, never above PID 1's.
            _cur_soft, cur_hard = resource.getrlimit(number)
            if hard != resource.RLIM_INFINITY and (
                cur_hard == resource.RLIM_INFINITY or hard < cur_hard
            ):
                cur_hard = hard
            new_soft = soft if soft != resource.RLIM_INFINITY else cur_hard
            if cur_hard != resource.RLIM_INFINITY and (
                new_soft == resource.RLIM_INFINITY or new_soft > cur_hard
            ):
                new_soft = cur_hard
            try:
                resource.setrlimit(number, (new_soft, cur_hard))
            except (OSError, ValueError):
                pass


# ---------------------------------------------------------------- user, tty


def _resolve_user(spec: str) -> userdb.ExecUser:
    try:
        return userdb.resolve(spec)  # the container's /etc/passwd: we are inside now
    except TuidockError as e:
        raise ExecError(e.message, 126) from None
    except OSError as e:
        raise ExecError(
            f"cannot read the container's user database: {failure_reason(e)}", 126
        ) from None


def _open_pty(uid: int, winsize: tuple[int, int] | None) -> tuple[int, int]:
    """A (master, slave) pair of the container's own devpts instance."""
    try:
        # Not /dev/ptmx: that is a symlink the container could point elsewhere.
        master = os.open("/dev/pts/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        raise ExecError(f"cannot open the container's /dev/pts/ptmx: {e.strerror}", 126) from None
    try:
        st = os.fstat(master)
        if not stat.S_ISCHR(st.st_mode) or st.st_rdev != _PTMX_DEV:
            raise ExecError("the container's /dev/pts/ptmx is not the pty multiplexer", 126)
        fcntl.ioctl(master, _TIOCSPTLCK, struct.pack("i", 0))
        try:
            # The slave of exactly this master, without a path lookup.
            slave = fcntl.ioctl(master, _TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError:
            (number,) = struct.unpack("I", fcntl.ioctl(master, _TIOCGPTN, b"\0\0\0\0"))
            slave = os.open(
                f"/dev/pts/{number}", os.O_RDWR | os.O_NOCTTY | os.O_NOFOLLOW | os.O_CLOEXEC
            )
        os.fchown(slave, uid, TTY_GID)
        os.fchmod(slave, 0o620)
        if winsize:
            fcntl.ioctl(master, _TIOCSWINSZ, struct.pack("HHHH", winsize[0], winsize[1], 0, 0))
    except BaseException:
        os.close(master)
        raise
    return master, slave


# ----------------------------------------------------------------- command


def _command(
    plan: Plan,
    caps: set[int],
    user: userdb.ExecUser,
    limits: list[tuple[int, int, int]],
    err_w: int,
    slave: int | None,
) -> NoReturn:
    """The command's process, in the container's pid namespace: set up and exec."""
    code = 126
    try:
        _setup_and_exec(plan, caps, user, limits, err_w, slave)
    except ExecError as e:
        _report(err_w, e.exit_code, e.message)
        code = e.exit_code
    except BaseException as e:
        _report(err_w, 126, failure_reason(e))
    finally:
        os._exit(code)


def _setup_and_exec(
    plan: Plan,
    caps: set[int],
    user: userdb.ExecUser,
    limits: list[tuple[int, int, int]],
    err_w: int,
    slave: int | None,
) -> NoReturn:
    # A session of its own: never the CLI's terminal as controlling tty
    # (TIOCSTI on it would type into the host's shell).
    os.setsid()
    if slave is not None:
        fcntl.ioctl(slave, _TIOCSCTTY, 0)
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        if slave > 2:
            os.close(slave)
    elif plan.stdio is not None:
        _install_stdio(plan.stdio)
    _apply_limits(limits)  # PID 1's, read before we left the host's /proc
    if plan.seccomp is not None and not plan.no_new_privs:
        _confine(plan.seccomp)  # while CAP_SYS_ADMIN is still ours (runc's order)
    try:
        os.setgroups(user.sgids)
        os.setgid(user.gid)
        if user.uid != 0:
            sc.prctl(sc.PR_SET_KEEPCAPS, 1)  # keep CAP_SETPCAP for the bounding set drop
        os.setuid(user.uid)
        capabilities.apply_caps(caps, user.uid)
    except OSError as e:
        raise ExecError(
            f"cannot switch to user {plan.user or 'root'}: {failure_reason(e)}", 126
        ) from None
    try:
        os.chdir(plan.cwd)  # as the user, inside the container: nothing is created
    except OSError as e:
        raise ExecError(
            f"chdir to cwd ({plan.cwd!r}) failed: {(e.strerror or str(e)).lower()}", 126
        ) from None
    os.umask(0o022)
    if plan.no_new_privs:
        seccomp_load.set_no_new_privs()
        if plan.seccomp is not None:
            _confine(plan.seccomp)
    program = find_executable(plan.args[0], plan.env.get("PATH", ""))
    os.closerange(3, err_w)
    os.closerange(err_w + 1, 1 << 20)
    _reset_signals()
    try:
        os.execve(program, plan.args, plan.env)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            raise ExecError(
                f'exec: "{plan.args[0]}": stat {program}: no such file or directory', 127
            ) from None
        if e.errno in (errno.EACCES, errno.EPERM):
            raise ExecError(f'exec: "{plan.args[0]}": permission denied', 126) from None
        raise ExecError(f'exec: "{plan.args[0]}": {(e.strerror or str(e)).lower()}', 126) from None


def _confine(program: bytes) -> None:
    try:
        seccomp_load.install(program)
    except OSError as e:
        raise ExecError(f"cannot load the seccomp filter: {failure_reason(e)}", 126) from None


def _install_stdio(stdio: tuple[int, int, int]) -> None:
    # Lifted above 2 first: a source may itself be 0, 1 or 2.
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in stdio]
    for target, fd in enumerate(high):
        os.dup2(fd, target)
        os.close(fd)


def find_executable(name: str, path: str) -> str:
    """What execve should run, looked up in PATH as Go's exec.LookPath (runc) does."""
    if not name:
        raise ExecError('exec: "": executable file not found in $PATH', 127)
    found = look_path(name, path)
    if found is None:
        raise ExecError(f'exec: "{name}": executable file not found in $PATH', 127)
    return found


def _reset_signals() -> None:
    """Default dispositions and an empty mask: Python ignores SIGPIPE and
    SIGXFSZ, and an ignored signal stays ignored across exec."""
    for sig in range(1, signal.NSIG):
        try:
            if signal.getsignal(sig) != signal.SIG_DFL:
                signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, ())


# ----------------------------------------------------------------- helpers


def _report(err_w: int, code: int, message: str) -> None:
    line = f"{code} {message}".replace("\n", " ") + "\n"
    try:
        os.write(err_w, line.encode(errors="replace"))
    except OSError:
        pass
