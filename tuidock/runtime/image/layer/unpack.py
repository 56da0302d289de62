"""Exact and safe application of one untrusted layer tar into its own directory.

Every layer is unpacked alone into an empty directory (one per chain ID) and
kept in overlay form: a whiteout `.wh.NAME` becomes a 0/0 character device
NAME, an opaque marker `.wh..wh..opq` becomes `trusted.overlay.opaque=y` on
its directory. overlayfs (or `overlay.materialize`) stacks the directories.

The parts: tarstream reads the hostile tar as bounded members, apply puts
each member into the layer directory (its docstring holds the safety model),
writers creates small files on threads while the reader goes on.

Errors: apply_layer raises (InvalidLayer, TooLarge, or TuidockError for an
I/O failure) and leaves the partly written directory behind; the caller
removes it (it owns the directory and knows whether anything else refers to
it) and must not register the layer.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from tuidock.errors import TuidockError
from tuidock.runtime.image.layer.apply import Applier, UnpackLimits, UnpackResult
from tuidock.runtime.image.layer.writers import WriterPool

__all__ = ["UnpackLimits", "UnpackResult", "apply_layer"]

MiB = 1 << 20

# Threads creating small files; two make ext4 create inodes ~1.5x as fast as
# one, more gained nothing on a 2-core machine (and 0 turns the pool off).
WRITERS = 2
# File data read ahead of the writers, at most.
MAX_BUFFERED = 32 * MiB


def apply_layer(
    tar_stream: BinaryIO,
    dest: Path,
    lower_dirs: Sequence[Path] = (),
    limits: UnpackLimits | None = None,
    writers: int = WRITERS,
) -> UnpackResult:
    """Unpack the uncompressed layer tar read from `tar_stream` into `dest`.

    `dest` must be empty or absent. `lower_dirs` are the unpacked layers below
    this one, top first; they are only read: to give directories that the tar
    does not list the attributes they have below, and to copy up the target
    of a hardlink that points into a lower layer. The stream is read up to the
    end-of-archive marker and neither drained nor closed. `writers` threads
    create the small regular files (0: all on the calling thread); they have
    all stopped when this returns or raises.
    """
    limits = limits or UnpackLimits()
    dest = Path(dest)
    try:
        dest.mkdir(mode=0o755, exist_ok=True)
        root_fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise TuidockError(f"cannot create layer directory {dest}: {e.strerror}") from e
    try:
        if os.listdir(root_fd):
            raise TuidockError(f"layer directory {dest} is not empty")
        applier = Applier(root_fd, dest, [Path(p) for p in lower_dirs], limits)
        if writers > 0:
            applier.pool = WriterPool(root_fd, writers, MAX_BUFFERED)
        try:
            return applier.run(tar_stream)
        finally:
            if applier.pool is not None:
                applier.pool.close()
    finally:
        os.close(root_fd)
