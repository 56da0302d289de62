"""The container's mount tree, built in its own mount namespace.

Runs in the container's first process, after unshare(CLONE_NEWNS) and
before pivot_root. Every mount made here lives in that namespace only and
vanishes with it: nothing to undo on the host when a step fails.

Image content is hostile. A mount target is never a path string that
the kernel would resolve through the image's symlinks: targets are opened
with linux.scopedpath.open_in_root (symlinks resolved as if the rootfs
were "/"), and mount(2) gets the descriptor as /proc/self/fd/N (the
CVE-2019-19921 / CVE-2021-30465 class of bugs comes from resolving a path
twice). /proc, /sys and /dev must be real directories
of the image: a symlink there is refused outright, as runc does.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Sequence
from pathlib import Path

from tuidock.core.record import Record
from tuidock.core.spec import ContainerSpec, MountSpec
from tuidock.errors import TuidockError
from tuidock.runtime.linux import syscalls as sc
from tuidock.runtime.linux.overlay import mount_overlay
from tuidock.runtime.linux.scopedpath import OPEN_PATH, open_in_root

# moby's oci/defaults.go
MASKED_PATHS = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

# (name, major, minor); all 0666 root:root, as in Docker.
DEVICES = (
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
)
DEV_LINKS = (
    ("ptmx", "pts/ptmx"),
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("core", "/proc/kcore"),
)
INIT_TARGET = "/dev/init"

_FLAG_OPTIONS = {
    "ro": sc.MS_RDONLY,
    "nosuid": sc.MS_NOSUID,
    "nodev": sc.MS_NODEV,
    "noexec": sc.MS_NOEXEC,
}
_CLEARING_OPTIONS = {
    "rw": sc.MS_RDONLY,
    "suid": sc.MS_NOSUID,
    "dev": sc.MS_NODEV,
    "exec": sc.MS_NOEXEC,
}
_IGNORED_OPTIONS = frozenset(
    {"bind", "rbind", "private", "rprivate", "shared", "rshared", "slave", "rslave", "z", "Z"}
)


class RootfsPlan(Record):
    """What `prepare` needs besides the spec, all resolved by the parent."""

    cgroup_views: Sequence[tuple[str, Path, tuple[str, ...]]] = ()
    # No devices cgroup guards device nodes (pure v2): every writable mount
    # gets nodev, and /dev holds bind mounts of the host's nodes.
    nodev: bool = False
    init_binary: str | None = None  # host path bound read-only at /dev/init
    step: Callable[[str], None] = lambda _s: None


def _fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def _mount(source: str | None, fd: int, fstype: str | None, flags: int, data: str | None = None):
    sc.mount(source, _fd_path(fd), fstype, flags, data)


# ------------------------------------------------------------ path walking


def _strict_dir(rootfd: int, name: str) -> int:
    """O_PATH descriptor of the top-level directory `name`; refuses a symlink."""
    flags = OPEN_PATH | os.O_DIRECTORY
    try:
        return os.open(name, flags, dir_fd=rootfd)
    except FileNotFoundError:
        os.mkdir(name, 0o755, dir_fd=rootfd)
        return os.open(name, flags, dir_fd=rootfd)
    except NotADirectoryError:
        st = os.stat(name, dir_fd=rootfd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(name, dir_fd=rootfd)
            raise TuidockError(
                f"/{name} is a symlink in the image (to {target}): refusing to mount over it"
            ) from None
        raise TuidockError(f"/{name} in the image is not a directory") from None


# ----------------------------------------------------------------- prepare


def prepare(spec: ContainerSpec, plan: RootfsPlan) -> int:
    """Build the whole mount tree under spec.rootfs; returns an O_PATH fd of it."""
    step = plan.step
    step("mount rootfs")
    if not spec.rootfs:
        raise TuidockError("the container spec has no rootfs path")
    # Nothing we mount may propagate back to the host, nor host mounts in.
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    root = os.path.abspath(spec.rootfs)
    os.makedirs(root, exist_ok=True)
    if spec.lower_dirs:
        upper = Path(spec.upper_dir) if spec.upper_dir else None
        work = Path(spec.work_dir) if spec.work_dir else None
        mount_overlay([Path(d) for d in spec.lower_dirs], Path(root), upper, work)
    # pivot_root wants a mount point; binding also covers a plain directory
    # root (the lifecycle code's copy fallback, with no lower_dirs).
    sc.mount(root, root, None, sc.MS_BIND | sc.MS_REC)
    nodev = plan.nodev and not spec.privileged
    if nodev:
        sc.mount(None, root, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_NODEV)
    rootfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    step("mount /proc")
    fd = _strict_dir(rootfd, "proc")
    _mount("proc", fd, "proc", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
    os.close(fd)

    step("mount /dev")
    _mount_dev(rootfd, root, nodev, plan.init_binary)

    step("mount /sys")
    _mount_sys(rootfd, root, spec.privileged)

    step("mount /sys/fs/cgroup")
    _mount_cgroup_view(root, plan.cgroup_views, spec.privileged)

    extra = 0 if not nodev else sc.MS_NODEV
    for dest, source in spec.etc_files.items():
        step(f"mount {dest}")
        _bind(rootfd, source, dest, extra | (sc.MS_RDONLY if spec.readonly_rootfs else 0))

    for m in sorted(spec.mounts, key=lambda m: os.path.normpath(m.destination).count("/")):
        step(f"mount {m.destination}")
        _user_mount(rootfd, m, extra)

    if not spec.privileged:
        step("mask paths")
        _mask(root)
    return rootfd


def _mount_dev(rootfd: int, root: str, nodev: bool, init_binary: str | None) -> None:
    fd = _strict_dir(rootfd, "dev")
    try:
        st = os.stat("null", dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        pass
    else:
        if stat.S_ISLNK(st.st_mode):
            raise TuidockError("/dev/null is a symlink in the image: refusing to start")
    flags = sc.MS_NOSUID | sc.MS_STRICTATIME | (sc.MS_NODEV if nodev else 0)
    _mount("tmpfs", fd, "tmpfs", flags, "mode=755,size=65536k")
    os.close(fd)
    dev = f"{root}/dev"
    old_umask = os.umask(0)
    try:
        for name, major, minor in DEVICES:
            path = f"{dev}/{name}"
            if nodev:
                # A nodev /dev blocks nodes made here; a bind mount of the
                # host's node is its own mount and keeps working.
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666))
                sc.mount(f"/dev/{name}", path, None, sc.MS_BIND)
            else:
                os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(major, minor))
        for name, target in DEV_LINKS:
            os.symlink(target, f"{dev}/{name}")
        for name, mode in (("pts", 0o755), ("shm", 0o1777), ("mqueue", 0o755)):
            os.mkdir(f"{dev}/{name}", mode)
        if init_binary is not None:
            os.close(os.open(f"{dev}/init", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o755))
    finally:
        os.umask(old_umask)
    sc.mount(
        "devpts",
        f"{dev}/pts",
        "devpts",
        sc.MS_NOSUID | sc.MS_NOEXEC,
        "newinstance,ptmxmode=0666,mode=0620,gid=5",
    )
    sc.mount(
        "shm",
        f"{dev}/shm",
        "tmpfs",
        sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC,
        "mode=1777,size=65536k",
    )
    sc.mount("mqueue", f"{dev}/mqueue", "mqueue", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
    if init_binary is not None:
        _bind_path(init_binary, f"{dev}/init", sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV)


def _mount_sys(rootfd: int, root: str, privileged: bool) -> None:
    fd = _strict_dir(rootfd, "sys")
    flags = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | (0 if privileged else sc.MS_RDONLY)
    try:
        _mount("sysfs", fd, "sysfs", flags)
    except OSError as e:
        # A fresh sysfs needs to own the net namespace (not the case when
        # joining some netns); a recursive bind of the host's is the fallback.
        if e.errno != errno.EPERM:
            raise
        _mount("/sys", fd, None, sc.MS_BIND | sc.MS_REC)
        _mount(None, fd, None, sc.MS_BIND | sc.MS_REMOUNT | flags)
    finally:
        os.close(fd)


def _mount_cgroup_view(
    root: str, views: Sequence[tuple[str, Path, tuple[str, ...]]], privileged: bool
) -> None:
    target = f"{root}/sys/fs/cgroup"
    if not views or not os.path.isdir(target):
        return
    ro = 0 if privileged else sc.MS_RDONLY
    base = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC
    if len(views) == 1 and views[0][0] == "":
        _bind_path(str(views[0][1]), target, ro | base)
        return
    sc.mount("tmpfs", target, "tmpfs", base, "mode=755")
    for name, host_dir, aliases in views:
        os.mkdir(f"{target}/{name}", 0o755)
        _bind_path(str(host_dir), f"{target}/{name}", ro | base)
        for alias in aliases:
            os.symlink(name, f"{target}/{alias}")
    sc.mount(None, target, None, sc.MS_REMOUNT | base | ro)


def _bind_path(source: str, target: str, flags: int) -> None:
    """Bind `source` on `target` (both trusted host-side paths) with `flags`."""
    sc.mount(source, target, None, sc.MS_BIND)
    if flags:
        # mount(2) ignores per-mount flags on the first bind: it takes a remount.
        sc.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | flags)


def _bind(rootfd: int, source: str, dest: str, flags: int, recursive: bool = False) -> None:
    """Bind the host path `source` on `dest` inside the root."""
    try:
        st = os.stat(source)
    except OSError as e:
        raise TuidockError(f"bind source {source}: {e.strerror}") from e
    fd = open_in_root(rootfd, dest, "dir" if stat.S_ISDIR(st.st_mode) else "file")
    try:
        _mount(source, fd, None, sc.MS_BIND | (sc.MS_REC if recursive else 0))
        if flags:
            # The descriptor still names the directory under the new mount;
            # its path through /proc/self/fd now crosses into the bind.
            target = open_in_root(rootfd, dest)
            try:
                _mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | flags)
            finally:
                os.close(target)
    finally:
        os.close(fd)


def _mount_flags(options: Sequence[str], default: int) -> tuple[int, list[str]]:
    flags = default
    data = []
    for opt in options:
        if opt in _FLAG_OPTIONS:
            flags |= _FLAG_OPTIONS[opt]
        elif opt in _CLEARING_OPTIONS:
            flags &= ~_CLEARING_OPTIONS[opt]
        elif opt not in _IGNORED_OPTIONS:
            data.append(opt)
    return flags, data


def _user_mount(rootfd: int, m: MountSpec, extra: int) -> None:
    if not m.destination.startswith("/"):
        raise TuidockError(f"mount destination {m.destination!r} is not an absolute path")
    if m.type == "bind":
        flags, data = _mount_flags(m.options, 0)
        if data:
            raise TuidockError(f"unknown bind mount options: {', '.join(data)}")
        _bind(rootfd, m.source, m.destination, flags | extra, recursive="bind" not in m.options)
    elif m.type == "tmpfs":
        # Docker's --tmpfs defaults.
        default = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC
        flags, data = _mount_flags(m.options, default)
        fd = open_in_root(rootfd, m.destination, "dir")
        try:
            _mount("tmpfs", fd, "tmpfs", flags | extra, ",".join(data) or None)
        finally:
            os.close(fd)
    else:
        raise TuidockError(f"unknown mount type {m.type!r}")


def _mask(root: str) -> None:
    """Masked paths become empty and read-only paths read-only (our own /proc
    and /sys: kernel-made entries, no image symlinks on the way)."""
    null = f"{root}/dev/null"
    for path in MASKED_PATHS:
        target = root + path
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(st.st_mode):
            sc.mount("tmpfs", target, "tmpfs", sc.MS_RDONLY, "size=0")
        else:
            sc.mount(null, target, None, sc.MS_BIND)
    locked = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC
    for path in READONLY_PATHS:
        target = root + path
        try:
            sc.mount(target, target, None, sc.MS_BIND | sc.MS_REC)
        except FileNotFoundError:
            continue
        sc.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | locked)


# ------------------------------------------------------------------- pivot


def pivot(rootfd: int) -> None:
    """Make the prepared tree "/" and drop every trace of the host's root."""
    os.fchdir(rootfd)
    # pivot_root(".", ".") stacks the old root on top of the new one, so no
    # put_old directory has to be written into the (maybe read-only) image.
    sc.pivot_root(".", ".")
    sc.umount2(".", sc.MNT_DETACH)
    os.chdir("/")
    os.close(rootfd)


def remount_root_readonly(nodev: bool) -> None:
    flags = sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | (sc.MS_NODEV if nodev else 0)
    sc.mount(None, "/", None, flags)
