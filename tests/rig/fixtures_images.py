"""The fixture images, and what a registry really serves for each of them.

Built with tuidock.demo.imagebuild into one OCI layout (cached in a work
dir), pushed with skopeo, then described from the registry's own bytes:
digests are hashes of what `skopeo inspect --raw` returns, never of
re-serialised JSON.

Fixtures (repository names in the registry, tag `latest`):

- `oci/busybox`      OCI manifest, one gzip layer, Cmd ["sh"]
- `v2s2/busybox`     the same image pushed as a Docker v2 schema 2 manifest
- `multi/busybox`    OCI index: linux/amd64, linux/arm64/v8, and an
                     unknown/unknown attestation manifest (in-toto layer)
- `layers/whiteout`  busybox + a layer of special entries + a layer with a
                     whiteout and an opaque directory (see WHITEOUT_EXPECT)
- `zstd/busybox`     OCI manifest whose layers are tar+zstd
- `busybox`, `demo/multilayer`  the README's demo set
"""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuidock.demo import imagebuild
from tuidock.demo.imagebuild import LayerTar, OCILayout

if TYPE_CHECKING:
    from rig.tokenserver import TokenServer
    from tuidock.demo.registry import LocalRegistry

INDEX_TYPES = (imagebuild.OCI_INDEX, imagebuild.DOCKER_MANIFEST_LIST)

# What a correct unpack of layers/whiteout:latest leaves in the rootfs.
WHITEOUT_EXPECT: dict[str, Any] = {
    "present": [
        "/bin/busybox",
        "/keep/file",
        "/opq/new",
        "/hl/one",
        "/hl/two",
        "/abslink",
        "/suid",
        "/fifo",
        "/owned",
        "/xattr",
    ],
    "absent": ["/gone", "/opq/a", "/opq/sub", "/opq/sub/b"],
    "hardlinks": [("/hl/one", "/hl/two")],
    "symlinks": {"/abslink": "/etc/passwd"},
    "modes": {"/suid": 0o4755, "/owned": 0o640, "/opq": 0o750},
    "owners": {"/owned": (33, 33)},
    "fifos": ["/fifo"],
    "xattrs": {"/xattr": {"user.tuidock": "fixture"}},
    "contents": {"/keep/file": "kept\n", "/opq/new": "new\n", "/hl/one": "linked\n"},
    # In the top layer, `opq/new` comes BEFORE `opq/.wh..wh..opq`: the marker
    # must hide only lower children, whatever its position in the tar.
    "notes": "no .wh.* entry may appear in the rootfs",
}

MULTI_PLATFORMS = ("linux/amd64", "linux/arm64/v8")
ATTESTATION_PLATFORM = "unknown/unknown"


@dataclass(frozen=True)
class PlatformImage:
    """One entry of an index, as the registry serves it."""

    platform: str
    media_type: str
    manifest_digest: str
    config_digest: str
    diff_ids: tuple[str, ...]
    layer_digests: tuple[str, ...]
    layer_media_types: tuple[str, ...]
    annotations: dict[str, str]
    manifest: bytes
    config: bytes

    @property
    def image_id(self) -> str:
        return self.config_digest


@dataclass(frozen=True)
class FixtureImage:
    """A pushed image: its reference and the digests a correct pull must reproduce.

    For an index, `config_digest`, `diff_ids` and the layer fields are empty
    and `platforms` maps "os/arch[/variant]" to each entry.
    """

    name: str
    tag: str
    host: str
    media_type: str
    manifest_digest: str
    config_digest: str
    diff_ids: tuple[str, ...]
    layer_digests: tuple[str, ...]
    layer_media_types: tuple[str, ...]
    manifest: bytes
    config: bytes
    platforms: dict[str, PlatformImage] = field(default_factory=dict)
    expect: dict[str, Any] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        return f"{self.host}/{self.name}:{self.tag}"

    @property
    def digest_reference(self) -> str:
        return f"{self.host}/{self.name}@{self.manifest_digest}"

    @property
    def image_id(self) -> str:
        """What `docker images --no-trunc` shows: the config digest."""
        return self.config_digest

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


@dataclass
class RegistryHandle:
    """What a registry fixture gives a test."""

    registry: LocalRegistry
    images: dict[str, FixtureImage]
    user: str | None = None
    password: str | None = None
    ca: Path | None = None
    cert_dir: Path | None = None
    token_server: TokenServer | None = None
    public_repo: str | None = None
    private_repo: str | None = None

    @property
    def host(self) -> str:
        return self.registry.host

    @property
    def url(self) -> str:
        return self.registry.url

    @property
    def creds(self) -> str | None:
        return f"{self.user}:{self.password}" if self.user else None

    def ref(self, name: str, tag: str = "latest") -> str:
        return f"{self.host}/{name}:{tag}"


# --- building ------------------------------------------------------------------


def _platform_layer(platform: str) -> bytes:
    return LayerTar().file("/platform", platform + "\n").tobytes()


def _set_platform(config: dict[str, Any], plat: dict[str, str]) -> None:
    config.pop("variant", None)
    config.update(plat)


