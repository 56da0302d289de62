"""`tuidock import`: a root filesystem tar becomes a one-layer image.

The tar (plain, gzip, bzip2 or xz, as `docker import` takes) is spooled
uncompressed to a temporary file while its sha256 (the layer's diff ID) is
computed; it is then gzipped into the blob store, unpacked through
unpack.apply_layer (the same hardened unpacker pulls use: no entry lands
outside the layer, whatever its name or link), and described by a fresh
config and OCI manifest. The IMAGE ID is the config's digest, as in Docker.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import lzma
import os
import shutil
import time
from typing import IO, TYPE_CHECKING

from tuidock.core import mediatypes
from tuidock.core import reference as refmod
from tuidock.errors import TuidockError
from tuidock.runtime.linux.locking import file_lock
from tuidock.runtime.store import events, scratch
from tuidock.runtime.store.images import ImageRecord

if TYPE_CHECKING:
    from tuidock.runtime.image.service import ImageService

CHUNK = 1 << 20


def _decompressor(head: bytes, src: IO[bytes]) -> IO[bytes]:
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=src, mode="rb")  # type: ignore[return-value]
    if head.startswith(b"BZh"):
        return bz2.BZ2File(src)  # type: ignore[return-value]
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(src)  # type: ignore[return-value]
    return src


class _Peek:
    """A read-only stream with its first bytes read ahead (stdin cannot seek back)."""

    def __init__(self, src: IO[bytes], n: int = 6) -> None:
        self.src = src
        self.head = src.read(n)

    def read(self, size: int = -1) -> bytes:
        if self.head:
            if size < 0:
                data, self.head = self.head + self.src.read(), b""
                return data
            data, self.head = self.head[:size], self.head[size:]
            if len(data) < size:
                data += self.src.read(size - len(data))
            return data
        return self.src.read(size)

    def readable(self) -> bool:
        return True


def _now() -> str:
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


# Dockerfile instructions `import --change` accepts, as Docker's import does.
CHANGE_INSTRUCTIONS = (
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "LABEL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
)


def _exec_form(text: str) -> list[str]:
    """A CMD/ENTRYPOINT value: JSON exec form, else shell form wrapped in /bin/sh -c."""
    text = text.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return ["/bin/sh", "-c", text]


def _pairs(text: str) -> list[tuple[str, str]]:
    """ENV/LABEL arguments: k=v pairs (quotes allowed), or the legacy "KEY value" form."""
    import shlex

    parts = shlex.split(text)
    if parts and "=" not in parts[0]:
        return [(parts[0], text.strip()[len(parts[0]) :].strip())]
    out = []
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep:
            raise TuidockError(f"invalid --change value: {text!r}: {part!r} is not KEY=VALUE")
        out.append((key, value))
    return out


def apply_changes(changes: list[str]) -> dict:
    """The image config's `config` section from `--change` Dockerfile instructions."""
    cfg: dict = {}
    for change in changes:
        word, _, rest = change.strip().partition(" ")
        word = word.upper()
        if word not in CHANGE_INSTRUCTIONS:
            raise TuidockError(
                f"{word or change!r} is not a valid change command",
                "Valid: " + ", ".join(CHANGE_INSTRUCTIONS) + ".",
            )
        rest = rest.strip()
        if word == "CMD":
            cfg["Cmd"] = _exec_form(rest)
        elif word == "ENTRYPOINT":
            cfg["Entrypoint"] = _exec_form(rest)
        elif word == "ENV":
            env = [e for e in cfg.get("Env", []) if e.partition("=")[0] not in dict(_pairs(rest))]
            cfg["Env"] = env + [f"{k}={v}" for k, v in _pairs(rest)]
        elif word == "LABEL":
            cfg.setdefault("Labels", {}).update(dict(_pairs(rest)))
        elif word == "EXPOSE":
            for port in rest.split():
                cfg.setdefault("ExposedPorts", {})[port if "/" in port else f"{port}/tcp"] = {}
        elif word == "VOLUME":
            paths = _exec_form(rest) if rest.startswith("[") else rest.split()
            for path in paths:
                cfg.setdefault("Volumes", {})[path] = {}
        elif word == "USER":
            cfg["User"] = rest
        elif word == "WORKDIR":
            cfg["WorkingDir"] = rest
        elif word == "STOPSIGNAL":
            cfg["StopSignal"] = rest
    return cfg


