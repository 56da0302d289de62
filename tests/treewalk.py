"""A comparable description of a directory tree, for differential tests."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path


def _xattrs(path: str) -> dict[str, bytes]:
    out = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for name in names:
        if name.startswith("trusted.overlay."):
            continue
        try:
            out[name] = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            pass
    return out


def describe(root: Path, mtimes: bool = True, dir_mtimes: bool = True) -> dict[str, tuple]:
    """path -> (type, mode, uid, gid, size, sha256 | link target | rdev, mtime, xattrs, link group)."""
    out: dict[str, tuple] = {}
    inodes: dict[tuple[int, int], list[str]] = {}
    base = str(root)
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = "/" + os.path.relpath(path, base)
            st = os.lstat(path)
            kind = stat.S_IFMT(st.st_mode)
            if stat.S_ISREG(kind):
                with open(path, "rb") as f:
                    extra: object = hashlib.sha256(f.read()).hexdigest()
                if st.st_nlink > 1:
                    inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)
            elif stat.S_ISLNK(kind):
                extra = os.readlink(path)
            elif stat.S_ISCHR(kind) or stat.S_ISBLK(kind):
                extra = (os.major(st.st_rdev), os.minor(st.st_rdev))
            else:
                extra = None
            size = st.st_size if stat.S_ISREG(kind) or stat.S_ISLNK(kind) else 0
            keep = mtimes and not stat.S_ISLNK(kind) and (dir_mtimes or not stat.S_ISDIR(kind))
            mtime = int(st.st_mtime) if keep else None
            out[rel] = (
                kind,
                stat.S_IMODE(st.st_mode),
                st.st_uid,
                st.st_gid,
                size,
                extra,
                mtime,
                tuple(sorted(_xattrs(path).items())),
                None,
            )
    for group in inodes.values():
        if len(group) > 1:
            key = min(group)
            for rel in group:
                out[rel] = (*out[rel][:-1], key)
    return out


def differences(a: dict[str, tuple], b: dict[str, tuple]) -> list[str]:
    diffs = []
    for path in sorted(set(a) | set(b)):
        if path not in a:
            diffs.append(f"only in second: {path} {b[path]}")
        elif path not in b:
            diffs.append(f"only in first: {path} {a[path]}")
        elif a[path] != b[path]:
            diffs.append(f"differs: {path}: {a[path]} != {b[path]}")
    return diffs
