"""`tuidock save` / `tuidock load`: image archives Docker and Podman read and write.

save writes what Docker 25+ writes: an OCI image layout (oci-layout,
index.json, blobs/sha256/...) with a docker-archive manifest.json beside it
whose Config and Layers point into blobs/. Layers go in uncompressed, so
each layer blob's digest is its diff ID, as in Docker's archives. The
config blob is copied byte for byte: the IMAGE ID (its digest) survives
the trip into Docker or Podman.

load reads a docker-archive (manifest.json: `docker save`, `podman save`,
legacy layouts with <id>/layer.tar included) or, without manifest.json, an
OCI archive (index.json). Every layer is checked against the config's diff
IDs and unpacked with unpack.apply_layer, the hardened unpacker pulls use.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from tuidock.core import mediatypes
from tuidock.core import reference as refmod
from tuidock.core.digest import chain_ids, hex_of, sha256_digest
from tuidock.errors import TuidockError
from tuidock.runtime.image.local import store_local_image
from tuidock.runtime.linux.locking import file_lock
from tuidock.runtime.store import events
from tuidock.runtime.store.images import ImageRecord

if TYPE_CHECKING:
    from tuidock.runtime.image.service import ImageService

CHUNK = 1 << 20


class ArchiveError(TuidockError):
    pass


def _json_bytes(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


# -- save -------------------------------------------------------------------------------------------


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


def save(engine: ImageService, names: list[str], out: IO[bytes]) -> None:
    """Write the images `names` (names, tags or IDs) as one archive to `out`."""
    from tuidock.runtime.image.layer.compression import open_decompressed

    index = engine.images.snapshot()
    chosen: list[tuple[ImageRecord, list[str]]] = []
    for name in names:
        rec, how = index.lookup(name)
        if how == "id" or how == "digest":
            tags = list(rec.repo_tags) if how == "id" else []
        else:
            tags = [str(refmod.parse(name))]
        for prev, prev_tags in chosen:
            if prev.id == rec.id:
                prev_tags.extend(t for t in tags if t not in prev_tags)
                break
        else:
            chosen.append((rec, tags))

    written: set[str] = set()
    index_manifests: list[dict] = []
    docker_manifest: list[dict] = []
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:

        def blob(digest: str, data: bytes) -> None:
            if digest not in written:
                written.add(digest)
                _add_bytes(tar, f"blobs/sha256/{hex_of(digest)}", data)

        for rec, tags in chosen:
            config_bytes = engine.blobs.read(rec.id)
            blob(rec.id, config_bytes)
            layer_descs = []
            for desc, diff_id in zip(rec.layers, rec.diff_ids, strict=True):
                name = f"blobs/sha256/{hex_of(diff_id)}"
                with tempfile.TemporaryFile() as tmp:
                    with open(engine.blobs.path(desc["digest"]), "rb") as raw:
                        hasher = hashlib.sha256()
                        stream = open_decompressed(raw, desc["mediaType"], hasher=hasher)
                        try:
                            shutil.copyfileobj(stream, tmp, CHUNK)
                        finally:
                            stream.close()
                    if "sha256:" + hasher.hexdigest() != diff_id:
                        raise ArchiveError(
                            f"stored layer {desc['digest']} does not match {diff_id}"
                        )
                    size = tmp.tell()
                    if diff_id not in written:
                        written.add(diff_id)
                        tmp.seek(0)
                        info = tarfile.TarInfo(name)
                        info.size, info.mode = size, 0o644
                        tar.addfile(info, tmp)
                layer_descs.append(
                    {"mediaType": mediatypes.OCI_LAYER, "digest": diff_id, "size": size}
                )
            manifest = {
                "schemaVersion": 2,
                "mediaType": mediatypes.OCI_MANIFEST,
                "config": {
                    "mediaType": mediatypes.OCI_CONFIG,
                    "digest": rec.id,
                    "size": len(config_bytes),
                },
                "layers": layer_descs,
            }
            mbytes = _json_bytes(manifest)
            mdigest = sha256_digest(mbytes)
            blob(mdigest, mbytes)
            desc = {"mediaType": mediatypes.OCI_MANIFEST, "digest": mdigest, "size": len(mbytes)}
            for tag in tags or [None]:
                entry = dict(desc)
                if tag:
                    ref = refmod.parse(tag)
                    entry["annotations"] = {
                        "io.containerd.image.name": str(ref),
                        "org.opencontainers.image.ref.name": ref.tag or "latest",
                    }
                index_manifests.append(entry)
            docker_manifest.append(
                {
                    "Config": f"blobs/sha256/{hex_of(rec.id)}",
                    "RepoTags": [_familiar(t) for t in tags],
                    "Layers": [f"blobs/sha256/{hex_of(d)}" for d in rec.diff_ids],
                }
            )
        _add_bytes(tar, "oci-layout", _json_bytes({"imageLayoutVersion": "1.0.0"}))
        _add_bytes(
            tar,
            "index.json",
            _json_bytes(
                {
                    "schemaVersion": 2,
                    "mediaType": mediatypes.OCI_INDEX,
                    "manifests": index_manifests,
                }
            ),
        )
        _add_bytes(tar, "manifest.json", _json_bytes(docker_manifest))
    for rec, _ in chosen:
        events.record(engine.root, "image", "save", rec.id, {"name": rec.id})


def _familiar(tag: str) -> str:
    try:
        return refmod.parse(tag).familiar()
    except TuidockError:
        return tag


# -- load -------------------------------------------------------------------------------------------


@dataclass
class Loaded:
    image_id: str
    tags: list[str]


def _safe_member(tar: tarfile.TarFile, name: str) -> tarfile.TarInfo:
    name = os.path.normpath(name).lstrip("/")
    try:
        member = tar.getmember(name)
    except KeyError:
        raise ArchiveError(f"invalid archive: {name} is missing") from None
    if not member.isreg():
        raise ArchiveError(f"invalid archive: {name} is not a regular file")
    return member


def _read_member(tar: tarfile.TarFile, name: str, cap: int = 64 << 20) -> bytes:
    member = _safe_member(tar, name)
    if member.size > cap:
        raise ArchiveError(f"invalid archive: {name} is too large")
    f = tar.extractfile(member)
    assert f is not None
    return f.read()


def load(engine: ImageService, src: IO[bytes]) -> list[Loaded]:
    """Load every image of the archive read from `src`; what was loaded, in archive order."""
    tmpdir = engine.root / "tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=tmpdir) as spool:
        # tar members are read in any order: spool a stream (stdin) to a file.
        head = src.read(6)
        stream: IO[bytes] = src
        if head.startswith(b"\x1f\x8b"):
            import gzip

            stream = gzip.GzipFile(fileobj=io.BufferedReader(_Prefixed(head, src)))  # type: ignore[arg-type]
            head = b""
        spool.write(head)
        shutil.copyfileobj(stream, spool, CHUNK)
        spool.seek(0)
        try:
            tar = tarfile.open(fileobj=spool, mode="r:")  # noqa: SIM115 - closed by the with below
        except tarfile.TarError as e:
            raise ArchiveError(f"invalid archive: {e}") from None
        with tar:
            names = set(tar.getnames())
            if "manifest.json" in names:
                entries = json.loads(_read_member(tar, "manifest.json"))
                plan = [
                    (e["Config"], list(e.get("Layers") or []), list(e.get("RepoTags") or []))
                    for e in entries
                ]
            elif "index.json" in names:
                plan = _oci_plan(tar)
            else:
                raise ArchiveError(
                    "invalid archive: neither manifest.json nor index.json found",
                    "Give a file written by `docker save`, `podman save` or `tuidock save`.",
                )
            return [_load_one(engine, tar, cfg, layers, tags) for cfg, layers, tags in plan]


class _Prefixed:
    def __init__(self, head: bytes, src: IO[bytes]) -> None:
        self.head, self.src = head, src

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:
        if self.head:
            n = min(len(b), len(self.head))
            b[:n], self.head = self.head[:n], self.head[n:]
            return n
        data = self.src.read(len(b))
        b[: len(data)] = data
        return len(data)

    @property
    def closed(self) -> bool:
        return False


def _oci_plan(tar: tarfile.TarFile) -> list[tuple[str, list[str], list[str]]]:
    index = json.loads(_read_member(tar, "index.json"))
    plan = []
    todo = list(index.get("manifests") or [])
    while todo:
        desc = todo.pop(0)
        data = json.loads(_read_member(tar, f"blobs/sha256/{hex_of(desc['digest'])}"))
        if desc.get("mediaType") in mediatypes.INDEX_TYPES or "manifests" in data:
            todo.extend(data.get("manifests") or [])
            continue
        ann = desc.get("annotations") or {}
        tags = []
        name = ann.get("io.containerd.image.name")
        if name:
            tags.append(name)
        elif ann.get("org.opencontainers.image.ref.name", "").count(":"):
            tags.append(ann["org.opencontainers.image.ref.name"])
        plan.append(
            (
                f"blobs/sha256/{hex_of(data['config']['digest'])}",
                [f"blobs/sha256/{hex_of(lay['digest'])}" for lay in data.get("layers") or []],
                tags,
            )
        )
    return plan


def _load_one(
    engine: ImageService,
    tar: tarfile.TarFile,
    config_name: str,
    layer_names: list[str],
    tags: list[str],
) -> Loaded:
    from tuidock.runtime.image.layer.compression import open_decompressed
    from tuidock.runtime.image.layer.unpack import apply_layer

    config_bytes = _read_member(tar, config_name)
    config_digest = sha256_digest(config_bytes)
    config = json.loads(config_bytes)
    diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
    if len(diff_ids) != len(layer_names):
        raise ArchiveError(
            f"invalid archive: {len(layer_names)} layers for {len(diff_ids)} in the config"
        )
    norm_tags = []
    for tag in tags:
        ref = refmod.parse(tag)
        norm_tags.append(str(ref))
    chains = chain_ids(diff_ids)
    layer_descs = []
    with file_lock(engine.gc_lock, shared=True):
        for i, (name, diff_id, chain) in enumerate(zip(layer_names, diff_ids, chains, strict=True)):
            member = _safe_member(tar, name)
            with engine.layers.locked(chain):
                raw = tar.extractfile(member)
                assert raw is not None
                hasher = hashlib.sha256()
                stream = open_decompressed(raw, mediatypes.OCI_LAYER, hasher=hasher)  # type: ignore[arg-type]
                with tempfile.TemporaryFile(dir=engine.root / "tmp") as plain:
                    try:
                        shutil.copyfileobj(stream, plain, CHUNK)
                    finally:
                        stream.close()
                    got = "sha256:" + hasher.hexdigest()
                    if got != diff_id:
                        raise ArchiveError(
                            f"invalid archive: layer {name} hashes to {got}, the config says "
                            f"{diff_id}"
                        )
                    size = plain.tell()
                    if not engine.layers.has(chain):
                        lowers = [engine.layers.diff_dir(c) for c in reversed(chains[:i])]
                        staging = engine.layers.staging()
                        try:
                            plain.seek(0)
                            result = apply_layer(plain, staging / "diff", lowers)  # type: ignore[arg-type]
                            parent = chains[i - 1] if i else None
                            engine.layers.commit(staging, chain, diff_id, parent, result.size)
                        except BaseException:
                            shutil.rmtree(staging, ignore_errors=True)
                            raise
                    # Kept uncompressed: its digest is the diff ID, as in the archive.
                    if not engine.blobs.has(diff_id):
                        plain.seek(0)
                        with engine.blobs.locked(diff_id):
                            dest = engine.blobs.path(diff_id)
                            part = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
                            with open(part, "wb") as f:
                                shutil.copyfileobj(plain, f, CHUNK)
                            os.replace(part, dest)
            layer_descs.append({"mediaType": mediatypes.OCI_LAYER, "digest": diff_id, "size": size})
        store_local_image(engine, config_bytes, layer_descs, norm_tags)
    events.record(engine.root, "image", "load", config_digest, {"name": config_digest})
    return Loaded(config_digest, [_familiar(t) for t in norm_tags])
