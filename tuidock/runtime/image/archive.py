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
Every JSON document (manifest.json, oci-layout, index.json, manifests,
configs) and every tag is read and checked for shape before anything is
stored; an image whose layers then fail takes the layers and blobs it added
away again, so a failed load leaves no half image.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

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


def _json_member(tar: tarfile.TarFile, name: str, kind: type = dict) -> Any:
    """The JSON document `name` of the archive, which must be a `kind` (dict: object)."""
    data = _read_member(tar, name)
    try:
        doc = json.loads(data)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ArchiveError(f"invalid archive: {name} is not JSON", _ARCHIVE_HINT) from None
    if not isinstance(doc, kind):
        shape = "object" if kind is dict else "list"
        raise ArchiveError(f"invalid archive: {name} is not a JSON {shape}", _ARCHIVE_HINT)
    return doc


def _field(doc: dict, key: str, kind: type, where: str, required: bool = True) -> Any:
    """doc[key], checked to be a `kind`; a missing optional field (or null) is kind()."""
    value = doc.get(key)
    if value is None and not required:
        return kind()
    if value is None:
        raise ArchiveError(f"invalid archive: {where} has no {key}", _ARCHIVE_HINT)
    if not isinstance(value, kind):
        raise ArchiveError(f"invalid archive: {key} in {where} is malformed", _ARCHIVE_HINT)
    return value


def _strings(doc: dict, key: str, where: str, required: bool = True) -> list[str]:
    values = _field(doc, key, list, where, required)
    if not all(isinstance(v, str) for v in values):
        raise ArchiveError(f"invalid archive: {key} in {where} is malformed", _ARCHIVE_HINT)
    return values


def _blob_name(desc: object, where: str) -> str:
    """blobs/sha256/<hex> for a descriptor, whose digest must be sha256:<64 hex>."""
    digest = desc.get("digest") if isinstance(desc, dict) else None
    if not isinstance(digest, str) or not refmod.is_digest(digest):
        raise ArchiveError(f"invalid archive: a descriptor in {where} has no valid sha256 digest")
    return f"blobs/sha256/{hex_of(digest)}"


_ARCHIVE_HINT = "Give a file written by `docker save`, `podman save` or `tuidock save`."
# What a truncated or corrupt archive raises while it is read.
_CORRUPT = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)


@dataclass
class _Planned:
    """One image of the archive, checked before anything is written."""

    config_name: str
    config_bytes: bytes
    diff_ids: list[str]
    layer_names: list[str]
    tags: list[str]  # normalised


def load(engine: ImageService, src: IO[bytes]) -> list[Loaded]:
    """Load every image of the archive read from `src`; what was loaded, in archive order.

    Every manifest, config and tag is read and checked first; an image whose
    layers then fail to load takes the layers and blobs it added away with it.
    """
    tmpdir = engine.root / "tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=tmpdir) as spool:
        try:
            _spool(src, spool)
            spool.seek(0)
            try:
                tar = tarfile.open(fileobj=spool, mode="r:")  # noqa: SIM115 - closed below
            except tarfile.TarError:
                raise ArchiveError(
                    "invalid archive: not a tar file (nor a gzip-compressed one)", _ARCHIVE_HINT
                ) from None
            with tar:
                plan = _plan(tar)
                return [_load_one(engine, tar, image) for image in plan]
        except _CORRUPT as exc:
            raise ArchiveError(
                f"invalid archive: truncated or corrupt ({exc or type(exc).__name__})",
                _ARCHIVE_HINT,
            ) from None


def _spool(src: IO[bytes], spool: IO[bytes]) -> None:
    # tar members are read in any order: spool a stream (stdin) to a file.
    head = src.read(6)
    stream: IO[bytes] = src
    if head.startswith(b"\x1f\x8b"):
        stream = gzip.GzipFile(fileobj=io.BufferedReader(_Prefixed(head, src)))  # type: ignore[arg-type]
        head = b""
    spool.write(head)
    shutil.copyfileobj(stream, spool, CHUNK)


def _plan(tar: tarfile.TarFile) -> list[_Planned]:
    names = set(tar.getnames())
    if "manifest.json" in names:
        entries = _json_member(tar, "manifest.json", list)
        raw = []
        for i, entry in enumerate(entries):
            where = f"manifest.json entry {i + 1}"
            if not isinstance(entry, dict):
                raise ArchiveError(f"invalid archive: {where} is not a JSON object", _ARCHIVE_HINT)
            raw.append(
                (
                    _field(entry, "Config", str, where),
                    _strings(entry, "Layers", where, required=False),
                    _strings(entry, "RepoTags", where, required=False),
                )
            )
    elif "index.json" in names:
        raw = _oci_plan(tar, names)
    else:
        raise ArchiveError(
            "invalid archive: neither manifest.json nor index.json found", _ARCHIVE_HINT
        )
    return [_planned(tar, config, layers, tags) for config, layers, tags in raw]


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


