"""Linux system calls that Python 3.11's os module lacks, through libc.

Each wrapper raises OSError carrying the real errno, with the call and its
arguments in the message, so that callers can both branch on `e.errno` and
show something better than "[Errno 22] Invalid argument".
"""

from __future__ import annotations

import ctypes
import os

# mount(2) flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000
MS_LAZYTIME = 0x2000000

# umount2(2) flags
MNT_FORCE = 0x1
MNT_DETACH = 0x2
MNT_EXPIRE = 0x4
UMOUNT_NOFOLLOW = 0x8

# unshare(2) / setns(2) namespace flags
CLONE_NEWTIME = 0x80
CLONE_NEWNS = 0x20000
CLONE_NEWCGROUP = 0x2000000
CLONE_NEWUTS = 0x4000000
CLONE_NEWIPC = 0x8000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# prctl(2) options
PR_SET_PDEATHSIG = 1
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_GET_KEEPCAPS = 7
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_IS_SET = 1
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_LOWER = 3
PR_CAP_AMBIENT_CLEAR_ALL = 4

_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# openat2(2) `resolve` flags (linux/openat2.h)
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
# openat2 came after the syscall table was unified: one number everywhere.
_SYS_OPENAT2 = 437

# glibc has no pivot_root() wrapper; the number differs per architecture.
_SYS_PIVOT_ROOT = {
    "x86_64": 155,
    "aarch64": 41,
    "arm64": 41,
    "riscv64": 41,
    "loongarch64": 41,
    "ppc64le": 203,
    "ppc64": 203,
    "s390x": 217,
    "i686": 217,
    "i386": 217,
    "armv7l": 218,
}

PathArg = str | bytes | os.PathLike[str] | None


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


_libc: ctypes.CDLL | None = None


def libc() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        lib = _load_libc()
        lib.mount.argtypes = [
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_ulong,
            ctypes.c_char_p,
        ]
        lib.mount.restype = ctypes.c_int
        lib.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        lib.umount2.restype = ctypes.c_int
        lib.unshare.argtypes = [ctypes.c_int]
        lib.unshare.restype = ctypes.c_int
        lib.setns.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.setns.restype = ctypes.c_int
        lib.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
        lib.prctl.restype = ctypes.c_int
        lib.capget.argtypes = [ctypes.POINTER(_CapHeader), ctypes.POINTER(_CapData)]
        lib.capget.restype = ctypes.c_int
        lib.capset.argtypes = [ctypes.POINTER(_CapHeader), ctypes.POINTER(_CapData)]
        lib.capset.restype = ctypes.c_int
        lib.syscall.restype = ctypes.c_long
        _libc = lib
    return _libc


def _load_libc() -> ctypes.CDLL:
    # glibc's soname first: ctypes.util.find_library runs `ldconfig -p` in a
    # subprocess and imports subprocess and shutil, tens of ms on every CLI
    # call that needs a syscall (exec is one).
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        from ctypes.util import find_library

        return ctypes.CDLL(find_library("c") or "libc.so", use_errno=True)


def _b(value: PathArg) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    return os.fsencode(value)


def _fail(call: str, path: PathArg = None) -> OSError:
    err = ctypes.get_errno()
    shown = os.fsdecode(os.fspath(path)) if path is not None else None
    return OSError(err, f"{call} failed: {os.strerror(err)}", shown)


def mount(
    source: PathArg,
    target: PathArg,
    fstype: str | None = None,
    flags: int = 0,
    data: str | bytes | None = None,
) -> None:
    """mount(2). `data` is the filesystem's option string (at most one page)."""
    raw_data = data.encode() if isinstance(data, str) else data
    rc = libc().mount(_b(source), _b(target), _b(fstype), flags, raw_data)
    if rc != 0:
        what = f"mount({os.fsdecode(_b(source) or b'none')}, type={fstype or 'none'}"
        what += f", flags={flags:#x})"
        raise _fail(what, target)


def umount2(target: PathArg, flags: int = 0) -> None:
    """umount2(2); MNT_DETACH for a lazy unmount of a busy mount point."""
    rc = libc().umount2(_b(target), flags)
    if rc != 0:
        raise _fail(f"umount2(flags={flags:#x})", target)


def unshare(flags: int) -> None:
    """unshare(2) with CLONE_NEW* flags."""
    if libc().unshare(flags) != 0:
        raise _fail(f"unshare({flags:#x})")


def setns(fd: int, nstype: int = 0) -> None:
    """setns(2): join the namespace `fd` (from /proc/PID/ns/*); 0 = any type."""
    if libc().setns(fd, nstype) != 0:
        raise _fail(f"setns(fd={fd}, type={nstype:#x})")


def pivot_root(new_root: PathArg, put_old: PathArg) -> None:
    """pivot_root(2); `pivot_root(".", ".")` after chdir to the new root works too."""
    machine = os.uname().machine  # what platform.machine() returns, without importing it
    number = _SYS_PIVOT_ROOT.get(machine)
    if number is None:
        raise OSError(0, f"pivot_root: unknown syscall number on {machine}")
    rc = libc().syscall(ctypes.c_long(number), _b(new_root), _b(put_old))
    if rc != 0:
        raise _fail("pivot_root", new_root)


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """prctl(2); returns the call's result (some options return a value)."""
    rc = libc().prctl(option, arg2, arg3, arg4, arg5)
    if rc < 0:
        raise _fail(f"prctl({option}, {arg2})")
    return rc


def capget(pid: int = 0) -> tuple[int, int, int]:
    """(effective, permitted, inheritable) capability masks of `pid` (0 = self)."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, pid)
    data = (_CapData * 2)()
    if libc().capget(ctypes.byref(header), data) != 0:
        raise _fail("capget")
    return (
        data[0].effective | data[1].effective << 32,
        data[0].permitted | data[1].permitted << 32,
        data[0].inheritable | data[1].inheritable << 32,
    )


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set this thread's effective, permitted and inheritable capability masks."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    if libc().capset(ctypes.byref(header), data) != 0:
        raise _fail(f"capset(eff={effective:#x}, perm={permitted:#x}, inh={inheritable:#x})")


def openat2(dirfd: int, path: PathArg, flags: int, resolve: int, mode: int = 0) -> int:
    """openat2(2) (Linux 5.6+); ENOSYS where the kernel or a seccomp filter lacks it."""
    how = _OpenHow(flags, mode, resolve)
    fd = libc().syscall(
        ctypes.c_long(_SYS_OPENAT2),
        ctypes.c_int(dirfd),
        _b(path),
        ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
    )
    if fd < 0:
        raise _fail(f"openat2(resolve={resolve:#x})", path)
    return fd
