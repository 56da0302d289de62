"""Decompression of layer blobs into the tar stream they carry.

`open_decompressed` takes the raw (compressed) blob stream and its descriptor
media type and returns a readable stream of uncompressed tar bytes. The magic
bytes decide the codec, not the label: some registries and tools mislabel
layers (gzip served as plain tar and the reverse), and sniffing costs nothing.
The label still matters in one way: an unknown media type is refused, because
it usually means a non-layer artifact (an attestation, a Helm chart...) that
must not be unpacked as a filesystem.

gzip is inflated by isal (Intel's igzip, through its zlib-compatible
`isal_zlib`) when it is installed: it decodes layers about twice as fast as
zlib, with the same output and the same CRC and length checks. zlib is the
fallback, and TUIDOCK_INFLATE=zlib forces it.
"""

from __future__ import annotations

import io
import os
import queue
import threading
import weakref
import zlib
from collections.abc import Callable
from types import ModuleType
from typing import BinaryIO, Protocol

from tuidock.errors import InvalidLayer, TooLarge

# Big reads keep the per-call Python overhead small next to the C decoders.
READ_SIZE = 1 << 20
OUT_SIZE = 1 << 20

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

TAR = "tar"
GZIP = "gzip"
ZSTD = "zstd"

MEDIA_TYPES: dict[str, str] = {
    "application/vnd.oci.image.layer.v1.tar": TAR,
    "application/vnd.oci.image.layer.v1.tar+gzip": GZIP,
    "application/vnd.oci.image.layer.v1.tar+zstd": ZSTD,
    "application/vnd.oci.image.layer.nondistributable.v1.tar": TAR,
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": GZIP,
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": ZSTD,
    "application/vnd.docker.image.rootfs.diff.tar.gzip": GZIP,
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": GZIP,
    # Not in the schema2 spec, but docker/distribution defines it and some
    # tools write it for uncompressed layers.
    "application/vnd.docker.image.rootfs.diff.tar": TAR,
}


ISAL = "isal"
ZLIB = "zlib"
INFLATE_ENV = "TUIDOCK_INFLATE"


def _inflate_module(name: str) -> ModuleType | None:
    """The zlib-like module of an inflate backend, or None when it is not installed."""
    if name == ZLIB:
        return zlib
    if name == ISAL:
        try:
            from isal import isal_zlib
        except ImportError:
            return None
        return isal_zlib
    raise ValueError(f"unknown inflate backend {name!r}")


def inflate_backends() -> list[str]:
    """The inflate backends installed here, fastest first."""
    return [name for name in (ISAL, ZLIB) if _inflate_module(name) is not None]


def _choose_inflate(inflate: str | None) -> ModuleType:
    name = inflate or os.environ.get(INFLATE_ENV) or ISAL
    return _inflate_module(name) or zlib


class Hasher(Protocol):
    """What `hashlib.sha256()` offers and open_decompressed needs."""

    def update(self, data: bytes, /) -> None: ...


def layer_codec(media_type: str) -> str:
    """The codec a layer media type announces: "tar", "gzip" or "zstd"."""
    key = media_type.split(";", 1)[0].strip().lower()
    codec = MEDIA_TYPES.get(key)
    if codec is None:
        raise InvalidLayer(
            f"unsupported layer media type {media_type!r}",
            hint="supported: OCI tar, tar+gzip, tar+zstd and Docker rootfs.diff.tar.gzip layers",
        )
    return codec


def sniff_codec(head: bytes) -> str | None:
    """The codec the first bytes of a blob reveal, or None for anything else."""
    if head.startswith(GZIP_MAGIC):
        return GZIP
    if head.startswith(ZSTD_MAGIC):
        return ZSTD
    return None


