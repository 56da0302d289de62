"""The image half of the local engine: the stores under one data root and
every image operation on them (pull, push, login, list, inspect, tag, mount,
rmi, prune, gc).

ImageService is what the image modules (archive, push, history, tarimport,
local) and the container service are handed: the blob, image and layer stores
with the gc lock that orders pulls against removals. Nothing here knows the
container service; the container directories are read only to keep the layers
and images containers stand on. Nothing here prints.
"""

from __future__ import annotations

import json
import os
import shutil
from functools import cached_property
from pathlib import Path

from tuidock.core import reference as refmod
from tuidock.core.humanize import rfc3339
from tuidock.core.reference import familiar_digest, familiar_tag
from tuidock.errors import Conflict, TuidockError
from tuidock.runtime.linux.locking import file_lock
from tuidock.runtime.store import ctrlayout, events, paths

# typing costs ~2 ms of every CLI start; type checkers read this name as typing's.
TYPE_CHECKING = False

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from tuidock.core.platforms import Platform
    from tuidock.core.prunefilter import PruneFilter
    from tuidock.runtime.image.history import HistoryRow
    from tuidock.runtime.image.pull import ProgressFn, PullResult
    from tuidock.runtime.image.push import ProgressFn as PushProgressFn
    from tuidock.runtime.image.push import PushResult
    from tuidock.runtime.store.blobs import BlobStore
    from tuidock.runtime.store.images import ImageIndex, ImageRecord, ImageStore
    from tuidock.runtime.store.layers import LayerStore


class RemoveReport:
    """What `rmi`/`image prune` did, in Docker's words.

    A plain class: a dataclass here would load dataclasses (and inspect) on
    every command that reaches the engine, `ps` and `stop` included.
    """

    def __init__(self) -> None:
        self.untagged: list[str] = []
        self.deleted: list[str] = []
        self.reclaimed = 0
        self.scratch: list[str] = []  # stale temp files and partial blobs

    def __repr__(self) -> str:
        return f"RemoveReport({vars(self)!r})"