def import_tar(
    engine: ImageService,
    src: IO[bytes],
    reference: str | None = None,
    message: str = "",
    changes: list[str] | None = None,
) -> str:
    """Store the tar read from `src` as an image, tagged `reference` if given; its ID."""
    from tuidock.core.platforms import host_platform

    image_config = apply_changes(changes or [])  # checked before any work is done
    tag = None
    if reference:
        ref = refmod.parse(reference)
        if ref.digest:
            raise TuidockError(f"refusing to create a tag with a digest reference: {reference}")
        tag = str(ref)

    with scratch.temp_dir(engine.root, "import") as work:
        raw_path = os.path.join(work, "layer.tar")
        peek = _Peek(src)
        stream = _decompressor(peek.head, peek)  # type: ignore[arg-type]
        diff_hash = hashlib.sha256()
        try:
            with open(raw_path, "wb") as raw:
                while chunk := stream.read(CHUNK):
                    diff_hash.update(chunk)
                    raw.write(chunk)
        except (OSError, EOFError, lzma.LZMAError) as e:
            raise TuidockError(f"cannot read the archive: {e}") from None
        diff_id = "sha256:" + diff_hash.hexdigest()

        plat = host_platform()
        created = _now()
        config: dict = {
            "architecture": plat.architecture,
            **({"variant": plat.variant} if plat.variant else {}),
            "os": plat.os,
            "created": created,
            "config": image_config,
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [
                {
                    "created": created,
                    "created_by": "tuidock import",
                    "comment": message or "Imported from -",
                }
            ],
        }
        if message:
            config["comment"] = message
        image_id = register_layer_image(engine, raw_path, diff_id, None, config, tag)
        events.record(engine.root, "image", "import", image_id, {"name": image_id})
        return image_id


# Docker's layer media types name the same bytes as the OCI ones; an OCI manifest
# that lists a base image's layers uses the OCI names.
_OCI_LAYER_TYPES = {
    mediatypes.DOCKER_LAYER_GZIP: mediatypes.OCI_LAYER_GZIP,
}


def register_layer_image(
    engine: ImageService,
    raw_path: str,
    diff_id: str,
    base: ImageRecord | None,
    config: dict,
    tag: str | None,
    parent_image: str = "",
) -> str:
    """Store the uncompressed layer tar `raw_path` on top of `base` as a new image.

    Shared by `import` (no base) and `commit` (the container's image as base).
    `config` is the new image config but for `rootfs.diff_ids`, filled here.
    The layer is gzipped into the blob store and unpacked into the layer
    store; the config and an OCI manifest are stored and the image indexed
    (tagged `tag`, with `parent_image` as its parent). Returns the IMAGE ID
    (the config's digest).
    """
    from tuidock.core.digest import chain_ids, sha256_digest
    from tuidock.runtime.image.layer.unpack import apply_layer
    from tuidock.runtime.image.local import store_local_image

    gz_path = raw_path + ".gz"
    # mtime=0 and no file name: the same tar always gives the same blob.
    blob_hash = hashlib.sha256()
    with (
        open(raw_path, "rb") as raw,
        open(gz_path, "wb") as out,
        gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz,
    ):
        while chunk := raw.read(CHUNK):
            gz.write(chunk)
    with open(gz_path, "rb") as f:
        while chunk := f.read(CHUNK):
            blob_hash.update(chunk)
    blob_digest = "sha256:" + blob_hash.hexdigest()
    blob_size = os.path.getsize(gz_path)

    base_diffs = list(base.diff_ids) if base else []
    diff_ids = [*base_diffs, diff_id]
    chains = chain_ids(diff_ids)
    chain_id, parent = chains[-1], (chains[-2] if len(chains) > 1 else None)
    with file_lock(engine.gc_lock, shared=True):
        with engine.layers.locked(chain_id):
            if not engine.layers.has(chain_id):
                staging = engine.layers.staging()
                lowers = [engine.layers.diff_dir(c) for c in reversed(chains[:-1])]
                try:
                    with open(raw_path, "rb") as raw:
                        result = apply_layer(raw, staging / "diff", lowers)
                    engine.layers.commit(staging, chain_id, diff_id, parent, result.size)
                except BaseException:
                    shutil.rmtree(staging, ignore_errors=True)
                    raise
        if not engine.blobs.has(blob_digest):
            with engine.blobs.locked(blob_digest):
                dest = engine.blobs.path(blob_digest)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(gz_path, dest)

        config["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
        config_bytes = json.dumps(config, separators=(",", ":")).encode()
        config_digest = sha256_digest(config_bytes)
        layer_desc = {
            "mediaType": mediatypes.OCI_LAYER_GZIP,
            "digest": blob_digest,
            "size": blob_size,
        }
        layers = [
            {**d, "mediaType": _OCI_LAYER_TYPES.get(d.get("mediaType", ""), d.get("mediaType"))}
            for d in (base.layers if base else [])
        ] + [layer_desc]
        store_local_image(engine, config_bytes, layers, [tag] if tag else [], parent_image)
    return config_digest
