"""The image index: names and tags -> manifest -> config (the IMAGE ID).

One JSON file under an exclusive flock for writers; readers take a shared
lock and always see a complete file because writes are atomic renames. An
image appears here only after all its blobs and layers are stored, so an
interrupted pull never leaves a half image listed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tuidock.core import reference as refmod
from tuidock.core.digest import chain_ids
from tuidock.core.record import Record, field
from tuidock.errors import AmbiguousPrefix, InvalidReference, NotFound
from tuidock.runtime.linux.locking import atomic_write, file_lock


class ImageRecord(Record):
    id: str
    manifest_digest: str
    manifest_media_type: str
    config_media_type: str
    diff_ids: list[str]
    layers: list[dict]
    size: int
    created: str = ""
    architecture: str = ""
    os: str = ""
    variant: str = ""
    repo_tags: list[str] = field(default_factory=list)
    repo_digests: list[str] = field(default_factory=list)
    added: float = field(default_factory=time.time)
    # The image this one was built on, one build step back ("" for pulled and
    # loaded images), as Docker's classic builder records it.
    parent: str = ""

    @property
    def short_id(self) -> str:
        return self.id.removeprefix("sha256:")[:12]

    @property
    def chain_ids(self) -> list[str]:
        return chain_ids(self.diff_ids)

    @property
    def dangling(self) -> bool:
        return not self.repo_tags

    @property
    def unreferenced(self) -> bool:
        """No tag and no repo digest: Docker's `<none>:<none>`."""
        return not self.repo_tags and not self.repo_digests


class ImageIndex:
    """A snapshot of the index, changed in memory and saved by ImageStore.transaction."""

    def __init__(self, images: dict[str, ImageRecord]) -> None:
        self.images = images

    def all(self) -> list[ImageRecord]:
        return sorted(self.images.values(), key=lambda r: r.added, reverse=True)

    def parents(self) -> set[str]:
        """IDs of the images that another image names as its parent."""
        return {r.parent for r in self.images.values() if r.parent in self.images}

    def intermediate(self, rec: ImageRecord, parents: set[str]) -> bool:
        """A build step's image: no name and a child, so Docker lists it only with -a."""
        return rec.unreferenced and rec.id in parents

    def by_tag(self, ref: refmod.Reference) -> ImageRecord | None:
        want = str(ref)
        for rec in self.images.values():
            if want in rec.repo_tags:
                return rec
        return None

    def by_repo_digest(self, ref: refmod.Reference) -> ImageRecord | None:
        want = f"{ref.name}@{ref.digest}"
        for rec in self.images.values():
            if want in rec.repo_digests or (
                rec.manifest_digest == ref.digest
                and any(d.startswith(ref.name + "@") for d in rec.repo_digests)
            ):
                return rec
        return None

    def by_id_prefix(self, prefix: str) -> ImageRecord | None:
        body = prefix.removeprefix("sha256:")
        matches = [r for r in self.images.values() if r.id.removeprefix("sha256:").startswith(body)]
        if len(matches) > 1:
            raise AmbiguousPrefix(
                f"image ID prefix {prefix!r} is ambiguous: it matches {len(matches)} images",
                "Give more characters of the ID.",
            )
        return matches[0] if matches else None

    def resolve(self, name: str) -> ImageRecord:
        """Find an image by name[:tag], name@digest, or a unique ID prefix, as Docker does."""
        return self.lookup(name)[0]

    def lookup(self, name: str) -> tuple[ImageRecord, str]:
        """Like resolve, also saying how the name matched: "tag", "digest" or "id"."""
        parse_error: InvalidReference | None = None
        ref = None
        try:
            ref = refmod.parse(name)
        except InvalidReference as exc:
            parse_error = exc
        if ref is not None:
            rec = self.by_repo_digest(ref) if ref.digest else self.by_tag(ref)
            if rec is not None:
                return rec, "digest" if ref.digest else "tag"
        if refmod.looks_like_id(name):
            rec = self.by_id_prefix(name)
            if rec is not None:
                return rec, "id"
        if parse_error is not None and not refmod.looks_like_id(name):
            raise parse_error
        shown = ref.familiar() if ref is not None else name
        raise NotFound(
            f"No such image: {shown}",
            "List local images with `tuidock images`, or fetch it with `tuidock pull`.",
        )

    def add(self, rec: ImageRecord, tags: list[str], repo_digests: list[str]) -> ImageRecord:
        """Insert or merge an image, moving each tag onto it from any other image."""
        existing = self.images.get(rec.id)
        if existing is not None:
            rec.repo_tags = list(existing.repo_tags)
            rec.repo_digests = list(existing.repo_digests)
            rec.added = existing.added
            rec.parent = rec.parent or existing.parent
        for tag in tags:
            self.untag(tag)
            if tag not in rec.repo_tags:
                rec.repo_tags.append(tag)
        for d in repo_digests:
            if d not in rec.repo_digests:
                rec.repo_digests.append(d)
        self.images[rec.id] = rec
        return rec

    def untag(self, tag: str) -> ImageRecord | None:
        for rec in self.images.values():
            if tag in rec.repo_tags:
                rec.repo_tags.remove(tag)
                repo = tag.rsplit(":", 1)[0]
                if not any(t.rsplit(":", 1)[0] == repo for t in rec.repo_tags):
                    rec.repo_digests = [d for d in rec.repo_digests if not d.startswith(repo + "@")]
                return rec
        return None

    def remove(self, image_id: str) -> ImageRecord:
        return self.images.pop(image_id)


class ImageStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / "images.json"
        self.lock_path = root / "locks" / "images.lock"

    def _load(self) -> ImageIndex:
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            data = {"images": {}}
        images = {k: ImageRecord.from_dict(v) for k, v in data.get("images", {}).items()}
        return ImageIndex(images)

    def snapshot(self) -> ImageIndex:
        with file_lock(self.lock_path, shared=True):
            return self._load()

    @contextmanager
    def transaction(self) -> Iterator[ImageIndex]:
        """Exclusive read-modify-write of the index; saved only if the block succeeds."""
        with file_lock(self.lock_path):
            index = self._load()
            yield index
            payload = {"version": 1, "images": {k: v.as_dict() for k, v in index.images.items()}}
            self.root.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, json.dumps(payload, indent=1, sort_keys=True).encode())
