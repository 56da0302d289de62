"""A container's filesystem read straight from its layers: `diff` and `export`.

Both work from the container's upper directory and its image layers as
they lie on disk, without mounting anything: so they work the same on
running and stopped containers and leave no mount behind on the host. The
merge follows overlayfs' rules: the topmost layer holding a name wins, a
whiteout (a 0/0 character device) hides the name below it, an opaque
directory (trusted.overlay.opaque=y) hides everything below it, and a
non-directory hides a directory of the same name below. Nothing here
follows a symlink: every stat is an lstat, and paths are only built from
names read out of directories.
"""

from __future__ import annotations

import json
import os
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from tuidock.errors import TuidockError

if TYPE_CHECKING:
    from tuidock.runtime.container.service import Containers

OPAQUE_XATTR = "trusted.overlay.opaque"
# Created by the runtime in every container's upper directory as mount points
# or placeholders; Docker keeps them in a hidden "init" layer, so they never
# show in its `diff` or `export` as changes. Paths relative to "/".
RUNTIME_PATHS = frozenset(
    {"dev", "proc", "sys", "etc/hostname", "etc/hosts", "etc/resolv.conf", ".dockerenv"}
)


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


@dataclass
class ContainerLayers:
    upper: Path
    lowers: list[Path]  # top first

    @classmethod
    def of(cls, containers: Containers, cid: str) -> ContainerLayers:
        try:
            with open(containers.store.files(cid).spec, "rb") as f:
                spec = json.loads(f.read())
        except (OSError, ValueError) as e:
            raise TuidockError(f"container {cid[:12]} has no readable spec: {e}") from None
        lowers = [Path(d) for d in spec.get("lower_dirs") or []]
        if not lowers:
            # The copy fallback (no overlayfs): the rootfs is one plain directory,
            # so every file in it counts as the container's own.
            return cls(Path(spec["rootfs"]), [])
        return cls(Path(spec["upper_dir"]), lowers)

    @property
    def all(self) -> list[Path]:
        return [self.upper, *self.lowers]


@dataclass
class Entry:
    """A name visible in a merged directory: where its topmost copy lies, and the
    layers that make up its contents when it is a directory (top first)."""

    name: str
    path: str  # the real path of the topmost copy
    st: os.stat_result
    stack: list[str]  # directory of this name in each contributing layer


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def merged_children(stack: list[str]) -> list[Entry]:
    """The entries of a merged directory whose copies in the layers are `stack` (top first)."""
    seen: set[str] = set()
    out: list[Entry] = []
    for depth, layer_dir in enumerate(stack):
        try:
            names = os.listdir(layer_dir)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            if name in seen:
                continue
            seen.add(name)
            path = f"{layer_dir}/{name}"
            st = _lstat(path)
            if st is None or is_whiteout(st):
                continue
            sub = [path]
            if stat.S_ISDIR(st.st_mode) and not is_opaque(path):
                # Lower copies count while they are directories; the first
                # non-directory (or whiteout) ends the stack, an opaque one
                # is the last that counts.
                for below in stack[depth + 1 :]:
                    lpath = f"{below}/{name}"
                    lst = _lstat(lpath)
                    if lst is None:
                        continue
                    if not stat.S_ISDIR(lst.st_mode):
                        break
                    sub.append(lpath)
                    if is_opaque(lpath):
                        break
            out.append(Entry(name, path, st, sub if stat.S_ISDIR(st.st_mode) else []))
    out.sort(key=lambda e: e.name.encode("utf-8", "surrogateescape"))
    return out


def walk_merged(layers: list[Path], rel: str = "") -> Iterator[tuple[str, Entry]]:
    """Every entry of the merged tree below `rel` (whose copies are `layers`), pre-order
    with siblings sorted by name: (path relative to "/", entry)."""
    for entry in merged_children([str(p) for p in layers]):
        crel = f"{rel}/{entry.name}" if rel else entry.name
        yield crel, entry
        if entry.stack:
            yield from walk_merged([Path(p) for p in entry.stack], crel)


def lower_lookup(lowers: list[Path], rel: str) -> os.stat_result | None:
    """The stat of `rel` in the merged view of `lowers` (the image), None if absent there."""
    stack = [str(p) for p in lowers]
    st = None
    for part in rel.split("/"):
        found = next((e for e in merged_children(stack) if e.name == part), None)
        if found is None:
            return None
        st, stack = found.st, found.stack
    return st


# -- diff ------------------------------------------------------------------------------------