def _oci_plan(tar: tarfile.TarFile, names: set[str]) -> list[tuple[str, list[str], list[str]]]:
    if "oci-layout" in names:
        layout = _json_member(tar, "oci-layout")
        if not isinstance(layout.get("imageLayoutVersion"), str):
            raise ArchiveError("invalid archive: oci-layout has no imageLayoutVersion")
    index = _json_member(tar, "index.json")
    plan = []
    todo = [(d, "index.json") for d in _field(index, "manifests", list, "index.json")]
    while todo:
        desc, where = todo.pop(0)
        name = _blob_name(desc, where)
        data = _json_member(tar, name)
        if desc.get("mediaType") in mediatypes.INDEX_TYPES or "manifests" in data:
            todo.extend((d, name) for d in _field(data, "manifests", list, name))
            continue
        ann = desc.get("annotations")
        ann = ann if isinstance(ann, dict) else {}
        tags = []
        ref_name = ann.get("io.containerd.image.name")
        short = ann.get("org.opencontainers.image.ref.name")
        if isinstance(ref_name, str) and ref_name:
            tags.append(ref_name)
        elif isinstance(short, str) and short.count(":"):
            tags.append(short)
        plan.append(
            (
                _blob_name(_field(data, "config", dict, name), name),
                [_blob_name(lay, name) for lay in _field(data, "layers", list, name, False)],
                tags,
            )
        )
    return plan


def _planned(
    tar: tarfile.TarFile, config_name: str, layer_names: list[str], tags: list[str]
) -> _Planned:
    config_bytes = _read_member(tar, config_name)
    config = _json_member(tar, config_name)
    rootfs = _field(config, "rootfs", dict, f"image config {config_name}")
    diff_ids = _strings(rootfs, "diff_ids", f"image config {config_name}", required=False)
    if not all(refmod.is_digest(d) for d in diff_ids):
        raise ArchiveError(f"invalid archive: a diff ID in image config {config_name} is malformed")
    if len(diff_ids) != len(layer_names):
        raise ArchiveError(
            f"invalid archive: {len(layer_names)} layers for {len(diff_ids)} in the config"
        )
    norm_tags = []
    for tag in tags:
        try:
            norm_tags.append(str(refmod.parse(tag)))
        except TuidockError as exc:
            raise ArchiveError(f"invalid archive: tag {tag!r}: {exc.message}") from None
    return _Planned(config_name, config_bytes, diff_ids, layer_names, norm_tags)


def _load_one(engine: ImageService, tar: tarfile.TarFile, image: _Planned) -> Loaded:
    config_digest = sha256_digest(image.config_bytes)
    added_layers: list[str] = []
    added_blobs: list[str] = []
    with file_lock(engine.gc_lock, shared=True):
        try:
            layer_descs = [
                _load_layer(engine, tar, image, i, added_layers, added_blobs)
                for i in range(len(image.layer_names))
            ]
            store_local_image(engine, image.config_bytes, layer_descs, image.tags)
        except BaseException:
            # Nothing refers to what this image added yet: take it away again.
            for chain in reversed(added_layers):
                with engine.layers.locked(chain):
                    engine.layers.remove(chain)
            for digest in added_blobs:
                with engine.blobs.locked(digest):
                    engine.blobs.delete(digest)
            raise
    events.record(engine.root, "image", "load", config_digest, {"name": config_digest})
    return Loaded(config_digest, [_familiar(t) for t in image.tags])


def _load_layer(
    engine: ImageService,
    tar: tarfile.TarFile,
    image: _Planned,
    i: int,
    added_layers: list[str],
    added_blobs: list[str],
) -> dict:
    """Check and store layer `i` of `image`; its descriptor. What it adds goes on the lists."""
    from tuidock.runtime.image.layer.compression import open_decompressed
    from tuidock.runtime.image.layer.unpack import apply_layer

    name, diff_id = image.layer_names[i], image.diff_ids[i]
    chains = chain_ids(image.diff_ids)
    chain = chains[i]
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
                    f"invalid archive: layer {name} hashes to {got}, the config says {diff_id}"
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
                added_layers.append(chain)
            # Kept uncompressed: its digest is the diff ID, as in the archive.
            if not engine.blobs.has(diff_id):
                plain.seek(0)
                with engine.blobs.locked(diff_id):
                    dest = engine.blobs.path(diff_id)
                    part = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
                    try:
                        with open(part, "wb") as f:
                            shutil.copyfileobj(plain, f, CHUNK)
                        os.replace(part, dest)
                    except BaseException:
                        part.unlink(missing_ok=True)
                        raise
                added_blobs.append(diff_id)
    return {"mediaType": mediatypes.OCI_LAYER, "digest": diff_id, "size": size}
