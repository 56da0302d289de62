"""Scratch files: what a process writes on the side and deletes when it is done.

A `kill -9` runs no cleanup, so every scratch file names or locks its owner,
and whoever finds one whose owner is gone may delete it:

- <root>/tmp/<kind>-<pid>.<start>-<random> (commit, import, push temp
  files and dirs): the owner is in the name, its pid and its start time
  from /proc/<pid>/stat, so a reused pid does not pass for the owner. A
  name without an owner (an older tuidock's) counts as stale once it has
  not changed for UNOWNED_GRACE seconds;
- blobs/partial/<hex> (a download a pull resumes): written only under the
  blob's flock (blobs/locks/<hex>), so a partial blob nobody holds the lock
  of is not being written. The next pull of it resumes it; prune deletes
  it, holding that lock;
- layers-tmp/<pid>-<random> (a layer a pull unpacks): layerstore.py's own
  naming, stale once that pid is gone;
- <dest>.tmp<pid>[.<start>] beside a `save -o` destination: the next save
  to that destination removes those of dead owners.

`system df` counts the scratch files in its "Build Cache" row (tuidock
builds nothing; like Docker's build cache, it is data the engine may drop):
TOTAL and SIZE cover all of them, ACTIVE the ones a live owner holds, and
RECLAIMABLE the stale ones, which `image prune` and `system prune` delete.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tuidock.runtime.linux.procwatch import proc_start_time, process_alive
from tuidock.runtime.store.layers import staging_stale

UNOWNED_GRACE = 3600.0


@dataclass
class Scratch:
    path: Path
    size: int
    stale: bool


def owner_tag() -> str:
    """This process as it appears in scratch names: <pid>.<start time>."""
    pid = os.getpid()
    return f"{pid}.{proc_start_time(pid)}"


def owner_gone(tag: str) -> bool | None:
    """Whether the owner a tag names is dead; None if `tag` names no owner."""
    pid, _, start = tag.partition(".")
    if not pid.isdigit() or (start and not start.isdigit()):
        return None
    return not process_alive(int(pid), int(start) if start else None)


def tmp_dir(root: Path) -> Path:
    path = root / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def temp_dir(root: Path, kind: str) -> Iterator[str]:
    """A fresh directory under <root>/tmp named after this process; removed on exit."""
    path = tempfile.mkdtemp(dir=tmp_dir(root), prefix=f"{kind}-{owner_tag()}-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def temp_file(root: Path, kind: str) -> tuple[int, str]:
    """mkstemp under <root>/tmp, named after this process; the caller removes it."""
    return tempfile.mkstemp(dir=tmp_dir(root), prefix=f"{kind}-{owner_tag()}-")


def _size(path: Path) -> int:
    if path.is_dir() and not path.is_symlink():
        from tuidock.runtime.store.paths import tree_size

        return tree_size(path)
    try:
        return path.lstat().st_size
    except OSError:
        return 0


def _tmp_stale(entry: Path) -> bool:
    parts = entry.name.split("-")
    gone = owner_gone(parts[1]) if len(parts) >= 3 else None
    if gone is not None:
        return gone
    try:
        return time.time() - entry.lstat().st_mtime > UNOWNED_GRACE
    except OSError:
        return False


@contextlib.contextmanager
def _unheld(lock: Path) -> Iterator[bool]:
    """Try the flock at `lock` without waiting; yields whether it was free (and is now ours)."""
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def scan(root: Path) -> list[Scratch]:
    """Every scratch file and dir under the data root, stale or not."""
    out = []
    tmp = root / "tmp"
    for entry in sorted(tmp.iterdir()) if tmp.is_dir() else []:
        out.append(Scratch(entry, _size(entry), _tmp_stale(entry)))
    staging = root / "layers-tmp"
    for entry in sorted(staging.iterdir()) if staging.is_dir() else []:
        out.append(Scratch(entry, _size(entry), staging_stale(entry.name)))
    partial = root / "blobs" / "partial"
    for entry in sorted(partial.iterdir()) if partial.is_dir() else []:
        with _unheld(root / "blobs" / "locks" / entry.name) as free:
            out.append(Scratch(entry, _size(entry), free))
    return out


def reclaim(root: Path) -> tuple[list[Path], int]:
    """Delete the stale scratch files; (what went, bytes freed)."""
    gone, freed = [], 0
    for item in scan(root):
        if not item.stale:
            continue
        if item.path.parent.name == "partial":
            # Under the blob's lock: a pull that starts now waits, then begins afresh.
            with _unheld(root / "blobs" / "locks" / item.path.name) as free:
                if not free:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    item.path.unlink()
        elif item.path.is_dir() and not item.path.is_symlink():
            shutil.rmtree(item.path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                item.path.unlink()
        gone.append(item.path)
        freed += item.size
    return gone, freed


def save_temp(dest: str) -> str:
    """The temp path a `save -o dest` writes to; stale ones of earlier saves are removed."""
    parent, name = os.path.split(os.path.abspath(dest))
    prefix = name + ".tmp"
    with contextlib.suppress(OSError):
        for entry in os.listdir(parent):
            if entry.startswith(prefix) and owner_gone(entry[len(prefix) :]):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(parent, entry))
    return f"{dest}.tmp{owner_tag()}"
