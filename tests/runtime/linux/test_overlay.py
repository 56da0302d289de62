"""Layers unpacked one by one, stacked with overlayfs (and the copy fallback).

Needs root. Scratch space is on a real disk: overlayfs upper layers on tmpfs
lack trusted.* xattrs on older kernels, and the store never lives there.
Every mount made here is unmounted by a finalizer, even when a test fails.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tuidock.errors import TuidockError
from tuidock.runtime.image.layer.unpack import apply_layer
from tuidock.runtime.linux import overlay
from tuidock.runtime.linux.overlay import materialize, mount_overlay, overlay_supported, unmount

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")

T0 = 1_600_000_000


# ---------------------------------------------------------------- helpers


@dataclass
class Entry:
    name: str
    kind: str = "file"
    data: bytes = b""
    mode: int | None = None
    uid: int = 0
    gid: int = 0
    mtime: int = T0
    target: str = ""
    dev: tuple[int, int] = (0, 0)
    xattrs: dict[str, str] | None = None


_TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
          "link": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE,
          "fifo": tarfile.FIFOTYPE}  # fmt: skip


def F(name: str, data: bytes = b"", **kw) -> Entry:
    return Entry(name, "file", data, **kw)


def D(name: str, **kw) -> Entry:
    return Entry(name, "dir", **kw)


def make_tar(entries: Iterable[Entry]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            ti = tarfile.TarInfo(e.name)
            ti.type = _TYPES[e.kind]
            ti.mode = e.mode if e.mode is not None else (0o755 if e.kind == "dir" else 0o644)
            ti.uid, ti.gid, ti.mtime, ti.linkname = e.uid, e.gid, e.mtime, e.target
            ti.devmajor, ti.devminor = e.dev
            ti.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in (e.xattrs or {}).items()}
            ti.size = len(e.data)
            tf.addfile(ti, io.BytesIO(e.data) if e.kind == "file" else None)
    return buf.getvalue()


def _fstype(path: Path) -> str:
    best, kind = "", ""
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            mnt = fields[1].replace("\\040", " ")
            if (str(path) == mnt or str(path).startswith(mnt.rstrip("/") + "/")) and len(
                mnt
            ) >= len(best):
                best, kind = mnt, fields[2]
    return kind


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """tmp_path, unless it is on tmpfs: then a directory under /var/tmp."""
    if _fstype(tmp_path) not in ("tmpfs", "ramfs", "overlay"):
        yield tmp_path
        return
    scratch = Path(tempfile.mkdtemp(prefix="tuidock-test-", dir="/var/tmp"))
    try:
        yield scratch
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", str(scratch)], check=False)


@pytest.fixture
def mounts() -> Iterator[list[Path]]:
    """Targets to unmount at the end, whatever happens."""
    made: list[Path] = []
    yield made
    for target in reversed(made):
        unmount(target, detach=True)


class Stack:
    """Builds layers from tars the way the layer store does, then mounts them."""

    def __init__(self, root: Path, mounts: list[Path]) -> None:
        self.root = root
        self.layers: list[Path] = []  # bottom first
        self._mounts = mounts

    def add(self, entries: Iterable[Entry]) -> Path:
        dest = self.root / "layers" / f"{len(self.layers):03d}" / "diff"
        dest.parent.mkdir(parents=True)
        apply_layer(io.BytesIO(make_tar(entries)), dest, list(reversed(self.layers)))
        self.layers.append(dest)
        return dest

    def top_first(self) -> list[Path]:
        return list(reversed(self.layers))

    def mount(self, name: str = "merged", **kw) -> Path:
        target = self.root / name
        target.mkdir()
        mount_overlay(self.top_first(), target, **kw)
        self._mounts.append(target)
        return target


@pytest.fixture
def stack(disk: Path, mounts: list[Path]) -> Stack:
    return Stack(disk, mounts)


def mount_count(under: Path) -> int:
    """Overlay mounts at or below `under`: another run's containers mount overlays
    elsewhere on the host meanwhile, and must not count."""
    prefix = str(under.resolve())
    with open("/proc/self/mounts") as f:
        points = [ln.split()[1] for ln in f if ln.split()[2] == "overlay"]
    return sum(1 for p in points if p == prefix or p.startswith(prefix + "/"))


def tree(root: Path) -> dict[str, tuple]:
    """What a reader of the tree sees, with hardlinks as groups of names."""
    found: dict[str, tuple] = {}
    inodes: dict[int, list[str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath, name)
            rel = str(p.relative_to(root))
            st = p.lstat()
            mode = st.st_mode
            xattrs = {
                n: os.getxattr(p, n, follow_symlinks=False)
                for n in sorted(os.listxattr(p, follow_symlinks=False))
                if not n.startswith("trusted.overlay.")
            }
            extra: object = None
            if stat.S_ISREG(mode):
                extra = hashlib.sha256(p.read_bytes()).hexdigest()
                inodes.setdefault(st.st_ino, []).append(rel)
            elif stat.S_ISLNK(mode):
                extra = os.readlink(p)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                extra = st.st_rdev
            mtime = st.st_mtime_ns
            found[rel] = (mode, st.st_uid, st.st_gid, mtime, extra, tuple(xattrs.items()))
    groups = sorted(sorted(names) for names in inodes.values() if len(names) > 1)
    found["<hardlinks>"] = tuple(tuple(g) for g in groups)
    return found


# ----------------------------------------------------------------- tests


def test_disk_is_not_tmpfs(disk: Path):
    assert _fstype(disk) not in ("tmpfs", "ramfs")


def test_overlay_supported(disk: Path):
    assert overlay_supported(disk) is True
    assert overlay_supported(disk) is True  # cached
    assert not list(disk.glob(".overlay-probe-*"))


def test_add_delete_replace_across_layers(stack: Stack):
    stack.add([D("etc", mode=0o755, mtime=T0 + 1), F("etc/keep", b"k"), F("etc/gone", b"g"),
               F("file2dir", b"f"), D("dir2file"), F("dir2file/child", b"c"),
               D("opq_before"), F("opq_before/old", b"o"), D("opq_after"), F("opq_after/old", b"o"),
               D("d"), F("d/x", b"lower")])  # fmt: skip
    stack.add([F("etc/.wh.gone"), F("etc/added", b"a"),
               D("file2dir", mode=0o700), F("file2dir/inside", b"i"),
               F("dir2file", b"now a file"),
               F("opq_before/.wh..wh..opq"), F("opq_before/new", b"n"),
               F("opq_after/new", b"n"), F("opq_after/.wh..wh..opq"),
               F("d/.wh.x"), F("d/x", b"same layer")])  # fmt: skip
    merged = stack.mount()
    assert sorted(os.listdir(merged / "etc")) == ["added", "keep"]
    assert (merged / "file2dir/inside").read_bytes() == b"i"
    assert stat.S_IMODE((merged / "file2dir").stat().st_mode) == 0o700
    assert (merged / "dir2file").read_bytes() == b"now a file"
    assert sorted(os.listdir(merged / "opq_before")) == ["new"]
    assert sorted(os.listdir(merged / "opq_after")) == ["new"]
    assert (merged / "d/x").read_bytes() == b"same layer"
    # the implicit etc/ of layer 2 shows layer 1's attributes
    assert (merged / "etc").stat().st_mtime == T0 + 1
    for layer in stack.layers:
        for _, dirs, files in os.walk(layer):
            assert not [n for n in dirs + files if n.startswith(".wh.")]


def test_whiteout_of_dir_and_recreate_in_later_layer(stack: Stack):
    stack.add([D("a"), F("a/old", b"1"), F("a/older", b"2")])
    stack.add([F(".wh.a")])
    stack.add([D("a", mode=0o750), F("a/new", b"3")])
    merged = stack.mount()
    assert sorted(os.listdir(merged / "a")) == ["new"]


def test_same_layer_whiteout_and_dir_hides_lower_children(stack: Stack):
    stack.add([D("a"), F("a/old", b"1")])
    stack.add([F(".wh.a"), F("a/new", b"2")])
    merged = stack.mount()
    assert sorted(os.listdir(merged / "a")) == ["new"]


def test_hardlinks(stack: Stack):
    stack.add([D("bin"), F("bin/tool", b"T", mode=0o755)])
    stack.add([F("x/a", b"A"), Entry("x/b", "link", target="x/a"),
               Entry("bin/alias", "link", target="bin/tool")])  # fmt: skip
    merged = stack.mount()
    assert (merged / "x/a").stat().st_ino == (merged / "x/b").stat().st_ino
    assert (merged / "bin/alias").read_bytes() == b"T"
    assert (merged / "bin/alias").stat().st_ino == (merged / "bin/tool").stat().st_ino


def test_attributes_survive_in_merged_view(stack: Stack):
    stack.add([D("srv", mode=0o700, uid=10, gid=20, mtime=T0 + 5),
               F("srv/su", b"s", mode=0o4755), F("srv/sg", b"g", mode=0o2711, gid=7),
               D("srv/tmp", mode=0o1777),
               F("srv/x", b"x", xattrs={"user.a": "1", "trusted.b": "2"}),
               Entry("dev/null", "chr", dev=(1, 3), mode=0o666),
               Entry("dev/loop0", "blk", dev=(7, 0), mode=0o660),
               Entry("run/fifo", "fifo", mode=0o600)])  # fmt: skip
    stack.add([F("srv/more", b"m")])
    merged = stack.mount()
    st = (merged / "srv").stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime) == (0o700, 10, 20, T0 + 5)
    assert stat.S_IMODE((merged / "srv/su").stat().st_mode) == 0o4755
    assert stat.S_IMODE((merged / "srv/sg").stat().st_mode) == 0o2711
    assert stat.S_IMODE((merged / "srv/tmp").stat().st_mode) == 0o1777
    assert os.getxattr(merged / "srv/x", "user.a") == b"1"
    assert os.getxattr(merged / "srv/x", "trusted.b") == b"2"
    st = (merged / "dev/null").lstat()
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    assert stat.S_ISBLK((merged / "dev/loop0").lstat().st_mode)
    assert stat.S_ISFIFO((merged / "run/fifo").lstat().st_mode)


@pytest.mark.parametrize("root", ["/", "./"])
def test_root_entries(stack: Stack, root: str):
    stack.add([D(root, mode=0o755, mtime=T0), F("a", b"1")])
    stack.add([D(root, mode=0o711, mtime=T0 + 1), F("b", b"2")])
    merged = stack.mount()
    assert stat.S_IMODE(merged.stat().st_mode) == 0o711
    assert merged.stat().st_mtime == T0 + 1
    assert sorted(os.listdir(merged)) == ["a", "b"]


def test_single_layer_is_a_readonly_bind(stack: Stack):
    stack.add([F("a", b"1")])
    merged = stack.mount()
    assert (merged / "a").read_bytes() == b"1"
    with pytest.raises(OSError) as e:
        (merged / "b").write_bytes(b"x")
    assert e.value.errno == 30  # EROFS


def test_readonly_view_of_lowers(stack: Stack):
    stack.add([F("a", b"1")])
    stack.add([F("b", b"2")])
    merged = stack.mount()
    with pytest.raises(OSError):
        (merged / "c").write_bytes(b"x")


def test_writable_container_view(stack: Stack, disk: Path):
    stack.add([D("etc"), F("etc/hosts", b"h")])
    stack.add([F("etc/hostname", b"n")])
    upper, work = disk / "c/upper", disk / "c/work"
    merged = stack.mount(upper=upper, work=work)
    (merged / "etc/new").write_bytes(b"w")
    os.unlink(merged / "etc/hosts")
    assert (upper / "etc/new").read_bytes() == b"w"
    st = (upper / "etc/hosts").lstat()
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert (stack.layers[0] / "etc/hosts").read_bytes() == b"h"


def test_readonly_flag_with_upper(stack: Stack, disk: Path):
    stack.add([F("a", b"1")])
    merged = stack.mount(upper=disk / "u", work=disk / "w", readonly=True)
    with pytest.raises(OSError):
        (merged / "b").write_bytes(b"x")


def test_120_layers_fit_in_one_mount(stack: Stack, disk: Path):
    before = mount_count(disk)
    for i in range(120):
        stack.add([F(f"f{i:03d}", str(i).encode()), F("shared", str(i).encode())]
                  + ([F(f".wh.f{i - 1:03d}")] if i % 10 == 5 else []))  # fmt: skip
    plain = "lowerdir=" + ":".join(str(p) for p in stack.top_first())
    assert len(plain) > 4096  # too long as plain paths
    merged = stack.mount(upper=disk / "u", work=disk / "w")
    assert mount_count(disk) == before + 1
    names = set(os.listdir(merged))
    assert "f119" in names and "f000" in names
    assert "f004" not in names and "f014" not in names and "f005" in names
    assert (merged / "shared").read_bytes() == b"119"
    unmount(merged)
    assert mount_count(disk) == before


def test_paths_that_option_syntax_cannot_carry(stack: Stack, disk: Path):
    odd = disk / "odd:dir,x"
    odd.mkdir()
    s2 = Stack(odd, stack._mounts)
    s2.add([F("a", b"1")])
    s2.add([F("b", b"2")])
    merged = s2.mount()
    assert sorted(os.listdir(merged)) == ["a", "b"]


def test_unmount_of_non_mount_is_quiet(disk: Path):
    unmount(disk)
    unmount(disk / "missing")


def test_mount_failure_is_a_clear_error(disk: Path):
    with pytest.raises(TuidockError, match="cannot mount"):
        mount_overlay([disk / "nope1", disk / "nope2"], disk)
    with pytest.raises(TuidockError):
        mount_overlay([], disk)


def test_copy_fallback_matches_overlay(stack: Stack, disk: Path):
    stack.add([D("etc", mode=0o755, mtime=T0), F("etc/passwd", b"root", mtime=T0 + 1),
               F("etc/shadow", b"s", mode=0o640, gid=42), D("usr/lib", mode=0o755),
               F("usr/lib/libx.so", b"x" * 5000), Entry("usr/lib/liby.so", "symlink",
                                                         target="libx.so"),
               D("var/cache"), F("var/cache/a", b"a"), F("var/cache/b", b"b"),
               D("file2dir"), F("dir2file", b"f"), F("tool", b"t", mode=0o4755),
               D("opq"), F("opq/old", b"o"),
               Entry("dev/null", "chr", dev=(1, 3)), Entry("fifo", "fifo"),
               F("x/a", b"A"), Entry("x/b", "link", target="x/a")])  # fmt: skip
    stack.add([F("etc/.wh.shadow"), F("etc/group", b"g", xattrs={"user.g": "1"}),
               F(".wh.var"), D("dir2file", mode=0o700), F("dir2file/in", b"i"),
               F("file2dir", b"file"), Entry("tool2", "link", target="tool"),
               F("opq/.wh..wh..opq"), F("opq/new", b"n"), D("usr/lib", mode=0o750,
                                                          mtime=T0 + 9)])  # fmt: skip
    stack.add([D("var", mode=0o700), F("var/fresh", b"f"), F("x/.wh.b"),
               Entry("etc/passwd", "symlink", target="/nowhere")])  # fmt: skip
    merged = stack.mount()
    copy = disk / "copy"
    materialize(stack.top_first(), copy)
    seen, copied = tree(merged), tree(copy)
    assert copied == seen
    assert "var/cache" not in copied and "etc/shadow" not in copied
    assert copied["<hardlinks>"] == (("tool", "tool2"),)
    assert stat.S_IMODE(copy.stat().st_mode) == stat.S_IMODE(merged.stat().st_mode)


def test_materialize_does_not_follow_layer_symlinks(stack: Stack, disk: Path):
    outside = disk / "outside"
    outside.mkdir()
    (outside / "sentinel").write_bytes(b"untouched")
    stack.add([Entry("d", "symlink", target=str(outside))])
    stack.add([D("d"), F("d/sentinel", b"pwned")])
    stack.add([Entry("d", "symlink", target=str(outside)), F("e", b"1")])
    copy = disk / "copy"
    materialize(stack.top_first(), copy)
    assert os.readlink(copy / "d") == str(outside)
    assert (outside / "sentinel").read_bytes() == b"untouched"
    assert sorted(os.listdir(outside)) == ["sentinel"]


def test_materialize_into_nonempty_dir_refused(disk: Path):
    (disk / "full").mkdir()
    (disk / "full/x").write_bytes(b"")
    with pytest.raises(TuidockError, match="not empty"):
        materialize([], disk / "full")


def test_mount_data_uses_fds_only_when_needed(disk: Path):
    short = [disk / "a", disk / "b"]
    fds: list[int] = []
    text = overlay._options([str(p) for p in short], None, None, fds)
    assert text == f"lowerdir={short[0]}:{short[1]}" and fds == []
    for p in short:
        p.mkdir()
    long = [str(short[i % 2]) + "/" + "." * 0 for i in range(2)]
    text = overlay._options(long, None, None, fds)
    assert fds == []
    weird = disk / "a:b"
    weird.mkdir()
    try:
        text = overlay._options([str(weird), str(short[0])], None, None, fds)
        assert text.startswith("lowerdir=/proc/self/fd/") and len(fds) == 2
    finally:
        for fd in fds:
            os.close(fd)
