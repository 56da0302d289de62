"""Starting a container's monitor process: exec, fork, or pre-started.

- exec (always safe): `python -I -S -c <boot> ...` through subprocess.Popen,
  which forks and execs in C, so it is fine from the threaded UI. -I -S
  skip site and its .pth hooks (the editable install's import hook alone
  costs ~30 ms here); the parent's sys.path is handed over instead. The
  fresh interpreter then imports the monitor: ~110 ms on this machine.
- fork (fast): when the caller is single-threaded, as the CLI is, a plain
  fork() gives the monitor an interpreter that has already imported most of
  what it needs. Forking is only unsafe in a threaded process (another
  thread may hold a lock the child would wait on forever), so this path is
  taken only when no other Python thread exists. TUIDOCK_MONITOR_EXEC=1
  forces the exec path.
- pre-started (fastest, for `run`): a fork made before the container even
  exists. While the CLI resolves the image and writes the container, the
  child imports the isolation code (~35 ms, in parallel on another core);
  then `start` hands it the container over a socket (arguments, plus the
  status pipe and attach socket as SCM_RIGHTS). Unused, it exits when its
  socket closes.

Either way the monitor ends up double-forked (fork, setsid, fork: see
monitor.detach), an orphan in a session of its own, and `start_monitor`
returns once the intermediate process has exited. Only the status pipe and
the attach socket are passed on; every other descriptor is closed, so no
lock the caller holds (flock lives on the open file) leaks into the monitor.
"""

from __future__ import annotations

import json
import os
import socket
import sys

from tuidock.runtime.store.ctrlayout import ContainerDir

_BOOT = (
    "import gc,sys;gc.disable();sys.path[:0]=sys.argv.pop(1).split('\\n');"
    "from tuidock.runtime.container.monitor.monitor import main;main()"
)


def can_fork() -> bool:
    """Whether this process may fork a monitor (single-threaded, not told otherwise)."""
    if os.environ.get("TUIDOCK_MONITOR_EXEC") == "1":
        return False
    threading = sys.modules.get("threading")
    # No threading module loaded: no Python thread was ever started.
    return threading is None or threading.active_count() == 1


def start_monitor(
    cdir: str,
    status_w: int,
    attach_fd: int | None,
    sock_path: str,
    prestarted: Prestarted | None = None,
) -> None:
    args = [cdir, str(status_w), str(attach_fd) if attach_fd is not None else "-", sock_path]
    keep = [status_w] + ([attach_fd] if attach_fd is not None else [])
    log = ContainerDir(cdir).monitor_log
    if prestarted is not None and prestarted.hand_over(cdir, status_w, attach_fd, sock_path):
        return
    if can_fork():
        _fork(args, keep, log)
    else:
        _exec(args, keep, log)


def _exec(args: list[str], keep: list[int], log: str) -> None:
    import subprocess

    import tuidock

    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(tuidock.__file__)))
    search = [pkg_parent] + [p for p in sys.path if p and p != pkg_parent]
    argv = [sys.executable, "-I", "-S", "-c", _BOOT, "\n".join(search), *args]
    with open(log, "ab") as errlog:
        proc = subprocess.Popen(
            argv,
            pass_fds=keep,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errlog,
            start_new_session=True,
            cwd="/",
        )
    proc.wait()  # it forks the monitor and exits at once


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()  # or the child would print the caller's buffered output again
        except (OSError, ValueError):
            pass


def _fork(args: list[str], keep: list[int], log: str) -> None:
    _flush_std()
    pid = os.fork()
    if pid == 0:
        try:
            _become_clean(keep, log)
            from tuidock.runtime.container.monitor import monitor

            monitor.main(args)
        finally:
            os._exit(1)
    os.waitpid(pid, 0)


def _become_clean(keep: list[int], log: str | None) -> None:
    """In a child forked from a caller: drop its descriptors and signal handlers."""
    import signal

    for fd in os.listdir("/proc/self/fd"):
        n = int(fd)
        if n > 2 and n not in keep:
            try:
                os.close(n)
            except OSError:
                pass  # the listing's own descriptor, already gone
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    if log is None:
        os.dup2(devnull, 2)
    os.close(devnull)
    if log is not None:
        errfd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.dup2(errfd, 2)
        os.close(errfd)
    # Whatever the caller set up (the CLI's SIGINT -> KeyboardInterrupt, a wakeup
    # fd) is not the monitor's business; it installs its own.
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGWINCH):
        signal.signal(sig, signal.SIG_DFL)


class Prestarted:
    """A monitor forked ahead of time, waiting for its container (see the module doc)."""

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.pid = 0
        if not can_fork():
            return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        _flush_std()
        pid = os.fork()
        if pid == 0:
            try:
                ours.close()
                _become_clean([theirs.fileno()], None)
                os.setsid()  # the first half of the double fork
                _wait_for_container(theirs)
            finally:
                os._exit(1)
        theirs.close()
        self.sock, self.pid = ours, pid

    def hand_over(self, cdir: str, status_w: int, attach_fd: int | None, sock_path: str) -> bool:
        """Give it the container; False if it cannot take it (then start another way)."""
        if self.sock is None:
            return False
        fds = [status_w] + ([attach_fd] if attach_fd is not None else [])
        msg = json.dumps({"cdir": cdir, "socket": sock_path, "attach": attach_fd is not None})
        try:
            socket.send_fds(self.sock, [msg.encode()], fds)
        except OSError:
            self.close()
            return False
        self.close()
        return True

    def close(self) -> None:
        """Release it: unused, it exits; used, its intermediate process is reaped."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.pid:
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            self.pid = 0

    def __enter__(self) -> Prestarted:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _wait_for_container(sock: socket.socket) -> None:
    """The pre-started child: import the heavy parts, then wait for its container."""
    from tuidock.runtime.container.monitor import monitor

    try:
        monitor.preload()
    except Exception:
        pass  # the start itself will meet the same error and report it properly
    # The second half of the double fork now, not on the start's critical
    # path: the caller reaps the intermediate process at once when it hands over.
    monitor.detach()
    try:
        msg, fds, _flags, _addr = socket.recv_fds(sock, 65536, 2)
    except OSError:
        msg, fds = b"", []
    sock.close()
    if not msg:
        os._exit(0)  # not needed after all
    job = json.loads(msg)
    status_fd = fds[0]
    attach_fd = fds[1] if job["attach"] and len(fds) > 1 else None
    log = os.open(
        ContainerDir(job["cdir"]).monitor_log,
        os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
        0o600,
    )
    os.dup2(log, 2)
    os.close(log)
    monitor.serve(job["cdir"], status_fd, attach_fd, job["socket"])