def _build_multi(layout: OCILayout) -> None:
    entries = []
    for platform in MULTI_PLATFORMS:
        _os, arch, *variant = platform.split("/")
        wip = f"multi.{arch}.wip"
        layout.copy_tag("busybox", wip)
        layout.add_layer(wip, _platform_layer(platform), history=f"COPY platform ({platform})")
        layout.config(
            wip,
            architecture=arch,
            os_name="linux",
            labels={"org.tuidock.fixture": "multi", "org.tuidock.platform": platform},
        )

        plat = {"architecture": arch, "os": "linux"}
        if variant:
            plat["variant"] = variant[0]
        # Whatever the host's busybox config said, the entry's platform wins.
        layout.edit_config(wip, functools.partial(_set_platform, plat=plat))
        desc = layout.finish(wip, f"multi.{arch}")
        entries.append(
            {
                "mediaType": desc["mediaType"],
                "digest": desc["digest"],
                "size": desc["size"],
                "platform": plat,
            }
        )

    # The attestation manifest as buildx makes it: in-toto layer, unknown platform.
    amd64 = entries[0]["digest"]
    statement = imagebuild.canonical_json(
        {
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": "https://spdx.dev/Document",
            "subject": [
                {
                    "name": "pkg:docker/multi/busybox@latest?platform=linux%2Famd64",
                    "digest": {"sha256": amd64.split(":", 1)[1]},
                }
            ],
            "predicate": {"spdxVersion": "SPDX-2.3", "name": "tuidock fixture"},
        }
    )
    statement_digest = layout.write_blob(statement)
    att_config = imagebuild.canonical_json(
        {
            "architecture": "unknown",
            "os": "unknown",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [statement_digest]},
        }
    )
    att_desc = layout.put_manifest(
        "multi.attestation",
        {
            "config": {
                "mediaType": imagebuild.OCI_CONFIG,
                "digest": layout.write_blob(att_config),
                "size": len(att_config),
            },
            "layers": [
                {
                    "mediaType": imagebuild.IN_TOTO,
                    "digest": statement_digest,
                    "size": len(statement),
                    "annotations": {"in-toto.io/predicate-type": "https://spdx.dev/Document"},
                }
            ],
        },
    )
    entries.append(
        {
            "mediaType": att_desc["mediaType"],
            "digest": att_desc["digest"],
            "size": att_desc["size"],
            "platform": {"architecture": "unknown", "os": "unknown"},
            "annotations": {
                "vnd.docker.reference.digest": amd64,
                "vnd.docker.reference.type": "attestation-manifest",
            },
        }
    )
    layout.put_index("multi", entries)


def _build_whiteout(layout: OCILayout) -> None:
    wip = "whiteout.wip"
    layout.copy_tag("busybox", wip)
    middle = (
        LayerTar()
        .dir("/keep")
        .file("/keep/file", "kept\n")
        .dir("/opq")
        .file("/opq/a", "lower a\n")
        .dir("/opq/sub")
        .file("/opq/sub/b", "lower b\n")
        .file("/gone", "whited out by the top layer\n")
        .dir("/hl")
        .file("/hl/one", "linked\n")
        .hardlink("/hl/two", "/hl/one")
        .symlink("/abslink", "/etc/passwd")
        .file("/suid", "#!/bin/sh\nid\n", mode=0o4755)
        .fifo("/fifo")
        .file("/owned", "www-data's\n", mode=0o640, uid=33, gid=33)
        .file("/xattr", "has an xattr\n", xattrs={"user.tuidock": "fixture"})
        .tobytes()
    )
    layout.add_layer(wip, middle, history="special entries")
    top = (
        LayerTar()
        .dir("/opq", mode=0o750)
        .file("/opq/new", "new\n")
        .opaque("/opq")
        .whiteout("/gone")
        .tobytes()
    )
    layout.add_layer(wip, top, history="whiteout /gone, opaque /opq")
    layout.config(wip, cmd=["sh"], labels={"org.tuidock.fixture": "whiteout"})
    layout.finish(wip, "whiteout")


def _build_zstd(layout: OCILayout) -> None:
    wip = "zstd.wip"
    layout.recompress("busybox", wip, "zstd")
    layout.append_layer(
        wip,
        LayerTar().file("/compression", "zstd\n").tobytes(),
        compression="zstd",
        history="COPY compression /",
    )
    layout.edit_config(
        wip,
        lambda c: (
            c.setdefault("config", {})
            .setdefault("Labels", {})
            .update({"org.tuidock.fixture": "zstd"})
        ),
    )
    layout.finish(wip, "zstd")


def build_fixture_layout(work: Path) -> OCILayout:
    """Every fixture image as a tag of one OCI layout in `work` (reused when built)."""
    imagebuild.require_tools("umoci", "skopeo")
    layout, _ = imagebuild.build_demo_images(work)
    for tag, build in (
        ("multi", _build_multi),
        ("whiteout", _build_whiteout),
        ("zstd", _build_zstd),
    ):
        if not layout.has(tag):
            build(layout)
    return layout


