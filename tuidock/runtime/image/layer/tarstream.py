"""Reading an untrusted layer tar as a stream of members, bounded and strict.

tarfile does the parsing, on a forward-only, metered file object
(TarSource): headers are capped in size while they are read, so a giant pax
header, GNU long name or sparse map fails early instead of being read into
memory. Plain ustar headers, nearly all of a layer, are decoded by a faster
equivalent of TarInfo.frombuf; everything unusual goes to tarfile's own.

The end of the archive: a zero block or the clean end of the stream (as Go's
reader accepts, so does Docker); a corrupt or truncated header is an error.
A stream cut exactly between members cannot be told apart from a complete
one here; the caller's diff ID check catches it. A zero-byte stream is an
empty layer (Go's tar reader, hence Docker and containerd, take it so).
"""

from __future__ import annotations

import errno
import os
import struct
import tarfile
from collections.abc import Iterator
from typing import BinaryIO

from tuidock.errors import InvalidLayer, TooLarge

KiB = 1 << 10
MiB = 1 << 20

# Reads from the decompressor; big enough that the per-call overhead of the
# Python stream chain vanishes, small enough to stay in cache.
SOURCE_CHUNK = 256 * KiB
COPY_CHUNK = 1 * MiB

_PARSE_ERRORS = (tarfile.TarError, ValueError, EOFError, RecursionError, OverflowError)


class TarStream:
    """The members of the tar read from `stream`, in order, one at a time.

    Iterating yields each TarInfo with the stream positioned at its data
    (read it from `source`, or from `tarfile.extractfile` for a sparse
    member). Raises InvalidLayer for a corrupt archive, TooLarge past the
    header or entry limits. `name` is the last member's name, `entries`
    the members seen.
    """

    def __init__(self, stream: BinaryIO, max_header_bytes: int, max_entries: int) -> None:
        self.source = TarSource(stream, max_header_bytes + SOURCE_CHUNK)
        self.max_entries = max_entries
        self.tarfile: tarfile.TarFile | None = None
        self.name = ""
        self.entries = 0

    def __iter__(self) -> Iterator[tarfile.TarInfo]:
        source = self.source
        stops: list[Exception] = []
        try:
            tf = tarfile.TarFile(
                fileobj=source,
                mode="r",  # type: ignore[arg-type]
                tarinfo=_recording_tarinfo(stops),
            )
        except tarfile.ReadError as e:
            if source.pulled == 0:
                return  # a zero-byte stream: an empty layer
            raise InvalidLayer(f"invalid layer: not a tar archive ({e})") from None
        self.tarfile = tf
        while True:
            source.start_header()
            try:
                member = tf.next()
            except _PARSE_ERRORS as e:
                raise InvalidLayer(
                    f"invalid layer: corrupt tar archive{self._after()}: {e}"
                ) from None
            if member is None:
                break
            source.in_header = False
            tf.members.clear()  # tarfile keeps every member otherwise
            self.entries += 1
            if self.entries > self.max_entries:
                raise TooLarge(f"layer has more than {self.max_entries} entries")
            self.name = member.name
            yield member
        if stops and not isinstance(stops[-1], tarfile.EOFHeaderError | tarfile.EmptyHeaderError):
            raise InvalidLayer(f"invalid layer: corrupt tar archive{self._after()}: {stops[-1]}")

    def _after(self) -> str:
        return f" after {self.name!r}" if self.name else ""


