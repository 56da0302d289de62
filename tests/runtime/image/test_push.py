"""`push`: images reach a registry and come back whole.

Real registries from conftest (plain, htpasswd, token); skopeo reads what
was pushed. A small fake registry only for what a real one never does
(a wrong Docker-Content-Digest, a 500 on upload).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from clihelp import Result, assert_clean_error, tuidock
from containerhelp import image_fixture, no_leftovers_fixture

__all__ = ["image_fixture", "no_leftovers_fixture"]  # fixtures, used by name

pytestmark = pytest.mark.timeout(300)

GZIP_LAYER_TYPES = (
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
)


@pytest.fixture(autouse=True)
def _no_host_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The host's ~/.docker/config.json must not lend credentials to a test.
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))


def run_ok(*args: str, input: str | None = None) -> str:
    res = tuidock(*args, input=input)
    assert res.code == 0, (res.code, res.out, res.err)
    return res.out


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def skopeo_raw(ref: str, creds: str | None = None) -> bytes:
    cmd = ["skopeo", "inspect", "--raw", "--tls-verify=false"]
    if creds:
        cmd += ["--creds", creds]
    return subprocess.run(
        [*cmd, f"docker://{ref}"], check=True, capture_output=True, timeout=60
    ).stdout


def digest_line(out: str, tag: str) -> tuple[str, int]:
    m = re.search(rf"^{re.escape(tag)}: digest: (sha256:[0-9a-f]{{64}}) size: (\d+)$", out, re.M)
    assert m, out
    return m.group(1), int(m.group(2))


def layer_statuses(out: str) -> dict[str, str]:
    """Final status of each layer line `<12 hex>: <status>` in plain push output."""
    return dict(re.findall(r"^([0-9a-f]{12}): (.+)$", out, re.M))


def image_record(root: Path, name: str) -> dict:
    images = json.loads((root / "images.json").read_text())["images"]
    (rec,) = [r for r in images.values() if name in r["repo_tags"]]
    return rec


def commit_image(base: str, name: str, text: str) -> str:
    cname = unique("pushc")
    run_ok("run", "--name", cname, base, "sh", "-c", f"echo {text} > /pushed.txt")
    image_id = run_ok("commit", cname, name).strip()
    run_ok("rm", cname)
    return image_id


# -- pulled images keep their bytes -------------------------------------------


def test_push_pulled_image_reproduces_manifest(registry, tuidock_root: Path) -> None:
    fixture = registry.images["oci/busybox"]
    run_ok("pull", "-q", fixture.reference)
    dest = f"{registry.host}/{unique('copy/busybox')}:v1"
    run_ok("tag", fixture.reference, dest)
    out = run_ok("push", dest)
    repo = dest.rsplit(":", 1)[0]
    assert out.splitlines()[0] == f"The push refers to repository [{repo}]"
    # Same registry: the layer is mounted from the repository it was pulled from.
    statuses = layer_statuses(out)
    short = fixture.diff_ids[0].removeprefix("sha256:")[:12]
    assert statuses == {short: "Mounted from oci/busybox"}, out
    assert f"{short}: Preparing" in out
    digest, size = digest_line(out, "v1")
    assert digest == fixture.manifest_digest
    raw = skopeo_raw(dest)
    assert raw == fixture.manifest and size == len(raw)
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest
    # skopeo can copy the whole image out of the new repository.
    with_layout = tuidock_root.parent / "layout"
    subprocess.run(
        ["skopeo", "copy", "--src-tls-verify=false", f"docker://{dest}", f"oci:{with_layout}:x"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    index = json.loads((with_layout / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest
    # The image knows its digest in the new repository, as `images --digests` shows.
    listing = run_ok("images", "--digests", repo)
    assert digest in listing
    # A second push finds everything there.
    again = run_ok("push", dest)
    assert layer_statuses(again) == {short: "Layer already exists"}, again
    assert digest_line(again, "v1")[0] == digest


def test_push_v2s2_manifest_keeps_its_type(registry, tuidock_root: Path) -> None:
    fixture = registry.images["v2s2/busybox"]
    run_ok("pull", "-q", fixture.reference)
    dest = f"{registry.host}/{unique('copy/v2s2')}:latest"
    run_ok("tag", fixture.reference, dest)
    out = run_ok("push", "-q", dest)
    assert out.strip() == dest
    raw = skopeo_raw(dest)
    assert raw == fixture.manifest
    assert json.loads(raw)["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"


# -- images made here ------------------------------------------------------------


@pytest.mark.parametrize("chunk", ["", "4k"], ids=["monolithic", "chunked"])
def test_commit_push_rmi_pull_run(
    image: str, registry, tuidock_root: Path, monkeypatch: pytest.MonkeyPatch, chunk: str
) -> None:
    if chunk:
        monkeypatch.setenv("TUIDOCK_PUSH_CHUNK", chunk)
    dest = f"{registry.host}/{unique('committed/app')}:v1"
    text = secrets.token_hex(3000)  # a layer over the 4k chunk, in several chunks
    image_id = commit_image(image, dest, text)
    out = run_ok("push", dest)
    statuses = layer_statuses(out)
    base = registry.images["oci/busybox"]
    base_short = base.diff_ids[0].removeprefix("sha256:")[:12]
    assert statuses.pop(base_short) == "Mounted from oci/busybox", out
    assert list(statuses.values()) == ["Pushed"], out
    digest, _ = digest_line(out, "v1")
    manifest = json.loads(skopeo_raw(dest))
    assert manifest["config"]["digest"] == image_id
    assert all(layer["mediaType"] in GZIP_LAYER_TYPES for layer in manifest["layers"])
    assert manifest["layers"][0]["digest"] == base.layer_digests[0]
    run_ok("rmi", dest)
    run_ok("pull", "-q", dest)
    assert run_ok("images", "-q", "--no-trunc", dest).strip() == image_id
    assert run_ok("run", "--rm", dest, "cat", "/pushed.txt") == text + "\n"
    assert digest in run_ok("images", "--digests", dest.rsplit(":", 1)[0])


def test_cross_mount_between_repositories(image: str, registry, tuidock_root: Path) -> None:
    first = f"{registry.host}/{unique('mount/one')}:v1"
    second = f"{registry.host}/{unique('mount/two')}:v1"
    commit_image(image, first, "mounted")
    statuses = layer_statuses(run_ok("push", first))
    new_layers = [k for k, v in statuses.items() if v == "Pushed"]
    assert len(new_layers) == 1
    run_ok("tag", first, second)
    out = run_ok("push", second)
    first_repo = first.rsplit(":", 1)[0].split("/", 1)[1]
    assert layer_statuses(out)[new_layers[0]] == f"Mounted from {first_repo}", out
    assert "Pushed" not in out


def test_loaded_image_is_compressed_on_push(image: str, registry, tuidock_root: Path) -> None:
    archive = tuidock_root.parent / "saved.tar"
    name = f"{registry.host}/{unique('loaded/app')}:v2"
    image_id = commit_image(image, name, "loaded")
    run_ok("save", "-o", str(archive), name)
    run_ok("rmi", name)
    run_ok("image", "prune", "-a", "-f")
    run_ok("load", "-i", str(archive))
    before = image_record(tuidock_root, name)
    assert before["id"] == image_id
    assert all(layer["mediaType"].endswith(".tar") for layer in before["layers"])
    out = run_ok("push", name)
    digest, _ = digest_line(out, "v2")
    manifest = json.loads(skopeo_raw(name))
    assert manifest["config"]["digest"] == image_id
    assert all(layer["mediaType"] in GZIP_LAYER_TYPES for layer in manifest["layers"])
    after = image_record(tuidock_root, name)
    # The compressed form is the image's own now: same ID, the pushed manifest.
    assert after["id"] == image_id and after["manifest_digest"] == digest
    assert [d["digest"] for d in after["layers"]] == [d["digest"] for d in manifest["layers"]]
    for layer in after["layers"]:
        blob = tuidock_root / "blobs" / "sha256" / layer["digest"].removeprefix("sha256:")
        assert blob.stat().st_size == layer["size"]
    again = run_ok("push", name)
    assert set(layer_statuses(again).values()) == {"Layer already exists"}
    assert digest_line(again, "v2")[0] == digest
    assert run_ok("run", "--rm", name, "cat", "/pushed.txt") == "loaded\n"


def test_all_tags_and_destination(image: str, registry, tuidock_root: Path) -> None:
    repo = f"{registry.host}/{unique('tags/app')}"
    run_ok("tag", image, f"{repo}:a")
    run_ok("tag", image, f"{repo}:b")
    out = run_ok("push", "--all-tags", repo)
    assert out.count("The push refers to repository") == 1
    digest_a, _ = digest_line(out, "a")
    digest_b, _ = digest_line(out, "b")
    assert digest_a == digest_b == registry.images["oci/busybox"].manifest_digest
    res = tuidock("push", "-a", f"{repo}:a")
    assert_clean_error(res)
    assert "tag can't be used with --all-tags" in res.err
    # podman's form: push a local image to another name without tagging it.
    dest = f"{registry.host}/{unique('dest/app')}:x"
    out = run_ok("image", "push", image, f"docker://{dest}")
    assert digest_line(out, "x")[0] == digest_a
    assert skopeo_raw(dest) == registry.images["oci/busybox"].manifest
    assert dest not in run_ok("images", "--format", "{{.Repository}}:{{.Tag}}")


# -- auth --------------------------------------------------------------------------


def refused_then_login(handle, image: str, dest: str) -> str:
    """Push `image` as `dest`: refused without credentials, done after `login`; the output."""
    run_ok("tag", image, dest)
    res = tuidock("push", dest)
    assert_clean_error(res)
    assert "tuidock login" in res.err
    run_ok("login", "-u", handle.user, "--password-stdin", handle.host, input=handle.password)
    return run_ok("push", dest)


def test_push_to_basic_auth_registry(image: str, auth_registry, tuidock_root: Path) -> None:
    dest = f"{auth_registry.host}/{unique('auth/app')}:v1"
    out = refused_then_login(auth_registry, image, dest)
    assert set(layer_statuses(out).values()) == {"Pushed"}
    digest, _ = digest_line(out, "v1")
    raw = skopeo_raw(dest, auth_registry.creds)
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest


def test_push_to_token_registry(image: str, token_registry, tuidock_root: Path) -> None:
    # Anonymous tokens give pull on public repositories, never push.
    dest = f"{token_registry.host}/{token_registry.public_repo}-{secrets.token_hex(3)}:v1"
    out = refused_then_login(token_registry, image, dest)
    digest, _ = digest_line(out, "v1")
    assert skopeo_raw(dest, token_registry.creds)
    # A second repository mounts the blob, with a token for both repositories.
    other = f"{token_registry.host}/{unique('private/copy')}:v1"
    run_ok("tag", image, other)
    out = run_ok("push", other)
    assert set(layer_statuses(out).values()) == {
        f"Mounted from {dest.split('/', 1)[1].rsplit(':', 1)[0]}"
    }, out
    assert digest_line(out, "v1")[0] == digest


# -- errors -------------------------------------------------------------------------


def test_push_errors(registry, tuidock_root: Path) -> None:
    res = tuidock("push", f"{registry.host}/never/there:v1")
    assert_clean_error(res)
    assert "An image does not exist locally with the tag" in res.err
    res = tuidock("push", f"{registry.host}/x@sha256:{'a' * 64}")
    assert_clean_error(res)
    res = tuidock("push", "--tls-verify=maybe", "x")
    assert res.code != 0 and "Traceback" not in res.err


def test_push_to_unreachable_registry(image: str, tuidock_root: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dest = f"127.0.0.1:{port}/gone/app:v1"  # nothing listens there any more
    run_ok("tag", image, dest)
    before = sorted(p.name for p in (tuidock_root / "blobs" / "sha256").iterdir())
    res = tuidock("push", dest)
    assert_clean_error(res)
    assert "cannot reach registry" in res.err
    after = sorted(p.name for p in (tuidock_root / "blobs" / "sha256").iterdir())
    assert after == before
    assert not list((tuidock_root / "tmp").iterdir()) if (tuidock_root / "tmp").exists() else True


class _FakeRegistry(BaseHTTPRequestHandler):
    """Just enough of the upload API to watch the protocol, or to misbehave.

    "honest" keeps each session's bytes, insists on contiguous Content-Range
    chunks and answers with the true digest; its Locations alternate between
    relative and absolute URLs, both of which clients must follow.
    """

    mode = "honest"
    log: list[tuple[str, str, str]]
    sessions: dict[str, bytearray]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, status: int, **headers: str) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key.replace("_", "-"), value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _record(self) -> bytes:
        body = self._body()
        self.log.append((self.command, self.path, self.headers.get("Content-Range", "")))
        return body

    def do_GET(self) -> None:
        self._record()
        self._reply(200 if self.path == "/v2/" else 404)

    def do_HEAD(self) -> None:
        self._record()
        self._reply(404)

    def do_POST(self) -> None:
        self._record()
        if self.mode in ("error-500", "denied"):
            self._reply(500 if self.mode == "error-500" else 403)
            return
        session = secrets.token_hex(4)
        self.sessions[session] = bytearray()
        self._reply(202, Location=f"/v2/upload/{session}?_state=0")

    def do_PATCH(self) -> None:
        body = self._record()
        session = self.path.split("/")[3].split("?")[0]
        data = self.sessions[session]
        start, _, end = self.headers["Content-Range"].partition("-")
        if int(start) != len(data) or int(end) != len(data) + len(body) - 1:
            self._reply(416)
            return
        data += body
        host, port = self.server.server_address[:2]
        self._reply(202, Location=f"http://{host}:{port}/v2/upload/{session}?_state={len(data)}")

    def do_PUT(self) -> None:
        body = self._record()
        if "/manifests/" in self.path:
            data = body
        else:
            data = self.sessions.pop(self.path.split("/")[3].split("?")[0]) + body
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if self.mode == "wrong-digest":
            digest = "sha256:" + "0" * 64
        self._reply(201, Docker_Content_Digest=digest)

    def do_DELETE(self) -> None:
        self._record()
        self._reply(204)


@pytest.fixture
def fake_registry() -> Iterator[tuple[ThreadingHTTPServer, type[_FakeRegistry]]]:
    handler = type("Handler", (_FakeRegistry,), {"log": [], "sessions": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_chunked_upload_protocol(
    image: str, tuidock_root: Path, fake_registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, handler = fake_registry
    monkeypatch.setenv("TUIDOCK_PUSH_CHUNK", "64k")
    dest = f"127.0.0.1:{server.server_address[1]}/proto/app:v1"
    run_ok("tag", image, dest)
    out = run_ok("push", dest)
    assert set(layer_statuses(out).values()) == {"Pushed"}
    patches = [rng for method, _, rng in handler.log if method == "PATCH"]
    # busybox's layer is over 64 KiB: several contiguous 64 KiB chunks, the last shorter.
    assert len(patches) >= 2
    assert patches[0] == "0-65535" and patches[1] == "65536-131071"
    puts = [path for method, path, _ in handler.log if method == "PUT"]
    # The final PUT keeps the session's own query and adds the digest.
    assert any("_state=" in p and "&digest=sha256%3A" in p for p in puts)
    assert puts[-1] == "/v2/proto/app/manifests/v1"
    assert not handler.sessions  # every session was completed


@pytest.mark.parametrize("mode", ["wrong-digest", "error-500", "denied"])
def test_misbehaving_registry(image: str, tuidock_root: Path, fake_registry, mode: str) -> None:
    server, handler = fake_registry
    handler.mode = mode
    dest = f"127.0.0.1:{server.server_address[1]}/lying/app:v1"
    run_ok("tag", image, dest)
    res: Result = tuidock("push", dest)
    assert_clean_error(res)
    if mode == "wrong-digest":
        assert "stored blob" in res.err and "but tuidock sent" in res.err
    elif mode == "denied":
        assert "denied: requested access to lying/app is denied" in res.err
    else:
        assert "HTTP 500" in res.err
    # Nothing recorded: the image has no digest in the lying repository.
    assert "lying/app@" not in json.dumps(image_record(tuidock_root, dest)["repo_digests"])


def test_tls_verify_flag(image: str, tls_registry, tuidock_root: Path) -> None:
    dest = f"{tls_registry.host}/{unique('tls/app')}:v1"
    run_ok("tag", image, dest)
    # The test CA is not trusted: verification refused cleanly, then skipped on request.
    res = tuidock("push", "--tls-verify=true", dest)
    assert_clean_error(res)
    assert "TLS" in res.err
    out = run_ok("push", "--tls-verify=false", dest)
    digest, _ = digest_line(out, "v1")
    raw = subprocess.run(
        [
            "skopeo",
            "inspect",
            "--raw",
            "--cert-dir",
            str(tls_registry.cert_dir),
            f"docker://{dest}",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest
