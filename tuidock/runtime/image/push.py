"""Pushing an image: its layers, its config, then its manifest, as stored.

A pulled image keeps the registry's compressed blobs and manifest, so it is
pushed byte for byte and keeps its manifest digest. An image whose layers
are stored uncompressed (`load`) gets them gzipped first, as Docker does:
the compressed blobs and a manifest naming them are stored and become the
image's own (same config, so the same IMAGE ID), ready for the next push.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tuidock.core import mediatypes as mt
from tuidock.core import reference as refmod
from tuidock.core.digest import hex_of, sha256_digest
from tuidock.core.parallel import wait_all
from tuidock.errors import NotFound, TuidockError, UsageError
from tuidock.runtime.image.pull import PullEvent
from tuidock.runtime.image.registry.auth import lookup_credentials
from tuidock.runtime.image.registry.client import RegistryClient
from tuidock.runtime.image.registry.config import RegistriesConfig
from tuidock.runtime.image.registry.upload import Uploader
from tuidock.runtime.store import scratch
from tuidock.runtime.store.images import ImageRecord

if TYPE_CHECKING:
    from tuidock.runtime.image.service import ImageService

MAX_CONCURRENT_UPLOADS = 3
CHUNK = 1 << 20
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
# Layers stored as plain tars, and what their gzipped form is called.
GZIP_TYPE_OF = {mt.OCI_LAYER: mt.OCI_LAYER_GZIP, DOCKER_LAYER: mt.DOCKER_LAYER_GZIP}
# Layers that registries may not hold; Docker leaves them out of a push.
FOREIGN_MARKERS = ("foreign", "nondistributable")

PushEvent = PullEvent
ProgressFn = Callable[[PushEvent], None]


class PushCancelled(TuidockError):
    pass


@dataclass
class PushResult:
    reference: refmod.Reference
    digest: str
    size: int


def _short(digest: str) -> str:
    return hex_of(digest)[:12]


class Pusher:
    def __init__(self, engine: ImageService, tls_verify: bool | None = None) -> None:
        self.engine = engine
        self.blobs = engine.blobs
        self.tls_verify = tls_verify

    # -- making the image pushable --------------------------------------------

    def _compress(self, desc: dict) -> dict:
        """Gzip an uncompressed layer blob into the blob store; its new descriptor."""
        digest = desc["digest"]
        if not self.blobs.has(digest):
            raise NotFound(
                f"layer blob {digest[:19]} is missing from the store",
                "Pull or load the image again.",
            )
        fd, tmp = scratch.temp_file(self.engine.root, "push.gz")
        try:
            hasher = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, open(self.blobs.path(digest), "rb") as raw:

                class _Hashing:
                    def write(self, data: bytes) -> int:
                        hasher.update(data)
                        return out.write(data)

                    def flush(self) -> None:
                        out.flush()

                # mtime 0 and no name: the same tar always gives the same blob.
                # Level 6 as Docker's Go gzip default: far faster than 9, little larger.
                with gzip.GzipFile(
                    fileobj=_Hashing(), mode="wb", compresslevel=6, mtime=0, filename=""
                ) as gz:
                    while chunk := raw.read(CHUNK):
                        gz.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            gz_digest = "sha256:" + hasher.hexdigest()
            size = os.path.getsize(tmp)
            with self.blobs.locked(gz_digest):
                if not self.blobs.has(gz_digest):
                    os.replace(tmp, self.blobs.path(gz_digest))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        media_type = GZIP_TYPE_OF[desc.get("mediaType", mt.OCI_LAYER)]
        return {**desc, "mediaType": media_type, "digest": gz_digest, "size": size}

    def prepare(self, rec: ImageRecord) -> tuple[ImageRecord, bytes]:
        """The record and manifest to push, compressing plain layers first."""
        try:
            manifest = self.blobs.read(rec.manifest_digest)
        except FileNotFoundError:
            raise NotFound(
                f"the manifest of image {rec.short_id} is missing from the store",
                "Pull or load the image again.",
            ) from None
        doc = json.loads(manifest)
        layers = doc.get("layers") or []
        if not any(d.get("mediaType") in GZIP_TYPE_OF for d in layers):
            return rec, manifest
        doc["layers"] = [
            self._compress(d) if d.get("mediaType") in GZIP_TYPE_OF else d for d in layers
        ]
        manifest = json.dumps(doc, separators=(",", ":")).encode()
        digest = sha256_digest(manifest)
        self.blobs.put(manifest, digest)
        with self.engine.images.transaction() as index:
            current = index.images.get(rec.id)
            if current is None:
                raise NotFound(f"image {rec.short_id} was removed during the push")
            current.manifest_digest = digest
            current.layers = [
                {"mediaType": d.get("mediaType", ""), "digest": d["digest"], "size": d["size"]}
                for d in doc["layers"]
            ]
            rec = current.replace()
        return rec, manifest

    # -- talking to the registry ----------------------------------------------

    def client(self, ref: refmod.Reference) -> RegistryClient:
        endpoint = RegistriesConfig.load().endpoints(ref.domain)[-1]
        # As podman's --tls-verify: given, it overrides registries.toml and the
        # loopback default either way.
        if self.tls_verify is not None:
            endpoint = dataclasses.replace(endpoint, insecure=not self.tls_verify)
        return RegistryClient(endpoint, ref.path, ref.domain, lookup_credentials(ref.domain))

    def _mount_sources(self, dest: refmod.Reference) -> dict[str, list[str]]:
        """For each blob, the other repositories of dest's registry that may hold it.

        Repositories the image has a digest in (pulled from or pushed to) come
        first; those it is only tagged for may never have been pushed.
        """
        known: dict[str, list[str]] = {}
        guessed: dict[str, list[str]] = {}
        for rec in self.engine.images.snapshot().all():
            for names, out in ((rec.repo_digests, known), (rec.repo_tags, guessed)):
                repos = []
                for name in names:
                    try:
                        ref = refmod.parse(name)
                    except TuidockError:
                        continue
                    if ref.domain == dest.domain and ref.path != dest.path:
                        repos.append(ref.path)
                for layer in rec.layers:
                    out.setdefault(layer["digest"], []).extend(repos)
        return {
            digest: list(dict.fromkeys(known.get(digest, []) + guessed.get(digest, [])))
            for digest in known.keys() | guessed.keys()
        }

    def push(
        self, rec: ImageRecord, dest: refmod.Reference, progress: ProgressFn | None = None
    ) -> PushResult:
        emit = progress or (lambda e: None)
        rec, manifest = self.prepare(rec)
        doc = json.loads(manifest)
        uploader = Uploader(self.client(dest))
        sources = self._mount_sources(dest)
        layers: list[tuple[dict, str]] = []
        seen = set()
        for desc, diff_id in zip(doc.get("layers") or [], rec.diff_ids, strict=False):
            if desc["digest"] not in seen:
                seen.add(desc["digest"])
                layers.append((desc, diff_id))
        for desc, diff_id in layers:
            emit(PushEvent("layer", _short(diff_id), "Preparing", 0, desc["size"]))
        lock = threading.Lock()
        cancel = threading.Event()

        def send(desc: dict, diff_id: str) -> None:
            if cancel.is_set():
                raise PushCancelled("push cancelled")
            lid, size = _short(diff_id), desc["size"]
            if any(m in desc.get("mediaType", "") for m in FOREIGN_MARKERS):
                emit(PushEvent("layer", lid, "Skipped foreign layer", size, size))
                return
            if not self.blobs.has(desc["digest"]):
                raise NotFound(
                    f"layer blob {desc['digest'][:19]} is missing from the store",
                    "Pull the image again.",
                )
            done = [0]

            def report(n: int) -> None:
                if cancel.is_set():
                    raise PushCancelled("push cancelled")
                with lock:
                    done[0] += n
                    emit(PushEvent("layer", lid, "Pushing", min(done[0], size), size))

            outcome = uploader.push_blob(
                desc["digest"],
                self.blobs.path(desc["digest"]),
                size,
                sources.get(desc["digest"], []),
                report,
            )
            status = {
                "exists": "Layer already exists",
                "mounted": f"Mounted from {outcome.source}",
                "pushed": "Pushed",
            }[outcome.how]
            emit(PushEvent("layer", lid, status, size, size))

        with ThreadPoolExecutor(MAX_CONCURRENT_UPLOADS, thread_name_prefix="push") as pool:
            futures = [pool.submit(send, desc, diff_id) for desc, diff_id in layers]
            wait_all(futures, cancel, PushCancelled)
        config = doc["config"]
        uploader.push_blob(
            config["digest"], self.blobs.path(config["digest"]), config["size"], [], lambda n: None
        )
        digest = sha256_digest(manifest)
        media_type = doc.get("mediaType") or rec.manifest_media_type or mt.OCI_MANIFEST
        uploader.put_manifest(dest.reference, manifest, media_type, digest)
        with self.engine.images.transaction() as index:
            current = index.images.get(rec.id)
            if current is not None and f"{dest.name}@{digest}" not in current.repo_digests:
                current.repo_digests.append(f"{dest.name}@{digest}")
        emit(
            PushEvent(
                "status",
                status=f"{dest.tag or dest.digest}: digest: {digest} size: {len(manifest)}",
            )
        )
        return PushResult(dest, digest, len(manifest))


def _not_local(name: str) -> NotFound:
    return NotFound(
        f"An image does not exist locally with the tag: {name}",
        "List local images with `tuidock images`; tag one with `tuidock tag`.",
    )


def _destination(text: str) -> refmod.Reference:
    # Podman takes a transport prefix on the destination; only the registry one is ours.
    ref = refmod.parse(text.removeprefix("docker://"))
    if ref.digest:
        raise UsageError(
            f"cannot push to a digest reference: {text}",
            "Give the destination as NAME[:TAG]; the registry computes the digest.",
        )
    return ref


def plan_push(
    engine: ImageService, source: str, dest: str | None = None, all_tags: bool = False
) -> list[tuple[ImageRecord, refmod.Reference]]:
    """Which local image goes to which reference, refusing bad input before any transfer."""
    index = engine.images.snapshot()
    if all_tags:
        if dest:
            raise UsageError("--all-tags cannot be used with a destination")
        repo = refmod.parse(source, default_tag=False)
        if repo.tag or repo.digest:
            raise UsageError(
                "tag can't be used with --all-tags/-a",
                f"Give only the repository: {repo.familiar_name}",
            )
        plan = []
        for rec in index.all():
            for tag in rec.repo_tags:
                ref = refmod.parse(tag)
                if ref.name == repo.name:
                    plan.append((rec, ref))
        if not plan:
            raise _not_local(repo.familiar_name)
        return sorted(plan, key=lambda p: p[1].tag or "")
    if dest:
        return [(index.resolve(source), _destination(dest))]
    ref = refmod.parse(source)
    if ref.digest:
        raise UsageError(
            f"cannot push a digest reference: {source}",
            "Tag the image first (`tuidock tag`) and push the tag.",
        )
    rec = index.by_tag(ref)
    if rec is None:
        raise _not_local(ref.familiar())
    return [(rec, ref)]
