"""`tuidock cp`: copy between a container and the host without escaping the container.

A path inside the container is resolved by linux.scopedpath from a
directory fd on the container's root: one component at a time, each name
opened with O_NOFOLLOW relative to the directory before it, a symlink read
and its target resolved again from the container's root (absolute) or from
the directory it lies in (relative), and ".." never goes above the root. So a symlink in
the container pointing at /etc reaches the container's /etc, never the
host's, and a container process swapping names under us can only move us
around inside its own tree (the CVE-2018-15664 class). Entries written
into the container are created with O_NOFOLLOW / *at calls against
directory fds opened the same way.

Copying out, the whole tar is built from the container first (a failure
there writes nothing on the host), then extracted on the host by the same
O_NOFOLLOW walk below the destination directory, not by tarfile's
extractall: a name the container lists twice (a symlink, then a directory
of that name, swapped mid-walk) cannot lead a later entry out through the
symlink. Owners become the caller's unless -a; device nodes are not made
on the host. An extraction that fails removes the entries it created (and
a destination directory made for it); files it replaced stay replaced.

Every copy returns its Counts: entries that are not directories and the
bytes of the regular files, what the UI's notice says ("copied 3 files").

The container's root is:
- running: /proc/<pid1>/root opened as a directory fd (the root of its
  mount namespace, so its mounts show as it sees them);
- stopped: its overlay (image layers + upper dir) mounted in a child
  process's private mount namespace, which vanishes with the child: no
  mount is ever visible on the host. The container's op lock is held so a
  `start` cannot mount the same upper directory meanwhile.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tarfile
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tuidock.core.status import ContainerStatus
from tuidock.errors import NotFound, TuidockError
from tuidock.runtime.linux import scopedpath
from tuidock.runtime.store import events

if TYPE_CHECKING:
    from tuidock.runtime.container.service import Containers

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class CopyError(TuidockError):
    pass


@dataclass
class Counts:
    """What one copy moved: non-directory entries, and the bytes of the regular files."""

    files: int = 0
    bytes: int = 0
    into_dir: bool = False  # the destination was a directory: the copy went inside it

    def add(self, info: tarfile.TarInfo) -> None:
        if not info.isdir():
            self.files += 1
            if info.isreg():
                self.bytes += info.size


# -- resolution ----------------------------------------------------------------------------------


@dataclass
class Resolved:
    parent_fd: int  # the directory holding `name` (owned: close it)
    name: str  # "" when the path is the root itself
    st: os.stat_result | None  # lstat of the final entry; None if it does not exist
    shown: str  # the path as the user gave it, for messages


def resolve(root_fd: int, path: str, follow_last: bool) -> Resolved:
    """Find `path` inside the tree of `root_fd`, symlinks resolved inside it.

    The last component may be missing (st None), for a destination to be
    created.
    """
    try:
        parent, name, st = scopedpath.lookup_in_root(root_fd, path, follow_last)
    except FileNotFoundError:
        raise CopyError(f"Could not find the file {path} in container") from None
    except NotADirectoryError:
        raise CopyError(f"not a directory: {path}") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise CopyError(f"too many levels of symbolic links: {path}") from None
        raise
    return Resolved(parent, name, st, path)


# -- container -> tar ------------------------------------------------------------------------------


def _tarinfo(name: str, st: os.stat_result, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = st.st_mtime
    if stat.S_ISREG(st.st_mode):
        info.type, info.size = tarfile.REGTYPE, st.st_size
    elif stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(st.st_mode):
        info.type, info.linkname = tarfile.SYMTYPE, link
    elif stat.S_ISFIFO(st.st_mode):
        info.type = tarfile.FIFOTYPE
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    else:
        raise CopyError(f"cannot copy a socket: {name}")
    return info


def tar_from(res: Resolved, arcname: str, out: IO[bytes], contents_only: bool = False) -> Counts:
    """Write the entry `res` (a subtree for a directory) as a tar to `out`, named `arcname`.

    With `contents_only` (a source ending in "/."), the directory's entries
    are written at the top of the archive, not the directory itself.
    """
    if res.st is None:
        raise CopyError(f"Could not find the file {res.shown} in container")
    hardlinks: dict[tuple[int, int], str] = {}
    counts = Counts()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:

        def add(dir_fd: int, name: str, arc: str, st: os.stat_result, top: bool) -> None:
            if stat.S_ISSOCK(st.st_mode):
                return  # Docker skips sockets too: they are not files to copy
            if stat.S_ISDIR(st.st_mode):
                fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd) if name else os.dup(dir_fd)
                try:
                    if not (top and contents_only):
                        tar.addfile(_tarinfo(arc, st))
                    for child in sorted(os.listdir(fd)):
                        cst = os.stat(child, dir_fd=fd, follow_symlinks=False)
                        carc = f"{arc}/{child}" if arc else child
                        add(fd, child, carc, cst, False)
                finally:
                    os.close(fd)
                return
            link = os.readlink(name, dir_fd=dir_fd) if stat.S_ISLNK(st.st_mode) else ""
            info = _tarinfo(arc, st, link)
            counts.add(info)
            key = (st.st_dev, st.st_ino)
            if info.isreg() and st.st_nlink > 1:
                if key in hardlinks:
                    info.type, info.linkname, info.size = tarfile.LNKTYPE, hardlinks[key], 0
                    tar.addfile(info)
                    return
                hardlinks[key] = arc
            if info.isreg():
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
                with os.fdopen(fd, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)

        add(res.parent_fd, res.name, "" if contents_only else arcname, res.st, True)
    return counts


# -- tar -> container ------------------------------------------------------------------------------


def _remove_entry(parent: int, name: str) -> None:
    st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    if stat.S_ISDIR(st.st_mode):
        os.rmdir(name, dir_fd=parent)  # only an empty one: never wipes a tree
    else:
        os.unlink(name, dir_fd=parent)


def untar_into(
    dest_fd: int, src: IO[bytes], owner: tuple[int, int] | None, devices: bool = True
) -> Counts:
    """Extract the tar read from `src` below the directory `dest_fd`, never leaving it.

    No entry is followed through a symlink: intermediate directories are
    opened with O_NOFOLLOW (an archive naming "link/x" where "link" is a
    symlink fails), names with ".." or a leading "/" are refused. Owners
    become `owner`, or stay the archive's when it is None. Device nodes are
    skipped unless `devices`. On failure every entry this call created is
    removed again; directories get their modes and times last, deepest
    first, so a read-only directory does not stop its own entries.
    """
    created: list[list[str]] = []
    dirs: list[tuple[list[str], tarfile.TarInfo]] = []
    counts = Counts()
    try:
        with tarfile.open(fileobj=src, mode="r|*") as tar:
            for member in tar:
                parts = scopedpath.split(member.name)
                if not parts:
                    continue
                if ".." in parts:
                    raise CopyError(
                        f"refusing archive entry outside the destination: {member.name}"
                    )
                if (member.ischr() or member.isblk()) and not devices:
                    continue
                with _parent_of(dest_fd, parts, create=created) as parent:
                    if not _lexists(parent, parts[-1]):
                        created.append(parts)  # before writing: a half-written file goes too
                    _extract_one(tar, member, parent, parts[-1], dest_fd, owner)
                counts.add(member)
                if member.isdir():
                    dirs.append((parts, member))
        for parts, member in reversed(dirs):
            with _parent_of(dest_fd, parts, create=None) as parent:
                fd = os.open(parts[-1], _DIR_FLAGS, dir_fd=parent)
            try:
                os.chmod(fd, member.mode & 0o7777)
                with contextlib.suppress(OSError):
                    os.utime(fd, (member.mtime, member.mtime))
            finally:
                os.close(fd)
    except BaseException:
        _remove_created(dest_fd, created)
        raise
    return counts


@contextlib.contextmanager
def _parent_of(dest_fd: int, parts: list[str], create: list[list[str]] | None) -> Iterator[int]:
    """The directory holding `parts` below `dest_fd`, each step opened with O_NOFOLLOW.

    With `create` (the list of entries made so far), missing directories
    are made and recorded there.
    """
    opened: list[int] = []
    try:
        parent = dest_fd
        for i, comp in enumerate(parts[:-1]):
            if create is not None and not _lexists(parent, comp):
                os.mkdir(comp, 0o755, dir_fd=parent)
                create.append(parts[: i + 1])
            parent = os.open(comp, _DIR_FLAGS, dir_fd=parent)
            opened.append(parent)
        yield parent
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            raise CopyError(
                f"refusing to write through a symlink or non-directory: {'/'.join(parts)}"
            ) from None
        raise
    finally:
        for fd in opened:
            os.close(fd)


def _lexists(parent: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _remove_created(dest_fd: int, created: list[list[str]]) -> None:
    """Remove what an extraction made, children before their directories."""
    for parts in reversed(created):
        with contextlib.suppress(OSError, CopyError), _parent_of(dest_fd, parts, None) as parent:
            _remove_entry(parent, parts[-1])


def _extract_one(
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    parent: int,
    name: str,
    dest_fd: int,
    owner: tuple[int, int] | None,
) -> None:
    try:
        existing = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        existing = None
    if member.isdir():
        if existing is not None and not stat.S_ISDIR(existing.st_mode):
            _remove_entry(parent, name)
            existing = None
        if existing is None:
            os.mkdir(name, 0o700, dir_fd=parent)
    else:
        if existing is not None:
            if stat.S_ISDIR(existing.st_mode):
                raise CopyError(f"cannot overwrite directory {member.name} with a non-directory")
            os.unlink(name, dir_fd=parent)
        if member.isreg():
            fd = os.open(
                name,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=parent,
            )
            with os.fdopen(fd, "wb") as out:
                data = tar.extractfile(member)
                if data is not None:
                    while chunk := data.read(1 << 20):
                        out.write(chunk)
        elif member.issym():
            os.symlink(member.linkname, name, dir_fd=parent)
        elif member.islnk():
            tparts = scopedpath.split(member.linkname)
            if not tparts or ".." in tparts:
                raise CopyError(f"refusing hardlink outside the destination: {member.linkname}")
            with _parent_of(dest_fd, tparts, create=None) as tparent:
                os.link(
                    tparts[-1], name, src_dir_fd=tparent, dst_dir_fd=parent, follow_symlinks=False
                )
            return
        elif member.isfifo():
            os.mkfifo(name, 0o600, dir_fd=parent)
        elif member.ischr() or member.isblk():
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(
                name, kind | 0o600, os.makedev(member.devmajor, member.devminor), dir_fd=parent
            )
        else:
            return
    if os.geteuid() == 0:  # others cannot give files away (tarfile's rule too)
        uid, gid = owner if owner is not None else (member.uid, member.gid)
        os.chown(name, uid, gid, dir_fd=parent, follow_symlinks=False)
    if member.isdir():
        return  # mode and times come last (see untar_into)
    if not member.issym():
        os.chmod(name, member.mode & 0o7777, dir_fd=parent)
    with contextlib.suppress(OSError):
        os.utime(name, (member.mtime, member.mtime), dir_fd=parent, follow_symlinks=False)


# -- container roots -------------------------------------------------------------------------------


# Docker's event names: reading a path out of a container, extracting into one.
_COPY_ACTION = {False: "archive-path", True: "extract-to-dir"}


def in_container_root(
    containers: Containers, cid: str, fn: Callable[[int], Any], writable: bool
) -> Any:
    """fn(root_fd) with a directory fd on the container's root filesystem: its result.

    On a stopped container fn runs in a child process: its result must be JSON
    (a list comes back for a tuple), or None.
    """
    from tuidock.runtime.linux.procwatch import process_alive

    store = containers.store
    state = store.state(cid)
    if ContainerStatus.of(state).is_active:
        pid = int(state.get("Pid") or 0)
        root_fd = os.open(f"/proc/{pid}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            # Checked after the open: the fd is the root of the process we meant,
            # not of a process that reused its pid.
            if not process_alive(pid, state.get("PidStartTime")):
                raise CopyError(f"container {cid[:12]} stopped while copying")
            result = fn(root_fd)
        finally:
            os.close(root_fd)
        events.record_container(containers.root, _COPY_ACTION[writable], cid)
        return result
    with store.op_lock(cid):
        if ContainerStatus.of(store.state(cid)).is_active:
            raise CopyError(f"container {cid[:12]} started meanwhile; try again")
        with open(store.files(cid).spec, "rb") as f:
            spec = json.loads(f.read())
        result = _in_private_mount(spec, fn, writable)
    events.record_container(containers.root, _COPY_ACTION[writable], cid)
    return result


def _in_private_mount(spec: dict, fn: Callable[[int], Any], writable: bool) -> Any:
    """Mount the stopped container's overlay in a child's own mount namespace; run fn there."""
    import sys

    from tuidock.runtime.linux import syscalls as sc
    from tuidock.runtime.linux.overlay import mount_overlay

    rfd, wfd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(rfd)
            sc.unshare(sc.CLONE_NEWNS)
            # Nothing mounted here may propagate to the host.
            sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
            root = spec["rootfs"]
            lowers = [Path(d) for d in spec.get("lower_dirs") or []]
            # Without lower dirs the rootfs is a plain directory (the copy
            # fallback where overlayfs is missing): nothing to mount.
            if lowers:
                mount_overlay(
                    lowers,
                    Path(root),
                    Path(spec["upper_dir"]),
                    Path(spec["work_dir"]),
                    readonly=not writable,
                )
            root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            result = fn(root_fd)
            os.close(root_fd)
            # No stdout flush here: the parent may be the threaded UI, whose
            # stream lock another thread could have held at the fork; fn writes
            # only to its own files and the report goes straight to the pipe.
            # The result rides the report pipe; the parent tells it from an error by its key.
            os.write(wfd, json.dumps({"result": result}).encode())
        except BaseException as e:  # reported to the parent, which raises it
            code = 1
            if isinstance(e, TuidockError):
                msg = {"message": e.message, "hint": e.hint, "not_found": isinstance(e, NotFound)}
            elif isinstance(e, OSError):
                where = f" ({e.filename})" if e.filename else ""
                msg = {"message": f"{e.strerror or e}{where}", "hint": None}
            else:
                msg = {"message": f"{type(e).__name__}: {e}", "hint": None}
                if os.environ.get("TUIDOCK_DEBUG"):
                    traceback.print_exc()
            with contextlib.suppress(OSError):
                os.write(wfd, json.dumps(msg).encode())
        finally:
            os._exit(code)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as r:
        report = r.read()
    _, status = os.waitpid(pid, 0)
    msg = json.loads(report) if report else {}
    if "message" in msg:
        raise CopyError(msg["message"], msg.get("hint"))
    if os.waitstatus_to_exitcode(status) != 0 or "result" not in msg:
        raise CopyError("copying failed")
    return msg["result"]


# -- the two directions ------------------------------------------------------------------------------


def _dir_fd(res: Resolved) -> int:
    if not res.name:
        return os.dup(res.parent_fd)
    return os.open(res.name, _DIR_FLAGS, dir_fd=res.parent_fd)


def _basename(path: str) -> str:
    parts = scopedpath.split(path)
    return parts[-1] if parts else "/"


def copy_out(
    root_fd: int, cpath: str, dest: str, out: IO[bytes] | None, archive: bool, follow: bool
) -> Counts:
    """Container path `cpath` to the host path `dest`, or as a tar to `out` when dest is "-"."""
    import tempfile

    # A trailing "/" or "/." says "the directory": a symlink there is followed.
    dir_hint = cpath.endswith(("/", "/."))
    res = resolve(root_fd, cpath, follow_last=follow or dir_hint)
    try:
        if res.st is None:
            raise CopyError(f"Could not find the file {cpath} in container")
        src_dir = stat.S_ISDIR(res.st.st_mode)
        if dir_hint and not src_dir:
            raise CopyError(f"not a directory: {cpath}")
        # "/." copies a directory's contents; so does the root, which has no name.
        contents_only = src_dir and (cpath.endswith("/.") or not scopedpath.split(cpath))
        if dest == "-":
            assert out is not None
            counts = tar_from(res, _basename(cpath), out, contents_only)
            out.flush()  # in a stopped container's child the process ends by _exit next
            return counts
        # Host side: Docker's rules for where the copy lands.
        target_dir, arcname = dest, _basename(cpath)
        into_dir = os.path.isdir(dest)
        if into_dir:
            pass
        elif os.path.lexists(dest):
            if src_dir:
                raise CopyError(f"cannot copy a directory to a file: {dest}")
            target_dir, arcname = os.path.dirname(dest) or ".", os.path.basename(dest)
        else:
            if dest.endswith("/") and not src_dir:
                raise CopyError(f"destination directory {dest} does not exist")
            parent = os.path.dirname(dest.rstrip("/")) or "."
            if not os.path.isdir(parent):
                raise CopyError(f"destination directory {parent} does not exist")
            target_dir, arcname = parent, os.path.basename(dest.rstrip("/"))
            if contents_only:
                target_dir, arcname = dest.rstrip("/"), ""
        with tempfile.TemporaryFile() as tmp:
            # The whole archive first: a container-side failure writes nothing here.
            tar_from(res, arcname, tmp, contents_only)  # type: ignore[arg-type]
            tmp.seek(0)
            made_dir = not os.path.isdir(target_dir)
            if made_dir:
                os.mkdir(target_dir, 0o755)
            try:
                fd = os.open(target_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    # Without -a the files become the caller's; device nodes are not
                    # made on the host (a container's 0666 disk would be anyone's).
                    owner = None if archive else (os.getuid(), os.getgid())
                    counts = untar_into(fd, tmp, owner, devices=False)  # type: ignore[arg-type]
                    counts.into_dir = into_dir
                    return counts
                finally:
                    os.close(fd)
            except BaseException:
                if made_dir:
                    with contextlib.suppress(OSError):
                        os.rmdir(target_dir)
                raise
    finally:
        os.close(res.parent_fd)


def copy_in(root_fd: int, src: str, cpath: str, stdin: IO[bytes] | None, archive: bool) -> Counts:
    """Host path `src` (or a tar on `stdin` when src is "-") into the container path `cpath`."""
    import tempfile

    res = resolve(root_fd, cpath, follow_last=True)
    try:
        if src == "-":
            if res.st is None or not stat.S_ISDIR(res.st.st_mode):
                raise CopyError(f"destination {cpath} must be a directory in the container")
            assert stdin is not None
            fd = _dir_fd(res)
            try:
                return untar_into(fd, stdin, None if archive else (0, 0))
            finally:
                os.close(fd)
        if not os.path.lexists(src):
            raise CopyError(f"could not find the file {src} on the host")
        src_dir = os.path.isdir(src) and not os.path.islink(src)
        contents_only = src_dir and src.endswith("/.")
        into_dir = res.st is not None and stat.S_ISDIR(res.st.st_mode)
        if into_dir:
            fd = _dir_fd(res)
            arcname = "" if contents_only else os.path.basename(os.path.normpath(src))
        elif res.st is None:
            if cpath.endswith("/") and not src_dir:
                raise CopyError(f"destination directory {cpath} does not exist in the container")
            fd, arcname = os.dup(res.parent_fd), res.name
        else:
            if src_dir:
                raise CopyError(f"cannot copy a directory to a file: {cpath}")
            fd, arcname = os.dup(res.parent_fd), res.name
        try:
            with tempfile.TemporaryFile() as tmp:
                with tarfile.open(fileobj=tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
                    if arcname:
                        tar.add(src, arcname=arcname)
                    else:
                        for child in sorted(os.listdir(src)):
                            tar.add(os.path.join(src, child), arcname=child)
                tmp.seek(0)
                counts = untar_into(fd, tmp, None if archive else (0, 0))  # type: ignore[arg-type]
                counts.into_dir = into_dir
                return counts
        finally:
            os.close(fd)
    finally:
        os.close(res.parent_fd)


def copy_from_container(
    containers: Containers,
    cid: str,
    cpath: str,
    dest: str,
    out: IO[bytes] | None = None,
    archive: bool = False,
    follow: bool = False,
) -> Counts:
    """`cp CONTAINER:cpath dest` on a running or stopped container (the CLI's and the UI's)."""

    def run(root_fd: int) -> list[int | bool]:
        counts = copy_out(root_fd, cpath, dest, out, archive, follow)
        if out is not None:
            out.flush()
        return [counts.files, counts.bytes, counts.into_dir]

    return Counts(*in_container_root(containers, cid, run, writable=False))


def copy_to_container(
    containers: Containers,
    cid: str,
    src: str,
    cpath: str,
    stdin: IO[bytes] | None = None,
    archive: bool = False,
) -> Counts:
    """`cp src CONTAINER:cpath` on a running or stopped container (the CLI's and the UI's)."""

    def run(root_fd: int) -> list[int | bool]:
        counts = copy_in(root_fd, src, cpath, stdin, archive)
        return [counts.files, counts.bytes, counts.into_dir]

    return Counts(*in_container_root(containers, cid, run, writable=True))
