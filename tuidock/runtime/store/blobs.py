"""Content-addressed blobs: manifests, configs and compressed layers.

A blob lives at blobs/sha256/<hex> only once its bytes hashed to <hex>.
Downloads grow in blobs/partial/<hex> so that a pull killed half-way resumes
where it stopped; a per-blob lock keeps two pulls from writing one file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from tuidock.core.digest import hex_of, verify_bytes
from tuidock.errors import DigestMismatch, TooLarge
from tuidock.runtime.linux.locking import atomic_write, file_lock


class BlobWriter:
    """Appends to a partial blob, hashing as it goes; `commit` verifies and publishes."""

    def __init__(self, store: BlobStore, digest: str, size: int | None) -> None:
        self.store = store
        self.digest = digest
        self.expected_size = size
        self.partial = store.partial_path(digest)
        from hashlib import sha256  # ~2.5 ms: only writers of blobs load it

        self._sha256 = sha256
        self.hasher = sha256()
        self.offset = 0
        self._fd = os.open(self.partial, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        # Re-hash what an earlier, interrupted download left behind.
        while chunk := os.read(self._fd, 1 << 20):
            self.hasher.update(chunk)
            self.offset += len(chunk)
        if size is not None and self.offset > size:
            self.reset()

    def existing(self) -> Iterator[bytes]:
        """The bytes already on disk, for consumers that must see the whole blob."""
        pos = 0
        while pos < self.offset:
            chunk = os.pread(self._fd, min(1 << 20, self.offset - pos), pos)
            if not chunk:
                break
            pos += len(chunk)
            yield chunk

    def reset(self) -> None:
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        self.hasher = self._sha256()
        self.offset = 0

    def write(self, chunk: bytes | memoryview) -> None:
        if self.expected_size is not None and self.offset + len(chunk) > self.expected_size:
            raise TooLarge(
                f"blob {self.digest[:19]} is larger than the {self.expected_size} bytes "
                "its descriptor declares",
                "The registry served more data than the manifest allows; nothing was stored.",
            )
        view = memoryview(chunk)
        while view:
            view = view[os.write(self._fd, view) :]
        self.hasher.update(chunk)
        self.offset += len(chunk)

    def commit(self) -> Path:
        actual = "sha256:" + self.hasher.hexdigest()
        if self.expected_size is not None and self.offset != self.expected_size:
            self.discard()
            raise DigestMismatch(
                f"blob {self.digest[:19]}: got {self.offset} bytes, expected {self.expected_size}",
                "The download was cut short or the registry is corrupt; retry the pull.",
            )
        if actual != self.digest:
            self.discard()
            raise DigestMismatch(
                f"blob digest mismatch: expected {self.digest}, got {actual}",
                "The registry served corrupt or tampered content; nothing was stored.",
            )
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
        dest = self.store.path(self.digest)
        os.replace(self.partial, dest)
        return dest

    def discard(self) -> None:
        self.close()
        with contextlib.suppress(FileNotFoundError):
            self.partial.unlink()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / "sha256"
        self.partial_dir = root / "partial"
        self.lock_dir = root / "locks"
        for d in (self.dir, self.partial_dir, self.lock_dir):
            d.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.dir / hex_of(digest)

    def partial_path(self, digest: str) -> Path:
        return self.partial_dir / hex_of(digest)

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        return self.path(digest).stat().st_size

    def read(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()

    def put(self, data: bytes, digest: str) -> Path:
        """Store bytes already in memory after checking they hash to `digest`."""
        verify_bytes(data, digest, "blob")
        dest = self.path(digest)
        if not dest.exists():
            atomic_write(dest, data)
        return dest

    @contextlib.contextmanager
    def locked(self, digest: str) -> Iterator[None]:
        """Serialise downloads of one blob across processes."""
        with file_lock(self.lock_dir / hex_of(digest)):
            yield

    def writer(self, digest: str, size: int | None) -> BlobWriter:
        return BlobWriter(self, digest, size)

    def delete(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(digest).unlink()
        with contextlib.suppress(FileNotFoundError):
            self.partial_path(digest).unlink()

    def all(self) -> list[str]:
        return ["sha256:" + p.name for p in self.dir.iterdir() if not p.name.startswith(".")]
