"""`tuidock commit`: a container's changes (its overlay upper dir) become an image layer.

The upper dir holds the changes in overlay form; a layer tar wants them in
the OCI form, so a whiteout (0/0 character device) NAME is written as an
empty `.wh.NAME` and an opaque directory (trusted.overlay.opaque=y) gets a
`.wh..wh..opq` entry. Files the runtime made only to mount over (/etc/hosts,
/etc/hostname, /etc/resolv.conf, the /dev /proc /sys mount points, volume
targets) are not the container's content and are left out when the image
has no such path. The new image is the container's image plus this layer,
registered by tarimport.register_layer_image (shared with `import`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tarfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tuidock.core import reference as refmod
from tuidock.core.status import ContainerStatus
from tuidock.errors import TuidockError
from tuidock.runtime.container import fs as ctrfs
from tuidock.runtime.image.tarimport import apply_changes, register_layer_image
from tuidock.runtime.store import events, scratch

if TYPE_CHECKING:
    from tuidock.runtime.container.service import Containers

CHUNK = 1 << 20
OPAQUE_MARKER = ".wh..wh..opq"


def _now() -> str:
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


def write_layer(upper: Path, out_path: str, skip: set[str]) -> str:
    """The upper dir as an OCI layer tar at `out_path`; its diff ID (sha256 of the tar)."""
    root = str(upper)
    with (
        open(out_path, "wb") as out,
        tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, root)
            rel_dir = "" if rel_dir == "." else rel_dir
            # Runtime-only directories are not walked into (nothing of the container's).
            dirnames[:] = [d for d in dirnames if _join(rel_dir, d) not in skip]
            if rel_dir and ctrfs.is_opaque(dirpath):
                tar.addfile(_empty(_join(rel_dir, OPAQUE_MARKER)))
            for name in sorted(dirnames + filenames):
                rel = _join(rel_dir, name)
                if rel in skip:
                    continue
                path = os.path.join(dirpath, name)
                st = os.lstat(path)
                if ctrfs.is_whiteout(st):
                    tar.addfile(_empty(_join(rel_dir, ".wh." + name)))
                    continue
                info = tar.gettarinfo(path, arcname=rel)
                info.uname = info.gname = ""  # host names mean nothing in the image
                if info.isreg():
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
    digest = hashlib.sha256()
    with open(out_path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def _join(a: str, b: str) -> str:
    return f"{a}/{b}" if a else b


def _empty(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = int(time.time())
    return info


def _runtime_only(upper: Path, lowers: list[Path], config: dict) -> set[str]:
    """Upper-dir paths that exist only because the runtime mounted something there.

    A mount target is created in the upper dir when the image lacks it; if the
    image has it, nothing is copied up by a bind mount over it.
    """
    candidates = set(ctrfs.RUNTIME_PATHS)
    for m in config.get("Mounts") or []:
        candidates.add(os.path.normpath(m["Destination"]).lstrip("/"))
    out = set()
    for rel in candidates:
        st = _lstat(upper / rel)
        if st is None or ctrfs.lower_lookup(lowers, rel) is not None:
            continue
        # A runtime-made file is empty and a mount point directory is left as made.
        if stat.S_ISDIR(st.st_mode) or (stat.S_ISREG(st.st_mode) and st.st_size == 0):
            out.add(rel)
    return out


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def commit(
    containers: Containers,
    ref: str,
    reference: str | None = None,
    message: str = "",
    author: str = "",
    changes: list[str] | None = None,
    pause: bool = True,
) -> str:
    """Make an image of container `ref`'s filesystem changes; its IMAGE ID."""
    overrides = apply_changes(changes or [])  # refused before any work
    tag = None
    if reference:
        parsed = refmod.parse(reference)
        if parsed.digest:
            raise TuidockError(f"refusing to create a tag with a digest reference: {reference}")
        tag = str(parsed)
    engine = containers.images
    cid = containers.resolve(ref)
    cconfig = containers.store.read_config(cid)
    layers = ctrfs.ContainerLayers.of(containers, cid)
    if not layers.lowers:
        raise TuidockError("commit needs a container on overlayfs (its changes in an upper dir)")
    base = engine.images.snapshot().resolve(cconfig["Image"])
    image_config = engine.image_config(base)

    paused = False
    if pause and ContainerStatus.of(containers.store.state(cid)).can_pause:
        # A frozen container cannot change files while its layer is read; the
        # lease makes a reader thaw it should this process be killed meanwhile.
        containers.pause(cid, lease=True)
        paused = True
    try:
        with scratch.temp_dir(engine.root, "commit") as work:
            raw_path = os.path.join(work, "layer.tar")
            skip = _runtime_only(layers.upper, layers.lowers, cconfig)
            diff_id = write_layer(layers.upper, raw_path, skip)
            if paused:
                with contextlib.suppress(TuidockError):
                    containers.unpause(cid)
                paused = False
            created = _now()
            ccfg = dict(image_config.get("config") or {})
            ctr = cconfig.get("Config") or {}
            # Docker's commit keeps the container's run settings as the new defaults.
            for key in ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels"):
                if key in ctr and ctr[key] is not None:
                    ccfg[key] = ctr[key]
            ccfg.pop("Hostname", None)
            for key, value in overrides.items():
                if key in ("Labels", "ExposedPorts", "Volumes"):
                    ccfg[key] = {**(ccfg.get(key) or {}), **value}
                elif key == "Env":
                    names = {e.partition("=")[0] for e in value}
                    old = [e for e in ccfg.get("Env") or [] if e.partition("=")[0] not in names]
                    ccfg["Env"] = old + value
                else:
                    ccfg[key] = value
            config = {
                k: v for k, v in image_config.items() if k not in ("rootfs", "history", "config")
            }
            config.update(
                created=created,
                config=ccfg,
                container=cid,
                history=[
                    *(image_config.get("history") or []),
                    {
                        "created": created,
                        **({"author": author} if author else {}),
                        "created_by": " ".join([cconfig["Path"], *cconfig.get("Args", [])]),
                        **({"comment": message} if message else {}),
                    },
                ],
            )
            for key, value in (("author", author), ("comment", message)):
                if value:
                    config[key] = value
                else:
                    config.pop(key, None)
            image_id = register_layer_image(engine, raw_path, diff_id, base, config, tag)
            attrs = {"comment": message, "imageID": image_id, "imageRef": tag or ""}
            events.record_container(engine.root, "commit", cid, cconfig, **attrs)
            return image_id
    finally:
        if paused:
            with contextlib.suppress(TuidockError):
                containers.unpause(cid)