def open_decompressed(
    raw: BinaryIO,
    media_type: str,
    *,
    limit: int | None = None,
    hasher: Hasher | None = None,
    inflate: str | None = None,
) -> BinaryIO:
    """A readable stream of the uncompressed tar inside `raw`.

    `raw` is read forward only (it may be a socket or a pipe) and is not
    closed when the returned stream is closed: its owner closes it. For
    gzip and zstd, `raw` is read by a helper thread, ahead of the reader:
    leave it alone until the returned stream is at its end or closed.

    With `limit`, reading more than that many uncompressed bytes raises
    TooLarge, which bounds what a caller draining the rest of a stream can be
    made to do. `hasher` (e.g. hashlib.sha256() for the diff ID) is updated
    with every uncompressed byte, in the helper thread where there is one,
    so hashing overlaps with unpacking; it is complete once a read returned
    the end of the stream. Corrupt or truncated data raises InvalidLayer
    from `read`. `inflate` picks the gzip backend ("isal" or "zlib"; default:
    $TUIDOCK_INFLATE, else isal when installed, else zlib).
    """
    declared = layer_codec(media_type)
    head = _read_exactly(raw, 4)
    codec = sniff_codec(head) or TAR
    if codec == TAR and declared != TAR and len(head) == 0:
        # An empty blob under a compressed label is not a layer at all.
        raise InvalidLayer(f"empty {declared} layer blob")
    if codec == GZIP:
        pump = _Pump(_GzipDecoder(raw, head, _choose_inflate(inflate)).next_chunk, hasher)
    elif codec == ZSTD:
        pump = _Pump(_ZstdDecoder(raw, head).next_chunk, hasher)
    else:
        return _DecodedStream(_hashed(_PlainSource(raw, head).next_chunk, hasher), codec, limit)
    stream = _DecodedStream(pump.next_chunk, codec, limit, on_close=pump.stop)
    # A caller that drops the stream without closing it must not leave the
    # helper thread parked forever on a full queue.
    weakref.finalize(stream, pump.stop)
    return stream


def _read_exactly(raw: BinaryIO, n: int) -> bytes:
    parts = []
    need = n
    while need > 0:
        chunk = raw.read(need)
        if not chunk:
            break
        parts.append(chunk)
        need -= len(chunk)
    return b"".join(parts)


def _hashed(decode: Callable[[], bytes], hasher: Hasher | None) -> Callable[[], bytes]:
    if hasher is None:
        return decode

    def next_chunk() -> bytes:
        chunk = decode()
        hasher.update(chunk)
        return chunk

    return next_chunk


class _Pump:
    """Runs a decoder in a helper thread, a few chunks ahead of the reader.

    zlib and zstd release the GIL while they work, so decompression overlaps
    with the unpacker's syscalls and tar parsing, as gzip(1) runs beside tar
    in `tar -xzf`. The raw stream is therefore read from the helper thread.
    """

    DEPTH = 4

    def __init__(self, decode: Callable[[], bytes], hasher: Hasher | None = None) -> None:
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(self.DEPTH)
        self._stopped = threading.Event()
        self._done = False
        self._thread = threading.Thread(
            target=_pump_loop,
            args=(_hashed(decode, hasher), self._queue, self._stopped),
            name="layer-decompress",
            daemon=True,
        )
        self._thread.start()

    def next_chunk(self) -> bytes:
        if self._done:
            return b""
        item = self._queue.get()
        if isinstance(item, BaseException):
            self._done = True
            raise item
        if not item:
            self._done = True
        return item

    def stop(self) -> None:
        self._stopped.set()
        # Unblock a put() waiting for room.
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=1)


def _pump_loop(
    decode: Callable[[], bytes],
    out: queue.Queue[bytes | BaseException],
    stopped: threading.Event,
) -> None:
    while not stopped.is_set():
        item: bytes | BaseException
        try:
            item = decode()
        except BaseException as e:
            item = e
        while not stopped.is_set():
            try:
                out.put(item, timeout=0.1)
                break
            except queue.Full:
                continue
        if not isinstance(item, bytes) or not item:
            return


class _PlainSource:
    def __init__(self, raw: BinaryIO, head: bytes) -> None:
        self._raw = raw
        self._head = head

    def next_chunk(self) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            return head
        return self._raw.read(READ_SIZE)