# registry name -> (layout tag, push options, expectations)
PUSH_PLAN: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "oci/busybox": ("busybox", {"preserve_digests": True}, {}),
    "v2s2/busybox": ("busybox", {"fmt": "v2s2"}, {}),
    "multi/busybox": ("multi", {"all_platforms": True, "preserve_digests": True}, {}),
    "layers/whiteout": ("whiteout", {"preserve_digests": True}, WHITEOUT_EXPECT),
    "zstd/busybox": ("zstd", {"preserve_digests": True}, {}),
    "busybox": ("busybox", {"preserve_digests": True}, {}),
    "demo/multilayer": ("multilayer", {"preserve_digests": True}, {}),
}


def push_fixtures(
    layout: OCILayout,
    host: str,
    names: dict[str, str] | None = None,
    *,
    creds: str | None = None,
    cert_dir: Path | None = None,
) -> dict[str, FixtureImage]:
    """Push fixtures and describe them from the registry.

    `names` maps registry names to PUSH_PLAN keys (default: every fixture
    under its own name), so the same image can be pushed as e.g. `private/busybox`.
    """
    names = names or {name: name for name in PUSH_PLAN}
    images = {}
    for name, plan_key in names.items():
        layout_tag, options, expect = PUSH_PLAN[plan_key]
        ref = f"{host}/{name}:latest"
        layout.push(layout_tag, ref, creds=creds, cert_dir=cert_dir, **options)
        images[name] = describe(host, name, "latest", creds=creds, cert_dir=cert_dir, expect=expect)
    return images


# --- describing ------------------------------------------------------------------


def skopeo_inspect(
    ref: str, *, config: bool = False, creds: str | None = None, cert_dir: Path | None = None
) -> bytes:
    """Raw bytes the registry serves for a manifest (or its config)."""
    cmd = ["skopeo", "inspect", "--raw", f"--tls-verify={'true' if cert_dir else 'false'}"]
    if config:
        cmd.append("--config")
    if creds:
        cmd += ["--creds", creds]
    if cert_dir:
        cmd += ["--cert-dir", str(cert_dir)]
    proc = subprocess.run([*cmd, f"docker://{ref}"], capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"skopeo inspect {ref}: {proc.stderr.decode().strip()}")
    return proc.stdout


def _digest(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _manifest_fields(raw_manifest: bytes, raw_config: bytes) -> dict[str, Any]:
    manifest = json.loads(raw_manifest)
    config = json.loads(raw_config)
    layers = manifest.get("layers", [])
    return {
        "manifest_digest": _digest(raw_manifest),
        "config_digest": _digest(raw_config),
        "diff_ids": tuple(config.get("rootfs", {}).get("diff_ids", [])),
        "layer_digests": tuple(layer["digest"] for layer in layers),
        "layer_media_types": tuple(layer["mediaType"] for layer in layers),
        "manifest": raw_manifest,
        "config": raw_config,
    }


def _media_type(manifest: dict[str, Any]) -> str:
    if "mediaType" in manifest:
        return str(manifest["mediaType"])
    return imagebuild.OCI_INDEX if "manifests" in manifest else imagebuild.OCI_MANIFEST


def platform_key(platform: dict[str, str]) -> str:
    parts = [platform.get("os", ""), platform.get("architecture", "")]
    if platform.get("variant"):
        parts.append(platform["variant"])
    return "/".join(parts)


def describe(
    host: str,
    name: str,
    tag: str = "latest",
    *,
    creds: str | None = None,
    cert_dir: Path | None = None,
    expect: dict[str, Any] | None = None,
) -> FixtureImage:
    ref = f"{host}/{name}:{tag}"
    raw = skopeo_inspect(ref, creds=creds, cert_dir=cert_dir)
    manifest = json.loads(raw)
    media_type = _media_type(manifest)
    if media_type not in INDEX_TYPES:
        raw_config = skopeo_inspect(ref, config=True, creds=creds, cert_dir=cert_dir)
        return FixtureImage(
            name=name,
            tag=tag,
            host=host,
            media_type=media_type,
            expect=dict(expect or {}),
            **_manifest_fields(raw, raw_config),
        )
    platforms = {}
    for entry in manifest["manifests"]:
        child_ref = f"{host}/{name}@{entry['digest']}"
        child_raw = skopeo_inspect(child_ref, creds=creds, cert_dir=cert_dir)
        child_config = skopeo_inspect(child_ref, config=True, creds=creds, cert_dir=cert_dir)
        key = platform_key(entry.get("platform", {}))
        platforms[key] = PlatformImage(
            platform=key,
            media_type=_media_type(json.loads(child_raw)),
            annotations=dict(entry.get("annotations", {})),
            **_manifest_fields(child_raw, child_config),
        )
    return FixtureImage(
        name=name,
        tag=tag,
        host=host,
        media_type=media_type,
        manifest_digest=_digest(raw),
        config_digest="",
        diff_ids=(),
        layer_digests=(),
        layer_media_types=(),
        manifest=raw,
        config=b"",
        platforms=platforms,
        expect=dict(expect or {}),
    )
