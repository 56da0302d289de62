"""Stacking unpacked layers: overlayfs mounts, and a copy fallback without it.

Layer directories hold overlay-form whiteouts (0/0 character devices) and
opaque directories (`trusted.overlay.opaque=y`), see `unpack`. Lists of
layers are always top first, as overlayfs' `lowerdir` wants them.

Mount data is limited to one page. A layer path in the store is ~100 bytes
(`<root>/layers/<64-hex chain id>/diff`), so ~40 layers fill a page while
images may have 100+ (Docker allows 125). Rather than keeping a directory of
short symlinks in the store (Docker's `l/` directory, one more thing to keep
consistent) or changing the working directory of a threaded process (Docker
forks a helper for that), long option strings are built from
`/proc/self/fd/N` paths of O_PATH descriptors opened on each layer: about 18
bytes a layer, so even 200 layers fit, on every kernel with overlayfs, and a
path with `:` or `,` (which the option syntax cannot carry unescaped) works
too. The descriptors are closed once mount(2) has resolved them. Short plain
paths are still used when they fit, because they read better in /proc/mounts.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from tuidock.errors import TuidockError
from tuidock.runtime.linux import syscalls

OPAQUE_XATTR = "trusted.overlay.opaque"
OVERLAY_XATTR_PREFIX = "trusted.overlay."
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_UNSAFE_OPTION_CHARS = frozenset(":,\\\n")


def mount_overlay(
    lower_dirs: Sequence[Path],
    target: Path,
    upper: Path | None = None,
    work: Path | None = None,
    readonly: bool = False,
) -> None:
    """Mount the layers `lower_dirs` (top first) on `target`.

    With `upper` and `work` (same filesystem, `work` empty) the mount is
    writable unless `readonly`; without them it is a read-only view. A
    read-only view of a single layer is a read-only bind mount, since
    overlayfs wants two lower layers when there is no upper one.
    """
    lowers = [_absolute(p) for p in lower_dirs]
    if not lowers:
        raise TuidockError("an overlay mount needs at least one layer")
    if (upper is None) != (work is None):
        raise TuidockError("an overlay upper directory needs a work directory, and the reverse")
    target_s = _absolute(target)
    if upper is None and len(lowers) == 1:
        _bind_readonly(lowers[0], target_s)
        return
    upper_s = _absolute(upper) if upper is not None else None
    work_s = _absolute(work) if work is not None else None
    if upper_s is not None and work_s is not None:
        os.makedirs(upper_s, exist_ok=True)
        os.makedirs(work_s, exist_ok=True)
    flags = syscalls.MS_RDONLY if (readonly or upper_s is None) else 0
    fds: list[int] = []
    try:
        data = _options(lowers, upper_s, work_s, fds)
        syscalls.mount("overlay", target_s, "overlay", flags, data)
    except OSError as e:
        raise TuidockError(
            f"cannot mount the {len(lowers)} image layers on {target_s}: {e.strerror}",
            hint=_mount_hint(e),
        ) from e
    finally:
        for fd in fds:
            os.close(fd)


def unmount(target: Path, *, detach: bool = False) -> None:
    """Unmount `target`; nothing happens if it is not a mount point.

    `detach` (MNT_DETACH) takes the mount away even while processes still
    use it; it goes away for good when they let go.
    """
    flags = syscalls.UMOUNT_NOFOLLOW | (syscalls.MNT_DETACH if detach else 0)
    try:
        syscalls.umount2(_absolute(target), flags)
    except OSError as e:
        if e.errno in (errno.EINVAL, errno.ENOENT):
            return
        raise TuidockError(f"cannot unmount {target}: {e.strerror}") from e


def _absolute(path: Path | str) -> str:
    return os.path.abspath(os.fspath(path))


def _plain_ok(path: str) -> bool:
    return not (_UNSAFE_OPTION_CHARS & set(path))


def _index_param() -> str:
    # Docker and containerd turn the inode index off where the kernel knows
    # it: with it on, a lower layer shared by several containers can make
    # later mounts fail with ESTALE.
    return ",index=off" if os.path.exists("/sys/module/overlay/parameters/index") else ""


def _options(lowers: list[str], upper: str | None, work: str | None, fds: list[int]) -> str:
    def build(paths: list[str], up: str | None, wk: str | None) -> str:
        text = "lowerdir=" + ":".join(paths)
        if up is not None and wk is not None:
            text += f",upperdir={up},workdir={wk}" + _index_param()
        return text

    everything = [*lowers, *(p for p in (upper, work) if p is not None)]
    if all(_plain_ok(p) for p in everything):
        text = build(lowers, upper, work)
        if len(text.encode()) < PAGE_SIZE:
            return text

    def via_fd(path: str) -> str:
        fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        fds.append(fd)
        return f"/proc/self/fd/{fd}"

    def short(path: str | None) -> str | None:
        # Upper and work stay readable in /proc/mounts when they can.
        if path is None:
            return None
        return path if _plain_ok(path) and len(path) < 256 else via_fd(path)

    text = build([via_fd(p) for p in lowers], short(upper), short(work))
    if len(text.encode()) >= PAGE_SIZE:
        raise TuidockError(f"too many layers ({len(lowers)}) for one overlay mount")
    return text


def _bind_readonly(source: str, target: str) -> None:
    try:
        syscalls.mount(source, target, None, syscalls.MS_BIND)
    except OSError as e:
        raise TuidockError(f"cannot bind-mount {source} on {target}: {e.strerror}") from e
    try:
        # MS_RDONLY is ignored by the first bind; it takes a remount.
        syscalls.mount(
            None, target, None, syscalls.MS_BIND | syscalls.MS_REMOUNT | syscalls.MS_RDONLY
        )
    except OSError as e:
        syscalls.umount2(target, syscalls.MNT_DETACH)
        raise TuidockError(f"cannot make the mount on {target} read-only: {e.strerror}") from e


def _mount_hint(e: OSError) -> str | None:
    if e.errno == errno.EPERM:
        return "mounting needs root (CAP_SYS_ADMIN)"
    if e.errno == errno.ENODEV:
        return "the kernel has no overlay filesystem (modprobe overlay), or use the copy fallback"
    if e.errno == errno.EINVAL:
        return "the kernel refused the overlay options; `dmesg | grep overlay` says why"
    return None


# ------------------------------------------------------------------- probe

_probe_lock = threading.Lock()
_probed: dict[int, bool] = {}  # st_dev -> result


def overlay_supported(base: Path) -> bool:
    """Whether overlay mounts of layers stored under `base` work here.

    Probed once per filesystem: mounts two lower layers (a whiteout and an
    opaque directory in the top one) plus an upper layer in a scratch
    directory under `base`, checks what the merged view shows, writes and
    deletes through it, and cleans up.
    """
    try:
        dev = os.stat(base).st_dev
    except OSError:
        return False
    with _probe_lock:
        known = _probed.get(dev)
        if known is None:
            known = _probed[dev] = _probe(_absolute(base))
        return known


def _probe(base: str) -> bool:
    try:
        scratch = tempfile.mkdtemp(prefix=".overlay-probe-", dir=base)
    except OSError:
        return False
    merged = os.path.join(scratch, "m")
    mounted = False
    try:
        top, bottom, upper, work = (os.path.join(scratch, n) for n in ("t", "b", "u", "w"))
        for d in (top, bottom, upper, work, merged, f"{bottom}/opq", f"{top}/opq"):
            os.makedirs(d)
        for f in ("gone", "kept", "opq/hidden"):
            Path(bottom, f).write_bytes(b"x")
        Path(top, "opq/shown").write_bytes(b"x")
        os.mknod(f"{top}/gone", stat.S_IFCHR, 0)
        os.setxattr(f"{top}/opq", OPAQUE_XATTR, b"y")
        mount_overlay([Path(top), Path(bottom)], Path(merged), Path(upper), Path(work))
        mounted = True
        ok = (
            not os.path.lexists(f"{merged}/gone")
            and os.path.exists(f"{merged}/kept")
            and not os.path.lexists(f"{merged}/opq/hidden")
            and os.path.exists(f"{merged}/opq/shown")
        )
        Path(merged, "new").write_bytes(b"y")
        os.unlink(f"{merged}/kept")  # makes a whiteout in the upper layer
        return ok and not os.path.lexists(f"{merged}/kept")
    except (OSError, TuidockError):
        return False
    finally:
        if mounted:
            try:
                syscalls.umount2(merged, syscalls.MNT_DETACH)
            except OSError:
                pass
        shutil.rmtree(scratch, ignore_errors=True)


# --------------------------------------------------------- copy fallback


def materialize(lower_dirs: Sequence[Path], dest: Path) -> None:
    """Merge the layers (top first) into the plain directory `dest`.

    For filesystems without overlayfs: the result is what an overlay mount of
    the same layers shows (whiteouts and opaque directories honoured, the
    topmost layer's attributes for a directory, names hardlinked together in
    one layer still hardlinked). Layers are trusted store content, but their
    symlinks came from images: nothing here follows a symlink, and `dest`
    is only written below directories made real by this pass.
    """
    layers = [_absolute(p) for p in lower_dirs]
    root = _absolute(dest)
    os.makedirs(root, exist_ok=True)
    if os.listdir(root):
        raise TuidockError(f"{root} is not empty")
    times: dict[str, tuple[int, int]] = {}
    for layer in reversed(layers):
        _merge_layer(layer, root, times)
    # Last and deepest first: filling a directory changes its mtime.
    for rel in sorted(times, key=lambda p: p.count("/") + (p != ""), reverse=True):
        path = f"{root}/{rel}" if rel else root
        try:
            if stat.S_ISDIR(os.lstat(path).st_mode):
                os.utime(path, ns=times[rel], follow_symlinks=False)
        except FileNotFoundError:
            pass


def _merge_layer(src_root: str, dst_root: str, times: dict[str, tuple[int, int]]) -> None:
    st = os.lstat(src_root)
    _copy_meta(src_root, dst_root, st)
    times[""] = (st.st_atime_ns, st.st_mtime_ns)
    links: dict[int, str] = {}  # inode in this layer -> first copy in dest
    todo = [""]
    while todo:
        rel = todo.pop()
        src_dir = f"{src_root}/{rel}" if rel else src_root
        with os.scandir(src_dir) as it:
            entries = list(it)
        for entry in entries:
            child = f"{rel}/{entry.name}" if rel else entry.name
            dst = f"{dst_root}/{child}"
            st = entry.stat(follow_symlinks=False)
            mode = st.st_mode
            if stat.S_ISCHR(mode) and st.st_rdev == 0:
                _remove(dst)
                continue
            if stat.S_ISDIR(mode):
                try:
                    old = os.lstat(dst)
                except FileNotFoundError:
                    old = None
                if old is not None and not stat.S_ISDIR(old.st_mode):
                    _remove(dst)
                    old = None
                if old is None:
                    os.mkdir(dst, 0o700)
                elif _is_opaque(entry.path):
                    for name in os.listdir(dst):
                        _remove(f"{dst}/{name}")
                _copy_meta(entry.path, dst, st)
                times[child] = (st.st_atime_ns, st.st_mtime_ns)
                todo.append(child)
                continue
            _remove(dst)
            first = links.get(st.st_ino) if st.st_nlink > 1 else None
            if first is not None:
                os.link(first, dst, follow_symlinks=False)
                continue
            _copy_node(entry.path, dst, st)
            if st.st_nlink > 1:
                links[st.st_ino] = dst


def _remove(path: str) -> None:
    # Recorded directory times need no cleanup: a directory in `dest` always
    # comes from a layer that records its times again, and times of paths
    # that are gone are skipped at the end.
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _copy_node(src: str, dst: str, st: os.stat_result) -> None:
    mode = st.st_mode
    if stat.S_ISREG(mode):
        sfd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            dfd = os.open(dst, flags, 0o600)
            try:
                _copy_data(sfd, dfd, st.st_size)
                os.fchown(dfd, st.st_uid, st.st_gid)
                os.fchmod(dfd, stat.S_IMODE(mode))
                _copy_xattrs(src, dfd)
                os.utime(dfd, ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                os.close(dfd)
        finally:
            os.close(sfd)
        return
    if stat.S_ISLNK(mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISFIFO(mode):
        os.mkfifo(dst, 0o600)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        os.mknod(dst, stat.S_IFMT(mode) | 0o600, st.st_rdev)
    elif stat.S_ISSOCK(mode):
        return  # sockets do not survive a copy; overlayfs would show a dead one
    else:
        raise TuidockError(f"cannot copy {src}: unknown file type")
    os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    if not stat.S_ISLNK(mode):
        os.chmod(dst, stat.S_IMODE(mode))
    _copy_xattrs(src, dst)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _copy_data(sfd: int, dfd: int, size: int) -> None:
    left = size
    try:
        while left > 0:
            n = os.copy_file_range(sfd, dfd, min(left, 1 << 30))
            if n == 0:
                break
            left -= n
        return
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    while left > 0:
        n = os.sendfile(dfd, sfd, None, min(left, 1 << 30))
        if n == 0:
            break
        left -= n


def _copy_meta(src: str, dst: str, st: os.stat_result) -> None:
    """Owner, mode and xattrs of a directory; the xattrs become exactly the source's."""
    os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    os.chmod(dst, stat.S_IMODE(st.st_mode))
    wanted = _copy_xattrs(src, dst)
    try:
        present = os.listxattr(dst, follow_symlinks=False)
    except OSError:
        return
    for name in present:
        if name not in wanted:
            try:
                os.removexattr(dst, name, follow_symlinks=False)
            except OSError as e:
                if e.errno != errno.ENODATA:
                    raise


def _copy_xattrs(src: str, dst: str | int) -> set[str]:
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return set()
        raise
    copied = set()
    for name in names:
        if name.startswith(OVERLAY_XATTR_PREFIX):
            continue
        try:
            value = os.getxattr(src, name, follow_symlinks=False)
            if isinstance(dst, int):
                os.setxattr(dst, name, value)
            else:
                os.setxattr(dst, name, value, follow_symlinks=False)
        except OSError as e:
            if e.errno in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
                continue
            raise
        copied.add(name)
    return copied


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False
