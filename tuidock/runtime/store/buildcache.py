"""The build cache: <root>/buildcache/<key>, a step's cache key -> the image it made.

One small file per key, written atomically; a key whose image is gone (rmi,
prune) is simply a miss. The keys are sha256 hex digests computed by the
builder from the parent image ID, the instruction and what it reads.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from tuidock.runtime.linux.locking import atomic_write


class BuildCache:
    def __init__(self, root: Path) -> None:
        self.dir = root / "buildcache"

    def get(self, key: str) -> str | None:
        try:
            return (self.dir / key).read_text().strip() or None
        except (FileNotFoundError, NotADirectoryError):
            return None

    def put(self, key: str, image_id: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write(self.dir / key, image_id.encode())

    def clear(self) -> None:
        for entry in self.dir.glob("*") if self.dir.is_dir() else []:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