class _GzipDecoder:
    """Streaming gzip with every member decoded, as gzip(1) and Go do.

    zlib checks each member's CRC-32 and length. Bytes after the last member
    must be NUL padding (some writers pad to a block size); anything else is
    corruption, the same rule as Python's gzip module.
    """

    def __init__(self, raw: BinaryIO, head: bytes, inflate: ModuleType = zlib) -> None:
        self._raw = raw
        self._pending = head  # compressed input not yet given to the decoder
        self._inflate = inflate
        self._error = inflate.error
        self._dec: zlib._Decompress | None = inflate.decompressobj(wbits=31)
        self._eof = False

    def _more_input(self) -> bytes:
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        return self._raw.read(READ_SIZE)

    def next_chunk(self) -> bytes:
        while not self._eof:
            dec = self._dec
            if dec is None:
                # Between members: only another member or NUL padding may follow.
                data = self._more_input()
                if not data:
                    self._eof = True
                    break
                stripped = data.lstrip(b"\0")
                if not stripped:
                    continue
                if len(stripped) < 2:
                    stripped += self._raw.read(1)
                if not stripped.startswith(GZIP_MAGIC):
                    raise InvalidLayer("corrupt gzip layer: trailing data after the last member")
                self._dec = self._inflate.decompressobj(wbits=31)
                self._pending = stripped
                continue
            data = dec.unconsumed_tail or self._more_input()
            # With no input left, zlib may still hold output that an earlier
            # max_length cut off; one empty call flushes it before we call
            # the member truncated.
            try:
                out = dec.decompress(data, OUT_SIZE)
            except self._error as e:
                raise InvalidLayer(f"corrupt gzip layer: {e}") from None
            if not data and not out and not dec.eof:
                raise InvalidLayer("truncated gzip layer: the data ends inside a member")
            if dec.eof:
                self._pending = dec.unused_data
                self._dec = None
            if out:
                return out
        return b""


class _ZstdDecoder:
    def __init__(self, raw: BinaryIO, head: bytes) -> None:
        import zstandard

        self._error = zstandard.ZstdError
        self._reader = zstandard.ZstdDecompressor().stream_reader(
            _FramedSource(raw, head),
            read_size=READ_SIZE,
            read_across_frames=True,
            closefd=False,
        )

    def next_chunk(self) -> bytes:
        try:
            return self._reader.read(OUT_SIZE)
        except self._error as e:
            raise InvalidLayer(f"corrupt zstd layer: {e}") from None


ZSTD_FRAME_MAGIC = 0xFD2FB528
ZSTD_SKIPPABLE_MASK = 0xFFFFFFF0
ZSTD_SKIPPABLE_MAGIC = 0x184D2A50


class _ZstdFraming:
    """Follows zstd frame and block boundaries (RFC 8878) in the compressed bytes.

    python-zstandard's streaming reader ends quietly when the input stops in
    the middle of a frame, so a cut layer would look complete. Block headers
    carry their sizes, so tracking the framing costs a few operations per
    128 KiB block, without decoding anything.
    """

    def __init__(self) -> None:
        self._state = "magic"
        self._need = 4
        self._field = b""
        self._skip = 0
        self._after = "magic"
        self._checksum = False

    def feed(self, data: bytes) -> None:
        pos, end = 0, len(data)
        while pos < end:
            if self._skip:
                take = min(self._skip, end - pos)
                self._skip -= take
                pos += take
                if not self._skip:
                    self._enter(self._after)
                continue
            take = min(self._need - len(self._field), end - pos)
            self._field += data[pos : pos + take]
            pos += take
            if len(self._field) == self._need:
                field, self._field = self._field, b""
                self._parse(field)

    def finish(self) -> None:
        if self._state != "magic" or self._field or self._skip:
            raise InvalidLayer("truncated zstd layer: the data ends inside a frame")

    def _enter(self, state: str) -> None:
        self._state = state
        self._need = {"magic": 4, "descriptor": 1, "block": 3, "checksum": 4, "skippable": 4}[state]

    def _skip_then(self, count: int, after: str) -> None:
        if count:
            self._skip, self._after = count, after
            self._state = "content"
        else:
            self._enter(after)

    def _parse(self, field: bytes) -> None:
        state = self._state
        value = int.from_bytes(field, "little")
        if state == "magic":
            if value == ZSTD_FRAME_MAGIC:
                self._enter("descriptor")
            elif value & ZSTD_SKIPPABLE_MASK == ZSTD_SKIPPABLE_MAGIC:
                self._enter("skippable")
            else:
                raise InvalidLayer("corrupt zstd layer: trailing data after the last frame")
        elif state == "descriptor":
            if value & 0x08:
                raise InvalidLayer("corrupt zstd layer: reserved frame header bit set")
            single_segment = bool(value & 0x20)
            self._checksum = bool(value & 0x04)
            dict_id = (0, 1, 2, 4)[value & 0x03]
            content_size = (1 if single_segment else 0, 2, 4, 8)[value >> 6]
            rest = (0 if single_segment else 1) + dict_id + content_size
            # The rest of the header is skipped like content.
            self._skip_then(rest, "block")
        elif state == "block":
            last, kind, size = value & 1, (value >> 1) & 3, value >> 3
            if kind == 3:
                raise InvalidLayer("corrupt zstd layer: reserved block type")
            after = ("checksum" if self._checksum else "magic") if last else "block"
            self._skip_then(1 if kind == 1 else size, after)
        elif state == "checksum":
            self._enter("magic")
        elif state == "skippable":
            self._skip_then(value, "magic")


