"""Unpack one gzip layer blob into a new directory, as pull does (timed by pull_bench).

python bench/unpack_only.py BLOB DEST
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from tuidock.runtime.image.layer.compression import open_decompressed
from tuidock.runtime.image.layer.unpack import apply_layer


def main() -> int:
    blob, dest = Path(sys.argv[1]), Path(sys.argv[2])
    with blob.open("rb") as raw:
        tar = open_decompressed(
            raw, "application/vnd.oci.image.layer.v1.tar+gzip", hasher=hashlib.sha256()
        )
        apply_layer(tar, dest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