class ImageService:
    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else paths.data_root()
        self.root.mkdir(parents=True, exist_ok=True)
        self.gc_lock = self.root / "locks" / "gc.lock"

    # The stores are made on first use: `stop` or `ps` need none of them, and
    # their modules (with hashing and temp-file machinery) cost every start.

    @cached_property
    def blobs(self) -> BlobStore:
        from tuidock.runtime.store.blobs import BlobStore

        return BlobStore(self.root / "blobs")

    @cached_property
    def images(self) -> ImageStore:
        from tuidock.runtime.store.images import ImageStore

        return ImageStore(self.root)

    @cached_property
    def layers(self) -> LayerStore:
        from tuidock.runtime.store.layers import LayerStore

        return LayerStore(self.root)

    # -- images: fetching -----------------------------------------------------

    def pull(
        self,
        name: str,
        platform: Platform | None = None,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> PullResult:
        from tuidock.runtime.image.pull import Puller
        from tuidock.runtime.image.registry.config import RegistriesConfig

        ref = refmod.parse(name)
        puller = Puller(self.images, self.blobs, self.layers, RegistriesConfig.load())
        # Shared: pulls run side by side; gc (rmi/prune) waits for them and vice versa.
        with file_lock(self.gc_lock, shared=True):
            result = puller.pull(ref, platform, progress, cancel)
        events.record(self.root, "image", "pull", ref.familiar(), {"name": ref.familiar_name})
        return result

    def push(
        self,
        source: str,
        dest: str | None = None,
        all_tags: bool = False,
        progress: PushProgressFn | None = None,
        tls_verify: bool | None = None,
        on_start: Callable[[refmod.Reference], None] | None = None,
    ) -> list[PushResult]:
        """Push local image(s) to a registry; one result per reference pushed."""
        from tuidock.runtime.image.push import Pusher, plan_push

        plan = plan_push(self, source, dest, all_tags)
        pusher = Pusher(self, tls_verify)
        results = []
        # Shared, as for pull: gc must not delete blobs that are being sent.
        with file_lock(self.gc_lock, shared=True):
            for rec, ref in plan:
                if on_start is not None:
                    on_start(ref)
                results.append(pusher.push(rec, ref, progress))
                events.record(
                    self.root, "image", "push", ref.familiar(), {"name": ref.familiar_name}
                )
        return results

    def login(self, server: str, user: str, password: str) -> None:
        """Check the credentials against the registry, then store them."""
        from tuidock.runtime.image.registry.auth import store_credentials
        from tuidock.runtime.image.registry.client import RegistryClient
        from tuidock.runtime.image.registry.config import RegistriesConfig

        domain = normalize_server(server)
        endpoint = RegistriesConfig.load().endpoints(domain)[-1]
        RegistryClient(endpoint, "", domain, (user, password)).login()
        store_credentials(domain, user, password)

    def logout(self, server: str) -> bool:
        from tuidock.runtime.image.registry.auth import remove_credentials

        return remove_credentials(normalize_server(server))

    # -- images: reading --------------------------------------------------------

    def list_images(
        self, name_filter: str | None = None, all_images: bool = False
    ) -> list[ImageRecord]:
        """`images`: without all_images, as Docker, not the build steps' images
        (no name, and a child image: listed only by `images -a`)."""
        index = self.images.snapshot()
        images = index.all()
        if not all_images:
            parents = index.parents()
            images = [r for r in images if not index.intermediate(r, parents)]
        if not name_filter:
            return images
        want = refmod.parse(name_filter, default_tag=False)
        out = []
        for rec in images:
            for tag in rec.repo_tags:
                repo, _, t = tag.rpartition(":")
                if repo == want.name and (want.tag is None or want.tag == t):
                    out.append(rec)
                    break
        return out

    def image(self, name: str) -> ImageRecord:
        return self.images.snapshot().resolve(name)

    def image_config(self, rec: ImageRecord) -> dict:
        return json.loads(self.blobs.read(rec.id))

    def image_history(self, name: str) -> list[HistoryRow]:
        from tuidock.runtime.image.history import image_history

        return image_history(self, name)

    def inspect_image(self, name: str) -> dict:
        rec = self.image(name)
        config = self.image_config(rec)
        return {
            "Id": rec.id,
            "RepoTags": [familiar_tag(t) for t in rec.repo_tags],
            "RepoDigests": [familiar_digest(d) for d in rec.repo_digests],
            "Parent": rec.parent,
            "Comment": config.get("comment", ""),
            "Created": config.get("created", ""),
            "DockerVersion": config.get("docker_version", ""),
            "Author": config.get("author", ""),
            "Config": config.get("config") or {},
            "Architecture": rec.architecture,
            **({"Variant": rec.variant} if rec.variant else {}),
            "Os": rec.os,
            "Size": rec.size,
            "GraphDriver": {
                "Name": "overlay",
                "Data": {
                    "LowerDir": ":".join(
                        str(self.layers.diff_dir(c)) for c in reversed(rec.chain_ids)
                    ),
                },
            },
            "RootFS": {"Type": "layers", "Layers": rec.diff_ids},
            "Metadata": {"LastTagTime": rfc3339(rec.added)},
            "Descriptor": {
                "mediaType": rec.manifest_media_type,
                "digest": rec.manifest_digest,
            },
        }

    # -- images: changing ---------------------------------------------------------

    def tag(self, source: str, target: str) -> ImageRecord:
        new = refmod.parse(target)
        if new.digest:
            raise TuidockError(
                f"refusing to create a tag with a digest reference: {target}",
                "Give a name and tag, e.g. myrepo/app:1.0.",
            )
        with self.images.transaction() as index:
            rec = index.resolve(source)
            index.untag(str(new))
            rec.repo_tags.append(str(new))
        events.record(self.root, "image", "tag", rec.id, {"name": new.familiar()})
        return rec

    # -- images: mounting ---------------------------------------------------------

    def _image_mount_dir(self, rec: ImageRecord) -> Path:
        return self.root / "image-mounts" / rec.id.removeprefix("sha256:")

    def mount_image(self, name: str) -> Path:
        """A read-only merged view of an image's root filesystem (like `podman image mount`)."""
        from tuidock.runtime.linux import overlay

        rec = self.image(name)
        target = self._image_mount_dir(rec)
        with file_lock(self.root / "locks" / "image-mounts.lock"):
            if is_mount_point(target):
                return target
            if (target / ".materialized").exists():
                return target / "rootfs"
            lowers = [self.layers.diff_dir(c) for c in reversed(rec.chain_ids)]
            if not lowers:
                raise TuidockError(f"image {rec.short_id} has no layers to mount")
            target.mkdir(parents=True, exist_ok=True)
            if overlay.overlay_supported(self.layers.dir):
                overlay.mount_overlay(lowers, target, readonly=True)
            else:
                # No overlayfs here: a merged copy stands in for the mount.
                copy = target.with_name(target.name + ".tmp")
                shutil.rmtree(copy, ignore_errors=True)
                overlay.materialize(lowers, copy / "rootfs")
                (copy / ".materialized").touch()
                target.rmdir()
                os.rename(copy, target)
                return target / "rootfs"
        return target

    def unmount_image(self, name: str) -> None:
        from tuidock.runtime.linux import overlay

        rec = self.image(name)
        target = self._image_mount_dir(rec)
        with file_lock(self.root / "locks" / "image-mounts.lock"):
            if is_mount_point(target):
                overlay.unmount(target)
                target.rmdir()
            elif (target / ".materialized").exists():
                shutil.rmtree(target)
            else:
                raise TuidockError(f"image {rec.short_id} is not mounted")

    def image_mounted(self, rec: ImageRecord) -> bool:
        target = self._image_mount_dir(rec)
        return is_mount_point(target) or (target / ".materialized").exists()

    def containers_using(self, image_id: str) -> list[str]:
        """IDs of containers (any state) created from an image."""
        out = []
        cdir = Path(ctrlayout.containers_dir(self.root))
        if not cdir.is_dir():
            return out
        for entry in cdir.iterdir():
            try:
                cfg = json.loads((entry / ctrlayout.CONFIG).read_text())
            except (FileNotFoundError, ValueError):
                continue
            if cfg.get("Image") == image_id:
                out.append(entry.name)
        return out

    def remove_images(
        self, names: list[str], force: bool = False
    ) -> tuple[RemoveReport, list[str]]:
        """`rmi`: untag, and delete images left without tags; errors are collected per name."""
        report = RemoveReport()
        errors: list[str] = []
        with file_lock(self.gc_lock):
            for name in names:
                try:
                    self._remove_one(name, force, report)
                except TuidockError as exc:
                    errors.append(exc.message)
            report.reclaimed += self._gc()
        return report, errors

    def _remove_one(self, name: str, force: bool, report: RemoveReport) -> None:
        done = len(report.untagged), len(report.deleted)
        with self.images.transaction() as index:
            rec, how = index.lookup(name)
            users = self.containers_using(rec.id)
            if how == "id":
                repos = {t.rsplit(":", 1)[0] for t in rec.repo_tags}
                if len(repos) > 1 and not force:
                    raise Conflict(
                        f"conflict: unable to delete {rec.short_id} (must be forced) - image is "
                        "referenced in multiple repositories",
                        "Remove it by name:tag, or use -f to remove every tag.",
                    )
                drop_tags = list(rec.repo_tags)
            elif how == "digest":
                repo = refmod.parse(name).name
                drop_tags = [t for t in rec.repo_tags if t.rsplit(":", 1)[0] == repo]
            else:
                drop_tags = [str(refmod.parse(name))]
            last_tag = len(drop_tags) >= len(rec.repo_tags)
            if last_tag and self.image_mounted(rec):
                raise Conflict(
                    f"image {rec.short_id} is mounted: unmount it first "
                    f"(tuidock image unmount {rec.short_id})"
                )
            if users and last_tag and not force:
                raise Conflict(
                    f"conflict: unable to remove repository reference {name!r} (must force) - "
                    f"container {users[0][:12]} is using its referenced image {rec.short_id}",
                    "Remove the container first (`tuidock rm`), or use -f.",
                )
            for tag in drop_tags:
                index.untag(tag)
                report.untagged.append(familiar_tag(tag))
            if not rec.repo_tags:
                for d in rec.repo_digests:
                    report.untagged.append(familiar_digest(d))
                rec.repo_digests = []
                if not users:
                    index.remove(rec.id)
                    report.deleted.append(rec.id)
                    self._remove_parents(index, rec, report)
        events.record_image_removal(self.root, rec.id, report, *done)

    def _remove_parents(self, index: ImageIndex, rec: ImageRecord, report: RemoveReport) -> None:
        """As Docker's rmi (without --no-prune): the build steps' images under a
        deleted image go too, up to one with a name, another child or a user."""
        parent = index.images.get(rec.parent)
        while (
            parent is not None
            and parent.unreferenced
            and parent.id not in index.parents()
            and not self.containers_using(parent.id)
            and not self.image_mounted(parent)
        ):
            index.remove(parent.id)
            report.deleted.append(parent.id)
            parent = index.images.get(parent.parent)

    def prune_images(
        self, all_images: bool = False, filters: PruneFilter | None = None
    ) -> RemoveReport:
        """`image prune`: dangling images, or with all_images every image no container uses."""
        report = RemoveReport()
        with file_lock(self.gc_lock):
            with self.images.transaction() as index:
                # As Docker, only images without children go; removing one can
                # free its parent (a build step's image), so repeat until none.
                removed = True
                while removed:
                    removed = False
                    parents = index.parents()
                    for rec in list(index.images.values()):
                        done = len(report.untagged), len(report.deleted)
                        if (
                            not (all_images or rec.dangling)
                            or rec.id in parents
                            or self.containers_using(rec.id)
                            or self.image_mounted(rec)
                            or (filters and not self._image_prunable(rec, filters))
                        ):
                            continue
                        for tag in rec.repo_tags:
                            report.untagged.append(familiar_tag(tag))
                        for d in rec.repo_digests:
                            report.untagged.append(familiar_digest(d))
                        index.remove(rec.id)
                        report.deleted.append(rec.id)
                        removed = True
                        events.record_image_removal(self.root, rec.id, report, *done)
            report.reclaimed += self._gc()
            from tuidock.runtime.store import scratch

            gone, freed = scratch.reclaim(self.root)
            report.scratch += [os.path.relpath(p, self.root) for p in gone]
            report.reclaimed += freed
        return report

    def _image_prunable(self, rec: ImageRecord, filters: PruneFilter) -> bool:
        labels = (self.image_config(rec).get("config") or {}).get("Labels")
        return filters.allows(rec.created, labels)

    def _gc(self) -> int:
        """Remove layers and blobs that no image (and no container) uses; returns bytes freed."""
        index = self.images.snapshot()
        keep_layers: set[str] = set()
        keep_blobs: set[str] = set()
        for rec in index.images.values():
            keep_layers.update(rec.chain_ids)
            keep_blobs.add(rec.id)
            keep_blobs.add(rec.manifest_digest)
            keep_blobs.update(d.split("@", 1)[1] for d in rec.repo_digests)
            keep_blobs.update(layer["digest"] for layer in rec.layers)
        for cid in self._container_layer_refs():
            keep_layers.add(cid)
        freed = 0
        for chain_id in self.layers.all():
            if chain_id not in keep_layers:
                try:
                    freed += self.layers.info(chain_id).size
                except (OSError, ValueError):
                    pass
                self.layers.remove(chain_id)
        for digest in self.blobs.all():
            if digest not in keep_blobs:
                try:
                    freed += self.blobs.size(digest)
                except OSError:
                    pass
                self.blobs.delete(digest)
        self.layers.reap_staging()
        return freed

    def _container_layer_refs(self) -> set[str]:
        """Chain IDs that containers stand on, so gc never pulls a layer from under one."""
        out: set[str] = set()
        cdir = Path(ctrlayout.containers_dir(self.root))
        if not cdir.is_dir():
            return out
        for entry in cdir.iterdir():
            try:
                cfg = json.loads((entry / ctrlayout.CONFIG).read_text())
            except (FileNotFoundError, ValueError):
                continue
            out.update(cfg.get("ChainIDs") or [])
        return out


def is_mount_point(path: Path) -> bool:
    """True if something is mounted on `path` (os.path.ismount misses same-fs binds)."""
    want = os.path.abspath(path)
    try:
        with open("/proc/self/mountinfo") as info:
            return any(line.split()[4].replace("\\040", " ") == want for line in info)
    except OSError:
        return os.path.ismount(path)


def normalize_server(server: str | None) -> str:
    """`login`'s server argument as a registry domain (default Docker Hub)."""
    if not server:
        return refmod.DEFAULT_DOMAIN
    host = server.removeprefix("https://").removeprefix("http://").split("/", 1)[0]
    if host in ("index.docker.io", "registry-1.docker.io"):
        return refmod.DEFAULT_DOMAIN
    return host