class _FramedSource(io.RawIOBase):
    """The compressed zstd input, checked for framing on its way to the decoder."""

    def __init__(self, raw: BinaryIO, head: bytes) -> None:
        super().__init__()
        self._src = _Prefixed(raw, head)
        self._framing = _ZstdFraming()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._src.read(size)
        if data:
            self._framing.feed(data)
        else:
            self._framing.finish()
        return data

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(b))
        n = len(data)
        b[:n] = data
        return n


class _Prefixed(io.RawIOBase):
    """`raw` with `head` (bytes already taken off it to sniff) put back in front."""

    def __init__(self, raw: BinaryIO, head: bytes) -> None:
        super().__init__()
        self._raw = raw
        self._head = head

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            if size is None or size < 0:
                return head + self._raw.read()
            if size <= len(head):
                head, self._head = head[:size], head[size:]
                return head
            return head + self._raw.read(size - len(head))
        return self._raw.read(size)

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(b))
        n = len(data)
        b[:n] = data
        return n


class _DecodedStream(io.RawIOBase):
    """A forward-only reader over a chunk decoder.

    `read(n)` returns exactly n bytes except at the end, like a buffered file,
    so callers (tarfile, hashers) need no loop of their own.
    """

    def __init__(
        self,
        decode: Callable[[], bytes],
        codec: str,
        limit: int | None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self._decode = decode
        self._on_close = on_close
        self.codec = codec
        self._limit = limit
        self._buf = b""
        self._pos = 0
        self._total = 0
        self._eof = False

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()
        super().close()

    @property
    def bytes_out(self) -> int:
        """Uncompressed bytes produced so far."""
        return self._total

    def _fill(self) -> bool:
        if self._eof:
            return False
        chunk = self._decode()
        if not chunk:
            self._eof = True
            return False
        self._total += len(chunk)
        if self._limit is not None and self._total > self._limit:
            raise TooLarge(f"layer exceeds the {self._limit}-byte limit once uncompressed")
        self._buf = chunk
        self._pos = 0
        return True

    def read(self, size: int | None = -1) -> bytes:
        if self.closed:
            raise ValueError("read from a closed layer stream")
        if size is None or size < 0:
            parts = [self._buf[self._pos :]]
            self._buf, self._pos = b"", 0
            while self._fill():
                parts.append(self._buf)
            self._buf = b""
            return b"".join(parts)
        avail = len(self._buf) - self._pos
        if avail >= size:
            # The common case: one slice out of the current chunk.
            start = self._pos
            self._pos = start + size
            if start == 0 and size == len(self._buf):
                return self._buf
            return self._buf[start : start + size]
        parts = []
        need = size
        while need > 0:
            avail = len(self._buf) - self._pos
            if avail <= 0:
                if not self._fill():
                    break
                continue
            take = min(avail, need)
            if self._pos == 0 and take == len(self._buf):
                parts.append(self._buf)
            else:
                parts.append(self._buf[self._pos : self._pos + take])
            self._pos += take
            need -= take
        return b"".join(parts)

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(b))
        n = len(data)
        b[:n] = data
        return n
