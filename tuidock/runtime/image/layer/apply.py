"""Applying the members of one untrusted layer tar to its own directory.

The layer is kept in overlay form: a whiteout `.wh.NAME` becomes a 0/0
character device NAME, an opaque marker `.wh..wh..opq` becomes
`trusted.overlay.opaque=y` on its directory.

Safety model. The tar is hostile; the destination directory is ours and
nobody else writes into it while we unpack (the layer store holds a lock), so
the only adversary is the sequence of entries. Every parent path is resolved
below the layer root by linux.scopedpath's walk, one component at a time with
lstat: symlinks met in parent components are resolved *scoped to the layer
root* (an absolute target restarts at the layer root, `..` stops at it, at
most 40 links, like filepath-securejoin), and the final component is never
followed (every creation uses O_EXCL/mkdirat/mknodat/symlinkat/linkat, which
fail on an existing symlink instead of following it). Directories proven to
be real directories are cached, and the cache entries under a path are
dropped whenever an entry replaces that path, so later entries cannot slip a
symlink under a cached parent. Syscalls then take paths relative to an fd of
the layer root whose every parent component is such a real directory.

Entry names with a `..` that climbs above the root are refused (InvalidLayer)
rather than clamped: no layer tool writes them, so they are a sign of a
hostile archive, and silently clamping would write files where the author of
the archive did not say. `..` that stays inside the layer (`a/../b`) is
collapsed lexically, as Go's path.Clean does for Docker and containerd.

Whiteouts apply to lower layers only. A whiteout for a name this layer also
creates never removes this layer's entry (whatever the order); if that entry
is a directory it is made opaque, which is what "delete the lower one, then
create this one" means in overlay form. An opaque marker at the layer root is
written as a whiteout of every name of the lower roots, because overlayfs
ignores the opaque xattr on a layer's root. AUFS metadata (`.wh..wh.plnk`
and the like), a bare `.wh.` and whiteouts of `.` or `..` are refused.

Exactness: owners, modes (setuid/setgid/sticky, applied after chown), pax
sub-second mtimes (directories last, deepest first), hardlinks, devices,
fifos, and xattrs in the trusted/security/user namespaces. `trusted.overlay.*`
xattrs from an archive are dropped: they would let a layer redirect or hide
parts of other layers. Parents the archive does not list take the attributes
of the same directory in the lower layers when it exists there (as containerd
does with parent layers), else 0755 root:root.

Speed: small regular files are created by writer threads (writers.py)
while this thread reads on; it settles a path before touching it and drains
the writers before removing a directory, so the result is the same as when
one thread does everything, and the safety model above is unchanged (a
writer only creates below directories proven real, with O_EXCL|O_NOFOLLOW).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import stat
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tuidock.errors import InvalidLayer, TooLarge, TuidockError
from tuidock.runtime.image.layer.tarstream import COPY_CHUNK, TarSource, TarStream, times
from tuidock.runtime.image.layer.writers import (
    CREATE_FLAGS,
    FileJob,
    WriterPool,
    Xattrs,
    finish_file,
    set_xattrs,
    write_all,
)
from tuidock.runtime.linux import scopedpath

log = logging.getLogger(__name__)

MiB = 1 << 20
GiB = 1 << 30

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
# Overlay's own bookkeeping (opaque, redirect, metacopy, origin...) must only
# come from our whiteout conversion, never from an archive: a layer setting
# them could change how other layers are seen.
OVERLAY_XATTR_PREFIX = "trusted.overlay."
SETTABLE_XATTR_PREFIXES = ("trusted.", "security.", "user.")
PAX_XATTR_PREFIX = "SCHILY.xattr."
# Regular files up to this size are read into memory and written by writer
# threads (unpackwriter); bigger ones stream from the reader's thread, where
# the per-file cost of creating the inode matters less than the copy.
SMALL_FILE = 1 * MiB
_REGULAR_TYPES = frozenset(
    (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE, tarfile.GNUTYPE_SPARSE)
)
# errnos that an archive can provoke by its content (as opposed to a full or
# failing disk), reported as an invalid layer.
_CONTENT_ERRNOS = frozenset(
    (
        errno.ENAMETOOLONG,
        errno.ELOOP,
        errno.ENOTDIR,
        errno.EEXIST,
        errno.EISDIR,
        errno.EINVAL,
        errno.ENOENT,
        errno.EMLINK,
        errno.ENOTEMPTY,
        errno.ERANGE,
        errno.E2BIG,
    )
)


@dataclass
class UnpackLimits:
    """Bounds on what one layer may make us do; generous enough for real images."""

    max_bytes: int = 64 * GiB  # regular file content (and data of skipped entries)
    max_entries: int = 5_000_000
    max_name: int = 4096  # bytes of an entry name or link target
    max_xattr_bytes: int = 1 * MiB  # names + values of one entry's xattrs
    max_header_bytes: int = 16 * MiB  # one entry's headers (pax, GNU long names, sparse maps)


@dataclass
class UnpackResult:
    size: int  # bytes of regular file content written from the archive
    entries: int  # tar entries processed (whiteouts included)


def _split(name: str, what: str = "entry") -> list[str]:
    """Normalised components of an archive path; refuses climbing above the root."""
    parts: list[str] = []
    for comp in name.split("/"):
        if comp == "" or comp == ".":
            continue
        if comp == "..":
            if not parts:
                raise InvalidLayer(f"invalid layer: path escapes the layer root: {what} {name!r}")
            parts.pop()
            continue
        parts.append(comp)
    return parts


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


class Applier:
    def __init__(self, root_fd: int, dest: Path, lowers: list[Path], limits: UnpackLimits):
        self.root = root_fd
        self.dest = str(dest)
        # Resolved once: the store's own paths are trusted, and afterwards
        # every lookup below them is done without following symlinks.
        self.lowers = [os.path.realpath(p) for p in lowers]
        self.limits = limits
        # Relative paths proven to be real directories reached through real
        # directories only; "" is the layer root.
        self.known_dirs: set[str] = {""}
        # parent -> its known subdirectories, so that forgetting a removed
        # tree costs the size of that tree, not of everything known.
        self.subdirs: dict[str, set[str]] = {}
        self.dir_times: dict[str, tuple[int, int]] = {}
        self.opaque: set[str] = set()
        self.whited_out: set[str] = set()
        self.size = 0
        self.consumed = 0
        self.entries = 0
        self.name = ""  # the entry being applied, for error messages
        self.pool: WriterPool | None = None

    # ----------------------------------------------------------------- driver

    def run(self, stream: BinaryIO) -> UnpackResult:
        members = TarStream(stream, self.limits.max_header_bytes, self.limits.max_entries)
        try:
            self._init_root()
            for member in members:
                self.name = member.name
                self._apply(member, members)
        except (tarfile.TarError, OverflowError) as e:
            # tarfile reading a sparse member's data, or numbers too big for
            # the kernel (device numbers, times).
            raise self._corrupt(e) from None
        except OSError as e:
            raise self._os_error(e) from e
        try:
            self._drain()
            self._finish()
        except OverflowError as e:
            raise self._corrupt(e) from None
        except OSError as e:
            raise self._os_error(e) from e
        return UnpackResult(self.size, members.entries)

    def _corrupt(self, e: Exception) -> InvalidLayer:
        self._blame_writer(e)
        return InvalidLayer(f"invalid layer: corrupt tar archive at {self.name!r}: {e}")

    def _blame_writer(self, e: BaseException) -> None:
        """Name the entry a writer thread failed on, not the one being read."""
        if self.pool is not None and self.pool.failed_error() is e:
            self.name = self.pool.failed_name() or self.name

    def _os_error(self, e: OSError) -> TuidockError:
        self._blame_writer(e)
        where = f" at {self.name!r}" if self.name else ""
        msg = f"cannot apply layer{where}: {e.strerror or e}"
        if e.errno in _CONTENT_ERRNOS:
            return InvalidLayer(f"invalid layer{where}: {e.strerror or e}")
        return TuidockError(msg)

    def _apply(self, member: tarfile.TarInfo, members: TarStream) -> None:
        name = member.name
        limit = self.limits.max_name
        if len(name) > limit // 4 and len(os.fsencode(name)) > limit:
            raise InvalidLayer(f"invalid layer: entry name longer than {limit} bytes")
        if "\0" in name or "\0" in member.linkname:
            raise InvalidLayer(f"invalid layer: NUL byte in the name or link of {name!r}")
        if member.size < 0:
            raise InvalidLayer(f"invalid layer: negative size for {name!r}")
        parts = _split(name)
        kind = member.type

        if not parts:
            if kind != tarfile.DIRTYPE:
                raise InvalidLayer(f"invalid layer: root entry {name!r} is not a directory")
            self._set_root(member)
            return

        base = parts[-1]
        if WHITEOUT_PREFIX in name:
            for comp in parts[:-1]:
                if comp.startswith(WHITEOUT_PREFIX):
                    raise InvalidLayer(
                        f"invalid layer: whiteout name used as a directory: {name!r}"
                    )
            if base.startswith(WHITEOUT_PREFIX):
                if kind in _REGULAR_TYPES and member.size:
                    self._skip_data(member, members.source)
                self._whiteout(parts, name)
                return

        parent = "/".join(parts[:-1])
        if parent not in self.known_dirs:
            parent = self._resolve(parts[:-1], create=True)
        rel = f"{parent}/{base}" if parent else base

        if kind in _REGULAR_TYPES:
            self._regular(rel, member, members)
        elif kind == tarfile.DIRTYPE:
            self._directory(rel, member)
        elif kind == tarfile.SYMTYPE:
            self._symlink(rel, member)
        elif kind == tarfile.LNKTYPE:
            self._hardlink(rel, member)
        elif kind in (tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE):
            self._special(rel, member)
        else:
            raise InvalidLayer(f"invalid layer: unsupported tar entry type {kind!r} for {name!r}")

    # --------------------------------------------------------- path handling

    def _resolve(self, comps: Sequence[str], create: bool) -> str:
        """The real directory `comps` leads to inside the layer, as a relative path.

        Symlinks met on the way are followed scoped to the layer root. With
        `create`, missing directories are made (implicit parents); without,
        a missing component raises FileNotFoundError.
        """
        cursor = _LayerCursor(self, create)
        try:
            kind, _ = scopedpath.walk(cursor, comps)
        except OSError as e:
            if e.errno != errno.ELOOP:
                raise
            raise InvalidLayer(
                f"invalid layer: too many levels of symbolic links in {self.name!r}"
            ) from None
        if kind == scopedpath.MISSING:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), "/".join(comps))
        return "/".join(cursor.cur)

    def _resolve_loose(self, comps: Sequence[str]) -> list[str]:
        """Like _resolve without creating: the existing prefix resolved, the rest as named."""
        cur: list[str] = []
        for i in range(len(comps)):
            try:
                resolved = self._resolve(comps[: i + 1], create=False)
            except (FileNotFoundError, InvalidLayer):
                rest = _split("/".join([*cur, *comps[i:]]), "hardlink target")
                return rest
            cur = resolved.split("/") if resolved else []
        return cur

    def _implicit_dir(self, rel: str) -> None:
        """A parent directory the archive does not list.

        It gets the attributes of the same directory in the lower layers when
        there is one (else 0755 root:root, as containerd and podman do), so
        that merely adding a file does not change how its parent looks.
        """
        if rel.rpartition("/")[2].startswith(WHITEOUT_PREFIX):
            # Reached through a symlink whose target names one.
            raise InvalidLayer(f"invalid layer: {self.name!r} needs a directory named {rel!r}")
        os.mkdir(rel, 0o700, dir_fd=self.root)
        self._know(rel)
        lower = None if rel in self.whited_out else self._lower_lookup(rel.split("/"))
        if lower is not None and stat.S_ISDIR(lower[1].st_mode):
            path, st = lower
            os.chown(rel, st.st_uid, st.st_gid, dir_fd=self.root, follow_symlinks=False)
            os.chmod(rel, stat.S_IMODE(st.st_mode), dir_fd=self.root)
            self._copy_xattrs(path, f"{self.dest}/{rel}")
            self.dir_times[rel] = (st.st_atime_ns, st.st_mtime_ns)
        else:
            os.chown(rel, 0, 0, dir_fd=self.root, follow_symlinks=False)
            os.chmod(rel, 0o755, dir_fd=self.root)

    def _lower_lookup(self, parts: Sequence[str]) -> tuple[str, os.stat_result] | None:
        """The entry `parts` names in the merged view of the lower layers.

        Honours whiteouts and opaque directories like overlayfs. A symlink in
        a parent position ends the lookup (not found): the lower layers are
        only consulted for exactness, never to reach beyond them.
        """
        layers = self.lowers
        if not layers or not parts:
            return None
        prefix = ""
        last = len(parts) - 1
        for i, comp in enumerate(parts):
            prefix = f"{prefix}/{comp}" if prefix else comp
            keep: list[str] = []
            for layer in layers:
                path = f"{layer}/{prefix}"
                try:
                    st = os.lstat(path)
                except (FileNotFoundError, NotADirectoryError):
                    continue
                if _is_whiteout(st):
                    break
                if i == last:
                    return path, st
                if not stat.S_ISDIR(st.st_mode):
                    break
                keep.append(layer)
                if _has_opaque(path):
                    break
            if not keep:
                return None
            layers = keep
        return None

    def _make_room(self, rel: str, for_dir: bool) -> bool:
        """Clear `rel` for a new entry; True if it is a directory to keep."""
        st = os.lstat(rel, dir_fd=self.root)
        if stat.S_ISDIR(st.st_mode):
            if for_dir:
                return True
            # Writers may still be filling files below it; they must be
            # done before the directory goes (and something else may
            # take its place).
            self._drain()
            shutil.rmtree(rel, dir_fd=self.root)
            self._forget(rel)
        else:
            os.unlink(rel, dir_fd=self.root)
        return False

    def _know(self, rel: str) -> None:
        if rel not in self.known_dirs:
            self.known_dirs.add(rel)
            self.subdirs.setdefault(rel.rpartition("/")[0], set()).add(rel)

    def _forget(self, rel: str) -> None:
        """Drop what we know about a removed directory and everything under it.

        Every directory we recorded anything about (times, opacity) was a
        known directory when recorded, so the known subtree covers them all.
        """
        siblings = self.subdirs.get(rel.rpartition("/")[0])
        if siblings is not None:
            siblings.discard(rel)
        todo = [rel]
        while todo:
            path = todo.pop()
            self.known_dirs.discard(path)
            self.opaque.discard(path)
            self.dir_times.pop(path, None)
            todo.extend(self.subdirs.pop(path, ()))

    def _create(self, rel: str, make: Callable[[], int | None]) -> int | None:
        self._settle(rel)
        try:
            return make()
        except FileExistsError:
            self._make_room(rel, for_dir=False)
            return make()

    # ------------------------------------------------------------- entries

    def _check_owner(self, member: tarfile.TarInfo) -> tuple[int, int]:
        uid, gid = member.uid, member.gid
        if not (0 <= uid < 0xFFFFFFFF and 0 <= gid < 0xFFFFFFFF):
            raise InvalidLayer(f"invalid layer: {member.name!r} has uid/gid {uid}/{gid}")
        return uid, gid

    def _xattrs(self, member: tarfile.TarInfo) -> Xattrs:
        pax = member.pax_headers
        if not pax:
            return []
        out = []
        total = 0
        for key, value in pax.items():
            if not key.startswith(PAX_XATTR_PREFIX):
                continue
            xname = key[len(PAX_XATTR_PREFIX) :]
            if not xname or "\0" in xname:
                raise InvalidLayer(f"invalid layer: bad xattr name on {member.name!r}")
            raw = value.encode("utf-8", "surrogateescape")
            total += len(xname) + len(raw)
            if total > self.limits.max_xattr_bytes:
                raise TooLarge(
                    f"layer entry {member.name!r} has more than "
                    f"{self.limits.max_xattr_bytes} bytes of xattrs"
                )
            if xname.startswith(OVERLAY_XATTR_PREFIX) or not xname.startswith(
                SETTABLE_XATTR_PREFIXES
            ):
                log.debug("layer entry %r: xattr %s ignored", member.name, xname)
                continue
            out.append((xname, raw))
        return out

    def _set_xattrs(self, target: int | str, xattrs: Xattrs) -> None:
        set_xattrs(target, xattrs, self.name)

    def _skip_data(self, member: tarfile.TarInfo, source: TarSource) -> None:
        self._charge(member.size)
        source.seek(member.size, os.SEEK_CUR)

    def _charge(self, size: int) -> None:
        self.consumed += size
        if self.consumed > self.limits.max_bytes:
            raise TooLarge(f"layer exceeds the {self.limits.max_bytes}-byte limit")

    def _regular(self, rel: str, member: tarfile.TarInfo, members: TarStream) -> None:
        size = member.size
        self._charge(size)
        uid, gid = self._check_owner(member)
        xattrs = self._xattrs(member)
        source = members.source
        pool = self.pool
        if pool is not None:
            self._settle(rel)
            # Not over a directory: replacing one must happen now, before
            # later entries are placed in it or beside it.
            if size <= SMALL_FILE and member.sparse is None and rel not in self.known_dirs:
                data = source.read(size) if size else b""
                if len(data) != size:
                    raise InvalidLayer(
                        f"invalid layer: data of {member.name!r} ends early (truncated tar)"
                    )
                self.size += size
                mode = member.mode & 0o7777
                pool.submit(FileJob(rel, member.name, data, uid, gid, mode, xattrs, times(member)))
                return
        root = self.root
        try:
            fd = os.open(rel, CREATE_FLAGS, 0o600, dir_fd=root)
        except FileExistsError:
            self._make_room(rel, for_dir=False)
            fd = os.open(rel, CREATE_FLAGS, 0o600, dir_fd=root)
        try:
            if size:
                if member.sparse is not None:
                    assert members.tarfile is not None
                    reader = members.tarfile.extractfile(member)
                    assert reader is not None
                    read = reader.read
                else:
                    read = source.read
                left = size
                while left:
                    chunk = read(left if left < COPY_CHUNK else COPY_CHUNK)
                    if not chunk:
                        raise InvalidLayer(
                            f"invalid layer: data of {member.name!r} ends early (truncated tar)"
                        )
                    write_all(fd, chunk)
                    left -= len(chunk)
            self.size += size
            finish_file(fd, uid, gid, member.mode & 0o7777, xattrs, times(member), self.name)
        finally:
            os.close(fd)

    def _settle(self, rel: str) -> None:
        """Make sure no writer thread still owes a file at `rel`."""
        if self.pool is not None:
            job = self.pool.settle(rel)
            if job is not None:
                self._write_taken(job)

    def _drain(self) -> None:
        """Wait for the writer threads to write everything handed to them."""
        if self.pool is not None and self.pool.has_pending():
            for job in self.pool.drain():
                self._write_taken(job)

    def _write_taken(self, job: FileJob) -> None:
        """A queued file whose path an earlier entry holds: replace that entry, as tar does."""
        name, self.name = self.name, job.name
        self._make_room(job.rel, for_dir=False)
        fd = os.open(job.rel, CREATE_FLAGS, 0o600, dir_fd=self.root)
        try:
            write_all(fd, job.data)
            finish_file(fd, job.uid, job.gid, job.mode, job.xattrs, job.times, job.name)
        finally:
            os.close(fd)
        self.name = name

    def _directory(self, rel: str, member: tarfile.TarInfo) -> None:
        uid, gid = self._check_owner(member)
        root = self.root
        self._settle(rel)
        try:
            os.mkdir(rel, 0o700, dir_fd=root)
        except FileExistsError:
            if not self._make_room(rel, for_dir=True):
                os.mkdir(rel, 0o700, dir_fd=root)
        self._know(rel)
        os.chown(rel, uid, gid, dir_fd=root, follow_symlinks=False)
        # A real directory that we just made or checked: following is harmless.
        os.chmod(rel, member.mode & 0o7777, dir_fd=root)
        xattrs = self._xattrs(member)
        if xattrs:
            self._set_xattrs(f"{self.dest}/{rel}", xattrs)
        self.dir_times[rel] = times(member)

    def _symlink(self, rel: str, member: tarfile.TarInfo) -> None:
        target = member.linkname
        if len(target) > self.limits.max_name // 4 and (
            len(os.fsencode(target)) > self.limits.max_name
        ):
            raise InvalidLayer(f"invalid layer: symlink target longer than {self.limits.max_name}")
        uid, gid = self._check_owner(member)
        root = self.root
        self._create(rel, lambda: os.symlink(target, rel, dir_fd=root))
        os.chown(rel, uid, gid, dir_fd=root, follow_symlinks=False)
        xattrs = self._xattrs(member)
        if xattrs:
            self._set_xattrs(f"{self.dest}/{rel}", xattrs)
        os.utime(rel, ns=times(member), dir_fd=root, follow_symlinks=False)

    def _special(self, rel: str, member: tarfile.TarInfo) -> None:
        uid, gid = self._check_owner(member)
        root = self.root
        if member.type == tarfile.FIFOTYPE:
            self._create(rel, lambda: os.mkfifo(rel, 0o600, dir_fd=root))
        else:
            kind = stat.S_IFCHR if member.type == tarfile.CHRTYPE else stat.S_IFBLK
            major, minor = member.devmajor, member.devminor
            if not (0 <= major <= 0xFFFFFFFF and 0 <= minor <= 0xFFFFFFFF):
                raise InvalidLayer(f"invalid layer: bad device number for {member.name!r}")
            dev = os.makedev(major, minor)
            self._create(rel, lambda: os.mknod(rel, kind | 0o600, dev, dir_fd=root))
        os.chown(rel, uid, gid, dir_fd=root, follow_symlinks=False)
        os.chmod(rel, member.mode & 0o7777, dir_fd=root)
        xattrs = self._xattrs(member)
        if xattrs:
            self._set_xattrs(f"{self.dest}/{rel}", xattrs)
        os.utime(rel, ns=times(member), dir_fd=root, follow_symlinks=False)

    def _hardlink(self, rel: str, member: tarfile.TarInfo) -> None:
        linkname = member.linkname
        if len(linkname) > self.limits.max_name // 4 and (
            len(os.fsencode(linkname)) > self.limits.max_name
        ):
            raise InvalidLayer(f"invalid layer: hardlink target longer than {self.limits.max_name}")
        tparts = _split(linkname, "hardlink target")
        if not tparts:
            raise InvalidLayer(f"invalid layer: {member.name!r} is a hardlink to the layer root")
        target = self._link_target(tparts, member)
        if target == rel:
            return
        root = self.root
        self._create(
            rel,
            lambda: os.link(target, rel, src_dir_fd=root, dst_dir_fd=root, follow_symlinks=False),
        )

    def _link_target(self, tparts: list[str], member: tarfile.TarInfo) -> str:
        """Relative path of the hardlink target in this layer, copied up if it is below."""
        where = self._resolve_loose(tparts[:-1])
        parent = "/".join(where)
        target = f"{parent}/{tparts[-1]}" if parent else tparts[-1]
        if parent in self.known_dirs:
            self._settle(target)
            try:
                st = os.lstat(target, dir_fd=self.root)
            except FileNotFoundError:
                pass
            else:
                if stat.S_ISDIR(st.st_mode):
                    raise InvalidLayer(
                        f"invalid layer: {member.name!r} is a hardlink to a directory"
                    )
                if not _is_whiteout(st):
                    return target
                raise InvalidLayer(
                    f"invalid layer: hardlink {member.name!r} to a path this layer deletes"
                )
        lparts = [*where, tparts[-1]]
        found = self._lower_lookup(lparts)
        if found is None:
            raise InvalidLayer(
                f"invalid layer: hardlink {member.name!r} -> {member.linkname!r}: "
                "target not found in this layer or below"
            )
        path, st = found
        if stat.S_ISDIR(st.st_mode):
            raise InvalidLayer(f"invalid layer: {member.name!r} is a hardlink to a directory")
        parent = self._resolve(lparts[:-1], create=True)
        target = f"{parent}/{lparts[-1]}" if parent else lparts[-1]
        self._settle(target)
        self._copy_up(path, st, target)
        return target

    def _copy_up(self, src: str, st: os.stat_result, rel: str) -> None:
        """Copy a lower-layer file into this layer, content and metadata."""
        root = self.root
        mode = st.st_mode
        times = (st.st_atime_ns, st.st_mtime_ns)
        if stat.S_ISREG(mode):
            sfd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                dfd = os.open(rel, CREATE_FLAGS, 0o600, dir_fd=root)
                try:
                    left = st.st_size
                    while left > 0:
                        sent = os.sendfile(dfd, sfd, None, min(left, 1 << 30))
                        if sent == 0:
                            break
                        left -= sent
                    os.fchown(dfd, st.st_uid, st.st_gid)
                    os.fchmod(dfd, stat.S_IMODE(mode))
                    self._copy_xattrs(src, dfd)
                    os.utime(dfd, ns=times)
                finally:
                    os.close(dfd)
            finally:
                os.close(sfd)
            return
        if stat.S_ISLNK(mode):
            os.symlink(os.readlink(src), rel, dir_fd=root)
        elif stat.S_ISFIFO(mode):
            os.mkfifo(rel, 0o600, dir_fd=root)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            os.mknod(rel, stat.S_IFMT(mode) | 0o600, st.st_rdev, dir_fd=root)
        else:
            raise InvalidLayer(f"invalid layer: cannot hardlink to {src!r}")
        os.chown(rel, st.st_uid, st.st_gid, dir_fd=root, follow_symlinks=False)
        if not stat.S_ISLNK(mode):
            os.chmod(rel, stat.S_IMODE(mode), dir_fd=root)
        self._copy_xattrs(src, f"{self.dest}/{rel}")
        os.utime(rel, ns=times, dir_fd=root, follow_symlinks=False)

    def _copy_xattrs(self, src: str, dst: int | str) -> None:
        try:
            names = os.listxattr(src, follow_symlinks=False)
        except OSError as e:
            if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
                return
            raise
        pairs = []
        for xname in names:
            if xname.startswith(OVERLAY_XATTR_PREFIX):
                continue
            try:
                pairs.append((xname, os.getxattr(src, xname, follow_symlinks=False)))
            except OSError as e:
                if e.errno != errno.ENODATA:
                    raise
        self._set_xattrs(dst, pairs)

    def _whiteout(self, parts: list[str], name: str) -> None:
        base = parts[-1]
        if base == OPAQUE_MARKER:
            self.opaque.add(self._resolve(parts[:-1], create=True))
            return
        hidden = base[len(WHITEOUT_PREFIX) :]
        if base.startswith(WHITEOUT_META_PREFIX):
            raise InvalidLayer(f"invalid layer: unknown whiteout metadata entry {name!r}")
        if hidden in ("", ".", ".."):
            raise InvalidLayer(f"invalid layer: invalid whiteout entry {name!r}")
        parent = self._resolve(parts[:-1], create=True)
        rel = f"{parent}/{hidden}" if parent else hidden
        self.whited_out.add(rel)
        self._settle(rel)
        try:
            os.mknod(rel, stat.S_IFCHR, 0, dir_fd=self.root)
        except FileExistsError:
            # Whiteouts only hide lower layers: this layer's own entry stays
            # (if it is a directory, it becomes opaque at the end).
            pass

    # ------------------------------------------------------------- the root

    def _init_root(self) -> None:
        """Start the root like the lower root (what the merged view shows), else 0755 root."""
        if self.lowers:
            st = os.lstat(self.lowers[0])
            os.chown(self.root, st.st_uid, st.st_gid)
            os.chmod(self.root, stat.S_IMODE(st.st_mode))
            self._copy_xattrs(self.lowers[0], self.root)
            self.dir_times[""] = (st.st_atime_ns, st.st_mtime_ns)
        else:
            os.chown(self.root, 0, 0)
            os.chmod(self.root, 0o755)

    def _set_root(self, member: tarfile.TarInfo) -> None:
        uid, gid = self._check_owner(member)
        os.chown(self.root, uid, gid)
        os.chmod(self.root, member.mode & 0o7777)
        xattrs = self._xattrs(member)
        if xattrs:
            self._set_xattrs(self.root, xattrs)
        self.dir_times[""] = times(member)

    def _finish(self) -> None:
        self.name = ""
        root = self.root
        if "" in self.opaque:
            # overlayfs ignores the opaque xattr on a layer's root, so an
            # opaque root is spelled as a whiteout of every lower name.
            names: set[str] = set()
            for layer in self.lowers:
                names.update(os.listdir(layer))
            for hidden in sorted(names):
                try:
                    os.mknod(hidden, stat.S_IFCHR, 0, dir_fd=root)
                except FileExistsError:
                    pass
        for rel in self.whited_out:
            if rel in self.known_dirs:
                self.opaque.add(rel)
        for rel in self.opaque:
            if rel and rel in self.known_dirs:
                os.setxattr(f"{self.dest}/{rel}", OPAQUE_XATTR, b"y", follow_symlinks=False)
        # Last, and deepest first: creating entries changed these mtimes.
        for rel in sorted(self.dir_times, key=lambda p: p.count("/") + (p != ""), reverse=True):
            times = self.dir_times[rel]
            if rel == "":
                os.utime(root, ns=times)
            elif rel in self.known_dirs:
                os.utime(rel, ns=times, dir_fd=root, follow_symlinks=False)


class _LayerCursor:
    """scopedpath's view of the layer: relative paths below the root fd.

    A name is settled (no writer thread still owes it) and lstat-ed, unless
    it is a known real directory; a missing one becomes an implicit parent
    with `create`, as does a whiteout there (this layer deleted the lower
    entry and now puts a directory in its place; the whiteout record makes
    it opaque at the end). Every component must end as a directory.
    """

    __slots__ = ("applier", "create", "cur")

    def __init__(self, applier: Applier, create: bool) -> None:
        self.applier = applier
        self.create = create
        self.cur: list[str] = []

    def up(self) -> None:
        if self.cur:
            self.cur.pop()

    def to_root(self) -> None:
        self.cur.clear()

    def enter(self, name: str, last: bool) -> tuple[int, str]:
        app = self.applier
        cur = self.cur
        cur.append(name)
        rel = "/".join(cur)
        if rel in app.known_dirs:
            return scopedpath.DIR, ""
        app._settle(rel)
        try:
            st = os.lstat(rel, dir_fd=app.root)
        except FileNotFoundError:
            if not self.create:
                cur.pop()
                return scopedpath.MISSING, ""
            app._implicit_dir(rel)
            return scopedpath.DIR, ""
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            app._know(rel)
            return scopedpath.DIR, ""
        if stat.S_ISLNK(mode):
            cur.pop()
            return scopedpath.LINK, os.readlink(rel, dir_fd=app.root)
        if self.create and _is_whiteout(st):
            os.unlink(rel, dir_fd=app.root)
            app._implicit_dir(rel)
            return scopedpath.DIR, ""
        raise InvalidLayer(f"invalid layer: {app.name!r}: parent {rel!r} is not a directory")


def _has_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False
