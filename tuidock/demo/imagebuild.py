"""Build small OCI images without Docker, from busybox-static, umoci and skopeo.

umoci does the ordinary work (layers from directories, config edits) so that
the images look like what a real tool produces; the few things umoci cannot
express (opaque markers next to ordinary entries, zstd layers, multi-platform
indexes, config fields it has no flag for) are written into the OCI layout
directly. Everything is pinned to a fixed timestamp so that rebuilding gives
the same layers.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import zstandard

BUSYBOX = Path("/bin/busybox")
INSTALL_HINT = "apt-get install docker-registry skopeo umoci busybox-static"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
IN_TOTO = "application/vnd.in-toto+json"
REF_NAME = "org.opencontainers.image.ref.name"

# Fixed so that layer and config digests only change when the content does.
EPOCH = 1704067200
EPOCH_ISO = "2024-01-01T00:00:00Z"
DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

Compression = Literal["gzip", "zstd", "none"]
PushFormat = Literal["oci", "v2s2"]

_LAYER_TYPES: dict[Compression, str] = {
    "gzip": OCI_LAYER_GZIP,
    "zstd": OCI_LAYER_ZSTD,
    "none": OCI_LAYER,
}

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""

GROUP = """\
root:x:0:
daemon:x:1:
tty:x:5:
www-data:x:33:
users:x:100:
nogroup:x:65534:
"""


class ImageBuildError(RuntimeError):
    """A build tool failed or is missing."""


def require_tools(*tools: str) -> None:
    """Fail with the apt-get line when a needed Debian tool is absent."""
    missing = [t for t in tools if shutil.which(t) is None]
    if not BUSYBOX.is_file():
        missing.append(str(BUSYBOX))
    if missing:
        raise ImageBuildError(f"missing {', '.join(missing)}: run `{INSTALL_HINT}`")


def run(cmd: Sequence[str | os.PathLike[str]], *, env: Mapping[str, str] | None = None) -> str:
    """Run a tool, returning stdout; a failure carries the tool's stderr."""
    argv = [os.fspath(c) for c in cmd]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    except FileNotFoundError as exc:
        raise ImageBuildError(f"{argv[0]} not found: run `{INSTALL_HINT}`") from exc
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise ImageBuildError(f"{' '.join(argv)} failed ({proc.returncode}): {detail}")
    return proc.stdout


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def host_platform() -> dict[str, str]:
    """The Go-style platform of this machine, which is what busybox-static runs on."""
    machine = platform.machine()
    table = {
        "x86_64": ("amd64", ""),
        "aarch64": ("arm64", ""),
        "armv7l": ("arm", "v7"),
        "armv6l": ("arm", "v6"),
        "i686": ("386", ""),
        "i386": ("386", ""),
        "ppc64le": ("ppc64le", ""),
        "s390x": ("s390x", ""),
        "riscv64": ("riscv64", ""),
    }
    arch, variant = table.get(machine, (machine, ""))
    plat = {"architecture": arch, "os": "linux"}
    if variant:
        plat["variant"] = variant
    return plat


def _pin_mtimes(root: Path) -> None:
    # Bottom-up, because creating entries bumps the parent's mtime.
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames + dirnames:
            os.utime(os.path.join(dirpath, name), (EPOCH, EPOCH), follow_symlinks=False)
        os.utime(dirpath, (EPOCH, EPOCH), follow_symlinks=False)


