"""A minimal init (--init) for hosts without a static tini.

PID 1 of a pid namespace gets no signal it has no handler for, and must
reap the orphans that the kernel reparents to it. This init forks the
container's command, forwards catchable signals to it, reaps every child,
and exits with the command's status (128+N for a signal), like tini.

It is the container's first process, already isolated (new root, user,
capabilities, only fds 0-2 and the error pipe): it runs no host binary and
imports nothing once running; sys.path is emptied so that a lazy import
could never load a module from the container's files.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import NoReturn

_NOT_FORWARDED = frozenset(
    {
        signal.SIGKILL,
        signal.SIGSTOP,
        signal.SIGCHLD,
        signal.SIGSEGV,
        signal.SIGBUS,
        signal.SIGILL,
        signal.SIGFPE,
        signal.SIGABRT,
        signal.SIGTRAP,
        signal.SIGSYS,
        signal.SIGTTIN,
        signal.SIGTTOU,
    }
)


def run(exec_command: Callable[[], NoReturn], errfd: int, terminal: bool) -> NoReturn:
    """Fork `exec_command` (which execs or reports to `errfd` and exits), then reap."""
    sys.path.clear()
    sys.path_importer_cache.clear()
    forwarded = [s for s in signal.valid_signals() if s not in _NOT_FORWARDED]
    # Blocked across the fork: a signal arriving before the handlers know
    # the child's pid waits instead of being lost.
    signal.pthread_sigmask(signal.SIG_BLOCK, forwarded)
    child = os.fork()
    if child == 0:
        if terminal:
            # Its own process group in the foreground: Ctrl-C from the tty
            # reaches the command directly, not this init.
            os.setpgid(0, 0)
            signal.signal(signal.SIGTTOU, signal.SIG_IGN)
            try:
                os.tcsetpgrp(0, os.getpid())
            except OSError:
                pass
        exec_command()
        os._exit(127)
    # Only the command's exec may close the error pipe: EOF means it ran.
    os.close(errfd)

    def forward(sig: int, _frame: object) -> None:
        try:
            os.kill(child, sig)
        except ProcessLookupError:
            pass

    for sig in forwarded:
        signal.signal(sig, forward)
    for sig in (signal.SIGTTIN, signal.SIGTTOU):
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, forwarded)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(1)
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            os._exit(128 - code if code < 0 else code)