def container_changes(layers: ContainerLayers) -> list[tuple[str, str]]:
    """`docker diff`: (kind, path) with kind A (added), C (changed) or D (deleted).

    The upper directory is walked in Docker's order (pre-order, names sorted
    in each directory). A whiteout is a deletion; anything else is a change
    if the image has that path, else an addition. A directory the image has
    with the same mode and owner is not listed by itself, but the
    parent of an added or deleted entry is always listed as changed, as
    Docker does.
    """
    changes: list[tuple[str, str]] = []
    changed_dirs: set[str] = set()
    cache: dict[str, os.stat_result | None] = {}

    def in_image(rel: str) -> os.stat_result | None:
        if rel not in cache:
            cache[rel] = lower_lookup(layers.lowers, rel)
        return cache[rel]

    def visit(rel_dir: str, real_dir: str) -> None:
        try:
            names = sorted(os.listdir(real_dir), key=lambda n: n.encode("utf-8", "surrogateescape"))
        except (FileNotFoundError, NotADirectoryError):
            return
        for name in names:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            real = f"{real_dir}/{name}"
            st = _lstat(real)
            if st is None:
                continue
            isdir = stat.S_ISDIR(st.st_mode)
            if rel in RUNTIME_PATHS and in_image(rel) is None:
                continue
            if is_whiteout(st):
                kind = "D"
            else:
                below = in_image(rel)
                kind = "A"
                if below is not None:
                    if (
                        isdir
                        and stat.S_ISDIR(below.st_mode)
                        and not is_opaque(real)
                        and below.st_mode == st.st_mode
                        and (below.st_uid, below.st_gid) == (st.st_uid, st.st_gid)
                    ):
                        # The same directory: its entries are what changed. Docker
                        # also compares size and mtime, but the runtime's mount
                        # points (copied up with /etc for /etc/hosts) change those
                        # in every container; Docker hides them in its init layer.
                        kind = ""
                    else:
                        kind = "C"
            if isdir and kind:
                changed_dirs.add(rel)
            if kind in ("A", "D") and rel_dir and rel_dir not in changed_dirs:
                changes.append(("C", "/" + rel_dir))
                changed_dirs.add(rel_dir)
            if kind:
                changes.append((kind, "/" + rel))
            if isdir:
                if is_opaque(real):
                    # An opaque directory hides what the image had in it: each of
                    # those names not re-created above is deleted.
                    for gone in merged_children([f"{lo}/{rel}" for lo in layers.lowers]):
                        if not os.path.lexists(f"{real}/{gone.name}"):
                            changes.append(("D", f"/{rel}/{gone.name}"))
                visit(rel, real)

    visit("", str(layers.upper))
    return _docker_order(changes)


def _docker_order(changes: list[tuple[str, str]]) -> list[tuple[str, str]]:
    # Docker's order is its walk's: pre-order, siblings sorted by name, which is
    # sorting by the tuple of path components. The parents listed late above
    # land before their children this way; each path is listed once.
    seen: set[str] = set()
    out = []

    def key(change: tuple[str, str]) -> tuple[bytes, ...]:
        return tuple(p.encode("utf-8", "surrogateescape") for p in change[1].split("/"))

    for kind, path in sorted(changes, key=key):
        if path in seen:
            continue
        seen.add(path)
        out.append((kind, path))
    return out


# -- export ----------------------------------------------------------------------------------


def export_tar(layers: ContainerLayers, out: IO[bytes]) -> None:
    """Write the merged root filesystem as an uncompressed tar stream to `out`."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel, entry in walk_merged(layers.all):
            if rel in RUNTIME_PATHS and stat.S_ISDIR(entry.st.st_mode):
                # Mount points made by the runtime: kept, as empty directories, so
                # an imported export runs; their contents were never the container's.
                info = tar.gettarinfo(entry.path, arcname=rel)
                _clean(info)
                tar.addfile(info)
                continue
            if any(rel.startswith(p + "/") for p in ("dev", "proc", "sys")):
                continue
            info = tar.gettarinfo(entry.path, arcname=rel)
            _clean(info)
            if info.isreg():
                with open(entry.path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)


def _clean(info: tarfile.TarInfo) -> None:
    # gettarinfo looks the owner up in the host's passwd: the names there mean
    # nothing inside the container, so only the numeric ids go in.
    info.uname = info.gname = ""


def export_to_file(layers: ContainerLayers, dest: str) -> None:
    tmp = f"{dest}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            export_tar(layers, f)
        os.replace(tmp, dest)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
