"""apply_layer and open_decompressed: exactness, whiteouts, breakouts, limits.

Run as root (chown, mknod, trusted.* xattrs). Hand-made tars; every breakout
test checks that nothing outside the layer directory changed, including a
sentinel that archives name by its absolute path.
"""

from __future__ import annotations

import gc
import gzip
import hashlib
import io
import os
import stat
import subprocess
import sys
import tarfile
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
import zstandard

from tuidock.errors import InvalidLayer, TooLarge, TuidockError
from tuidock.runtime.image.layer import compression
from tuidock.runtime.image.layer.compression import open_decompressed
from tuidock.runtime.image.layer.unpack import UnpackLimits, UnpackResult, apply_layer

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="unpacking images needs root")

OCI_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
T0 = 1_600_000_000

# ---------------------------------------------------------------- helpers


@dataclass
class Entry:
    name: str
    kind: str = "file"  # file dir symlink link chr blk fifo
    data: bytes = b""
    mode: int | None = None
    uid: int = 0
    gid: int = 0
    mtime: float = T0
    target: str = ""
    dev: tuple[int, int] = (0, 0)
    xattrs: dict[str, str] | None = None
    pax: dict[str, str] | None = None


_TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "link": tarfile.LNKTYPE,
    "chr": tarfile.CHRTYPE,
    "blk": tarfile.BLKTYPE,
    "fifo": tarfile.FIFOTYPE,
}


def F(name: str, data: bytes = b"", **kw) -> Entry:
    return Entry(name, "file", data, **kw)


def D(name: str, **kw) -> Entry:
    return Entry(name, "dir", **kw)


def S(name: str, target: str, **kw) -> Entry:
    return Entry(name, "symlink", target=target, **kw)


def H(name: str, target: str, **kw) -> Entry:
    return Entry(name, "link", target=target, **kw)