def busybox_rootfs(dest: Path) -> Path:
    """A minimal root filesystem: static busybox, its applets, users and groups.

    Built next to `dest` and renamed into place, so an existing `dest` is
    always complete and is reused as is.
    """
    if dest.is_dir():
        return dest
    require_tools()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    dirs = {
        "bin": 0o755,
        "sbin": 0o755,
        "usr": 0o755,
        "usr/bin": 0o755,
        "usr/sbin": 0o755,
        "etc": 0o755,
        "root": 0o700,
        "home": 0o755,
        "tmp": 0o1777,
        "var": 0o755,
        "var/tmp": 0o1777,
        "var/www": 0o755,
        "proc": 0o555,
        "sys": 0o555,
        "dev": 0o755,
    }
    tmp.mkdir(mode=0o755)
    os.chmod(tmp, 0o755)
    for rel, mode in dirs.items():
        (tmp / rel).mkdir(parents=True, exist_ok=True)
        # Explicit chmod: mkdir's mode is filtered by the caller's umask.
        os.chmod(tmp / rel, mode)
    shutil.copyfile(BUSYBOX, tmp / "bin/busybox")
    os.chmod(tmp / "bin/busybox", 0o755)
    for name, text in (("etc/passwd", PASSWD), ("etc/group", GROUP)):
        (tmp / name).write_text(text)
        os.chmod(tmp / name, 0o644)
    # Symlinks from the applet list rather than `busybox --install`, which needs
    # chroot and would put every applet into one directory.
    for rel in run([BUSYBOX, "--list-full"]).split():
        link = tmp / rel
        if rel == "bin/busybox" or link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink("/bin/busybox", link)
    _pin_mtimes(tmp)
    try:
        os.rename(tmp, dest)
    except OSError:
        # Another builder won the race; its tree is as good as ours.
        shutil.rmtree(tmp, ignore_errors=True)
        if not dest.is_dir():
            raise
    return dest


class LayerTar:
    """An uncompressed layer archive with exactly the headers asked for.

    For what umoci cannot produce: whiteouts and opaque markers placed among
    ordinary entries, hardlinks, fifos, xattrs, chosen owners.
    """

    def __init__(self, mtime: int = EPOCH) -> None:
        self._buf = io.BytesIO()
        self._tar = tarfile.TarFile(fileobj=self._buf, mode="w", format=tarfile.PAX_FORMAT)
        self._mtime = mtime

    def _info(self, path: str, kind: bytes, mode: int, uid: int, gid: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(path.strip("/"))
        info.type = kind
        info.mode = mode
        info.uid, info.gid = uid, gid
        info.uname = info.gname = ""
        info.mtime = self._mtime
        return info

    def dir(self, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> LayerTar:
        self._tar.addfile(self._info(path, tarfile.DIRTYPE, mode, uid, gid))
        return self

    def file(
        self,
        path: str,
        data: bytes | str = b"",
        mode: int = 0o644,
        uid: int = 0,
        gid: int = 0,
        xattrs: Mapping[str, str] | None = None,
    ) -> LayerTar:
        raw = data.encode() if isinstance(data, str) else data
        info = self._info(path, tarfile.REGTYPE, mode, uid, gid)
        info.size = len(raw)
        if xattrs:
            info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in xattrs.items()}
        self._tar.addfile(info, io.BytesIO(raw))
        return self

    def symlink(self, path: str, target: str) -> LayerTar:
        info = self._info(path, tarfile.SYMTYPE, 0o777, 0, 0)
        info.linkname = target
        self._tar.addfile(info)
        return self

    def hardlink(self, path: str, target: str) -> LayerTar:
        """`target` is a path inside the image, as tar stores it."""
        info = self._info(path, tarfile.LNKTYPE, 0o644, 0, 0)
        info.linkname = target.strip("/")
        self._tar.addfile(info)
        return self

    def fifo(self, path: str, mode: int = 0o644) -> LayerTar:
        self._tar.addfile(self._info(path, tarfile.FIFOTYPE, mode, 0, 0))
        return self

    def whiteout(self, path: str) -> LayerTar:
        """Hide `path` of lower layers."""
        parent, _, name = path.strip("/").rpartition("/")
        return self.file(f"{parent}/.wh.{name}" if parent else f".wh.{name}")

    def opaque(self, directory: str) -> LayerTar:
        """Hide every lower child of `directory`."""
        return self.file(f"{directory.strip('/')}/.wh..wh..opq")

    def tobytes(self) -> bytes:
        self._tar.close()
        return self._buf.getvalue()


def compress(data: bytes, compression: Compression) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if compression == "zstd":
        return zstandard.ZstdCompressor(level=3).compress(data)
    return data


def decompress(data: bytes, media_type: str) -> bytes:
    if media_type.endswith("gzip"):
        return gzip.decompress(data)
    if media_type.endswith("zstd"):
        # Streamed: frames written without a content size cannot be one-shot decoded.
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data))
        return reader.read()
    return data


