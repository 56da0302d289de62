"""Reading an untrusted layer tar as a stream of members, bounded and strict.

The members of nearly every layer are read directly, without tarfile's
object model: a ustar/GNU/pax header block decoded in one struct unpack,
optionally preceded by pax extended headers ('x': path, linkpath, size,
mtime, uid, gid, uname, gname, xattrs) and GNU long names and links ('L',
'K'), for the types a layer holds (files, directories, links, devices,
fifos). The result is the TarInfo tarfile would make: the same fields, the
same precedence between chained extension headers, the same data offsets.
Anything else (zero blocks and the end, short reads, bad checksums, base-256
numbers, sparse files, global pax headers, hdrcharset, pax records tarfile
would refuse) is given back to the source and read by tarfile itself, from
the start of that member's headers, so tarfile decides every unusual case.

tarfile reads from a forward-only, metered file object (TarSource): headers
are capped in size while they are read, so a giant pax header, GNU long name
or sparse map fails early instead of being read into memory; the direct path
checks the sizes extension headers declare against the same cap before it
reads them.

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
from zlib import adler32

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
    the members seen. `direct=False` reads every member through tarfile.
    """

    def __init__(
        self, stream: BinaryIO, max_header_bytes: int, max_entries: int, direct: bool = True
    ) -> None:
        self.source = TarSource(stream, max_header_bytes + SOURCE_CHUNK)
        self.max_header_bytes = max_header_bytes
        self.max_entries = max_entries
        self.direct = direct
        self.tarfile: tarfile.TarFile | None = None
        self.name = ""
        self.entries = 0
        self._stops: list[Exception] = []
        self._tarinfo = _recording_tarinfo(self._stops)

    def __iter__(self) -> Iterator[tarfile.TarInfo]:
        source = self.source
        next_header = 0
        while True:
            if source.tell() < next_header:
                source.seek(next_header)
            source.start_header()
            member = self._read_direct() if self.direct else None
            if member is None:
                member = self._read_tarfile()
                if member is None:
                    break
                assert self.tarfile is not None
                next_header = self.tarfile.offset
                if self.tarfile.pax_headers:
                    # A global pax header applies to every later member:
                    # only tarfile keeps track of those.
                    self.direct = False
            else:
                next_header = source.tell()
                if member.type in _SKIPS_DATA:
                    next_header += _padded(member.size)
            source.in_header = False
            self.entries += 1
            if self.entries > self.max_entries:
                raise TooLarge(f"layer has more than {self.max_entries} entries")
            self.name = member.name
            yield member
        stops = self._stops
        if stops and not isinstance(stops[-1], tarfile.EOFHeaderError | tarfile.EmptyHeaderError):
            raise InvalidLayer(f"invalid layer: corrupt tar archive{self._after()}: {stops[-1]}")

    def _read_tarfile(self) -> tarfile.TarInfo | None:
        """The next member as tarfile reads it, from the current position."""
        source = self.source
        tf = self.tarfile
        try:
            if tf is None:
                # Reads the first member at once, from where the source is.
                tf = self.tarfile = tarfile.TarFile(
                    fileobj=source,  # type: ignore[arg-type]
                    mode="r",
                    tarinfo=self._tarinfo,
                )
                # Taken here: TarFile.next() would seek back over the end
                # marker when there is no first member.
                member, tf.firstmember = tf.firstmember, None
            else:
                tf.offset = source.tell()
                member = tf.next()
        except tarfile.ReadError as e:
            if self.tarfile is None and self.entries == 0:
                if source.pulled == 0:
                    return None  # a zero-byte stream: an empty layer
                raise InvalidLayer(f"invalid layer: not a tar archive ({e})") from None
            raise self._corrupt(e) from None
        except _PARSE_ERRORS as e:
            raise self._corrupt(e) from None
        if member is not None:
            tf.members.clear()  # tarfile keeps every member otherwise
        return member

    def _corrupt(self, e: Exception) -> InvalidLayer:
        return InvalidLayer(f"invalid layer: corrupt tar archive{self._after()}: {e}")

    def _read_direct(self) -> tarfile.TarInfo | None:
        """The next member when its headers are of the common kinds, else None.

        On None, every byte read is back in the source, for tarfile.
        """
        source = self.source
        taken: list[bytes] = []
        extensions: list[tuple[bytes, object]] = []
        declared = 0
        while True:
            block = source.read(tarfile.BLOCKSIZE)
            taken.append(block)
            member = _fast_frombuf(self._tarinfo, block, _ENCODING, _ERRORS)
            if member is None:
                break
            kind = member.type
            if kind in _DIRECT_TYPES:
                # Outermost last: the first extension header wins, as in tarfile.
                for ext_kind, value in reversed(extensions):
                    if ext_kind == tarfile.XHDTYPE:
                        member._apply_pax_info(value, _ENCODING, _ERRORS)  # type: ignore[attr-defined]
                    elif ext_kind == tarfile.GNUTYPE_LONGNAME:
                        member.name = value  # type: ignore[assignment]
                    else:
                        member.linkname = value  # type: ignore[assignment]
                    if member.type == tarfile.DIRTYPE:
                        member.name = member.name.removesuffix("/")
                return member
            if kind not in _EXTENSION_TYPES:
                break
            declared += member.size
            if declared > self.max_header_bytes:
                raise TooLarge(
                    f"layer has a tar header larger than the {self.max_header_bytes}-byte limit"
                )
            want = _padded(member.size)
            data = source.read(want)
            taken.append(data)
            if len(data) != want:
                break
            if kind == tarfile.XHDTYPE:
                pax = _parse_pax(data)
                if pax is None:
                    break
                extensions.append((kind, pax))
            else:
                extensions.append((kind, _nts(data)))
        source.unread(b"".join(taken))
        return None

    def _after(self) -> str:
        return f" after {self.name!r}" if self.name else ""


