"""What COPY and ADD read: the build context (untrusted), or a stage's or image's layers.

Both are trees looked up one name at a time with lstat, never through the
kernel's path walk: a symlink is read (readlink) and followed *inside* the
tree, as Docker's FollowSymlinkInScope does, so neither `..`, an absolute
path nor a symlink pointing out can name anything outside the tree. Files
of the context are opened with openat and O_NOFOLLOW one component at a
time, so a path swapped for a symlink while the build runs is refused
rather than followed. Symlinks met while copying a directory are copied
as symlinks.

`.dockerignore` follows moby/patternmatcher: each line a pattern in Go's
filepath.Match syntax (`*`, `?`, `[...]`, `\\` escapes) plus `**` for any
number of directories, cleaned and made relative to the context root; a
pattern also matches everything below a directory it matches; `!` re-includes;
the last matching pattern decides. Excluded files are invisible to COPY and
ADD (and left out of their cache digests).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from tuidock.errors import UsageError
from tuidock.runtime.container import fs as ctrfs

MAX_SYMLINKS = 40  # Linux's limit on symlinks followed in one lookup
IGNORE_MAX = 1 << 20


@dataclass
class Node:
    rel: str  # path in the tree, "" for its root
    st: os.stat_result
    path: str  # the real path of the topmost copy
    stack: list[str] = field(default_factory=list)  # merged trees: the dir in each layer

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)

    @property
    def is_link(self) -> bool:
        return stat.S_ISLNK(self.st.st_mode)


class Tree:
    """A directory tree looked up name by name; subclasses say how a child is found."""

    def root(self) -> Node:
        raise NotImplementedError

    def child(self, node: Node, name: str) -> Node | None:
        raise NotImplementedError

    def children(self, node: Node) -> list[Node]:
        raise NotImplementedError

    def read(self, node: Node) -> int:
        """An fd open for reading on regular file `node`."""
        return os.open(node.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)

    def excluded(self, rel: str) -> bool:
        return False

    def resolve(self, path: str, follow_last: bool = True) -> Node | None:
        """The node `path` names inside the tree, symlinks followed within it."""
        todo = [p for p in path.split("/") if p not in ("", ".")]
        trail = [self.root()]
        hops = 0
        while todo:
            name = todo.pop(0)
            if name == "..":
                if len(trail) > 1:
                    trail.pop()
                continue
            cur = trail[-1]
            if not cur.is_dir:
                return None
            nxt = self.child(cur, name)
            if nxt is None:
                return None
            if nxt.is_link and (todo or follow_last):
                hops += 1
                if hops > MAX_SYMLINKS:
                    raise UsageError(f"too many levels of symbolic links: {path}")
                target = os.readlink(nxt.path)
                if target.startswith("/"):
                    trail = trail[:1]
                todo = [p for p in target.split("/") if p not in ("", ".")] + todo
                continue
            trail.append(nxt)
        return trail[-1]

    def walk(self, node: Node) -> list[Node]:
        """`node` and everything below it (pre-order, sorted), ignored paths left out."""
        out = [node]
        if node.is_dir and not node.is_link:
            for c in self.children(node):
                if not self.excluded(c.rel):
                    out += self.walk(c)
                elif c.is_dir:
                    # A `!` pattern may bring back something below an excluded dir.
                    out += [n for n in self.walk(c)[1:] if not self.excluded(n.rel)]
        return out


class ContextTree(Tree):
    """The build context directory, with its .dockerignore."""

    def __init__(self, root: str, ignore: IgnoreMatcher | None = None) -> None:
        self.base = os.path.abspath(root)
        st = os.stat(self.base)
        if not stat.S_ISDIR(st.st_mode):
            raise UsageError(f"unable to prepare context: path {root!r} is not a directory")
        self._root = Node("", st, self.base)
        self.ignore = ignore or IgnoreMatcher([])

    def root(self) -> Node:
        return self._root

    def child(self, node: Node, name: str) -> Node | None:
        path = f"{node.path}/{name}"
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return Node(_join(node.rel, name), st, path)

    def children(self, node: Node) -> list[Node]:
        out = []
        for name in sorted(os.listdir(node.path)):
            c = self.child(node, name)
            if c is not None:
                out.append(c)
        return out

    def read(self, node: Node) -> int:
        fd = os.open(self.base, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            parts = node.rel.split("/")
            for part in parts[:-1]:
                nfd = os.open(
                    part, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd
                )
                os.close(fd)
                fd = nfd
            return os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        finally:
            os.close(fd)

    def excluded(self, rel: str) -> bool:
        return self.ignore.excluded(rel)


class LayersTree(Tree):
    """The merged filesystem of image layers (a stage's or an image's), read in place."""

    def __init__(self, layer_dirs: list[Path]) -> None:
        top = str(layer_dirs[0]) if layer_dirs else "/nonexistent"
        st = os.lstat(top) if layer_dirs else os.stat_result((stat.S_IFDIR | 0o755,) + (0,) * 9)
        self._root = Node("", st, top, [str(p) for p in layer_dirs])

    def root(self) -> Node:
        return self._root

    def children(self, node: Node) -> list[Node]:
        return [
            Node(_join(node.rel, e.name), e.st, e.path, e.stack)
            for e in ctrfs.merged_children(node.stack)
        ]

    def child(self, node: Node, name: str) -> Node | None:
        return next((c for c in self.children(node) if c.rel.rsplit("/", 1)[-1] == name), None)


def _join(a: str, b: str) -> str:
    return f"{a}/{b}" if a else b


# -- sources ---------------------------------------------------------------------------------

_GLOB_CHARS = re.compile(r"[*?\[]")


def find_sources(tree: Tree, src: str) -> list[Node]:
    """The nodes a COPY/ADD source names: a path, or a glob over each path element."""
    clean = posixpath.normpath("/" + src).lstrip("/")
    if not _GLOB_CHARS.search(clean):
        node = tree.resolve(clean)
        if node is None or (node.rel and tree.excluded(node.rel)):
            return []
        return [node]
    matches: list[Node] = [tree.root()]
    for part in clean.split("/"):
        nxt: list[Node] = []
        rx = _compile_elem(part)
        for node in matches:
            if not node.is_dir:
                continue
            for c in tree.children(node):
                name = c.rel.rsplit("/", 1)[-1]
                if rx.fullmatch(name):
                    if c.is_link:
                        r = tree.resolve(c.rel)
                        if r is None:
                            continue
                        c = Node(c.rel, r.st, r.path, r.stack)
                    nxt.append(c)
        matches = nxt
    return [m for m in matches if not tree.excluded(m.rel)]


def digest_sources(tree: Tree, nodes: list[Node]) -> str:
    """A digest of what the sources hold: names, modes, owners, link targets and contents."""
    h = hashlib.sha256()
    for top in nodes:
        for n in tree.walk(top):
            st = n.st
            h.update(f"{n.rel}\0{st.st_mode:o}\0{st.st_uid}:{st.st_gid}\0".encode())
            if n.is_link:
                h.update(os.readlink(n.path).encode() + b"\0")
            elif stat.S_ISREG(st.st_mode):
                fd = tree.read(n)
                with os.fdopen(fd, "rb") as f:
                    while chunk := f.read(1 << 20):
                        h.update(chunk)
            h.update(b"\1")
    return h.hexdigest()


# -- .dockerignore ----------------------------------------------------------------------------


@dataclass
class _Pattern:
    regex: re.Pattern[str]
    exclusion: bool  # a `!` pattern: re-include


class IgnoreMatcher:
    def __init__(self, lines: list[str]) -> None:
        self.patterns: list[_Pattern] = []
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            neg = line.startswith("!")
            if neg:
                line = line[1:].strip()
            line = posixpath.normpath(line) if line else line
            line = line.lstrip("/")
            if not line or line == ".":
                continue
            self.patterns.append(_Pattern(_compile_path(line), neg))

    @classmethod
    def load(cls, context_dir: str) -> IgnoreMatcher:
        from tuidock.core.userfiles import read_user_text

        path = os.path.join(context_dir, ".dockerignore")
        if os.path.islink(path) or not os.path.isfile(path):
            return cls([])
        return cls(read_user_text(path, ".dockerignore", IGNORE_MAX).splitlines())

    def excluded(self, rel: str) -> bool:
        """patternmatcher.MatchesOrParentMatches: the last pattern that matches decides."""
        parents = []
        parts = rel.split("/")
        for k in range(1, len(parts)):
            parents.append("/".join(parts[:k]))
        out = False
        for p in self.patterns:
            if p.exclusion != out:
                continue
            hit = p.regex.fullmatch(rel) is not None or any(
                p.regex.fullmatch(parent) for parent in parents
            )
            if hit:
                out = not p.exclusion
        return out


def _compile_elem(pattern: str) -> re.Pattern[str]:
    return re.compile(_translate(pattern, doublestar=False))


def _compile_path(pattern: str) -> re.Pattern[str]:
    return re.compile(_translate(pattern, doublestar=True))


def _translate(pattern: str, doublestar: bool) -> str:
    """Go filepath.Match syntax as a regex (plus `**` in .dockerignore paths)."""
    out = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if doublestar and pattern.startswith("**", i):
                i += 2
                if pattern.startswith("/", i):
                    out.append("(?:.*/)?")
                    i += 1
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise UsageError(f"syntax error in pattern: {pattern}")
            body = pattern[i + 1 : end]
            if body.startswith("^"):
                body = "^" + body[1:].replace("\\", "\\\\")
            else:
                body = body.replace("\\", "\\\\")
            out.append(f"(?!/)[{body}]")
            i = end
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)