def make_tar(entries: Iterable[Entry], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for e in entries:
            ti = tarfile.TarInfo(e.name)
            ti.type = _TYPES[e.kind]
            default = 0o755 if e.kind == "dir" else 0o777 if e.kind == "symlink" else 0o644
            ti.mode = default if e.mode is None else e.mode
            ti.uid, ti.gid, ti.mtime = e.uid, e.gid, e.mtime
            ti.linkname = e.target
            ti.devmajor, ti.devminor = e.dev
            pax = dict(e.pax or {})
            for k, v in (e.xattrs or {}).items():
                pax[f"SCHILY.xattr.{k}"] = v
            ti.pax_headers = pax
            if e.kind == "file":
                ti.size = len(e.data)
                tf.addfile(ti, io.BytesIO(e.data))
            else:
                tf.addfile(ti)
    return buf.getvalue()


class Trickle(io.RawIOBase):
    """A non-seekable stream that hands out odd-sized pieces, like a socket."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._step = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = len(self._data)
        self._step = (self._step + 1) % 7
        n = min(n, 1 + self._step * 997)
        out = bytes(self._data[self._pos : self._pos + n])
        self._pos += len(out)
        return out


@pytest.fixture(params=["isal", "zlib"])
def inflate(request, monkeypatch) -> str:
    """Each gzip backend in turn, chosen as a user would: by the environment."""
    if request.param not in compression.inflate_backends():
        pytest.fail(f"inflate backend {request.param} is not installed")
    monkeypatch.setenv(compression.INFLATE_ENV, request.param)
    return request.param


def unpack(dest: Path, data: bytes, lowers=(), limits=None) -> UnpackResult:
    return apply_layer(Trickle(data), dest, lowers, limits)


def snapshot(top: Path, skip: Path) -> dict[str, tuple]:
    """Everything under `top` except `skip`: type, mode, owner, size, mtime, content."""
    found: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        here = Path(dirpath)
        if here == skip or skip in here.parents:
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            p = here / name
            if p == skip:
                continue
            st = p.lstat()
            content = p.read_bytes() if stat.S_ISREG(st.st_mode) else None
            link = os.readlink(p) if stat.S_ISLNK(st.st_mode) else None
            found[str(p)] = (st.st_mode, st.st_uid, st.st_nlink, st.st_size, st.st_mtime_ns,
                             content, link)  # fmt: skip
    return found


@pytest.fixture
def arena(tmp_path: Path):
    """A layer dir, a sibling dir and an 'outside' sentinel, all watched."""
    outside = tmp_path / "outside"
    outside.mkdir()
    sentinel = outside / "sentinel"
    sentinel.write_bytes(b"untouched")
    os.chmod(sentinel, 0o640)
    os.utime(sentinel, ns=(T0 * 10**9, T0 * 10**9))
    sibling = tmp_path / "sibling"
    sibling.mkdir()
    (sibling / "x").write_bytes(b"sibling")
    # Layer directories (the one under test and any extra) live in `layers`;
    # the layer root `main` is two levels down, so that `..` from it reaches
    # `sibling` and `outside` when not contained.
    layers = tmp_path / "layers"
    layers.mkdir()
    dest = layers / "main"

    class Arena:
        pass

    a = Arena()
    a.tmp, a.dest, a.outside, a.sentinel, a.sibling = tmp_path, dest, outside, sentinel, sibling
    a.layers = layers
    a.before = snapshot(tmp_path, layers)
    a.host_passwd = Path("/etc/passwd").stat()
    yield a
    assert snapshot(tmp_path, layers) == a.before, "something outside the layers changed"
    assert sentinel.read_bytes() == b"untouched"
    st = sentinel.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_mtime_ns, st.st_nlink) == (0o640, T0 * 10**9, 1)
    now = Path("/etc/passwd").stat()
    assert (now.st_ino, now.st_nlink, now.st_mtime_ns) == (
        a.host_passwd.st_ino, a.host_passwd.st_nlink, a.host_passwd.st_mtime_ns)  # fmt: skip


def inside(dest: Path, abspath: Path | str) -> Path:
    """Where an absolute path lands once scoped to the layer root."""
    return dest / str(abspath).lstrip("/")


def is_whiteout(p: Path) -> bool:
    st = p.lstat()
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def no_wh_files(dest: Path) -> None:
    for _, dirs, files in os.walk(dest):
        for n in dirs + files:
            assert not n.startswith(".wh."), n


# ------------------------------------------------------------ exactness


def test_regular_tree_exact(tmp_path: Path):
    dest = tmp_path / "l"
    data = make_tar([
        D("etc", mode=0o750, uid=3, gid=4, mtime=T0 + 1),
        F("etc/conf", b"hello", mode=0o640, uid=1000, gid=1001, mtime=T0 + 2),
        F("bin/su", b"\x7fELF", mode=0o4755, mtime=T0 + 3),
        F("bin/wall", b"w", mode=0o2755, gid=5),
        D("tmp", mode=0o1777),
        S("bin/sh", "/bin/busybox", uid=7, gid=8, mtime=T0 + 4),
        F("empty", b""),
    ])  # fmt: skip
    res = unpack(dest, data)
    assert res == UnpackResult(size=5 + 4 + 1, entries=7)
    st = (dest / "etc").lstat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime) == (0o750, 3, 4, T0 + 1)
    st = (dest / "etc/conf").lstat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, 1000, 1001)
    assert st.st_mtime == T0 + 2 and (dest / "etc/conf").read_bytes() == b"hello"
    assert stat.S_IMODE((dest / "bin/su").stat().st_mode) == 0o4755
    st = (dest / "bin/wall").stat()
    assert stat.S_IMODE(st.st_mode) == 0o2755 and st.st_gid == 5
    assert stat.S_IMODE((dest / "tmp").stat().st_mode) == 0o1777
    st = (dest / "bin/sh").lstat()
    assert stat.S_ISLNK(st.st_mode) and os.readlink(dest / "bin/sh") == "/bin/busybox"
    assert (st.st_uid, st.st_gid, st.st_mtime) == (7, 8, T0 + 4)
    # bin/ was not in the tar: created 0755 root:root
    st = (dest / "bin").stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o755, 0, 0)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755


def test_subsecond_pax_mtime_kept(tmp_path: Path):
    dest = tmp_path / "l"
    unpack(dest, make_tar([F("f", b"x", pax={"mtime": "1600000000.123456789"}),
                           D("d", pax={"mtime": "1600000001.5"})]))  # fmt: skip
    assert (dest / "f").stat().st_mtime_ns == 1_600_000_000_123_456_789
    assert (dest / "d").stat().st_mtime_ns == 1_600_000_001_500_000_000


def test_dir_mtimes_set_after_children(tmp_path: Path):
    dest = tmp_path / "l"
    unpack(dest, make_tar([D("a", mtime=T0), D("a/b", mtime=T0 + 1), F("a/b/c", b"1"),
                           F("a/x", b"2"), D("./", mtime=T0 + 9)]))  # fmt: skip
    assert (dest / "a").stat().st_mtime == T0
    assert (dest / "a/b").stat().st_mtime == T0 + 1
    assert dest.stat().st_mtime == T0 + 9


def test_xattrs(tmp_path: Path):
    dest = tmp_path / "l"
    cap = (b"\x01\x00\x00\x02" + (1 << 13).to_bytes(4, "little") + bytes(12)).decode("latin-1")
    data = make_tar([
        F("ping", b"p", mode=0o755, uid=0, xattrs={"security.capability": cap}),
        F("f", b"x", xattrs={"user.bin": b"\xff\x00\xfe".decode("utf-8", "surrogateescape"),
                             "trusted.t": "tv", "user.text": "héllo"}),
        D("d", xattrs={"user.d": "dv"}),
        F("o", b"x", xattrs={"trusted.overlay.opaque": "y", "trusted.overlay.redirect": "/x"}),
    ])  # fmt: skip
    unpack(dest, data)
    got = os.getxattr(dest / "ping", "security.capability")
    assert got[:4] == b"\x01\x00\x00\x02" and int.from_bytes(got[4:8], "little") == 1 << 13
    assert os.getxattr(dest / "f", "user.bin") == b"\xff\x00\xfe"
    assert os.getxattr(dest / "f", "trusted.t") == b"tv"
    assert os.getxattr(dest / "f", "user.text") == "héllo".encode()
    assert os.getxattr(dest / "d", "user.d") == b"dv"
    # overlay's own xattrs never come from an archive
    assert [n for n in os.listxattr(dest / "o") if n.startswith("trusted.overlay.")] == []


def test_devices_and_fifos(tmp_path: Path):
    dest = tmp_path / "l"
    unpack(dest, make_tar([
        Entry("dev/null", "chr", dev=(1, 3), mode=0o666),
        Entry("dev/sda", "blk", dev=(8, 0), mode=0o660, gid=6),
        Entry("run/fifo", "fifo", mode=0o620, uid=5, mtime=T0 + 5),
    ]))  # fmt: skip
    st = (dest / "dev/null").lstat()
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3
    assert stat.S_IMODE(st.st_mode) == 0o666
    st = (dest / "dev/sda").lstat()
    assert stat.S_ISBLK(st.st_mode) and st.st_rdev == os.makedev(8, 0) and st.st_gid == 6
    st = (dest / "run/fifo").lstat()
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o620
    assert st.st_uid == 5 and st.st_mtime == T0 + 5


def test_hardlinks_share_inode(tmp_path: Path):
    dest = tmp_path / "l"
    unpack(dest, make_tar([F("a", b"data", mode=0o4711, uid=9), H("b", "a"), H("d/c", "/a"),
                           S("s", "a"), H("s2", "s")]))  # fmt: skip
    a, b, c = (dest / "a").stat(), (dest / "b").stat(), (dest / "d/c").stat()
    assert a.st_ino == b.st_ino == c.st_ino and a.st_nlink == 3
    assert stat.S_IMODE(b.st_mode) == 0o4711 and b.st_uid == 9
    # a hardlink to a symlink links the symlink itself
    s, s2 = (dest / "s").lstat(), (dest / "s2").lstat()
    assert stat.S_ISLNK(s2.st_mode) and s.st_ino == s2.st_ino


def test_hardlink_to_lower_layer_file_is_copied_up(tmp_path: Path):
    lower = tmp_path / "l0"
    unpack(lower, make_tar([D("usr", mode=0o711), F("usr/tool", b"binary", mode=0o4750, uid=3,
                                                    xattrs={"user.k": "v"}, mtime=T0 + 7)]))  # fmt: skip
    upper = tmp_path / "l1"
    unpack(upper, make_tar([H("usr/alias", "usr/tool")]), lowers=[lower])
    tool, alias = (upper / "usr/tool").stat(), (upper / "usr/alias").stat()
    assert tool.st_ino == alias.st_ino and tool.st_nlink == 2
    assert (upper / "usr/alias").read_bytes() == b"binary"
    assert stat.S_IMODE(tool.st_mode) == 0o4750 and tool.st_uid == 3 and tool.st_mtime == T0 + 7
    assert os.getxattr(upper / "usr/tool", "user.k") == b"v"
    # the implicit parent took the lower directory's attributes
    assert stat.S_IMODE((upper / "usr").stat().st_mode) == 0o711
    assert (lower / "usr/tool").stat().st_nlink == 1  # the lower layer is only read


def test_hardlink_to_missing_target_refused(tmp_path: Path):
    with pytest.raises(InvalidLayer, match="not found"):
        unpack(tmp_path / "l", make_tar([H("b", "nowhere")]))


def test_replacement_within_layer(tmp_path: Path):
    dest = tmp_path / "l"
    unpack(dest, make_tar([
        D("d", mode=0o700), F("d/keep", b"k"),
        D("d", mode=0o751, uid=4, mtime=T0 + 3),          # dir over dir: keep, update
        F("f", b"old"), F("f", b"new", mode=0o600),       # file over file
        D("x"), F("x/child", b"c"), F("x", b"file now"),  # file over dir
        F("y", b"file"), D("y", mode=0o705),              # dir over file
        S("s", "one"), S("s", "two"),                     # symlink over symlink
        F("h1", b"h"), H("h2", "h1"), F("h1", b"fresh"),  # replacing a linked name
    ]))  # fmt: skip
    st = (dest / "d").stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_mtime) == (0o751, 4, T0 + 3)
    assert (dest / "d/keep").read_bytes() == b"k"
    assert (dest / "f").read_bytes() == b"new" and stat.S_IMODE(
        (dest / "f").stat().st_mode
    ) == 0o600
    assert (dest / "x").read_bytes() == b"file now"
    assert (dest / "y").is_dir() and stat.S_IMODE((dest / "y").stat().st_mode) == 0o705
    assert os.readlink(dest / "s") == "two"
    assert (dest / "h1").read_bytes() == b"fresh" and (dest / "h2").read_bytes() == b"h"


@pytest.mark.parametrize("root", ["/", "./", "."])
def test_root_entry_sets_layer_root(tmp_path: Path, root: str):
    dest = tmp_path / "l"
    unpack(dest, make_tar([D(root, mode=0o711, uid=2, gid=3, mtime=T0 + 1,
                             xattrs={"user.r": "1"}), F("f", b"1")]))  # fmt: skip
    st = dest.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime) == (0o711, 2, 3, T0 + 1)
    assert os.getxattr(dest, "user.r") == b"1"


def test_root_entry_must_be_dir(tmp_path: Path):
    with pytest.raises(InvalidLayer):
        unpack(tmp_path / "l", make_tar([S("/", "/etc")]))


def test_implicit_parents_copy_lower_attributes(tmp_path: Path):
    lower = tmp_path / "l0"
    unpack(lower, make_tar([D("./", mode=0o700, mtime=T0 + 1),
                            D("etc", mode=0o750, uid=5, gid=6, mtime=T0 + 2,
                              xattrs={"user.e": "1"}),
                            D("etc/x", mode=0o700, mtime=T0 + 3)]))  # fmt: skip
    (lower / "etc").chmod(0o750)
    upper = tmp_path / "l1"
    unpack(upper, make_tar([F("etc/x/new", b"n"), F("var/y", b"y")]), lowers=[lower])
    st = (upper / "etc").stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime) == (0o750, 5, 6, T0 + 2)
    assert os.getxattr(upper / "etc", "user.e") == b"1"
    assert (upper / "etc/x").stat().st_mtime == T0 + 3
    st = (upper / "var").stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o755, 0)
    # the layer root looks like the root below it
    assert stat.S_IMODE(upper.stat().st_mode) == 0o700 and upper.stat().st_mtime == T0 + 1


def test_dest_must_be_empty(tmp_path: Path):
    dest = tmp_path / "l"
    dest.mkdir()
    (dest / "junk").write_bytes(b"")
    with pytest.raises(TuidockError, match="not empty"):
        unpack(dest, make_tar([F("f")]))


def test_stream_not_closed_and_tail_left_to_caller(tmp_path: Path):
    data = make_tar([F("a", b"x" * 300_000), F("b", b"y")]) + b"\0" * 100_000
    h = hashlib.sha256()

    class Hashing(io.RawIOBase):
        def __init__(self, raw):
            self.raw = raw

        def readable(self):
            return True

        def read(self, n=-1):
            d = self.raw.read(n)
            h.update(d)
            return d

    raw = io.BytesIO(gzip.compress(data))
    stream = Hashing(open_decompressed(raw, OCI_GZIP))
    apply_layer(stream, tmp_path / "l")
    assert not stream.closed
    while stream.read(65536):
        pass
    assert h.hexdigest() == hashlib.sha256(data).hexdigest()


def test_gnu_and_ustar_formats(tmp_path: Path):
    long = "d/" + "n" * 150 + "/" + "f" * 120
    for i, fmt in enumerate((tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT, tarfile.PAX_FORMAT)):
        name = long if fmt != tarfile.USTAR_FORMAT else "d/" + "n" * 90 + "/" + "f" * 90
        dest = tmp_path / f"l{i}"
        target = "t" * 200 if fmt != tarfile.USTAR_FORMAT else "t"
        unpack(dest, make_tar([F(name, b"long"), S("s", target)], fmt=fmt))
        assert os.readlink(dest / "s") == target
        assert (dest / name).read_bytes() == b"long"


def test_sparse_gnu_file(tmp_path: Path):
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "sparse", "wb") as f:
        f.seek(1 << 20)
        f.write(b"end")
    blob = tmp_path / "s.tar"
    assert os.system(f"tar --sparse -C {src} -cf {blob} sparse") == 0
    dest = tmp_path / "l"
    unpack(dest, blob.read_bytes())
    assert (dest / "sparse").read_bytes() == bytes(1 << 20) + b"end"


# --------------------------------------------------------- whiteouts


def test_whiteout_becomes_char_device(tmp_path: Path):
    dest = tmp_path / "l"
    unpack(dest, make_tar([F("etc/.wh.passwd"), F(".wh.tmp"), D("a/b/.wh..wh..opq")]))
    assert is_whiteout(dest / "etc/passwd") and is_whiteout(dest / "tmp")
    assert os.getxattr(dest / "a/b", "trusted.overlay.opaque") == b"y"
    no_wh_files(dest)


@pytest.mark.parametrize("opq_first", [True, False])
def test_opaque_marker_any_position(tmp_path: Path, opq_first: bool):
    dest = tmp_path / "l"
    entries = [D("d", mode=0o750, mtime=T0 + 5), F("d/new", b"n")]
    opq = F("d/.wh..wh..opq")
    entries = [opq, *entries] if opq_first else [*entries, opq]
    unpack(dest, make_tar(entries))
    assert os.getxattr(dest / "d", "trusted.overlay.opaque") == b"y"
    assert (dest / "d").stat().st_mtime == T0 + 5
    assert sorted(os.listdir(dest / "d")) == ["new"]


@pytest.mark.parametrize("whiteout_first", [True, False])
def test_same_layer_whiteout_keeps_own_file(tmp_path: Path, whiteout_first: bool):
    dest = tmp_path / "l"
    entries = [F("a/x", b"mine")]
    wh = F("a/.wh.x")
    unpack(dest, make_tar([wh, *entries] if whiteout_first else [*entries, wh]))
    assert (dest / "a/x").read_bytes() == b"mine"
    no_wh_files(dest)


@pytest.mark.parametrize("whiteout_first", [True, False])
def test_same_layer_whiteout_of_own_dir_makes_it_opaque(tmp_path: Path, whiteout_first: bool):
    dest = tmp_path / "l"
    entries = [D("d"), F("d/f", b"1")]
    wh = F(".wh.d")
    unpack(dest, make_tar([wh, *entries] if whiteout_first else [*entries, wh]))
    assert (dest / "d/f").read_bytes() == b"1"
    assert os.getxattr(dest / "d", "trusted.overlay.opaque") == b"y"


def test_whiteout_then_children_of_same_name(tmp_path: Path):
    dest = tmp_path / "l"
    unpack(dest, make_tar([F(".wh.d"), F("d/f", b"1")]))
    assert (dest / "d/f").read_bytes() == b"1"
    assert os.getxattr(dest / "d", "trusted.overlay.opaque") == b"y"


def test_opaque_root_hides_every_lower_name(tmp_path: Path):
    lower = tmp_path / "l0"
    unpack(lower, make_tar([F("a"), D("b"), F("keep")]))
    upper = tmp_path / "l1"
    unpack(upper, make_tar([F(".wh..wh..opq"), F("keep", b"new")]), lowers=[lower])
    assert is_whiteout(upper / "a") and is_whiteout(upper / "b")
    assert (upper / "keep").read_bytes() == b"new"


@pytest.mark.parametrize("name", [".wh.", "a/.wh.", ".wh..", ".wh...", "a/.wh..wh.plnk",
                                  ".wh..wh.", ".wh.x/y"])  # fmt: skip
def test_invalid_whiteouts(tmp_path: Path, name: str):
    with pytest.raises(InvalidLayer):
        unpack(tmp_path / "l", make_tar([F(name)]))


# ----------------------------------------------------------- breakouts


def test_absolute_symlink_then_write_through(arena):
    data = make_tar([S("evil", str(arena.outside)), F("evil/sentinel", b"pwned"),
                     F("evil/new", b"pwned")])  # fmt: skip
    unpack(arena.dest, data)
    assert os.readlink(arena.dest / "evil") == str(arena.outside)  # kept as written
    assert inside(arena.dest, arena.sentinel).read_bytes() == b"pwned"
    assert inside(arena.dest, arena.outside / "new").read_bytes() == b"pwned"


def test_dotdot_symlink_then_write_through(arena):
    ups = "../" * 20
    data = make_tar([S("up", ups), F("up/sibling/x", b"pwned"),
                     S("a/b/up2", "../../../../../sibling"), F("a/b/up2/x", b"pwned2"),
                     S("abs", ups + str(arena.outside)), F("abs/sentinel", b"pwned3")])  # fmt: skip
    unpack(arena.dest, data)
    assert (arena.dest / "sibling/x").read_bytes() == b"pwned2"
    assert inside(arena.dest, arena.sentinel).read_bytes() == b"pwned3"


def test_directory_replaced_by_symlink_then_written_through(arena):
    data = make_tar([D("d"), F("d/a", b"1"), S("d", str(arena.outside)),
                     F("d/sentinel", b"pwned"), D("d/sub"), F("d/sub/f", b"x")])  # fmt: skip
    unpack(arena.dest, data)
    assert os.path.islink(arena.dest / "d")
    assert inside(arena.dest, arena.sentinel).read_bytes() == b"pwned"
    assert inside(arena.dest, arena.outside / "sub/f").read_bytes() == b"x"


def test_directory_replaced_by_symlink_keeps_dir_times_inside(arena):
    # A recorded directory mtime must not be applied through a later symlink.
    data = make_tar([D("d"), D("d/sub", mtime=T0 + 1), S("d", str(arena.outside))])
    unpack(arena.dest, data)
    assert os.path.islink(arena.dest / "d")


def test_hardlink_to_absolute_path(arena):
    with pytest.raises(InvalidLayer, match="not found"):
        unpack(arena.dest, make_tar([H("h", str(arena.sentinel))]))
    with pytest.raises(InvalidLayer, match="not found"):
        unpack(arena.layers / "l2", make_tar([H("h", "/etc/passwd")]))


def test_hardlink_to_absolute_path_inside_layer(arena):
    data = make_tar([F(str(arena.sentinel), b"in layer"), H("h", str(arena.sentinel))])
    unpack(arena.dest, data)
    assert (arena.dest / "h").read_bytes() == b"in layer"
    assert (arena.dest / "h").stat().st_ino == inside(arena.dest, arena.sentinel).stat().st_ino


@pytest.mark.parametrize("target", ["../../outside/sentinel", "a/../../outside/sentinel",
                                    "../../../../../etc/passwd"])  # fmt: skip
def test_hardlink_to_dotdot_path(arena, target: str):
    with pytest.raises(InvalidLayer, match="escapes"):
        unpack(arena.dest, make_tar([D("a"), H("h", target)]))


def test_hardlink_through_symlinked_parent(arena):
    with pytest.raises(InvalidLayer, match="not found"):
        unpack(arena.dest, make_tar([S("lnk", str(arena.outside)), H("h", "lnk/sentinel")]))
    dest2 = arena.layers / "l2"
    unpack(dest2, make_tar([S("etc", "/real"), F("real/passwd", b"mine"), H("h", "etc/passwd")]))
    assert (dest2 / "h").read_bytes() == b"mine"
    assert (dest2 / "h").stat().st_ino == (dest2 / "real/passwd").stat().st_ino
    dest3 = arena.layers / "l3"
    with pytest.raises(InvalidLayer, match="not found"):
        unpack(dest3, make_tar([S("up", "../../../../"), H("h", "up/etc/passwd")]))


def test_hardlink_to_symlink_links_the_symlink(arena):
    unpack(arena.dest, make_tar([S("s", str(arena.sentinel)), H("h", "s")]))
    st = (arena.dest / "h").lstat()
    assert stat.S_ISLNK(st.st_mode) and st.st_ino == (arena.dest / "s").lstat().st_ino
    assert os.readlink(arena.dest / "h") == str(arena.sentinel)


def test_whiteout_through_symlinked_parent(arena):
    data = make_tar([S("lnk", str(arena.outside)), F("lnk/.wh.sentinel"),
                     S("up", "../../sibling"), F("up/.wh.x")])  # fmt: skip
    unpack(arena.dest, data)
    assert is_whiteout(inside(arena.dest, arena.sentinel))
    assert is_whiteout(arena.dest / "sibling/x")
    no_wh_files(arena.dest)


@pytest.mark.parametrize("name", ["../../sibling/evil", "../../evil", "a/../../sibling/evil",
                                  "./../evil", "a/b/../../../evil"])  # fmt: skip
def test_dotdot_entry_names_refused(arena, name: str):
    with pytest.raises(InvalidLayer, match="escapes"):
        unpack(arena.dest, make_tar([F(name, b"pwned")]))


def test_dotdot_inside_the_layer_is_collapsed(arena):
    unpack(arena.dest, make_tar([F("a/../b", b"1"), F("./c/./d/../e", b"2")]))
    assert (arena.dest / "b").read_bytes() == b"1"
    assert (arena.dest / "c/e").read_bytes() == b"2"


def test_absolute_entry_names_stay_inside(arena):
    data = make_tar([F(str(arena.sentinel), b"pwned"), F("/etc/passwd", b"root::0:0::/:"),
                     D(str(arena.sibling))])  # fmt: skip
    unpack(arena.dest, data)
    assert inside(arena.dest, arena.sentinel).read_bytes() == b"pwned"
    assert (arena.dest / "etc/passwd").read_bytes() == b"root::0:0::/:"


def test_symlink_loop_refused(arena):
    with pytest.raises(InvalidLayer, match="symbolic links"):
        unpack(arena.dest, make_tar([S("a", "b"), S("b", "a"), F("a/x", b"x")]))


def test_symlink_to_file_as_parent_refused(arena):
    with pytest.raises(InvalidLayer, match="not a directory"):
        unpack(arena.dest, make_tar([F("f", b"x"), S("l", "f"), F("l/x", b"y")]))
    with pytest.raises(InvalidLayer, match="not a directory"):
        unpack(arena.layers / "l2", make_tar([F("f", b"x"), F("f/x", b"y")]))


def test_device_at_parent_position_refused(arena):
    with pytest.raises(InvalidLayer):
        unpack(arena.dest, make_tar([Entry("d", "fifo"), F("d/x", b"y")]))


def test_symlink_chain_inside_layer_resolves_scoped(arena):
    data = make_tar([S("a", "b/c"), S("b", "/real"), D("real/c"),
                     F("a/f", b"deep")])  # fmt: skip
    unpack(arena.dest, data)
    assert (arena.dest / "real/c/f").read_bytes() == b"deep"


# ------------------------------------------------------------- limits


class LazyGzip(io.RawIOBase):
    """gzip of the chunks an iterator yields, compressed only as they are read."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._comp = zlib.compressobj(1, zlib.DEFLATED, 31)
        self._pending = b""
        self.fed = 0  # uncompressed bytes produced so far
        self._done = False

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        while not self._pending and not self._done:
            chunk = next(self._chunks, None)
            if chunk is None:
                self._pending = self._comp.flush()
                self._done = True
            else:
                self.fed += len(chunk)
                self._pending = self._comp.compress(chunk)
        n = len(self._pending) if n is None or n < 0 else n
        out, self._pending = self._pending[:n], self._pending[n:]
        return out


ZEROS = bytes(1 << 20)


def zeros(count: int) -> Iterable[bytes]:
    while count > 0:
        k = min(count, len(ZEROS))
        yield ZEROS[:k]
        count -= k


def _header(name: str, size: int) -> bytes:
    ti = tarfile.TarInfo(name)
    ti.size = size
    return ti.tobuf(tarfile.PAX_FORMAT)


def test_declared_bomb_aborts_at_once(tmp_path: Path, inflate: str):
    def bomb():
        yield _header("zeros", 100 << 30)
        yield from zeros(100 << 30)

    raw = LazyGzip(bomb())
    start = time.monotonic()
    with pytest.raises(TooLarge, match="byte limit"):
        apply_layer(open_decompressed(raw, OCI_GZIP), tmp_path / "l")
    assert time.monotonic() - start < 10
    assert raw.fed < 1 << 30


def test_streamed_bomb_aborts_quickly(tmp_path: Path, inflate: str):
    # Files that are each within bounds, adding up to 800 GB of zeros.
    size = 8 << 20

    def bomb():
        for i in range(100_000):
            yield _header(f"z{i}", size)
            yield from zeros(size)

    raw = LazyGzip(bomb())
    start = time.monotonic()
    with pytest.raises(TooLarge, match=f"{64 << 20}-byte limit"):
        apply_layer(open_decompressed(raw, OCI_GZIP), tmp_path / "l",
                    limits=UnpackLimits(max_bytes=64 << 20))  # fmt: skip
    assert time.monotonic() - start < 20
    assert raw.fed < 256 << 20


def test_decompression_limit_on_drain(inflate: str):
    raw = LazyGzip(zeros(10 << 30))
    stream = open_decompressed(raw, OCI_GZIP, limit=32 << 20)
    with pytest.raises(TooLarge):
        while stream.read(1 << 20):
            pass
    assert raw.fed < 1 << 30
    stream.close()


def test_entry_count_limit(tmp_path: Path):
    with pytest.raises(TooLarge, match="more than 10 entries"):
        unpack(tmp_path / "l", make_tar(F(f"f{i}") for i in range(11)),
               limits=UnpackLimits(max_entries=10))  # fmt: skip


def test_name_length_limit(tmp_path: Path):
    with pytest.raises(InvalidLayer, match="longer than"):
        unpack(tmp_path / "l", make_tar([F("a/" * 3000 + "f")]))
    with pytest.raises(InvalidLayer, match="longer than"):
        unpack(tmp_path / "l2", make_tar([S("s", "x" * 5000)]))


@pytest.mark.parametrize("kind", [tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.XGLTYPE])
def test_huge_header_refused(tmp_path: Path, kind: bytes):
    body = b"x" * (8 << 20)
    ti = tarfile.TarInfo("././@LongLink" if kind == tarfile.GNUTYPE_LONGNAME else "pax")
    ti.type = kind
    ti.size = len(body)
    head = ti.tobuf(tarfile.GNU_FORMAT)
    data = head + body + make_tar([F("f", b"1")])
    with pytest.raises(TooLarge, match="header"):
        unpack(tmp_path / "l", data, limits=UnpackLimits(max_header_bytes=1 << 20))


def test_xattr_size_limit(tmp_path: Path):
    with pytest.raises(TooLarge, match="xattrs"):
        unpack(tmp_path / "l", make_tar([F("f", xattrs={"user.big": "v" * 5000})]),
               limits=UnpackLimits(max_xattr_bytes=4096))  # fmt: skip


# --------------------------------------------------- corrupt archives


def test_truncated_file_data(tmp_path: Path):
    data = make_tar([F("f", b"x" * 10000)])
    with pytest.raises(InvalidLayer, match=r"truncated|ends early|unexpected end"):
        unpack(tmp_path / "l", data[:3000])


def test_corrupt_header_mid_archive(tmp_path: Path):
    data = bytearray(make_tar([F("a", b"1"), F("b", b"2")]))
    second_at = 1024  # after a's header and its one data block
    assert data[second_at : second_at + 1] == b"b"
    data[second_at + 10] ^= 0xFF
    with pytest.raises(InvalidLayer, match="corrupt"):
        unpack(tmp_path / "l", bytes(data))


def test_not_a_tar(tmp_path: Path):
    with pytest.raises(InvalidLayer):
        unpack(tmp_path / "l", b"this is not a tar archive at all" * 40)


def test_empty_layers(tmp_path: Path):
    assert unpack(tmp_path / "a", b"") == UnpackResult(0, 0)
    assert unpack(tmp_path / "b", b"\0" * 1024) == UnpackResult(0, 0)
    raw = io.BytesIO(gzip.compress(b"\0" * 1024))
    assert apply_layer(open_decompressed(raw, DOCKER_GZIP), tmp_path / "c").entries == 0


def test_unknown_entry_type(tmp_path: Path):
    ti = tarfile.TarInfo("v")
    ti.type = b"V"
    data = ti.tobuf(tarfile.GNU_FORMAT) + b"\0" * 1024
    with pytest.raises(InvalidLayer, match="unsupported tar entry type"):
        unpack(tmp_path / "l", data)


# ------------------------------------------------------- compression


def _layer() -> bytes:
    return make_tar([D("d"), F("d/a", os.urandom(200_000)), F("d/b", b"b" * 500_000)])


def _check_layer(dest: Path, data: bytes) -> None:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf.getmembers():
            if m.isfile():
                assert (dest / m.name).read_bytes() == tf.extractfile(m).read()


@pytest.mark.parametrize("media", [OCI_GZIP, DOCKER_GZIP,
                                   "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                                   "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                                   OCI_TAR])  # fmt: skip
def test_gzip_multi_member(tmp_path: Path, media: str, inflate: str):
    data = _layer()
    cut = 123_457
    blob = gzip.compress(data[:cut]) + gzip.compress(data[cut:]) + b"\0" * 64
    # labelled plain tar too: the magic bytes win over a wrong label
    apply_layer(open_decompressed(Trickle(blob), media), tmp_path / "l")
    _check_layer(tmp_path / "l", data)


def test_inflate_backends_agree(tmp_path: Path):
    data = _layer() + os.urandom(300_000)
    cut = 77_777
    blob = gzip.compress(data[:cut]) + gzip.compress(data[cut:], 1) + b"\0" * 10
    outs = []
    for backend in ("isal", "zlib"):
        h = hashlib.sha256()
        stream = open_decompressed(Trickle(blob), OCI_GZIP, hasher=h, inflate=backend)
        outs.append((stream.read(), h.hexdigest()))
    assert outs[0] == outs[1] == (data, hashlib.sha256(data).hexdigest())


def test_inflate_falls_back_to_zlib_without_isal(tmp_path: Path, monkeypatch):
    assert compression.inflate_backends() == ["isal", "zlib"]
    monkeypatch.setitem(sys.modules, "isal", None)  # import isal now fails
    monkeypatch.setitem(sys.modules, "isal.isal_zlib", None)
    assert compression.inflate_backends() == ["zlib"]
    data = _layer()
    apply_layer(open_decompressed(Trickle(gzip.compress(data)), OCI_GZIP), tmp_path / "l")
    _check_layer(tmp_path / "l", data)
    with pytest.raises(InvalidLayer, match="gzip"):
        open_decompressed(io.BytesIO(gzip.compress(data)[:-9]), OCI_GZIP).read()


def test_zstd_multi_frame(tmp_path: Path):
    data = _layer()
    cctx = zstandard.ZstdCompressor(level=3)
    blob = cctx.compress(data[:70_000]) + cctx.compress(data[70_000:])
    apply_layer(open_decompressed(io.BytesIO(blob), OCI_ZSTD), tmp_path / "l")
    _check_layer(tmp_path / "l", data)
    stream = open_decompressed(
        io.BytesIO(blob), "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
    )
    assert stream.read() == data


def test_plain_tar(tmp_path: Path):
    data = _layer()
    apply_layer(open_decompressed(Trickle(data), OCI_TAR), tmp_path / "l")
    _check_layer(tmp_path / "l", data)


def test_unknown_media_type():
    with pytest.raises(InvalidLayer, match=r"application/vnd\.in-toto\+json"):
        open_decompressed(io.BytesIO(b""), "application/vnd.in-toto+json")


@pytest.mark.parametrize("bad", ["truncate", "flip", "garbage"])
def test_corrupt_gzip(bad: str, inflate: str):
    blob = bytearray(gzip.compress(_layer()))
    if bad == "truncate":
        blob = blob[: len(blob) // 2]
    elif bad == "flip":
        blob[len(blob) // 2] ^= 0x55
    else:
        blob += b"garbage!"
    stream = open_decompressed(io.BytesIO(bytes(blob)), OCI_GZIP)
    with pytest.raises(InvalidLayer, match="gzip"):
        stream.read()


def test_corrupt_zstd():
    blob = zstandard.ZstdCompressor().compress(_layer())
    stream = open_decompressed(io.BytesIO(blob[: len(blob) // 2]), OCI_ZSTD)
    with pytest.raises(InvalidLayer, match="zstd"):
        stream.read()


def test_zstd_cli_blob_with_skippable_frame(tmp_path: Path):
    data = _layer()
    src = tmp_path / "layer.tar"
    src.write_bytes(data)
    out = subprocess.run(["zstd", "-q", "-c", "--content-size", str(src)],
                         check=True, capture_output=True).stdout  # fmt: skip
    skippable = (0x184D2A53).to_bytes(4, "little") + (5).to_bytes(4, "little") + b"hello"
    blob = out + skippable + out
    stream = open_decompressed(Trickle(blob), OCI_ZSTD)
    apply_layer(stream, tmp_path / "l")
    _check_layer(tmp_path / "l", data)
    stream.read()  # the caller drains the rest
    assert open_decompressed(io.BytesIO(blob), OCI_ZSTD).read() == data + data
    with pytest.raises(InvalidLayer, match="truncated zstd"):
        open_decompressed(io.BytesIO(blob[:-3]), OCI_ZSTD).read()


def test_decompression_thread_stops_when_stream_dropped():
    before = {t.ident for t in threading.enumerate()}
    blob = gzip.compress(bytes(50 << 20))
    stream = open_decompressed(io.BytesIO(blob), OCI_GZIP)
    stream.read(1000)
    stream.close()
    stream2 = open_decompressed(io.BytesIO(blob), OCI_GZIP)
    stream2.read(1000)
    del stream2
    gc.collect()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        extra = [t for t in threading.enumerate()
                 if t.ident not in before and t.name == "layer-decompress"]  # fmt: skip
        if not extra:
            break
        time.sleep(0.05)
    assert not extra


@pytest.mark.parametrize("codec", ["gzip", "zstd", "tar"])
def test_hasher_sees_every_uncompressed_byte(tmp_path: Path, codec: str, inflate: str):
    data = _layer() + b"\0" * 5000
    blob = {
        "gzip": lambda: gzip.compress(data),
        "zstd": lambda: zstandard.ZstdCompressor().compress(data),
        "tar": lambda: data,
    }[codec]()
    h = hashlib.sha256()
    stream = open_decompressed(Trickle(blob), OCI_GZIP, hasher=h)
    apply_layer(stream, tmp_path / "l")
    while stream.read(1 << 16):
        pass
    assert h.hexdigest() == hashlib.sha256(data).hexdigest()


def test_fast_header_parser_agrees_with_tarfile():
    from tuidock.runtime.image.layer.tarstream import _fast_frombuf

    infos = []
    for fmt in (tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        for name, kind, uid, mtime in [
            ("a/" * 60 + "f", tarfile.REGTYPE, 0, T0),  # ustar prefix field
            ("d/", tarfile.DIRTYPE, 65534, 0),
            ("big-uid", tarfile.REGTYPE, 1 << 30, T0),  # base-256 in GNU
            ("old", tarfile.REGTYPE, 1, -5),  # negative mtime (GNU base-256)
            ("dev", tarfile.CHRTYPE, 0, T0),
            ("ünïcode", tarfile.SYMTYPE, 3, T0),
        ]:
            ti = tarfile.TarInfo(name)
            ti.type, ti.uid, ti.mtime, ti.linkname = kind, uid, mtime, "tgt"
            ti.devmajor, ti.devminor = 4, 5
            ti.uname, ti.gname = "user", "group"
            try:
                infos.append(ti.tobuf(fmt, "utf-8", "surrogateescape"))
            except ValueError:
                continue  # not representable in this format
    checked = 0
    for blob in infos:
        for off in range(0, len(blob), 512):
            buf = blob[off : off + 512]
            try:
                want = tarfile.TarInfo.frombuf(buf, "utf-8", "surrogateescape")
            except tarfile.HeaderError:
                want = None
            got = _fast_frombuf(tarfile.TarInfo, buf, "utf-8", "surrogateescape")
            if got is None:
                continue
            checked += 1
            assert want is not None
            assert got.get_info() == want.get_info()
    assert checked > 10


def _members_seen(data: bytes, direct: bool) -> list:
    """Every member (and its data) TarStream yields, then how the stream ended."""
    from tuidock.runtime.image.layer.tarstream import TarStream

    members = TarStream(Trickle(data), 1 << 20, 1000, direct=direct)
    seen: list = []
    try:
        for m in members:
            content = None
            if m.isreg():
                if m.sparse is not None:
                    content = members.tarfile.extractfile(m).read()
                else:
                    content = members.source.read(m.size)
            info = m.get_info()
            seen.append((info, m.type, m.pax_headers, m.sparse, content))
    except (InvalidLayer, TooLarge) as e:
        seen.append((type(e).__name__, str(e)))
    return seen


def _pax_record(key: bytes, value: bytes) -> bytes:
    body = b" " + key + b"=" + value + b"\n"
    n = len(body) + 1
    while len(str(n).encode()) + len(body) != n:
        n += 1
    return str(n).encode() + body


def _raw_pax(records: bytes, then: bytes, kind: bytes = tarfile.XHDTYPE) -> bytes:
    ti = tarfile.TarInfo("PaxHeaders/x")
    ti.type, ti.size = kind, len(records)
    pad = -len(records) % 512
    return ti.tobuf(tarfile.USTAR_FORMAT) + records + b"\0" * pad + then


def _header_variants() -> list[bytes]:
    long = "d" * 120 + "/" + "n" * 150
    plain = [
        F("f", b"data"), D("dir/"), S("s", "target"), H("h", "f"),
        Entry("c", "chr", dev=(1, 3)), Entry("b", "blk", dev=(8, 1)), Entry("p", "fifo"),
        F("a/" * 70 + "deep", b"prefix"), F(long, b"long"), S("ls", "t" * 300),
        H("lh", long), D(long + "/"), F("ünï/cödé", b"u"), F("big-uid", b"1", uid=1 << 22),
        F("old", b"1", mtime=-5), F("sub", b"1", mtime=T0 + 0.25),
        F("xa", b"x", xattrs={"user.a": "1", "security.capability": "\x01\x02"}),
        F("pp", b"1", pax={"path": "renamed/", "uname": "ü", "comment": "c=d"}),
        D("pd", pax={"path": "renamed-dir/"}), S("pl", "x", pax={"linkpath": "y" * 200}),
    ]  # fmt: skip
    blobs = []
    for fmt in (tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        for e in plain:
            try:
                blobs.append(make_tar([e, F("after", b"x")], fmt))
            except ValueError:
                continue  # not representable in this format
    tail = make_tar([F("next", b"n" * 700)])
    file_hdr = tarfile.TarInfo("f")
    file_hdr.size = 3
    file_blk = file_hdr.tobuf(tarfile.USTAR_FORMAT) + b"abc" + b"\0" * 509
    dir_hdr = tarfile.TarInfo("d/")
    dir_hdr.type, dir_hdr.size = tarfile.DIRTYPE, 600  # tarfile skips no data for it
    gnu_long = tarfile.TarInfo("././@LongLink")
    gnu_long.type, gnu_long.size = tarfile.GNUTYPE_LONGNAME, 8
    long_blk = gnu_long.tobuf(tarfile.GNU_FORMAT) + b"gnu-name" + b"\0" * 504
    rec = _pax_record
    for records in [
        rec(b"path", b"p1") + rec(b"size", b"3"),
        rec(b"size", b"2") + rec(b"mtime", b"12.5") + rec(b"uid", b"bad"),
        rec(b"path", b"\xff\xfe-not-utf8") + rec(b"SCHILY.xattr.user.x", b"\xff"),
        rec(b"hdrcharset", b"BINARY") + rec(b"path", b"\xe9"),
        rec(b"GNU.sparse.name", b"sp") + rec(b"GNU.sparse.size", b"3"),
        rec(b"path", b"a") + b"\0garbage",
        b"9 path=a\n",  # wrong length
        b"00000000000000000000006 a=\n",  # 26 digits: too long for tarfile
        b"4 a=\n",
        b"5 =a\n",
        b"x path=a\n",
        rec(b"path", b"a")[:-1] + b"X",
        rec(b"path", b"d/"),
    ]:
        blobs.append(_raw_pax(records, file_blk + tail))
        blobs.append(_raw_pax(records, long_blk + file_blk + tail))
        blobs.append(long_blk + _raw_pax(records, file_blk + tail))
        blobs.append(_raw_pax(records, _raw_pax(rec(b"path", b"inner"), file_blk + tail)))
        blobs.append(_raw_pax(records, file_blk + tail, kind=tarfile.XGLTYPE))
    blobs.append(dir_hdr.tobuf(tarfile.USTAR_FORMAT) + tail)
    empty_dir = tarfile.TarInfo("d")
    empty_dir.type = tarfile.DIRTYPE
    for name in (b"gnu-dir/", b"gnu-dir//"):
        gnu_long.size = len(name)
        named = gnu_long.tobuf(tarfile.GNU_FORMAT) + name.ljust(512, b"\0")
        blobs.append(named + empty_dir.tobuf(tarfile.USTAR_FORMAT) + tail)
    blobs.append(_raw_pax(rec(b"size", b"600"), dir_hdr.tobuf(tarfile.USTAR_FORMAT) + tail))
    blobs.append(file_blk + long_blk[:700])  # truncated long name
    blobs.append(file_blk + b"\0" * 300)  # truncated end marker
    blobs.append(file_blk)  # no end marker at all
    blobs.append(b"")
    return blobs


def test_direct_header_path_agrees_with_tarfile():
    variants = _header_variants()
    for data in variants:
        assert _members_seen(data, True) == _members_seen(data, False)
    assert len(variants) > 100


def test_direct_header_path_agrees_with_tarfile_on_damaged_headers():
    import random

    rng = random.Random(4)
    base = make_tar([
        F("a" * 150, b"1" * 600, xattrs={"user.k": "v"}), S("l", "t" * 120),
        F("sub", b"2", mtime=T0 + 0.5), D("d"),
    ])  # fmt: skip
    header_bytes = [
        i for i in range(len(base)) if (i // 512) in (0, 1, 2, 5, 6, 7, 8, 9, 10, 12, 13)
    ]
    for _ in range(1500):
        data = bytearray(base)
        for _ in range(rng.randint(1, 3)):
            pos = rng.choice(header_bytes)
            data[pos] = rng.choice([0, 0x20, 0x30, 0x39, 0x0A, 0x3D, 0xFF, data[pos] ^ 1])
        assert _members_seen(bytes(data), True) == _members_seen(bytes(data), False)


# ------------------------------------------- writer threads (ordering hazards)
#
# Small regular files are created by writer threads while the reader goes on;
# every layer below must come out the same as when one thread does it all.


def _writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("layer-writer")]


def _filler(prefix: str, count: int = 40) -> list[Entry]:
    """Enough queued files that the writers are still busy when the hazard comes."""
    return [F(f"{prefix}{i}", os.urandom(3000), mode=0o640, uid=i) for i in range(count)]


def _unpack_both(tmp_path: Path, entries: list[Entry], lowers=()) -> dict[str, tuple]:
    """Unpack with writer threads and without; assert the trees are the same."""
    data = make_tar(entries)
    trees = []
    for writers in (0, 2):
        dest = tmp_path / f"w{writers}"
        apply_layer(Trickle(data), dest, lowers, writers=writers)
        trees.append({k.removeprefix(str(dest)): v for k, v in snapshot(dest, dest / "-").items()})
        assert not _writer_threads()
    assert trees[0] == trees[1]
    return trees[1]


def test_file_hardlinked_then_overwritten(tmp_path: Path):
    tree = _unpack_both(tmp_path, [
        D("d"), *_filler("d/q"), F("d/f", b"first", mode=0o4711, uid=9), H("g", "d/f"),
        F("d/f", b"second", mode=0o600), H("h", "d/f"),
    ])  # fmt: skip
    g, f, h = tree["/g"], tree["/d/f"], tree["/h"]
    assert g[5] == b"first" and stat.S_IMODE(g[0]) == 0o4711 and g[1] == 9 and g[2] == 1
    assert f[5] == h[5] == b"second" and stat.S_IMODE(f[0]) == 0o600 and f[2] == 2
    assert tree["/d/q3"][1] == 3


def test_file_then_whiteout_of_it_keeps_file(tmp_path: Path):
    tree = _unpack_both(tmp_path, [*_filler("q"), F("a", b"mine"), F(".wh.a"), F("b", b"b")])
    assert tree["/a"][5] == b"mine" and stat.S_ISREG(tree["/a"][0])


def test_queued_file_replaced_by_other_kinds(tmp_path: Path):
    tree = _unpack_both(tmp_path, [
        *_filler("q"),
        F("f1", b"x"), D("f1", mode=0o701),            # dir over a queued file
        F("f2", b"x"), S("f2", "t"),                   # symlink over a queued file
        S("f3", "t"), F("f3", b"file over symlink"),   # queued file over a symlink
        Entry("f4", "fifo"), F("f4", b"over fifo"),
        D("f5"), F("f5/in", b"i"), F("f5", b"file over dir"),
        F("f6", b"a"), F("f6", b"b"), F("f6", b"c", mode=0o444),
    ])  # fmt: skip
    assert stat.S_ISDIR(tree["/f1"][0]) and stat.S_IMODE(tree["/f1"][0]) == 0o701
    assert tree["/f2"][6] == "t"
    assert tree["/f3"][5] == b"file over symlink" and tree["/f4"][5] == b"over fifo"
    assert tree["/f5"][5] == b"file over dir" and "/f5/in" not in tree
    assert tree["/f6"][5] == b"c" and stat.S_IMODE(tree["/f6"][0]) == 0o444


def test_queued_file_used_as_parent_refused(tmp_path: Path):
    data = make_tar([*_filler("q"), F("f", b"x"), F("f/child", b"y")])
    with pytest.raises(InvalidLayer, match="not a directory"):
        unpack(tmp_path / "l", data)
    assert not _writer_threads()


def test_big_and_small_files_interleaved(tmp_path: Path):
    big = os.urandom(3 * 1024 * 1024 + 5)
    tree = _unpack_both(tmp_path, [
        *_filler("q"), F("big", big), F("s", b"small"), F("big", big[:100]), H("l", "big"),
        F("q1", big), *_filler("r", 80),
    ])  # fmt: skip
    assert tree["/big"][5] == big[:100] and tree["/big"][2] == 2 and tree["/q1"][5] == big


def test_more_data_than_the_writers_buffer(tmp_path: Path):
    files = [F(f"d{i % 7}/f{i}", os.urandom(900_000), mtime=T0 + i) for i in range(45)]
    tree = _unpack_both(tmp_path, [D(f"d{i}", mtime=T0 - i) for i in range(7)] + files)
    assert tree["/d3/f10"][5] == files[10].data and tree["/d3/f10"][4] == (T0 + 10) * 10**9
    assert tree["/d3"][4] == (T0 - 3) * 10**9  # directory times after the writers finished


def test_directory_swapped_for_symlink_while_files_queued(arena):
    # `a` is a directory with queued files, then a symlink to outside, then
    # a/x again: everything must land inside the layer.
    data = make_tar([
        D("a"), *_filler("a/q", 60), S("a", str(arena.outside)), F("a/x", b"pwned"),
        F("a/sentinel", b"pwned"), D("b"), *_filler("b/q"), S("b", "../../.."), F("b/x", b"p"),
    ])  # fmt: skip
    unpack(arena.dest, data)
    assert os.readlink(arena.dest / "a") == str(arena.outside)
    assert inside(arena.dest, arena.outside / "x").read_bytes() == b"pwned"
    assert inside(arena.dest, arena.sentinel).read_bytes() == b"pwned"
    assert (arena.dest / "x").read_bytes() == b"p"
    assert not _writer_threads()


def test_writer_failure_names_the_entry_and_stops_the_threads(tmp_path: Path):
    # The kernel refuses a malformed file capability (EINVAL) in the writer thread.
    data = make_tar([*_filler("q"), F("bad", b"x", xattrs={"security.capability": "junk"}),
                     *_filler("r")])  # fmt: skip
    with pytest.raises(InvalidLayer, match="'bad'"):
        unpack(tmp_path / "l", data)
    assert not _writer_threads()


@pytest.mark.parametrize("writers", [0, 2])
@pytest.mark.parametrize("last", [True, False])
def test_time_out_of_range_in_writer_is_an_invalid_layer(tmp_path: Path, writers: int, last: bool):
    # utime raises OverflowError, not OSError: a writer must still report it.
    bad = F("t", b"x", pax={"mtime": "99999999999999999999"})
    entries = [*_filler("q"), bad] if last else [*_filler("q"), bad, *_filler("r")]
    with pytest.raises(InvalidLayer, match="at 't'"):
        apply_layer(Trickle(make_tar(entries)), tmp_path / "l", writers=writers)
    assert not _writer_threads()
