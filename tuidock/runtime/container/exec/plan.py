"""What the exec client and its children share: the plan, failures, PID 1.

Light on purpose (no ctypes): the CLI imports this on `exec`'s hot path;
the syscall layer is loaded by the forked child (runtime/execchild.py)
while the CLI reads the container's files.

PID 1 is reached through a /proc/<pid> directory descriptor checked
against the start time that state.json recorded: whatever is opened
relative to it belongs to that process, and once it dies, lookups fail
instead of reaching a process that reused the pid.
"""

from __future__ import annotations

import marshal
import os

# `signal` is `_signal` plus enum wrappers; importing enum costs exec's hot
# path ~4 ms in a plain install. The functions and numbers are the same.
try:
    import _signal as signal
except ImportError:  # not CPython
    import signal  # type: ignore[no-redef]

from tuidock.errors import TuidockError
from tuidock.runtime.linux import cgroupfiles

TYPE_CHECKING = False  # typing's own flag costs an import
if TYPE_CHECKING:
    from collections.abc import Callable

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# What the CLI forwards to the command (through its child): Docker's sig-proxy set.
PROXIED = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGALRM,
    signal.SIGCONT,
)


class Plan:
    """Everything the children need, computed by the CLI before the fork."""

    __slots__ = (
        "args",
        "cap_add",
        "cap_drop",
        "cid",
        "cwd",
        "detach",
        "env",
        "no_new_privs",
        "pid",
        "privileged",
        "seccomp",
        "start_time",
        "stdio",
        "tty",
        "user",
        "winsize",
    )

    def __init__(
        self,
        cid: str,
        pid: int,
        start_time: int | None,
        args: list[str],
        env: dict[str, str],
        user: str,
        cwd: str,
        cap_add: list[str],
        cap_drop: list[str],
        privileged: bool,
        tty: bool = False,
        detach: bool = False,
        stdio: tuple[int, int, int] | None = None,
        winsize: tuple[int, int] | None = None,
        seccomp: bytes | None = None,
        no_new_privs: bool = False,
    ) -> None:
        self.cid = cid
        self.pid = pid  # host pid of the container's PID 1
        self.start_time = start_time  # its start time (field 22 of stat); None: unchecked
        self.args = args
        self.env = env
        self.user = user
        self.cwd = cwd
        # The container's capability settings (privileged: the container's
        # or the exec's --privileged); the child turns them into PID 1's set.
        self.cap_add = cap_add
        self.cap_drop = cap_drop
        self.privileged = privileged
        self.tty = tty
        self.detach = detach
        self.stdio = stdio  # fds 0, 1, 2 of the command without -t (None: inherit ours)
        self.winsize = winsize  # (rows, cols) of the client's terminal, with -t
        # PID 1's compiled seccomp filter (None: unconfined) and no_new_privs:
        # an exec'd process is confined as the container is, --privileged or not.
        self.seccomp = seccomp
        self.no_new_privs = no_new_privs


def encode_plan(plan: Plan) -> bytes:
    """The plan as the child reads it from its pipe: length, then marshal data
    (built-in types only; marshal is always loaded, json is not in the child)."""
    data = marshal.dumps({name: getattr(plan, name) for name in Plan.__slots__})
    return len(data).to_bytes(4, "big") + data


def decode_plan(read: Callable[[int], bytes]) -> Plan | None:
    """Read a plan with `read(n)` (exactly n bytes, or fewer at EOF); None at EOF."""
    head = read(4)
    if len(head) < 4:
        return None
    data = read(int.from_bytes(head, "big"))
    fields = marshal.loads(data)
    plan = Plan.__new__(Plan)
    for name in Plan.__slots__:
        setattr(plan, name, fields[name])
    return plan


class ExecError(TuidockError):
    """`exec` failed before the command ran: 125 (engine), 126 (cannot run), 127 (not found)."""

    def __init__(self, message: str, exit_code: int = 125, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.exit_code = exit_code


def not_running(cid: str) -> ExecError:
    return ExecError(f"container {cid} is not running")


# ------------------------------------------------------------------ PID 1


def open_proc(plan: Plan) -> int:
    """O_PATH descriptor of /proc/<PID 1>, checked to be that process."""
    try:
        fd = os.open(f"/proc/{plan.pid}", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        raise not_running(plan.cid) from None
    try:
        check_alive(fd, plan)
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_alive(proc: int, plan: Plan) -> None:
    try:
        data = read_at(proc, "stat")
    except OSError:
        raise not_running(plan.cid) from None
    fields = data[data.rfind(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X") or (
        plan.start_time is not None and int(fields[19]) != plan.start_time
    ):
        raise not_running(plan.cid)


def read_at(dirfd: int, name: str) -> bytes:
    fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=dirfd)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- cgroups


def cgroup_files(plan: Plan) -> list[str]:
    """The cgroup.procs files of every cgroup PID 1 is in (so of the
    container's tuidock/<id> cgroups), under our own mounts."""
    proc = open_proc(plan)
    try:
        membership = read_at(proc, "cgroup").decode(errors="surrogateescape")
        check_alive(proc, plan)
    except OSError:
        raise not_running(plan.cid) from None
    finally:
        os.close(proc)
    return cgroupfiles.targets(membership, cgroupfiles.mountinfo())


def join_cgroups(files: list[str], pid: int) -> None:
    """Move `pid` into those cgroups (quick once cgroupfiles.prewarm's
    helper has sat out the kernel's grace period)."""
    text = str(pid).encode()
    for path in files:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, text)
            finally:
                os.close(fd)
        except OSError as e:
            raise ExecError(
                f"cannot join the container's cgroup {path}: {e.strerror}", 125
            ) from None
