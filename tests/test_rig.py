"""The test rig is real: real registries, real auth, and digests that match the bytes served."""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import io
import json
import os
import re
import socket
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
import requests
from rig.fixtures_images import RegistryHandle, skopeo_inspect

from tuidock.demo import imagebuild
from tuidock.demo import registry as demo_registry
from tuidock.demo.imagebuild import decompress
from tuidock.demo.registry import LocalRegistry
from tuidock.runtime.store import paths

ACCEPT = ", ".join(
    [
        imagebuild.OCI_INDEX,
        imagebuild.OCI_MANIFEST,
        imagebuild.DOCKER_MANIFEST_LIST,
        imagebuild.DOCKER_MANIFEST,
    ]
)

EXPECTED_TYPES = {
    "oci/busybox": (imagebuild.OCI_MANIFEST, [imagebuild.OCI_LAYER_GZIP]),
    "v2s2/busybox": (imagebuild.DOCKER_MANIFEST, [imagebuild.DOCKER_LAYER_GZIP]),
    "multi/busybox": (imagebuild.OCI_INDEX, []),
    "layers/whiteout": (imagebuild.OCI_MANIFEST, [imagebuild.OCI_LAYER_GZIP] * 3),
    "zstd/busybox": (imagebuild.OCI_MANIFEST, [imagebuild.OCI_LAYER_ZSTD] * 2),
    "busybox": (imagebuild.OCI_MANIFEST, [imagebuild.OCI_LAYER_GZIP]),
    "demo/multilayer": (imagebuild.OCI_MANIFEST, [imagebuild.OCI_LAYER_GZIP] * 3),
}


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def get_blob(handle: RegistryHandle, name: str, digest: str, **kw: object) -> bytes:
    resp = requests.get(f"{handle.url}/v2/{name}/blobs/{digest}", timeout=10, **kw)
    resp.raise_for_status()
    return resp.content


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Quoted params of a WWW-Authenticate header; commas inside quotes stay put."""
    scheme, _, rest = header.partition(" ")
    return scheme, dict(re.findall(r'(\w+)="([^"]*)"', rest))


def layer_members(blob: bytes, media_type: str) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(decompress(blob, media_type))) as tar:
        return tar.getmembers()


# --- the plain registry and its fixture images --------------------------------


def test_plain_registry_answers_v2(registry: RegistryHandle) -> None:
    resp = requests.get(f"{registry.url}/v2/", timeout=5)
    assert resp.status_code == 200
    assert resp.json() == {}
    assert resp.headers["Docker-Distribution-Api-Version"] == "registry/2.0"


@pytest.mark.parametrize("name", sorted(EXPECTED_TYPES))
def test_fixture_matches_registry_bytes(registry: RegistryHandle, name: str) -> None:
    """Manifest, config and layer digests and diff_ids hash the bytes the registry serves."""
    image = registry.images[name]
    media_type, layer_types = EXPECTED_TYPES[name]
    assert image.reference == f"{registry.host}/{name}:latest"

    raw = skopeo_inspect(image.reference)
    assert json.loads(raw)["mediaType"] == media_type == image.media_type
    assert sha256(raw) == image.manifest_digest

    resp = requests.get(
        f"{registry.url}/v2/{name}/manifests/latest", headers={"Accept": ACCEPT}, timeout=10
    )
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == media_type
    assert resp.headers["Docker-Content-Digest"] == image.manifest_digest
    assert resp.content == image.manifest
    if image.is_index:
        assert image.platforms
        return

    assert list(image.layer_media_types) == layer_types
    assert len(image.diff_ids) == len(layer_types)
    config = get_blob(registry, name, image.config_digest)
    assert sha256(config) == image.config_digest == image.image_id
    for digest, layer_type, diff_id in zip(
        image.layer_digests, image.layer_media_types, image.diff_ids, strict=True
    ):
        blob = get_blob(registry, name, digest)
        assert sha256(blob) == digest
        assert sha256(decompress(blob, layer_type)) == diff_id


def test_v2s2_is_the_oci_image_in_docker_form(registry: RegistryHandle) -> None:
    oci, v2s2 = registry.images["oci/busybox"], registry.images["v2s2/busybox"]
    assert oci.manifest_digest != v2s2.manifest_digest
    # Same config bytes, so the same IMAGE ID, as Docker would show.
    assert oci.image_id == v2s2.image_id
    assert oci.diff_ids == v2s2.diff_ids
    assert json.loads(v2s2.manifest)["config"]["mediaType"] == imagebuild.DOCKER_CONFIG
    assert json.loads(oci.config)["config"]["Cmd"] == ["sh"]


def test_multi_arch_index(registry: RegistryHandle) -> None:
    image = registry.images["multi/busybox"]
    index = json.loads(image.manifest)
    assert [m["platform"] for m in index["manifests"]] == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
        {"architecture": "unknown", "os": "unknown"},
    ]
    assert set(image.platforms) == {"linux/amd64", "linux/arm64/v8", "unknown/unknown"}
    for key, arch, variant in (("linux/amd64", "amd64", None), ("linux/arm64/v8", "arm64", "v8")):
        plat = image.platforms[key]
        config = json.loads(plat.config)
        assert (config["architecture"], config.get("variant")) == (arch, variant)
        # Each entry is a real manifest the registry serves by digest.
        resp = requests.get(
            f"{registry.url}/v2/multi/busybox/manifests/{plat.manifest_digest}",
            headers={"Accept": ACCEPT},
            timeout=10,
        )
        assert sha256(resp.content) == plat.manifest_digest
        top = get_blob(registry, "multi/busybox", plat.layer_digests[-1])
        with tarfile.open(fileobj=io.BytesIO(decompress(top, plat.layer_media_types[-1]))) as t:
            member = t.extractfile("platform")
            assert member is not None
            assert member.read().decode().strip() == key
    assert image.platforms["linux/amd64"].image_id != image.platforms["linux/arm64/v8"].image_id
    att = image.platforms["unknown/unknown"]
    assert att.annotations["vnd.docker.reference.type"] == "attestation-manifest"
    assert att.annotations["vnd.docker.reference.digest"] == (
        image.platforms["linux/amd64"].manifest_digest
    )
    assert att.layer_media_types == (imagebuild.IN_TOTO,)


def test_whiteout_layers(registry: RegistryHandle) -> None:
    image = registry.images["layers/whiteout"]
    base, middle, top = (
        layer_members(get_blob(registry, image.name, d), t)
        for d, t in zip(image.layer_digests, image.layer_media_types, strict=True)
    )
    # umoci's base layer carries a "/" root entry, which unpackers must accept.
    assert base[0].name in ("/", ".", "./", "")
    by_name = {m.name: m for m in middle}
    assert by_name["hl/two"].islnk() and by_name["hl/two"].linkname == "hl/one"
    assert by_name["abslink"].issym() and by_name["abslink"].linkname == "/etc/passwd"
    assert by_name["suid"].mode == 0o4755
    assert by_name["fifo"].isfifo()
    assert (by_name["owned"].uid, by_name["owned"].gid) == (33, 33)
    assert by_name["xattr"].pax_headers["SCHILY.xattr.user.tuidock"] == "fixture"
    names = [m.name for m in top]
    assert names == ["opq", "opq/new", "opq/.wh..wh..opq", ".wh.gone"]
    assert image.expect["absent"]


def test_no_accept_header_hides_oci_manifests(registry: RegistryHandle) -> None:
    """A fact of distribution 2.8 the puller must live with: no Accept, no OCI manifest."""
    resp = requests.get(f"{registry.url}/v2/oci/busybox/manifests/latest", timeout=10)
    assert resp.status_code == 404


# --- basic auth ---------------------------------------------------------------


def test_basic_auth_registry(auth_registry: RegistryHandle) -> None:
    url = f"{auth_registry.url}/v2/auth/busybox/manifests/latest"
    resp = requests.get(f"{auth_registry.url}/v2/", timeout=5)
    assert resp.status_code == 401
    scheme, params = parse_challenge(resp.headers["WWW-Authenticate"])
    assert scheme == "Basic" and params["realm"]
    assert requests.get(url, headers={"Accept": ACCEPT}, timeout=5).status_code == 401
    assert (
        requests.get(
            url, headers={"Accept": ACCEPT}, timeout=5, auth=(auth_registry.user, "wrong")
        ).status_code
        == 401
    )
    resp = requests.get(
        url,
        headers={"Accept": ACCEPT},
        timeout=5,
        auth=(auth_registry.user, auth_registry.password),
    )
    assert resp.status_code == 200
    assert sha256(resp.content) == auth_registry.images["auth/busybox"].manifest_digest
    with pytest.raises(RuntimeError):
        skopeo_inspect(auth_registry.ref("auth/busybox"))


# --- bearer tokens ------------------------------------------------------------


def fetch_token(
    challenge: dict[str, str], auth: tuple[str, str] | None = None
) -> requests.Response:
    params = {"service": challenge["service"], "scope": challenge["scope"]}
    return requests.get(challenge["realm"], params=params, auth=auth, timeout=5)


def test_token_registry_flow(token_registry: RegistryHandle) -> None:
    server = token_registry.token_server
    assert server is not None
    resp = requests.get(f"{token_registry.url}/v2/", timeout=5)
    assert resp.status_code == 401
    scheme, params = parse_challenge(resp.headers["WWW-Authenticate"])
    assert scheme == "Bearer" and params["realm"] == server.realm

    def manifest(repo: str, token: str | None) -> requests.Response:
        headers = {"Accept": ACCEPT}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.get(
            f"{token_registry.url}/v2/{repo}/manifests/latest", headers=headers, timeout=5
        )

    before = server.request_count
    # Anonymous pull of the public repository, as on Docker Hub.
    challenge = parse_challenge(
        manifest(token_registry.public_repo or "", None).headers["WWW-Authenticate"]
    )[1]
    assert challenge["scope"] == f"repository:{token_registry.public_repo}:pull"
    body = fetch_token(challenge).json()
    assert body["token"] == body["access_token"] and body["expires_in"] > 0
    assert manifest(token_registry.public_repo or "", body["token"]).status_code == 200
    assert server.request_count == before + 1

    # The private one: an anonymous token is issued but does not open it.
    private = token_registry.private_repo or ""
    challenge = parse_challenge(manifest(private, None).headers["WWW-Authenticate"])[1]
    anon = fetch_token(challenge).json()["token"]
    assert manifest(private, anon).status_code == 401
    assert fetch_token(challenge, ("tuidock", "wrong")).status_code == 401
    good = fetch_token(challenge, (token_registry.user or "", token_registry.password or ""))
    resp = manifest(private, good.json()["access_token"])
    assert resp.status_code == 200
    assert sha256(resp.content) == token_registry.images[private].manifest_digest
    assert server.request_count == before + 4
    assert server.requests[-1].account == token_registry.user


def test_token_server_signature_and_expiry(token_registry: RegistryHandle) -> None:
    server = token_registry.token_server
    assert server is not None
    access = [{"type": "repository", "name": token_registry.public_repo, "actions": ["pull"]}]
    url = f"{token_registry.url}/v2/{token_registry.public_repo}/manifests/latest"
    fresh = server.issue(None, access)
    # Beyond the registry's 60 s leeway.
    stale = server.issue(None, access, lifetime=10, now=time.time() - 600)
    forged = fresh[:-8] + ("AAAAAAAA" if not fresh.endswith("AAAAAAAA") else "BBBBBBBB")
    for token, status in ((fresh, 200), (stale, 401), (forged, 401)):
        resp = requests.get(
            url, headers={"Accept": ACCEPT, "Authorization": f"Bearer {token}"}, timeout=5
        )
        assert resp.status_code == status


# --- TLS ----------------------------------------------------------------------


def test_tls_registry(tls_registry: RegistryHandle) -> None:
    assert tls_registry.url.startswith("https://")
    assert tls_registry.ca is not None and tls_registry.cert_dir is not None
    resp = requests.get(f"{tls_registry.url}/v2/", verify=str(tls_registry.ca), timeout=5)
    assert resp.status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{tls_registry.url}/v2/", timeout=5)
    image = tls_registry.images["tls/busybox"]
    assert sha256(skopeo_inspect(image.reference, cert_dir=tls_registry.cert_dir)) == (
        image.manifest_digest
    )
    proc = subprocess.run(
        ["skopeo", "inspect", "--raw", f"docker://{image.reference}"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "certificate" in proc.stderr


# --- the rig's own parts ------------------------------------------------------


def test_tuidock_root_fixture(tuidock_root: Path, tuidock_config: Path) -> None:
    assert os.environ["TUIDOCK_ROOT"] == str(tuidock_root)
    assert paths.data_root() == tuidock_root and paths.config_dir() == tuidock_config
    assert tuidock_root.is_dir() and not any(tuidock_root.iterdir())


def test_local_registry_stops_cleanly_and_survives_a_port_race(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    ports = iter([taken.getsockname()[1]])
    real_free_port = demo_registry.free_port
    monkeypatch.setattr(demo_registry, "free_port", lambda: next(ports, None) or real_free_port())
    try:
        reg = LocalRegistry().start()
    finally:
        taken.close()
    pid, workdir = reg.pid, reg.workdir
    assert pid is not None and workdir is not None and workdir.is_dir()
    assert requests.get(f"{reg.url}/v2/", timeout=5).status_code == 200
    assert "address already in use" in reg.log_path.read_text()
    reg.stop()
    assert not Path(f"/proc/{pid}").exists()
    assert not workdir.exists()


def _set_child_subreaper(on: bool) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, int(on), 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def test_start_demo_reuses_and_stops(rig_dir: Path) -> None:
    root = rig_dir / "demo-root"
    # The demo registry outlives its starter by design; adopting it here lets
    # the test reap it instead of leaving a zombie for init.
    _set_child_subreaper(True)
    pid = None
    try:
        host = demo_registry.start_demo(root)
        pid = json.loads((root / "registry/registry.json").read_text())["pid"]
        assert demo_registry.start_demo(root) == host
        assert json.loads((root / "registry/registry.json").read_text())["pid"] == pid
        for image in imagebuild.DEMO_IMAGES:
            raw = skopeo_inspect(f"{host}/{image.name}:{image.tag}")
            assert json.loads(raw)["mediaType"] == imagebuild.OCI_MANIFEST
    finally:
        stopped = demo_registry.stop_demo(root)
        _set_child_subreaper(False)
        if pid is not None:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    assert stopped
    assert demo_registry.demo_status(root) is None
    assert requests_fail(f"http://{host}/v2/")


def requests_fail(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
    except requests.ConnectionError:
        return True
    return False
