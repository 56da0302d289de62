"""The Engine: the one facade that the CLI and the UI call.

It owns the stores under one data root and turns user-level requests
("pull busybox", "rmi abc1") into runtime operations. Nothing here prints;
results are returned as data so that both faces render them their own way.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tuidock.errors import Conflict, TuidockError
from tuidock.humanize import rfc3339
from tuidock.runtime import events, paths, scratch
from tuidock.runtime import reference as refmod
from tuidock.runtime.blobstore import BlobStore
from tuidock.runtime.imagestore import ImageRecord, ImageStore
from tuidock.runtime.layerstore import LayerStore
from tuidock.runtime.locking import file_lock

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Iterator

    from tuidock.runtime.attach import AttachClient
    from tuidock.runtime.cgroups import CgroupStats
    from tuidock.runtime.containerconfig import CreateOptions
    from tuidock.runtime.containers import ContainerInfo, Containers
    from tuidock.runtime.ctrlog import LogEntry
    from tuidock.runtime.imagehistory import HistoryRow
    from tuidock.runtime.platforms import Platform
    from tuidock.runtime.prunefilter import PruneFilter
    from tuidock.runtime.pull import ProgressFn, PullResult
    from tuidock.runtime.push import ProgressFn as PushProgressFn
    from tuidock.runtime.push import PushResult


@dataclass
class RemoveReport:
    """What `rmi`/`image prune` did, in Docker's words."""

    untagged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    reclaimed: int = 0
    scratch: list[str] = field(default_factory=list)  # stale temp files and partial blobs


def familiar_tag(tag: str) -> str:
    try:
        return refmod.parse(tag).familiar()
    except TuidockError:
        return tag


def familiar_digest(repo_digest: str) -> str:
    name, _, digest = repo_digest.partition("@")
    try:
        return f"{refmod.parse(name, default_tag=False).familiar_name}@{digest}"
    except TuidockError:
        return repo_digest