# The encoding tarfile.TarFile uses by default, as the fallback does.
_ENCODING = tarfile.ENCODING
_ERRORS = "surrogateescape"
_DIRECT_TYPES = frozenset(
    (
        tarfile.REGTYPE,
        tarfile.AREGTYPE,
        tarfile.CONTTYPE,
        tarfile.DIRTYPE,
        tarfile.SYMTYPE,
        tarfile.LNKTYPE,
        tarfile.CHRTYPE,
        tarfile.BLKTYPE,
        tarfile.FIFOTYPE,
    )
)
_EXTENSION_TYPES = frozenset((tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK))
# Members whose size counts data blocks (tarfile skips no data for the others).
_SKIPS_DATA = frozenset((tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE))


def _padded(size: int) -> int:
    return -(-size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE


def _nts(data: bytes) -> str:
    end = data.find(b"\0")
    return (data if end < 0 else data[:end]).decode(_ENCODING, _ERRORS)


def _parse_pax(data: bytes) -> dict[str, str] | None:
    """The records of a pax extended header, or None for anything tarfile must judge.

    Accepts exactly what tarfile's own parser accepts ("LEN KEY=VALUE\\n"
    records up to the first NUL, 1 to 20 digits, LEN >= 5) and gives up on
    what changes its meaning elsewhere (hdrcharset, GNU sparse maps). Values
    decode as tarfile decodes them: UTF-8, else surrogate escapes.
    """
    pax: dict[str, str] = {}
    pos, end = 0, len(data)
    while pos < end and data[pos] != 0:
        space = data.find(b" ", pos, pos + 21)
        digits = data[pos:space]
        if space < 0 or not digits or not digits.isdigit():
            return None
        length = int(digits)
        last = pos + length - 1
        if length < 5 or pos + length > end or data[last] != 0x0A:
            return None
        key, equals, value = data[space + 1 : last].partition(b"=")
        if not key or not equals or key == b"hdrcharset" or key.startswith(b"GNU.sparse."):
            return None
        pax[key.decode("utf-8", _ERRORS)] = value.decode("utf-8", _ERRORS)
        pos += length
    return pax


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

    def unread(self, data: bytes) -> None:
        """Put back `data`, the bytes just read, to be read again."""
        if data:
            self._buf = data + self._buf[self._pos :]
            self._pos = 0
            self._offset -= len(data)

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
        # Trailing NULs and spaces only: a NUL inside a field fails and goes
        # to tarfile, which cuts the field there.
        check, mode, uid, gid, size, mtime, devmajor, devminor = [
            int(fields[i].rstrip(b"\0 ") or b"0", 8) for i in _NUMERIC_FIELDS
        ]
    except ValueError:
        return None
    if check != _unsigned_checksum(buf):
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


def _unsigned_checksum(buf: bytes) -> int:
    """The header's byte sum with the checksum field read as spaces, as tar defines it.

    Python's sum() over 512 bytes costs as much as the rest of the header;
    the low half of an Adler-32 is 1 + the byte sum modulo 65521, exact for
    pieces of at most 256 bytes, and is computed in C.
    """
    return (
        256
        + (adler32(buf[:148]) & 0xFFFF)
        + (adler32(buf[156:356]) & 0xFFFF)
        + (adler32(buf[356:]) & 0xFFFF)
        - 3
    )


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