class TarSource:
    """The file object tarfile reads: buffered, forward-only, metered.

    tarfile's own stream mode re-slices its whole buffer on every small read;
    this keeps an index instead. It also enforces the header limit: while
    tarfile parses headers (`in_header`), the bytes it pulls are counted, so a
    giant pax header, GNU long name or sparse map fails early instead of being
    read into memory.
    """

    def __init__(self, src: BinaryIO, header_cap: int) -> None:
        self._src = src
        self._buf = b""
        self._pos = 0
        self._offset = 0
        self.pulled = 0
        self.in_header = True
        self._header_bytes = 0
        self._header_cap = header_cap
        self.name = None  # tarfile looks for a name on its file object

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return True

    def start_header(self) -> None:
        self.in_header = True
        self._header_bytes = 0

    def _pull(self, n: int) -> bytes:
        data = self._src.read(n)
        got = len(data)
        self.pulled += got
        if self.in_header:
            self._header_bytes += got
            if self._header_bytes > self._header_cap:
                raise TooLarge(
                    f"layer has a tar header larger than the {self._header_cap - SOURCE_CHUNK}"
                    "-byte limit"
                )
        return data

    def tell(self) -> int:
        return self._offset

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            raise ValueError("unbounded read of a layer stream")
        buf, pos = self._buf, self._pos
        avail = len(buf) - pos
        if size <= avail:
            self._pos = pos + size
            self._offset += size
            return buf[pos : pos + size]
        parts = [buf[pos:]] if avail else []
        need = size - avail
        self._buf, self._pos = b"", 0
        if need >= SOURCE_CHUNK:
            # File data: no point in staging it in the buffer.
            while need:
                chunk = self._pull(need)
                if not chunk:
                    break
                parts.append(chunk)
                need -= len(chunk)
        else:
            while need:
                chunk = self._pull(SOURCE_CHUNK)
                if not chunk:
                    break
                if len(chunk) > need:
                    parts.append(chunk[:need])
                    self._buf, self._pos = chunk, need
                    need = 0
                else:
                    parts.append(chunk)
                    need -= len(chunk)
        data = b"".join(parts)
        self._offset += len(data)
        return data

    def seek(self, target: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_CUR:
            target += self._offset
        elif whence != os.SEEK_SET:
            raise OSError(errno.ESPIPE, "layer streams only seek forward")
        skip = target - self._offset
        if skip < 0:
            raise OSError(errno.ESPIPE, "layer streams only seek forward")
        while skip:
            got = len(self.read(min(skip, COPY_CHUNK)))
            if not got:
                break
            skip -= got
        return self._offset


def _recording_tarinfo(stops: list[Exception]) -> type[tarfile.TarInfo]:
    """A TarInfo class that remembers why header parsing stopped.

    tarfile ends the iteration silently on a zero block, at a clean end of
    data, but also on a corrupt or truncated header. Only the first two are a
    proper end of an archive.
    """

    class _TarInfo(tarfile.TarInfo):
        @classmethod
        def frombuf(cls, buf: bytes, encoding: str, errors: str) -> tarfile.TarInfo:
            try:
                obj = _fast_frombuf(cls, buf, encoding, errors)
                if obj is None:
                    obj = super().frombuf(buf, encoding, errors)
                return obj
            except tarfile.HeaderError as e:
                stops.append(e)
                raise

    return _TarInfo


_HEADER = struct.Struct("100s8s8s8s12s12s8sc100s8x32s32s8s8s155s12x")


def _text(field: bytes, encoding: str, errors: str) -> str:
    end = field.find(b"\0")
    return (field if end < 0 else field[:end]).decode(encoding, errors)


def _fast_frombuf(
    cls: type[tarfile.TarInfo], buf: bytes, encoding: str, errors: str
) -> tarfile.TarInfo | None:
    """TarInfo.frombuf for the plain headers that make up nearly every layer.

    tarfile's version costs about as much as creating the file; this one
    does the same with fewer Python calls. It returns None for anything
    unusual (base-256 numbers, old GNU sparse headers, short or zero blocks,
    signed or bad checksums) so that tarfile's own code decides those.
    """
    if len(buf) != tarfile.BLOCKSIZE or buf[156:157] == tarfile.GNUTYPE_SPARSE:
        return None
    fields = _HEADER.unpack(buf)
    try:
        # Same rule as tarfile's nti() for octal fields; a base-256 field
        # (high first byte) fails here and goes to tarfile.
        check, mode, uid, gid, size, mtime, devmajor, devminor = (
            int(fields[i].split(b"\0", 1)[0].strip() or b"0", 8) for i in _NUMERIC_FIELDS
        )
    except ValueError:
        return None
    if check != 256 + sum(buf) - sum(buf[148:156]):
        return None
    name, kind, linkname, prefix = fields[0], fields[7], fields[8], fields[13]
    obj = cls()
    obj.name = _text(name, encoding, errors)
    obj.mode, obj.uid, obj.gid, obj.size, obj.mtime = mode, uid, gid, size, mtime
    obj.devmajor, obj.devminor = devmajor, devminor
    obj.chksum = check
    obj.type = kind
    obj.linkname = _text(linkname, encoding, errors)
    obj.uname = _text(fields[9], encoding, errors)
    obj.gname = _text(fields[10], encoding, errors)
    if kind == tarfile.AREGTYPE and obj.name.endswith("/"):
        obj.type = tarfile.DIRTYPE
    if obj.type == tarfile.DIRTYPE:
        obj.name = obj.name.rstrip("/")
    if prefix[0] and kind not in tarfile.GNU_TYPES:
        obj.name = _text(prefix, encoding, errors) + "/" + obj.name
    return obj


# chksum, mode, uid, gid, size, mtime, devmajor, devminor in _HEADER's fields
_NUMERIC_FIELDS = (6, 1, 2, 3, 4, 5, 11, 12)


def _pax_time_ns(value: str) -> int | None:
    text = value.strip()
    negative = text.startswith("-")
    if negative:
        text = text[1:]
    whole, _, frac = text.partition(".")
    if not (whole.isascii() and whole.isdigit()) or (
        frac and not (frac.isascii() and frac.isdigit())
    ):
        return None
    ns = int(whole) * 1_000_000_000 + int((frac + "000000000")[:9])
    return -ns if negative else ns


def times(member: tarfile.TarInfo) -> tuple[int, int]:
    """(atime, mtime) in ns; pax keeps sub-second precision a float would lose."""
    pax = member.pax_headers
    mtime = None
    atime = None
    if pax:
        if "mtime" in pax:
            mtime = _pax_time_ns(pax["mtime"])
        if "atime" in pax:
            atime = _pax_time_ns(pax["atime"])
    if mtime is None:
        mtime = int(member.mtime) * 1_000_000_000
    return (atime if atime is not None else mtime), mtime