class Engine:
    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else paths.data_root()
        self.root.mkdir(parents=True, exist_ok=True)
        self.blobs = BlobStore(self.root / "blobs")
        self.images = ImageStore(self.root)
        self.layers = LayerStore(self.root)
        self.gc_lock = self.root / "locks" / "gc.lock"

    # -- images: fetching -----------------------------------------------------

    def pull(
        self,
        name: str,
        platform: Platform | None = None,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> PullResult:
        from tuidock.runtime.pull import Puller
        from tuidock.runtime.registry.config import RegistriesConfig

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
        from tuidock.runtime.push import Pusher, plan_push

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
        from tuidock.runtime.registry.auth import store_credentials
        from tuidock.runtime.registry.client import RegistryClient
        from tuidock.runtime.registry.config import RegistriesConfig

        domain = normalize_server(server)
        endpoint = RegistriesConfig.load().endpoints(domain)[-1]
        RegistryClient(endpoint, "", domain, (user, password)).login()
        store_credentials(domain, user, password)

    def logout(self, server: str) -> bool:
        from tuidock.runtime.registry.auth import remove_credentials

        return remove_credentials(normalize_server(server))

    # -- images: reading --------------------------------------------------------

    def list_images(self, name_filter: str | None = None) -> list[ImageRecord]:
        images = self.images.snapshot().all()
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
        from tuidock.runtime.imagehistory import image_history

        return image_history(self, name)

    def inspect_image(self, name: str) -> dict:
        rec = self.image(name)
        config = self.image_config(rec)
        return {
            "Id": rec.id,
            "RepoTags": [familiar_tag(t) for t in rec.repo_tags],
            "RepoDigests": [familiar_digest(d) for d in rec.repo_digests],
            "Parent": "",
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
        from tuidock.runtime import overlay

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
        from tuidock.runtime import overlay

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
        cdir = self.root / "containers"
        if not cdir.is_dir():
            return out
        for entry in cdir.iterdir():
            try:
                cfg = json.loads((entry / "config.json").read_text())
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
        events.record_image_removal(self.root, rec.id, report, *done)

    def prune_images(
        self, all_images: bool = False, filters: PruneFilter | None = None
    ) -> RemoveReport:
        """`image prune`: dangling images, or with all_images every image no container uses."""
        report = RemoveReport()
        with file_lock(self.gc_lock):
            with self.images.transaction() as index:
                for rec in list(index.images.values()):
                    done = len(report.untagged), len(report.deleted)
                    if (
                        not (all_images or rec.dangling)
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
                    events.record_image_removal(self.root, rec.id, report, *done)
            report.reclaimed += self._gc()
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
        cdir = self.root / "containers"
        if not cdir.is_dir():
            return out
        for entry in cdir.iterdir():
            try:
                cfg = json.loads((entry / "config.json").read_text())
            except (FileNotFoundError, ValueError):
                continue
            out.update(cfg.get("ChainIDs") or [])
        return out

    # -- containers -------------------------------------------------------------------
    # Thin delegation to runtime.containers (imported on first use, so that image
    # commands do not pay for it). Everything returns data; nothing prints.

    @property
    def containers(self) -> Containers:
        mgr = self.__dict__.get("_containers")
        if mgr is None:
            from tuidock.runtime.containers import Containers

            mgr = self.__dict__["_containers"] = Containers(self)
        return mgr

    def create_container(self, opts: CreateOptions) -> tuple[str, list[str]]:
        """`create`: (container ID, warnings). The image must be local (see `pull`)."""
        return self.containers.create(opts)

    def start_container(
        self, name: str, attach: bool = False, stdin: bool = False
    ) -> tuple[str, AttachClient | None]:
        """`start`: (ID, attach client if `attach`; it sees the output from the first byte)."""
        return self.containers.start(name, attach=attach, stdin=stdin)

    def run(
        self, opts: CreateOptions, attach: bool = False
    ) -> tuple[str, AttachClient | None, list[str]]:
        """`run` = create + start: (ID, attach client if `attach`, warnings).

        A failed start raises StartError (exit_code 125/126/127); with --rm the
        container is gone by then, as with Docker.
        """
        return self.containers.run(opts, attach=attach)

    def attach_container(
        self, name: str, stdin: bool = False, stdout: bool = True, stderr: bool = True
    ) -> AttachClient:
        return self.containers.attach(name, stdin=stdin, stdout=stdout, stderr=stderr)

    def stop_container(self, name: str, timeout: int | None = None) -> str:
        return self.containers.stop(name, timeout)

    def restart_container(self, name: str, timeout: int | None = None) -> str:
        return self.containers.restart(name, timeout)

    def kill_container(self, name: str, signal: str | int = "KILL") -> str:
        return self.containers.kill(name, signal)

    def remove_container(self, name: str, force: bool = False, volumes: bool = False) -> str:
        return self.containers.remove(name, force, volumes)

    def wait_container(self, name: str) -> int:
        return self.containers.wait(name)

    def container_logs(
        self,
        name: str,
        follow: bool = False,
        tail: int | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> Iterator[LogEntry]:
        return self.containers.logs(name, follow=follow, tail=tail, since=since, until=until)

    def rename_container(self, name: str, new_name: str) -> str:
        return self.containers.rename(name, new_name)

    def pause_container(self, name: str) -> str:
        return self.containers.pause(name)

    def unpause_container(self, name: str) -> str:
        return self.containers.unpause(name)

    def prune_containers(self, filters: PruneFilter | None = None) -> tuple[list[str], int]:
        """`container prune`: (removed IDs, bytes reclaimed)."""
        return self.containers.prune(filters)

    def list_containers(
        self, all: bool = False, filters: dict[str, list[str]] | None = None
    ) -> list[ContainerInfo]:
        return self.containers.list(all=all, filters=filters)

    def container(self, name: str) -> ContainerInfo:
        return self.containers.info(self.containers.resolve(name))

    def inspect_container(self, name: str) -> dict:
        return self.containers.inspect(name)

    def container_stats(self, name: str) -> CgroupStats:
        return self.containers.stats(name)  # type: ignore[return-value]

    def container_top(
        self, name: str, ps_args: list[str] | None = None
    ) -> tuple[list[str], list[list[str]]]:
        return self.containers.top(name, ps_args)


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


def default_engine() -> Engine:
    return Engine(Path(os.environ["TUIDOCK_ROOT"]) if os.environ.get("TUIDOCK_ROOT") else None)
