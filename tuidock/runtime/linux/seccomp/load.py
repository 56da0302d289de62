"""Install a compiled seccomp filter in this process (just before exec).

Light on purpose: `exec` and the container's first process import only
this module; the filter was compiled at `create` and comes as bytes.

As runc: without no_new_privs the filter goes in while the process still
has CAP_SYS_ADMIN (before the capability drop), so the container does not
get NoNewPrivs it did not ask for; with no_new_privs it goes in last, so
that as few of the setup's system calls as possible run under it.
"""

from __future__ import annotations

import ctypes
import errno

from tuidock.runtime.linux import syscalls as sc

PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


class _Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def set_no_new_privs() -> None:
    sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)


def install(program: bytes) -> None:
    """Load `program` (struct sock_filter[]); sets no_new_privs first when
    the kernel asks for it (the caller lacks CAP_SYS_ADMIN)."""
    if not program or len(program) % 8:
        raise OSError(errno.EINVAL, "seccomp: empty or truncated filter program")
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _Fprog(len(program) // 8, ctypes.addressof(buf))
    try:
        sc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog))
    except OSError as e:
        if e.errno != errno.EACCES:
            raise
        set_no_new_privs()
        sc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog))
