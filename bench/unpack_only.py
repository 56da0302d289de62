"""Unpack one gzip layer blob into a new directory, as pull does (timed by pull_bench).

python bench/unpack_only.py BLOB DEST
python bench/unpack_only.py --stages BLOB WORKDIR [--runs 3]

With --stages, times each part of an unpack on its own (best of --runs):
inflate with each backend available (zlib always, isal when installed),
sha256 of the compressed blob and of the tar, walking the tar headers without
writing anything, file creation from the tar already in memory (no inflate),
with and without writer threads, and the whole pipeline as pull runs it.
WORKDIR must be on the filesystem being measured; every run unpacks into a
new directory below it, deleted at the end.

tuidock is imported from wherever the interpreter finds it (an installed
package, or PYTHONPATH), so that pull_bench can run a baseline tree's.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import shutil
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from tuidock.runtime.image.layer.compression import open_decompressed
from tuidock.runtime.image.layer.tarstream import TarStream
from tuidock.runtime.image.layer.unpack import apply_layer

GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
CHUNK = 1 << 20


def unpack(blob: Path, dest: Path) -> None:
    with blob.open("rb") as raw:
        tar = open_decompressed(raw, GZIP, hasher=hashlib.sha256())
        apply_layer(tar, dest)


def _inflate(raw: bytes, inflate: str) -> int:
    stream = open_decompressed(io.BytesIO(raw), GZIP, inflate=inflate)
    total = 0
    while chunk := stream.read(CHUNK):
        total += len(chunk)
    return total


def _walk_headers(tar: bytes) -> int:
    members = TarStream(io.BytesIO(tar), 16 << 20, 10_000_000)
    for member in members:
        if member.size:
            members.source.seek(member.size, 1)
    return members.entries


def _best(runs: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def stages(blob: Path, work: Path, runs: int) -> dict[str, float]:
    from tuidock.runtime.image.layer import compression

    raw = blob.read_bytes()
    tar = zlib.decompress(raw, wbits=31)
    work.mkdir(parents=True, exist_ok=True)
    count = iter(range(1 << 30))

    def fresh() -> Path:
        return work / f"stage-{next(count)}"

    out: dict[str, float] = {}
    for backend in compression.inflate_backends():
        out[f"inflate ({backend})"] = _best(runs, lambda b=backend: _inflate(raw, b))
    out["sha256 of the blob"] = _best(runs, lambda: hashlib.sha256(raw).digest())
    out["sha256 of the tar"] = _best(runs, lambda: hashlib.sha256(tar).digest())
    out["tar header walk"] = _best(runs, lambda: _walk_headers(tar))
    out["apply from memory, 1 thread"] = _best(
        runs, lambda: apply_layer(io.BytesIO(tar), fresh(), writers=0)
    )
    out["apply from memory, writers"] = _best(runs, lambda: apply_layer(io.BytesIO(tar), fresh()))
    out["whole unpack (as pull)"] = _best(runs, lambda: unpack(blob, fresh()))
    for path in work.glob("stage-*"):
        shutil.rmtree(path)
    print(f"layer: {len(raw) / 1e6:.1f} MB gzip, {len(tar) / 1e6:.1f} MB tar, "
          f"{_walk_headers(tar)} entries")  # fmt: skip
    for name, secs in out.items():
        print(f"  {name:32s} {secs * 1000:7.0f} ms")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--stages", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("blob", type=Path)
    ap.add_argument("dest", type=Path)
    args = ap.parse_args()
    if args.stages:
        stages(args.blob, args.dest, args.runs)
    else:
        unpack(args.blob, args.dest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
