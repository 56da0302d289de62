"""Unpacked layers, one directory per chain ID, shared by every image that uses it.

layers/<chain hex>/diff holds the layer's files with whiteouts in overlay form;
layers/<chain hex>/layer.json its diff ID, parent and size, written before the
directory is renamed into place, so a layer directory is complete or absent.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from tuidock.core.digest import hex_of
from tuidock.core.record import Record
from tuidock.runtime.linux.locking import file_lock


class LayerInfo(Record):
    chain_id: str
    diff_id: str
    parent: str | None
    size: int


def staging_stale(name: str) -> bool:
    """Whether a layers-tmp entry is left over: a removal's, or a dead process's staging."""
    pid = name.split("-", 1)[0]
    return pid == "rm" or (pid.isdigit() and not _pid_alive(int(pid)))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LayerStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / "layers"
        self.tmp = root / "layers-tmp"
        self.locks = root / "locks" / "layers"
        for d in (self.dir, self.tmp, self.locks):
            d.mkdir(parents=True, exist_ok=True)

    def layer_dir(self, chain_id: str) -> Path:
        return self.dir / hex_of(chain_id)

    def diff_dir(self, chain_id: str) -> Path:
        return self.layer_dir(chain_id) / "diff"

    def has(self, chain_id: str) -> bool:
        return (self.layer_dir(chain_id) / "layer.json").is_file()

    def info(self, chain_id: str) -> LayerInfo:
        data = json.loads((self.layer_dir(chain_id) / "layer.json").read_text())
        return LayerInfo(**{k: data[k] for k in LayerInfo._FIELDS})

    @contextlib.contextmanager
    def locked(self, chain_id: str) -> Iterator[None]:
        with file_lock(self.locks / hex_of(chain_id)):
            yield

    def staging(self) -> Path:
        """A fresh directory to unpack into; its name carries our pid for cleanup."""
        self.reap_staging()
        path = self.tmp / f"{os.getpid()}-{os.urandom(6).hex()}"
        (path / "diff").mkdir(parents=True)
        return path

    def reap_staging(self) -> None:
        """Remove what pulls killed half-way left behind."""
        for entry in self.tmp.iterdir():
            if staging_stale(entry.name):
                shutil.rmtree(entry, ignore_errors=True)

    def commit(
        self, staging: Path, chain_id: str, diff_id: str, parent: str | None, size: int
    ) -> None:
        """Publish an unpacked layer; if another process won the race, keep theirs."""
        info = LayerInfo(chain_id, diff_id, parent, size)
        (staging / "layer.json").write_text(json.dumps(info.as_dict()))
        target = self.layer_dir(chain_id)
        try:
            os.rename(staging, target)
        except OSError:
            if self.has(chain_id):
                shutil.rmtree(staging, ignore_errors=True)
                return
            raise

    def remove(self, chain_id: str) -> None:
        if not self.layer_dir(chain_id).exists():
            return
        # Rename first so a half-removed layer is never mistaken for a complete one.
        doomed = self.tmp / f"rm-{os.urandom(6).hex()}"
        os.rename(self.layer_dir(chain_id), doomed)
        shutil.rmtree(doomed, ignore_errors=True)

    def all(self) -> list[str]:
        return ["sha256:" + p.name for p in self.dir.iterdir() if (p / "layer.json").is_file()]
