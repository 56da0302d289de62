"""linux.scopedpath: every resolution stays inside its root, whatever the tree holds."""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tuidock.runtime.linux import scopedpath


@pytest.fixture(params=["openat2", "walk"])
def kernel(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run each test with openat2's RESOLVE_IN_ROOT and with the manual walk."""
    if request.param == "walk":
        monkeypatch.setattr(scopedpath, "_openat2_works", False)
    return request.param


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A root beside an `outside` directory that a resolution must never reach."""
    outside = tmp_path / "outside"
    (outside / "etc").mkdir(parents=True)
    (outside / "etc" / "shadow").write_text("host secret")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "shadow").write_text("container")
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    yield root, fd
    os.close(fd)


def _where(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def _inside(root: Path, where: str) -> bool:
    return where == str(root) or where.startswith(f"{root}/")


def test_symlink_loop_ends_with_eloop(tree: tuple[Path, int], kernel: str) -> None:
    root, fd = tree
    os.symlink("b", root / "a")
    os.symlink("/a", root / "b")
    os.symlink("self/x", root / "self")
    for path in ("a", "a/x", "self"):
        with pytest.raises(OSError) as info:
            scopedpath.open_in_root(fd, path)
        assert info.value.errno == errno.ELOOP
    with pytest.raises(OSError) as info:
        scopedpath.lookup_in_root(fd, "a/x", follow_last=True)
    assert info.value.errno == errno.ELOOP


def test_absolute_symlink_starts_at_the_root(tree: tuple[Path, int], kernel: str) -> None:
    root, fd = tree
    os.symlink("/etc", root / "abs")
    os.symlink(str(root.parent / "outside" / "etc"), root / "hostpath")
    assert _where(scopedpath.open_in_root(fd, "abs/shadow")) == str(root / "etc" / "shadow")
    # The host's absolute path of the outside tree means nothing in here.
    with pytest.raises(FileNotFoundError):
        scopedpath.open_in_root(fd, "hostpath/shadow")
    made = scopedpath.open_in_root(fd, "hostpath/shadow", create="file")
    assert _inside(root, _where(made))
    assert (root.parent / "outside" / "etc" / "shadow").read_text() == "host secret"


def test_dotdot_stops_at_the_root(tree: tuple[Path, int], kernel: str) -> None:
    root, fd = tree
    (root / "a" / "b").mkdir(parents=True)
    os.symlink("../../../../../..", root / "a" / "b" / "up")
    for path in ("..", "../../..", "a/../../..", "a/b/up", "/../.."):
        assert _where(scopedpath.open_in_root(fd, path)) == str(root)
    got = _where(scopedpath.open_in_root(fd, "a/b/up/../outside/etc/shadow", create="file"))
    assert got == str(root / "outside" / "etc" / "shadow")
    assert _where(scopedpath.open_in_root(fd, "../../outside/../etc/shadow")) == str(
        root / "etc" / "shadow"
    )
    parent, name, st = scopedpath.lookup_in_root(fd, "../../etc/shadow", follow_last=True)
    try:
        assert name == "shadow" and st is not None
        assert _inside(root, os.readlink(f"/proc/self/fd/{parent}"))
    finally:
        os.close(parent)


def test_symlink_to_a_file_then_a_path_through_it(tree: tuple[Path, int], kernel: str) -> None:
    root, fd = tree
    os.symlink("/etc/shadow", root / "f")
    assert _where(scopedpath.open_in_root(fd, "f")) == str(root / "etc" / "shadow")
    for create in (None, "dir", "file"):
        with pytest.raises(NotADirectoryError):
            scopedpath.open_in_root(fd, "f/x", create=create)
    with pytest.raises(NotADirectoryError):
        scopedpath.lookup_in_root(fd, "f/x/y", follow_last=True)
    assert not (root / "etc" / "shadow" / "x").exists()


def test_lookup_returns_the_parent_and_the_last_name(tree: tuple[Path, int]) -> None:
    root, fd = tree
    os.symlink("/etc/shadow", root / "f")
    parent, name, st = scopedpath.lookup_in_root(fd, "f", follow_last=False)
    os.close(parent)
    assert name == "f" and st is not None and stat.S_ISLNK(st.st_mode)
    parent, name, st = scopedpath.lookup_in_root(fd, "f", follow_last=True)
    assert name == "shadow" and st is not None and st.st_size == len("container")
    # The parent is a readable directory: it can be listed.
    assert "shadow" in os.listdir(parent)
    os.close(parent)
    parent, name, st = scopedpath.lookup_in_root(fd, "etc/new", follow_last=True)
    os.close(parent)
    assert (name, st) == ("new", None)
    with pytest.raises(FileNotFoundError):
        scopedpath.lookup_in_root(fd, "nodir/new", follow_last=True)


def test_directory_swapped_for_a_symlink_between_calls(tree: tuple[Path, int], kernel: str) -> None:
    root, fd = tree
    (root / "d").mkdir()
    assert _where(scopedpath.open_in_root(fd, "d")) == str(root / "d")
    (root / "d").rmdir()
    os.symlink(str(root.parent / "outside"), root / "d")
    with pytest.raises(FileNotFoundError):
        scopedpath.open_in_root(fd, "d/etc/shadow")
    os.unlink(root / "d")
    os.symlink("../../outside", root / "d")
    with pytest.raises(FileNotFoundError):
        scopedpath.open_in_root(fd, "d/etc/shadow")


def test_directory_swapped_during_a_walk(tree: tuple[Path, int]) -> None:
    """A name swapped after the walk entered it: the held fd keeps the walk where it was."""
    root, fd = tree
    (root / "d" / "sub").mkdir(parents=True)

    class Swapping(scopedpath.FdCursor):
        def enter(self, name: str, last: bool) -> tuple[int, str]:
            found = super().enter(name, last)
            if name == "d":
                os.rename(root / "d", root / "old")
                os.symlink(str(root.parent / "outside"), root / "d")
            return found

    with Swapping(fd, create="dir") as cursor:
        scopedpath.walk(cursor, "d/sub/../made")
        where = os.readlink(f"/proc/self/fd/{cursor.stack[-1]}")
    assert where == str(root / "old" / "made")
    assert not (root.parent / "outside" / "made").exists()
    with pytest.raises(FileNotFoundError):
        scopedpath.open_in_root(fd, "d/etc/shadow")


def test_racing_swaps_never_lead_outside(tree: tuple[Path, int], kernel: str) -> None:
    root, fd = tree
    (root / "d" / "etc").mkdir(parents=True)
    (root / "d" / "etc" / "shadow").write_text("container")
    stop = threading.Event()

    def swap() -> None:
        as_dir = root / "d.dir"
        link = root / "d.link"
        os.symlink("../outside", link)
        while not stop.is_set():
            os.rename(root / "d", as_dir)
            os.rename(link, root / "d")
            os.rename(root / "d", link)
            os.rename(as_dir, root / "d")

    swapper = threading.Thread(target=swap)
    swapper.start()
    try:
        for _ in range(2000):
            try:
                where = _where(scopedpath.open_in_root(fd, "d/etc/shadow"))
            except OSError:
                continue
            assert _inside(root, where), where
            try:
                parent, _, _ = scopedpath.lookup_in_root(fd, "d/etc/shadow", True)
            except OSError:
                continue
            assert _inside(root, _where(parent))
    finally:
        stop.set()
        swapper.join()
