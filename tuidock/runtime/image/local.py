"""Registering an image made here (import, commit, load) rather than pulled.

Its layers are already in the layer store; this writes the config and an
OCI manifest naming `layer_descs` into the blob store and indexes the image,
whose ID is the config's digest as for any other image.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tuidock.core import mediatypes
from tuidock.core.digest import chain_ids, sha256_digest
from tuidock.runtime.store.images import ImageRecord

if TYPE_CHECKING:
    from tuidock.runtime.image.service import ImageService


def store_local_image(
    engine: ImageService,
    config_bytes: bytes,
    layer_descs: list[dict],
    tags: list[str],
    parent: str = "",
) -> ImageRecord:
    config = json.loads(config_bytes)
    config_digest = sha256_digest(config_bytes)
    diff_ids = list(config["rootfs"]["diff_ids"])
    manifest = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": {
            "mediaType": mediatypes.OCI_CONFIG,
            "digest": config_digest,
            "size": len(config_bytes),
        },
        "layers": layer_descs,
    }
    manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode()
    manifest_digest = sha256_digest(manifest_bytes)
    engine.blobs.put(config_bytes, config_digest)
    engine.blobs.put(manifest_bytes, manifest_digest)
    record = ImageRecord(
        id=config_digest,
        manifest_digest=manifest_digest,
        manifest_media_type=mediatypes.OCI_MANIFEST,
        config_media_type=mediatypes.OCI_CONFIG,
        diff_ids=diff_ids,
        layers=layer_descs,
        size=sum(engine.layers.info(c).size for c in chain_ids(diff_ids)),
        created=str(config.get("created") or ""),
        architecture=str(config.get("architecture") or ""),
        os=str(config.get("os") or ""),
        variant=str(config.get("variant") or ""),
        parent=parent,
    )
    with engine.images.transaction() as index:
        return index.add(record, tags, [])