def dir_to_tar(source: Path, target: str = "/") -> bytes:
    """An uncompressed layer tar of the tree `source`, rooted at `target` in the image.

    Entries are sorted so equal trees give equal bytes; hardlinks inside the
    tree become tar hardlinks; owners and modes are kept as on disk.
    """
    prefix = target.strip("/")

    def arcname(dirpath: str, name: str) -> str:
        rel = os.path.normpath(os.path.join(os.path.relpath(dirpath, source), name))
        return f"{prefix}/{rel}" if prefix else rel

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        # A root entry, as umoci and other tools write: unpackers must accept it.
        tar.add(source, arcname=prefix or ".", recursive=False)
        # os.walk descends into a directory after we add its entry: parents first.
        for dirpath, dirnames, filenames in os.walk(source):
            dirnames.sort()
            for name in sorted(filenames) + dirnames:
                tar.add(os.path.join(dirpath, name), arcname(dirpath, name), recursive=False)
    return buf.getvalue()


class OCILayout:
    """An OCI image layout directory: umoci for building, plain files for the rest."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    # --- umoci -----------------------------------------------------------------

    def init(self) -> OCILayout:
        if not (self.path / "oci-layout").exists():
            require_tools("umoci")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            run(["umoci", "init", "--layout", self.path])
        return self

    def _image(self, tag: str) -> str:
        return f"{self.path}:{tag}"

    def new(self, tag: str) -> None:
        run(["umoci", "new", "--image", self._image(tag)])

    def insert(
        self,
        tag: str,
        source: Path,
        target: str = "/",
        *,
        opaque: bool = False,
        history: str | None = None,
    ) -> None:
        """One new layer holding `source` at `target`.

        The tar is written here rather than by `umoci insert`: Debian's umoci
        0.4.7 sometimes ends small layers without the last padding and the
        end-of-archive blocks, which GNU tar, Go's archive/tar (Docker,
        Podman) and we all rightly refuse.
        """
        if opaque:
            raise ImageBuildError("insert(opaque=True) is not supported; use LayerTar.opaque")
        self.add_layer(tag, dir_to_tar(source, target), history=history)

    def insert_whiteout(self, tag: str, target: str, *, history: str | None = None) -> None:
        run(
            [
                "umoci",
                "insert",
                "--image",
                self._image(tag),
                *self._history(history),
                "--whiteout",
                target,
            ]
        )

    def add_layer(self, tag: str, layer: bytes | Path, *, history: str | None = None) -> None:
        """Append an uncompressed tar verbatim; umoci gzips it and records its diff_id."""
        if isinstance(layer, bytes):
            tar_path = self.path / f".layer-{os.getpid()}.tar"
            tar_path.write_bytes(layer)
        else:
            tar_path = layer
        try:
            run(
                [
                    "umoci",
                    "raw",
                    "add-layer",
                    "--image",
                    self._image(tag),
                    *self._history(history),
                    tar_path,
                ]
            )
        finally:
            if isinstance(layer, bytes):
                tar_path.unlink(missing_ok=True)

    def config(
        self,
        tag: str,
        *,
        cmd: Sequence[str] | None = None,
        entrypoint: Sequence[str] | None = None,
        env: Iterable[str] = (),
        workdir: str | None = None,
        exposed_ports: Iterable[str] = (),
        volumes: Iterable[str] = (),
        user: str | None = None,
        labels: Mapping[str, str] | None = None,
        stop_signal: str | None = None,
        architecture: str | None = None,
        os_name: str | None = None,
        history: str | None = None,
    ) -> None:
        """umoci config; Env entries are appended, Cmd/Entrypoint replaced."""
        args: list[str] = ["--created", EPOCH_ISO]
        for flag, values in (("--config.cmd", cmd), ("--config.entrypoint", entrypoint)):
            for value in values or ():
                args += [flag, value]
        for value in env:
            args += ["--config.env", value]
        for value in exposed_ports:
            args += ["--config.exposedports", value]
        for value in volumes:
            args += ["--config.volume", value]
        for key, value in (labels or {}).items():
            args += ["--config.label", f"{key}={value}"]
        for flag, single in (
            ("--config.workingdir", workdir),
            ("--config.user", user),
            ("--config.stopsignal", stop_signal),
            ("--architecture", architecture),
            ("--os", os_name),
        ):
            if single is not None:
                args += [flag, single]
        run(["umoci", "config", "--image", self._image(tag), *self._history(history), *args])

    @staticmethod
    def _history(created_by: str | None) -> list[str]:
        args = ["--history.created", EPOCH_ISO]
        if created_by:
            args += ["--history.created_by", created_by]
        return args

    # --- the layout's files ----------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        algo, _, hexpart = digest.partition(":")
        return self.path / "blobs" / algo / hexpart

    def write_blob(self, data: bytes) -> str:
        digest = sha256_digest(data)
        path = self.blob_path(digest)
        if not path.exists():
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return digest

    def read_blob(self, digest: str) -> bytes:
        return self.blob_path(digest).read_bytes()

    def read_json(self, digest: str) -> dict[str, Any]:
        return json.loads(self.read_blob(digest))

    def _index(self) -> dict[str, Any]:
        return json.loads((self.path / "index.json").read_text())

    def _write_index(self, index: dict[str, Any]) -> None:
        tmp = self.path / f".index.json.tmp-{os.getpid()}"
        tmp.write_bytes(canonical_json(index))
        os.replace(tmp, self.path / "index.json")

    def tags(self) -> list[str]:
        return [
            d.get("annotations", {}).get(REF_NAME, "")
            for d in (self._index().get("manifests") or [])
        ]

    def has(self, tag: str) -> bool:
        return (self.path / "index.json").exists() and tag in self.tags()

    def descriptor(self, tag: str) -> dict[str, Any]:
        for desc in self._index().get("manifests") or []:
            if desc.get("annotations", {}).get(REF_NAME) == tag:
                return desc
        raise ImageBuildError(f"no tag {tag!r} in {self.path}")

    def manifest(self, tag: str) -> dict[str, Any]:
        return self.read_json(self.descriptor(tag)["digest"])

    def image_config(self, tag: str) -> dict[str, Any]:
        return self.read_json(self.manifest(tag)["config"]["digest"])

    def set_tag(self, tag: str, descriptor: Mapping[str, Any]) -> dict[str, Any]:
        """Point `tag` at `descriptor`, replacing what it pointed at."""
        desc = dict(descriptor)
        desc["annotations"] = {**desc.get("annotations", {}), REF_NAME: tag}
        index = self._index()
        index["manifests"] = [
            d
            for d in (index.get("manifests") or [])
            if d.get("annotations", {}).get(REF_NAME) != tag
        ] + [desc]
        self._write_index(index)
        return desc

    def remove_tag(self, tag: str) -> None:
        index = self._index()
        index["manifests"] = [
            d
            for d in (index.get("manifests") or [])
            if d.get("annotations", {}).get(REF_NAME) != tag
        ]
        self._write_index(index)

    def copy_tag(self, src: str, dst: str) -> dict[str, Any]:
        desc = {k: v for k, v in self.descriptor(src).items() if k != "annotations"}
        return self.set_tag(dst, desc)

    def put_manifest(self, tag: str, manifest: dict[str, Any]) -> dict[str, Any]:
        """Store an image manifest under `tag`, always with its mediaType field.

        umoci 0.4 leaves the field out; current builders set it, and a pull
        should not depend on the registry's Content-Type alone.
        """
        body = {"schemaVersion": 2, "mediaType": OCI_MANIFEST}
        body.update({k: v for k, v in manifest.items() if k not in body})
        raw = canonical_json(body)
        digest = self.write_blob(raw)
        return self.set_tag(tag, {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(raw)})

    def put_index(
        self,
        tag: str,
        manifests: Sequence[Mapping[str, Any]],
        annotations: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": list(manifests),
        }
        if annotations:
            body["annotations"] = dict(annotations)
        raw = canonical_json(body)
        digest = self.write_blob(raw)
        return self.set_tag(tag, {"mediaType": OCI_INDEX, "digest": digest, "size": len(raw)})

    def finish(self, wip_tag: str, tag: str) -> dict[str, Any]:
        """Normalise the manifest and publish the work-in-progress tag as `tag`.

        Building under a scratch tag means a tag that exists is complete, so
        an interrupted build is simply redone.
        """
        desc = self.put_manifest(tag, self.manifest(wip_tag))
        self.remove_tag(wip_tag)
        return desc

    def edit_config(self, tag: str, edit: Callable[[dict[str, Any]], None]) -> None:
        """Change config fields umoci has no flag for (e.g. `variant`)."""
        manifest = self.manifest(tag)
        config = self.read_json(manifest["config"]["digest"])
        edit(config)
        raw = canonical_json(config)
        manifest["config"] = {
            **manifest["config"],
            "digest": self.write_blob(raw),
            "size": len(raw),
        }
        self.put_manifest(tag, manifest)

    def append_layer(
        self,
        tag: str,
        tar_bytes: bytes,
        *,
        compression: Compression = "gzip",
        history: str = "tuidock.demo append_layer",
    ) -> dict[str, Any]:
        """Append a layer compressed here (any media type, e.g. zstd)."""
        blob = compress(tar_bytes, compression)
        layer = {
            "mediaType": _LAYER_TYPES[compression],
            "digest": self.write_blob(blob),
            "size": len(blob),
        }
        manifest = self.manifest(tag)
        config = self.read_json(manifest["config"]["digest"])
        config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
        config["rootfs"].setdefault("diff_ids", []).append(sha256_digest(tar_bytes))
        config.setdefault("history", []).append({"created": EPOCH_ISO, "created_by": history})
        raw = canonical_json(config)
        manifest["config"] = {
            **manifest["config"],
            "digest": self.write_blob(raw),
            "size": len(raw),
        }
        manifest["layers"] = [*manifest.get("layers", []), layer]
        self.put_manifest(tag, manifest)
        return layer

    def uncompressed_layers(self, tag: str) -> list[bytes]:
        return [
            decompress(self.read_blob(layer["digest"]), layer["mediaType"])
            for layer in self.manifest(tag)["layers"]
        ]

    def recompress(self, src_tag: str, dst_tag: str, compression: Compression) -> None:
        """Copy an image with every layer recompressed; the config (diff_ids) is unchanged."""
        manifest = self.manifest(src_tag)
        layers = []
        for layer, tar_bytes in zip(
            manifest["layers"], self.uncompressed_layers(src_tag), strict=True
        ):
            blob = compress(tar_bytes, compression)
            layers.append(
                {
                    **layer,
                    "mediaType": _LAYER_TYPES[compression],
                    "digest": self.write_blob(blob),
                    "size": len(blob),
                }
            )
        self.put_manifest(dst_tag, {**manifest, "layers": layers})

    # --- skopeo ----------------------------------------------------------------

    def push(
        self,
        tag: str,
        dest: str,
        fmt: PushFormat = "oci",
        *,
        all_platforms: bool = False,
        creds: str | None = None,
        cert_dir: Path | None = None,
        tls_verify: bool | None = None,
        preserve_digests: bool = False,
    ) -> None:
        """skopeo copy oci:LAYOUT:TAG docker://HOST:PORT/NAME:TAG.

        `preserve_digests` forbids skopeo to rewrite anything, which keeps
        hand-written indexes, zstd and in-toto layers byte for byte.
        """
        require_tools("skopeo")
        if tls_verify is None:
            tls_verify = cert_dir is not None
        # --insecure-policy: the host's policy.json is none of our business.
        cmd: list[str | os.PathLike[str]] = [
            "skopeo",
            "copy",
            "--insecure-policy",
            "--quiet",
            f"--dest-tls-verify={'true' if tls_verify else 'false'}",
        ]
        if fmt == "v2s2":
            cmd += ["--format", "v2s2"]
        if all_platforms:
            cmd.append("--all")
        if preserve_digests:
            cmd.append("--preserve-digests")
        if creds:
            cmd += ["--dest-creds", creds]
        if cert_dir is not None:
            cmd += ["--dest-cert-dir", cert_dir]
        target = dest if dest.startswith("docker://") else f"docker://{dest}"
        run([*cmd, f"oci:{self.path}:{tag}", target])


# --- the demo set --------------------------------------------------------------


@dataclass(frozen=True)
class DemoImage:
    """An image of the demo set: `name:tag` in a registry, `layout_tag` in the layout."""

    name: str
    tag: str
    layout_tag: str


DEMO_IMAGES = (
    # Pushed under the names Docker Hub uses, since the demo registry mirrors docker.io.
    DemoImage("library/busybox", "latest", "busybox"),
    DemoImage("demo/multilayer", "latest", "multilayer"),
)

HELLO_SCRIPT = """\
#!/bin/sh
echo "Hello from tuidock demo/multilayer"
echo "files in /srv/demo: $(ls /srv/demo | tr '\\n' ' ')"
echo "cache: $(ls /srv/demo/cache | tr '\\n' ' ')"
"""


def demo_layout(work: Path) -> OCILayout:
    return OCILayout(work / "oci").init()


def build_busybox(work: Path) -> tuple[OCILayout, str]:
    """busybox: one layer, Cmd ["sh"]; cached in `work`."""
    layout = demo_layout(work)
    tag = "busybox"
    if layout.has(tag):
        return layout, tag
    rootfs = busybox_rootfs(work / "busybox-rootfs")
    wip = f"{tag}.wip"
    layout.new(wip)
    plat = host_platform()
    layout.insert(wip, rootfs, "/", history="COPY busybox rootfs /")
    layout.config(
        wip,
        cmd=["sh"],
        env=[DEFAULT_PATH_ENV],
        architecture=plat["architecture"],
        os_name="linux",
        history='CMD ["sh"]',
    )
    if "variant" in plat:
        layout.edit_config(wip, lambda c: c.__setitem__("variant", plat["variant"]))
    layout.finish(wip, tag)
    return layout, tag


def build_multilayer(work: Path) -> tuple[OCILayout, str]:
    """demo/multilayer: busybox + a layer of files + a layer with a whiteout and an opaque dir.

    Running it prints which files survived: `remove-me.txt` and the lower
    `cache/a.txt`, `cache/b.txt` must be gone, `cache/c.txt` present.
    """
    layout, base = build_busybox(work)
    tag = "multilayer"
    if layout.has(tag):
        return layout, tag
    wip = f"{tag}.wip"
    layout.copy_tag(base, wip)

    stage = work / "multilayer-files"
    shutil.rmtree(stage, ignore_errors=True)
    (stage / "srv/demo/cache").mkdir(parents=True)
    (stage / "usr/local/bin").mkdir(parents=True)
    (stage / "srv/demo/hello.txt").write_text("hello from the second layer\n")
    (stage / "srv/demo/remove-me.txt").write_text("deleted by the third layer\n")
    (stage / "srv/demo/cache/a.txt").write_text("a\n")
    (stage / "srv/demo/cache/b.txt").write_text("b\n")
    (stage / "usr/local/bin/hello").write_text(HELLO_SCRIPT)
    for path in stage.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() or path.name == "hello" else 0o644)
    os.chmod(stage, 0o755)
    _pin_mtimes(stage)
    layout.insert(wip, stage, "/", history="COPY files /")
    shutil.rmtree(stage)

    top = (
        LayerTar()
        .whiteout("/srv/demo/remove-me.txt")
        .opaque("/srv/demo/cache")
        .file("/srv/demo/cache/c.txt", "c\n")
        .tobytes()
    )
    layout.add_layer(wip, top, history="RUN rm remove-me.txt && rm -rf cache/* && touch c.txt")
    layout.config(
        wip,
        cmd=["/usr/local/bin/hello"],
        env=["DEMO=multilayer"],
        workdir="/srv/demo",
        exposed_ports=["8080/tcp"],
        labels={"org.opencontainers.image.title": "tuidock demo/multilayer"},
        history='CMD ["/usr/local/bin/hello"]',
    )
    layout.finish(wip, tag)
    return layout, tag


def build_demo_images(work: Path) -> tuple[OCILayout, tuple[DemoImage, ...]]:
    """Build (or reuse from `work`) every demo image into one OCI layout."""
    build_busybox(work)
    layout, _ = build_multilayer(work)
    return layout, DEMO_IMAGES


def push_demo_images(work: Path, host: str, **push_options: Any) -> list[str]:
    """Push the demo set to `host`; returns the references pushed."""
    layout, images = build_demo_images(work)
    refs = []
    for image in images:
        ref = f"{host}/{image.name}:{image.tag}"
        layout.push(image.layout_tag, ref, **push_options)
        refs.append(ref)
    return refs
