"""Resolving a path inside a root directory without ever leaving it.

The root is a tree somebody else controls: an image's layers, a running
container's filesystem. Its symlinks must mean what they mean *inside* it
(an absolute target starts again at the root, ".." at the root stays at
the root), and nothing it does may lead us to the host's files. This is
the one place that algorithm lives; its callers are the container's mount
setup (init/rootfs), `tuidock cp` (container/copy) and layer unpacking
(image/layer/apply).

Invariants, whatever the tree holds and however it changes meanwhile:
- A component is only ever looked up relative to a directory already
  reached (an fd held open, or for the layer applier a path proven to be
  a real directory below its root fd), never as a host path string the
  kernel would resolve again. A symlink is never followed by the kernel:
  it is opened with O_NOFOLLOW (or lstat-ed), its target read and fed back
  into the walk.
- ".." pops one directory and stops at the root; an absolute target
  restarts at the root. So each step stays below the root, and a tree
  swapping a directory for a symlink between two of our steps only moves
  the walk around inside the tree (it cannot make a held fd point
  outside).
- At most MAX_SYMLINKS symlinks per walk (the kernel's MAXSYMLINKS), so
  loops end with ELOOP.
- A non-directory in a non-final position ends the walk with ENOTDIR.
- Whoever creates the final entry does so with O_EXCL/mkdirat/mknodat
  against the parent reached: an existing symlink there fails rather than
  being followed.

Where the kernel has openat2(2), `open_in_root` lets it do all of that in
one call with RESOLVE_IN_ROOT (the same semantics, races handled by the
kernel) and falls back to the walk when it is missing, refused by a
seccomp filter, or a missing component has to be created.

The bugs this guards against: symlink-exchange races when a runtime
resolves a container path as a host path (CVE-2018-15664, `docker cp`;
CVE-2019-14271 is its sibling of running container code on the host),
mount targets resolved twice so a swapped symlink redirects the mount
(CVE-2019-19921, CVE-2021-30465 in runc; mount(2) here gets the fd as
/proc/self/fd/N, not the path), and paths resolved against the host's
view through a leaked fd (CVE-2024-21626). Same semantics as runc's
internal/pathrs, filepath-securejoin and openat2's RESOLVE_IN_ROOT.

The walk itself (`walk`) is independent of how a component is looked up:
a Cursor does that. FdCursor holds a stack of O_PATH descriptors (rootfs,
cp); the layer applier keeps relative paths with a cache of directories
it knows to be real, and creates missing parents with the lower layers'
attributes (image/layer/apply).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from typing import Protocol

from tuidock.runtime.linux import syscalls as sc

MAX_SYMLINKS = 40

# What a cursor found at a name.
DIR, LINK, OTHER, MISSING = range(4)

OPEN_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
# openat2 refuses a magic link (/proc/N/root...) instead of jumping through it.
_RESOLVE = sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS
# ENOSYS: kernel before 5.6; EPERM: a seccomp filter; EXDEV: a magic link on
# the way (the walk reads it as a plain symlink, scoped like any other);
# EAGAIN: a rename raced a ".." and the kernel would rather not guess.
_OPENAT2_FALLBACK = frozenset(
    (errno.ENOSYS, errno.EPERM, errno.EINVAL, errno.E2BIG, errno.EXDEV, errno.EAGAIN)
)
_openat2_works = True


def split(path: str) -> list[str]:
    """The components of `path`, without empty ones and "."."""
    return [p for p in path.split("/") if p and p != "."]


class Cursor(Protocol):
    """Where a walk stands, and how it looks at the next name."""

    def enter(self, name: str, last: bool) -> tuple[int, str]:
        """Look up `name` in the current directory: (kind, symlink target or "").

        On DIR the cursor moves into it (a final DIR: as the cursor's policy
        says); on LINK, OTHER and MISSING it stays where it is.
        """
        ...

    def up(self) -> None:
        """ ".." : back to the parent directory, staying put at the root."""
        ...

    def to_root(self) -> None:
        """An absolute symlink target: back to the root."""
        ...


def walk(
    cursor: Cursor,
    path: str | Sequence[str],
    follow_last: bool = True,
    max_links: int = MAX_SYMLINKS,
) -> tuple[int, str]:
    """Walk `path` from the cursor's directory, symlinks resolved scoped to the root.

    Returns (kind, name) of the final component, the cursor standing in its
    parent (or in it, for a final DIR the cursor enters), or (DIR, "") when
    the path ends on a directory already entered (the root itself, a
    trailing ".."). A final symlink is followed unless `follow_last` is
    false. Raises FileNotFoundError / NotADirectoryError for a missing or
    non-directory component before the last, OSError(ELOOP) past
    `max_links` symlinks.
    """
    todo = split(path) if isinstance(path, str) else [p for p in path if p and p != "."]
    todo.reverse()
    links = 0
    while todo:
        name = todo.pop()
        if name == "..":
            cursor.up()
            continue
        last = not todo
        kind, target = cursor.enter(name, last)
        if kind == LINK and (follow_last or not last):
            links += 1
            if links > max_links:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), _shown(path))
            if target.startswith("/"):
                cursor.to_root()
            more = split(target)
            more.reverse()
            todo.extend(more)
            continue
        if last:
            return kind, name
        if kind == MISSING:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), _shown(path))
        if kind != DIR:
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), _shown(path))
    return DIR, ""


def _shown(path: str | Sequence[str]) -> str:
    return path if isinstance(path, str) else "/".join(path)


class FdCursor:
    """A stack of O_PATH descriptors from the root down; ".." pops one.

    Every name is opened O_PATH|O_NOFOLLOW relative to the descriptor
    before it and fstat-ed through the new descriptor, so what is checked is
    what is held. `create` ("dir" or "file", the kind of the final
    component; the ones before are directories) makes missing names.
    `enter_last`: a final component of any kind is pushed too (its fd is
    the walk's result); otherwise it is only lstat-ed, into `last_st`.
    Close it (or use it as a context manager) to release the descriptors.
    """

    def __init__(self, root_fd: int, create: str | None = None, enter_last: bool = True):
        self.stack = [os.dup(root_fd)]
        self.create = create
        self.enter_last = enter_last
        self.last_st: os.stat_result | None = None

    def __enter__(self) -> FdCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        while self.stack:
            os.close(self.stack.pop())

    def pop(self) -> int:
        """Take the top descriptor (the caller closes it)."""
        return self.stack.pop()

    def up(self) -> None:
        if len(self.stack) > 1:
            os.close(self.stack.pop())

    def to_root(self) -> None:
        while len(self.stack) > 1:
            os.close(self.stack.pop())

    def enter(self, name: str, last: bool) -> tuple[int, str]:
        cur = self.stack[-1]
        try:
            fd = os.open(name, OPEN_PATH, dir_fd=cur)
        except FileNotFoundError:
            if self.create is None:
                self.last_st = None
                return MISSING, ""
            if last and self.create == "file":
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
                os.close(os.open(name, flags, 0o644, dir_fd=cur))
            else:
                os.mkdir(name, 0o755, dir_fd=cur)
            fd = os.open(name, OPEN_PATH, dir_fd=cur)
        try:
            st = os.fstat(fd)
            mode = st.st_mode
            if last:
                self.last_st = st
            if stat.S_ISLNK(mode):
                # Read through the descriptor: the very link that was checked.
                return LINK, os.readlink("", dir_fd=fd)
            is_dir = stat.S_ISDIR(mode)
            if (is_dir and not last) or (last and self.enter_last):
                self.stack.append(fd)
                fd = -1
            return (DIR if is_dir else OTHER), ""
        finally:
            if fd >= 0:
                os.close(fd)


def open_in_root(root_fd: int, path: str, create: str | None = None) -> int:
    """O_PATH descriptor of `path` inside the tree whose root is `root_fd`.

    Symlinks (the final one too) are followed as if `root_fd` were "/", and
    ".." stops at it. Missing components are created when `create` is "dir"
    or "file" (the kind of the last one; the ones before are directories);
    otherwise they raise FileNotFoundError.
    """
    global _openat2_works
    if _openat2_works:
        try:
            # Normalised so that "file/" still names a file, as in the walk.
            clean = "/".join(split(path)) or "."
            return sc.openat2(root_fd, clean, os.O_PATH | os.O_CLOEXEC, _RESOLVE)
        except OSError as e:
            if e.errno in _OPENAT2_FALLBACK:
                if e.errno in (errno.ENOSYS, errno.EPERM, errno.E2BIG):
                    _openat2_works = False
            elif e.errno != errno.ENOENT or create is None:
                raise OSError(e.errno, os.strerror(e.errno), path) from None
    with FdCursor(root_fd, create) as cursor:
        kind, _ = walk(cursor, path)
        if kind == MISSING:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        return cursor.pop()


def lookup_in_root(
    root_fd: int, path: str, follow_last: bool
) -> tuple[int, str, os.stat_result | None]:
    """The parent directory of `path` inside the tree of `root_fd`, and its last name.

    Returns (parent fd, name, lstat of the entry or None when it is
    missing), the parent an O_RDONLY directory descriptor the caller
    closes; name is "" and the stat the directory's own when the path ends
    on a directory already entered (the root, a trailing ".."). Missing
    components before the last raise FileNotFoundError.
    """
    with FdCursor(root_fd, enter_last=False) as cursor:
        kind, name = walk(cursor, path, follow_last)
        held = cursor.pop()
    try:
        # O_PATH descriptors cannot be listed: reopen the very directory.
        parent = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=held)
    finally:
        os.close(held)
    if not name:
        return parent, "", os.fstat(parent)
    return parent, name, (None if kind == MISSING else cursor.last_st)
