"""Pulling an image: resolve the manifest, fetch config and layers, register it.

Each layer is fetched, hashed, decompressed, hashed again (diff ID) and
unpacked in one pass, several layers at a time. Nothing is listed as an image
until every blob and layer is verified and stored; a pull killed half-way
leaves only a partial blob, which the next pull resumes with a Range request.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests
from urllib3.exceptions import HTTPError as Urllib3Error

from tuidock.core import mediatypes as mt
from tuidock.core.digest import chain_ids, hex_of
from tuidock.core.parallel import wait_all
from tuidock.core.platforms import Platform, host_platform, select_manifest
from tuidock.core.reference import Reference
from tuidock.errors import (
    DigestMismatch,
    InvalidLayer,
    NotFound,
    RegistryError,
    TuidockError,
    Unreachable,
    UnsupportedManifest,
)
from tuidock.runtime.image.registry.auth import lookup_credentials
from tuidock.runtime.image.registry.client import (
    Manifest,
    RegistryClient,
    failure_text,
    registry_name,
)
from tuidock.runtime.image.registry.config import RegistriesConfig
from tuidock.runtime.store.blobs import BlobStore, BlobWriter
from tuidock.runtime.store.images import ImageRecord, ImageStore
from tuidock.runtime.store.layers import LayerStore

MAX_CONCURRENT_LAYERS = 3
NETWORK_RETRIES = 5
MAX_INDEX_DEPTH = 4
CHUNK = 1 << 20


@dataclass
class PullEvent:
    """Progress of a pull: kind is "status" (a line of text) or "layer"."""

    kind: str
    id: str = ""
    status: str = ""
    current: int = 0
    total: int = 0


ProgressFn = Callable[[PullEvent], None]


@dataclass
class PullResult:
    image: ImageRecord
    reference: Reference
    digest: str
    downloaded: bool


class PullCancelled(TuidockError):
    pass


def _short(digest: str) -> str:
    return hex_of(digest)[:12]


def _all_unreachable(domain: str, mirrors: list[Unreachable], upstream: Unreachable) -> Unreachable:
    """One error for mirrors that did not answer and a registry that cannot be reached."""
    dead = ", ".join(f"{m.host} ({m.reason})" for m in mirrors)
    return Unreachable(
        f"the {domain} mirror at {dead} did not answer, and {registry_name(upstream.host)} "
        f"cannot be reached either: {upstream.reason}",
        "If the mirror is the demo registry, `tuidock demo` starts it again (`tuidock demo "
        "--stop` drops the mirror).",
        upstream.host,
        upstream.reason,
    )


def _missing_and_unreachable(ref: Reference, mirrors: list[str], exc: Unreachable) -> Unreachable:
    """The mirrors do not have it and the registry itself cannot be asked."""
    return Unreachable(
        f"{ref.familiar()} not found on the mirror ({', '.join(mirrors)}) and "
        f"{registry_name(exc.host)} unreachable: {exc.reason}",
        "Check the name and tag, or push the image to the mirror.",
        exc.host,
        exc.reason,
    )


class LayerSource(io.RawIOBase):
    """The bytes of one blob from offset 0: first what a killed pull left on
    disk, then the registry's answer from there on (Range), reconnecting when
    the connection drops. Every byte read from the network goes into `writer`."""

    def __init__(
        self,
        client: RegistryClient,
        digest: str,
        writer: BlobWriter,
        cancel: threading.Event,
        report: Callable[[int], None],
    ) -> None:
        self.client = client
        self.digest = digest
        self.writer = writer
        self.cancel = cancel
        self.report = report
        self._replay = writer.existing()
        self._replaying = writer.offset > 0
        self._resp: requests.Response | None = None
        self._skip = 0
        self._failures = 0

    def readable(self) -> bool:
        return True

    def _open(self) -> None:
        resp, start = self.client.open_blob(self.digest, self.writer.offset)
        # A 200 to a Range request restarts the body from zero: skip what we hold.
        self._skip = self.writer.offset - start
        self._resp = resp

    def _drop(self) -> None:
        if self._resp is not None:
            self._resp.close()
            self._resp = None

    def readinto(self, buf) -> int:  # type: ignore[override]
        if self.cancel.is_set():
            raise PullCancelled("pull cancelled")
        if self._replaying:
            chunk = next(self._replay, b"")
            if chunk:
                n = min(len(chunk), len(buf))
                buf[:n] = chunk[:n]
                if n < len(chunk):
                    self._replay = iter([chunk[n:], *self._replay])
                return n
            self._replaying = False
        expected = self.writer.expected_size
        while True:
            if expected is not None and self.writer.offset >= expected:
                return 0
            try:
                if self._resp is None:
                    self._open()
                assert self._resp is not None
                chunk = self._resp.raw.read(min(len(buf), CHUNK), decode_content=False)
            except (requests.exceptions.RequestException, Urllib3Error, OSError) as exc:
                self._drop()
                self._failures += 1
                if self._failures > NETWORK_RETRIES:
                    raise RegistryError(
                        f"download of layer {_short(self.digest)} failed: {failure_text(exc)}",
                        "Check the network and pull again; it resumes where it stopped.",
                    ) from None
                continue
            if not chunk:
                self._drop()
                if expected is None:
                    return 0
                # The body ended early: resume from where it stopped.
                self._failures += 1
                if self._failures > NETWORK_RETRIES:
                    raise RegistryError(
                        f"download of layer {_short(self.digest)} kept stopping short",
                        "Pull again later; it resumes where it stopped.",
                    )
                continue
            if self._skip:
                drop = min(self._skip, len(chunk))
                self._skip -= drop
                chunk = chunk[drop:]
                if not chunk:
                    continue
            self.writer.write(chunk)
            n = len(chunk)
            buf[:n] = chunk
            self.report(self.writer.offset)
            return n

    def close(self) -> None:
        self._drop()
        super().close()


def _drain(stream) -> None:
    while stream.read(CHUNK):
        pass


def _descriptor(doc: dict, what: str) -> dict:
    if not isinstance(doc, dict) or not isinstance(doc.get("digest"), str):
        raise UnsupportedManifest(f"the manifest's {what} descriptor is malformed")
    hex_of(doc["digest"])
    size = doc.get("size")
    if not isinstance(size, int) or size < 0:
        raise UnsupportedManifest(f"the manifest's {what} descriptor has no valid size")
    return doc


class Puller:
    def __init__(
        self,
        images: ImageStore,
        blobs: BlobStore,
        layers: LayerStore,
        registries: RegistriesConfig,
    ) -> None:
        self.images = images
        self.blobs = blobs
        self.layers = layers
        self.registries = registries

    # -- resolving ------------------------------------------------------

    def _clients(self, ref: Reference) -> list[RegistryClient]:
        creds = lookup_credentials(ref.domain)
        return [
            RegistryClient(ep, ref.path, ref.domain, creds if not ep.mirror else None)
            for ep in self.registries.endpoints(ref.domain)
        ]

    def resolve(
        self, ref: Reference, platform: Platform | None
    ) -> tuple[RegistryClient, Manifest, list[Manifest]]:
        """Find the image manifest; returns the client, the top manifest and the chain."""
        errors: list[TuidockError] = []
        missing_on: list[str] = []  # mirrors that answered "manifest unknown"
        for client in self._clients(ref):
            try:
                top = client.get_manifest(ref.reference)
            except (RegistryError, NotFound) as exc:
                if not client.endpoint.mirror:
                    if isinstance(exc, Unreachable):
                        dead = [e for e in errors if isinstance(e, Unreachable)]
                        if dead:
                            raise _all_unreachable(ref.domain, dead, exc) from None
                        if missing_on:  # a mirror answered that it does not have it
                            raise _missing_and_unreachable(ref, missing_on, exc) from None
                    raise
                errors.append(exc)
                if isinstance(exc, NotFound):
                    missing_on.append(client.endpoint.host)
                continue
            chain = [top]
            want = platform or host_platform()
            current = top
            while current.media_type in mt.INDEX_TYPES:
                if len(chain) > MAX_INDEX_DEPTH:
                    raise UnsupportedManifest(f"{ref.familiar()}: image indexes nested too deeply")
                entry = _descriptor(
                    select_manifest(current.json(), want, ref.familiar()), "index entry"
                )
                current = client.get_manifest(entry["digest"])
                if len(current.data) != entry["size"]:
                    raise DigestMismatch(
                        f"manifest {entry['digest'][:19]} is {len(current.data)} bytes, "
                        f"the index says {entry['size']}"
                    )
                chain.append(current)
            return client, top, chain
        raise errors[-1]

    # -- layers ---------------------------------------------------------

    def _fetch_layer(
        self,
        client: RegistryClient,
        desc: dict,
        diff_id: str,
        chain_id: str,
        parent: str | None,
        lowers: list[str],
        lower_ready: list[threading.Event],
        cancel: threading.Event,
        progress: ProgressFn,
    ) -> None:
        digest, size = desc["digest"], desc["size"]
        lid = _short(digest)
        if self.layers.has(chain_id) and self.blobs.has(digest):
            progress(PullEvent("layer", lid, "Already exists", size, size))
            return
        progress(PullEvent("layer", lid, "Waiting", 0, size))
        with self.blobs.locked(digest), self.layers.locked(chain_id):
            need_layer = not self.layers.has(chain_id)
            need_blob = not self.blobs.has(digest)
            if not need_layer and not need_blob:
                progress(PullEvent("layer", lid, "Already exists", size, size))
                return
            for attempt in range(2):
                writer = self.blobs.writer(digest, size) if need_blob else None
                if writer is not None and attempt:
                    writer.reset()
                resumed = writer.offset if writer is not None else 0
                staging = self.layers.staging() if need_layer else None
                try:
                    if (
                        staging is not None
                        and writer is not None
                        and not all(e.is_set() for e in lower_ready)
                    ):
                        # A layer is unpacked on top of the finished layers below it
                        # (their directories' attributes, hardlink targets): fetch
                        # the blob now, unpack once they are in place.
                        self._transfer(client, desc, writer, None, lowers, cancel, progress)
                        writer.close()
                        writer = None
                        self._wait(lower_ready, cancel)
                    unpacked = self._transfer(
                        client, desc, writer, staging, lowers, cancel, progress
                    )
                    if staging is not None and unpacked is not None:
                        size_unpacked, got = unpacked
                        if got != diff_id:
                            raise InvalidLayer(
                                f"layer {lid}: uncompressed content hashes to {got}, "
                                f"but the image config says {diff_id}",
                                "The image is corrupt; nothing was stored.",
                            )
                        self.layers.commit(staging, chain_id, diff_id, parent, size_unpacked)
                        staging = None
                    progress(PullEvent("layer", lid, "Pull complete", size, size))
                    return
                except DigestMismatch:
                    # A resumed partial blob may have been the culprit: one fresh try.
                    if writer is None or attempt or not resumed:
                        raise
                finally:
                    if writer is not None:
                        writer.close()
                    if staging is not None:
                        shutil.rmtree(staging, ignore_errors=True)

    @staticmethod
    def _wait(events: list[threading.Event], cancel: threading.Event) -> None:
        for event in events:
            while not event.wait(0.1):
                if cancel.is_set():
                    raise PullCancelled("pull cancelled")

    def _transfer(
        self,
        client: RegistryClient,
        desc: dict,
        writer: BlobWriter | None,
        staging: Path | None,
        lowers: list[str],
        cancel: threading.Event,
        progress: ProgressFn,
    ) -> tuple[int, str] | None:
        """One pass over the blob: download (if `writer`) and unpack (if `staging`).

        Returns (unpacked size, diff ID) when it unpacks; the blob is verified
        and published before this returns.
        """
        from tuidock.runtime.image.layer.compression import open_decompressed
        from tuidock.runtime.image.layer.unpack import UnpackLimits, apply_layer

        digest, size, media_type = desc["digest"], desc["size"], desc.get("mediaType", "")
        lid = _short(digest)
        if writer is not None:
            source: io.RawIOBase = LayerSource(
                client,
                digest,
                writer,
                cancel,
                lambda n: progress(PullEvent("layer", lid, "Downloading", n, size)),
            )
        else:
            source = open(self.blobs.path(digest), "rb")  # noqa: SIM115
            progress(PullEvent("layer", lid, "Extracting", 0, size))
        with source:
            buffered = io.BufferedReader(source, CHUNK)
            if staging is not None:
                limits = UnpackLimits()
                try:
                    # The diff ID is hashed in the decompressing thread, beside
                    # the inflate and off the unpacker's thread.
                    diff_hasher = hashlib.sha256()
                    tar = open_decompressed(
                        buffered, media_type, limit=limits.max_bytes, hasher=diff_hasher
                    )
                    lower_dirs = [self.layers.diff_dir(c) for c in reversed(lowers)]
                    result = apply_layer(
                        tar, staging / "diff", [d for d in lower_dirs if d.is_dir()], limits
                    )
                    _drain(tar)
                except InvalidLayer:
                    # Unpacking reads the blob before its digest is known: a corrupt
                    # download looks like a corrupt layer. If the blob is not the one
                    # the manifest names, say so (and drop it) rather than blaming
                    # the image.
                    if writer is not None:
                        _drain(buffered)
                        writer.commit()
                    raise
            _drain(buffered)
        if writer is not None:
            progress(PullEvent("layer", lid, "Verifying Checksum", size, size))
            writer.commit()
        if staging is None:
            return None
        return result.size, "sha256:" + diff_hasher.hexdigest()

    # -- the whole pull ---------------------------------------------------

    def pull(
        self,
        ref: Reference,
        platform: Platform | None = None,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> PullResult:
        """`cancel`, when set by another thread, stops the pull between chunks;
        it then raises PullCancelled and stores no image (partial blobs stay,
        for the next pull to resume)."""
        emit = progress or (lambda e: None)
        client, top, chain = self.resolve(ref, platform)
        manifest = chain[-1]
        if manifest.media_type not in mt.MANIFEST_TYPES:
            raise UnsupportedManifest(f"unsupported manifest type {manifest.media_type!r}")
        doc = manifest.json()
        config_desc = _descriptor(doc.get("config"), "config")
        layer_descs = doc.get("layers")
        if not isinstance(layer_descs, list):
            raise UnsupportedManifest("the manifest has no layer list")
        layer_descs = [_descriptor(d, "layer") for d in layer_descs]
        config_digest = config_desc["digest"]
        if self.blobs.has(config_digest):
            config_bytes = self.blobs.read(config_digest)
        else:
            config_bytes = client.get_small_blob(config_digest)
        try:
            config = json.loads(config_bytes)
            diff_ids = list(config["rootfs"]["diff_ids"])
        except (ValueError, KeyError, TypeError):
            raise UnsupportedManifest(
                f"{ref.familiar()}: the image config is not a valid image configuration"
            ) from None
        if len(diff_ids) != len(layer_descs):
            raise UnsupportedManifest(
                f"{ref.familiar()}: the manifest lists {len(layer_descs)} layers but the "
                f"config has {len(diff_ids)} diff IDs"
            )
        for d in diff_ids:
            hex_of(d)
        chains = chain_ids(diff_ids)
        emit(PullEvent("status", status=f"{ref.reference}: Pulling from {ref.path}"))
        downloaded = not (
            all(self.layers.has(c) for c in chains)
            and all(self.blobs.has(d["digest"]) for d in layer_descs)
        )
        cancel = cancel or threading.Event()
        ready = [threading.Event() for _ in layer_descs]

        def fetch(i: int, desc: dict) -> None:
            try:
                self._fetch_layer(
                    client,
                    desc,
                    diff_ids[i],
                    chains[i],
                    chains[i - 1] if i else None,
                    chains[:i],
                    ready[:i],
                    cancel,
                    emit,
                )
            finally:
                ready[i].set()

        with ThreadPoolExecutor(
            max_workers=MAX_CONCURRENT_LAYERS, thread_name_prefix="pull"
        ) as pool:
            futures = [pool.submit(fetch, i, desc) for i, desc in enumerate(layer_descs)]
            wait_all(futures, cancel, PullCancelled)
        self.blobs.put(config_bytes, config_digest)
        for m in chain:
            self.blobs.put(m.data, m.digest)
        size = sum(self.layers.info(c).size for c in chains)
        record = ImageRecord(
            id=config_digest,
            manifest_digest=manifest.digest,
            manifest_media_type=manifest.media_type,
            config_media_type=config_desc.get("mediaType", ""),
            diff_ids=diff_ids,
            layers=[
                {"mediaType": d.get("mediaType", ""), "digest": d["digest"], "size": d["size"]}
                for d in layer_descs
            ],
            size=size,
            created=str(config.get("created") or ""),
            architecture=str(config.get("architecture") or ""),
            os=str(config.get("os") or ""),
            variant=str(config.get("variant") or ""),
        )
        tags = [str(ref)] if ref.tag else []
        with self.images.transaction() as index:
            known = index.images.get(record.id)
            already_tagged = known is not None and all(t in known.repo_tags for t in tags)
            record = index.add(record, tags, [f"{ref.name}@{top.digest}"])
        emit(PullEvent("status", status=f"Digest: {top.digest}"))
        return PullResult(record, ref, top.digest, downloaded or not already_tagged)
