"""Pulling from registries that lie, stall, cut off, redirect or rate-limit.

Every case runs the real client (mostly through Engine.pull) against
rig.fakeregistry, which serves a tiny valid image and misbehaves on request.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rig.fakeregistry import (
    OCI_MANIFEST,
    SCHEMA1_SIGNED,
    FakeRegistry,
    RecordedRequest,
    Reply,
    build_image,
    schema1_manifest,
    sha256,
)

import tuidock
from tuidock.core.platforms import host_platform, parse_platform
from tuidock.errors import (
    AuthError,
    DigestMismatch,
    NotFound,
    PlatformMismatch,
    RegistryError,
    TooLarge,
    UnsupportedManifest,
)
from tuidock.runtime.engine import Engine
from tuidock.runtime.image.pull import PullResult
from tuidock.runtime.image.registry import auth
from tuidock.runtime.image.registry.client import MAX_MANIFEST_BYTES, RegistryClient
from tuidock.runtime.image.registry.config import RegistriesConfig

pytestmark = pytest.mark.timeout(30)

REPO_ROOT = Path(tuidock.__file__).resolve().parent.parent


# -- fixtures and helpers ---------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUIDOCK_ROOT", str(tmp_path / "root"))
    monkeypatch.setenv("TUIDOCK_CONFIG", str(tmp_path / "config"))
    # The host's ~/.docker/config.json must not lend credentials to the fake.
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    return tmp_path / "root"


@pytest.fixture
def engine(root: Path) -> Engine:
    return Engine(root)


@pytest.fixture
def reg() -> Iterator[FakeRegistry]:
    with FakeRegistry() as fake:
        yield fake


def _second_loopback_host() -> str:
    """127.0.0.2 where the kernel lets us bind it; otherwise another port of
    127.0.0.1 is still another origin (scheme, host and port are compared)."""
    try:
        with socket.socket() as sock:
            sock.bind(("127.0.0.2", 0))
        return "127.0.0.2"
    except OSError:
        return "127.0.0.1"


def client_for(fake: FakeRegistry) -> RegistryClient:
    endpoint = RegistriesConfig().endpoints(fake.domain)[-1]
    return RegistryClient(endpoint, fake.repository, fake.domain)


def wait_until(cond: Callable[[], object], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return bool(cond())


def assert_pulled(
    engine: Engine, fake: FakeRegistry, result: PullResult, tag: str = "latest"
) -> None:
    """The image is listed under its tag, with the config digest as ID and the files unpacked."""
    image = fake.image
    assert result.image.id == image.config_digest
    assert result.image.manifest_digest == image.manifest_digest
    listed = engine.list_images()
    assert [r.id for r in listed] == [image.config_digest]
    assert listed[0].repo_tags == [f"{fake.domain}/{fake.repository}:{tag}"]
    diff = engine.layers.diff_dir(result.image.chain_ids[0])
    for name, data in image.files.items():
        assert (diff / name).read_bytes() == data
    assert (diff / "app").is_dir()
    assert engine.blobs.has(image.layer_digest)
    assert engine.blobs.read(image.layer_digest) == image.layer
    assert list(engine.blobs.partial_dir.iterdir()) == []


def assert_nothing_stored(engine: Engine, *digests: str) -> None:
    assert engine.list_images() == []
    assert list(engine.layers.dir.iterdir()) == []
    assert list(engine.layers.tmp.iterdir()) == []
    for digest in digests:
        assert not engine.blobs.has(digest)


def layer_gets(fake: FakeRegistry) -> list[RecordedRequest]:
    return fake.requests_to(f"/blobs/{fake.image.layer_digest}")


# -- 1. baseline ------------------------------------------------------------------------


def test_baseline_pull_lists_image_with_config_digest_as_id(
    engine: Engine, reg: FakeRegistry
) -> None:
    result = engine.pull(reg.ref())
    assert_pulled(engine, reg, result)
    assert result.digest == reg.image.manifest_digest
    assert result.downloaded
    manifest_get = reg.requests_to("/manifests/")[0]
    accept = manifest_get.header("accept") or ""
    for media_type in (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ):
        assert media_type in accept


# -- 2-4. digests that do not match -------------------------------------------------


def test_wrong_docker_content_digest_stores_nothing(engine: Engine, reg: FakeRegistry) -> None:
    reg.manifest_digest_header = "sha256:" + "0" * 64
    with pytest.raises(DigestMismatch) as info:
        engine.pull(reg.ref())
    assert reg.image.manifest_digest in info.value.message
    assert_nothing_stored(engine, reg.image.manifest_digest, "sha256:" + "0" * 64)
    assert engine.blobs.all() == []


def test_pull_by_digest_with_different_bytes_is_refused(engine: Engine, reg: FakeRegistry) -> None:
    # Same document, different bytes: hashing re-serialised JSON would miss it.
    reg.serve_manifest(reg.image.manifest_digest, reg.image.manifest + b"\n", OCI_MANIFEST)
    with pytest.raises(DigestMismatch):
        engine.pull(reg.digest_ref(reg.image.manifest_digest))
    assert_nothing_stored(engine, reg.image.manifest_digest, reg.image.config_digest)


def _tamper_gzip_mtime(layer: bytes) -> bytes:
    # Bytes 4-7 of a gzip member are its MTIME, covered by no checksum: the
    # blob still decompresses to the same tar, only its digest changes.
    return layer[:4] + bytes([layer[4] ^ 0xFF]) + layer[5:]


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(_tamper_gzip_mtime, id="valid-gzip-other-bytes"),
        pytest.param(lambda layer: random.Random(7).randbytes(len(layer)), id="garbage"),
        pytest.param(lambda layer: layer[:-100] + bytes(100), id="corrupt-tail"),
    ],
)
def test_layer_with_wrong_content_is_a_digest_mismatch(
    engine: Engine, reg: FakeRegistry, corrupt: Callable[[bytes], bytes]
) -> None:
    digest = reg.image.layer_digest
    reg.blob_overrides[digest] = corrupt(reg.image.layer)
    assert len(reg.blob_overrides[digest]) == len(reg.image.layer)
    with pytest.raises(DigestMismatch) as info:
        engine.pull(reg.ref())
    assert digest in info.value.message
    assert_nothing_stored(engine, digest)
    assert not engine.blobs.partial_path(digest).exists()
    # Nothing was resumed, so there is nothing a second download could fix.
    assert len(layer_gets(reg)) == 1


# -- 5. too much data ---------------------------------------------------------------------


def test_layer_larger_than_its_descriptor_is_refused(engine: Engine, reg: FakeRegistry) -> None:
    digest = reg.image.layer_digest
    reg.blob_overrides[digest] = reg.image.layer + random.Random(1).randbytes(4096)
    with pytest.raises(TooLarge):
        engine.pull(reg.ref())
    assert_nothing_stored(engine, digest)


# -- 6. redirects to another host -------------------------------------------------------


def test_cross_host_redirect_drops_the_authorization_header(engine: Engine) -> None:
    with (
        FakeRegistry(auth="bearer") as origin,
        FakeRegistry(host=_second_loopback_host()) as cdn,
    ):
        origin.redirect_blobs_to = cdn.url
        result = engine.pull(origin.ref())
        assert_pulled(engine, origin, result)

        # The token was used where it belongs...
        api = [r for r in origin.requests if r.route.startswith("/v2/") and r.route != "/v2/"]
        authorized = [r for r in api if r.header("authorization") == "Bearer tok-1"]
        assert authorized and any("/blobs/" in r.route for r in authorized)
        # ...and never reached the other host.
        cdn_gets = cdn.requests_to("/cdn/blobs/")
        assert {r.route.rsplit("/", 1)[1] for r in cdn_gets} == {
            origin.image.layer_digest,
            origin.image.config_digest,
        }
        assert all(r.header("authorization") is None for r in cdn.requests)


def test_resume_after_a_redirect_asks_the_registry_again(engine: Engine, reg: FakeRegistry) -> None:
    # Signed CDN URLs expire: a resumed download must come back through the
    # registry for a fresh redirect, and carry its Range across it.
    with FakeRegistry(host=_second_loopback_host()) as cdn:
        reg.redirect_blobs_to = cdn.url
        half = len(reg.image.layer) // 2
        cdn.cut_blob[reg.image.layer_digest] = half
        result = engine.pull(reg.ref())
        assert_pulled(engine, reg, result)
        assert len(layer_gets(reg)) == 2
        cdn_gets = cdn.requests_to(f"/cdn/blobs/{reg.image.layer_digest}")
        assert [r.header("range") for r in cdn_gets] == [None, f"bytes={half}-"]


# -- 7. rate limits ---------------------------------------------------------------------------


def test_429_is_retried_after_retry_after(engine: Engine, reg: FakeRegistry) -> None:
    reg.script("GET", "/manifests/", Reply(429, {"Retry-After": "1"}, b'{"errors":[]}'))
    start = time.monotonic()
    result = engine.pull(reg.ref())
    elapsed = time.monotonic() - start
    assert_pulled(engine, reg, result)
    assert elapsed >= 0.95
    assert len(reg.requests_to("/manifests/")) == 2


# -- 8-10. resuming -------------------------------------------------------------------------


def test_connection_cut_mid_layer_resumes_with_range(engine: Engine, reg: FakeRegistry) -> None:
    half = len(reg.image.layer) // 2
    reg.cut_blob[reg.image.layer_digest] = half
    result = engine.pull(reg.ref())
    assert_pulled(engine, reg, result)
    gets = layer_gets(reg)
    assert len(gets) == 2
    assert gets[0].header("range") is None
    assert gets[1].header("range") == f"bytes={half}-"


def test_full_answer_to_a_range_request_still_gives_the_right_image(
    engine: Engine, reg: FakeRegistry
) -> None:
    half = len(reg.image.layer) // 2
    reg.cut_blob[reg.image.layer_digest] = half
    reg.ignore_range = True
    result = engine.pull(reg.ref())
    assert_pulled(engine, reg, result)
    gets = layer_gets(reg)
    assert [g.header("range") for g in gets] == [None, f"bytes={half}-"]


def test_partial_blob_of_a_killed_pull_is_resumed(engine: Engine, reg: FakeRegistry) -> None:
    layer = reg.image.layer
    half = len(layer) // 2
    engine.blobs.partial_path(reg.image.layer_digest).write_bytes(layer[:half])
    result = engine.pull(reg.ref())
    assert_pulled(engine, reg, result)
    gets = layer_gets(reg)
    assert len(gets) == 1
    assert gets[0].header("range") == f"bytes={half}-"


def test_corrupt_partial_blob_is_dropped_and_downloaded_afresh(
    engine: Engine, reg: FakeRegistry
) -> None:
    # A partial that is not a prefix of the blob (the tag moved, the disk lied):
    # resuming it can only fail, so the pull must start over, not fail forever.
    layer = reg.image.layer
    half = len(layer) // 2
    engine.blobs.partial_path(reg.image.layer_digest).write_bytes(random.Random(3).randbytes(half))
    result = engine.pull(reg.ref())
    assert_pulled(engine, reg, result)
    assert [g.header("range") for g in layer_gets(reg)] == [f"bytes={half}-", None]


# -- 11. schema 1 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [SCHEMA1_SIGNED, "application/json"],
    ids=["prettyjws-content-type", "schemaVersion-1-json"],
)
def test_schema1_manifest_is_unsupported(
    engine: Engine, reg: FakeRegistry, content_type: str
) -> None:
    reg.serve_manifest("old", schema1_manifest(reg.repository, "old"), content_type)
    with pytest.raises(UnsupportedManifest) as info:
        engine.pull(reg.ref("old"))
    assert "schema 1" in info.value.message
    assert_nothing_stored(engine)


# -- 12. oversized manifests -------------------------------------------------------------------


def test_manifest_announced_over_the_limit_is_refused_unread(
    engine: Engine, reg: FakeRegistry
) -> None:
    # Headers promise 5 MiB, then nothing comes: a client that tried to read
    # the body would sit here until the fake gives up.
    reg.script(
        "GET",
        "/manifests/",
        Reply(
            200,
            {"Content-Type": OCI_MANIFEST},
            announce_length=5 << 20,
            wait_for_hangup=True,
        ),
    )
    start = time.monotonic()
    with pytest.raises(TooLarge) as info:
        engine.pull(reg.ref())
    assert time.monotonic() - start < 2
    assert str(5 << 20) in info.value.message
    assert wait_until(lambda: reg.hangups)
    assert_nothing_stored(engine)


def test_chunked_manifest_over_the_limit_is_cut_off(engine: Engine, reg: FakeRegistry) -> None:
    streamed = 64 << 20
    reg.script(
        "GET",
        "/manifests/",
        Reply(
            200,
            {"Content-Type": OCI_MANIFEST},
            b'{"schemaVersion":2,',
            chunked=True,
            filler=streamed,
        ),
    )
    start = time.monotonic()
    with pytest.raises(TooLarge):
        engine.pull(reg.ref())
    assert time.monotonic() - start < 4
    # The client hung up after a little over the limit (plus socket buffers),
    # far from the whole 64 MiB.
    assert wait_until(lambda: reg.hangups)
    assert reg.hangups[0].body_bytes_sent < streamed // 2
    assert reg.hangups[0].body_bytes_sent > MAX_MANIFEST_BYTES // 2
    assert_nothing_stored(engine)


def test_manifest_cut_off_mid_body_is_said_in_a_few_words(
    engine: Engine, reg: FakeRegistry
) -> None:
    reg.script(
        "GET",
        "/manifests/",
        Reply(200, {"Content-Type": OCI_MANIFEST}, b'{"schemaVersion":2,', announce_length=4000),
        times=10,
    )
    text = _pull_error(engine, reg.ref())
    assert text.startswith(f"the manifest from {reg.domain} was cut off: "), text
    assert_nothing_stored(engine)


# -- 13. refusals -----------------------------------------------------------------------------


def test_unknown_tag_is_not_found(engine: Engine, reg: FakeRegistry) -> None:
    with pytest.raises(NotFound) as info:
        engine.pull(reg.ref("nosuchtag"))
    message = info.value.message
    assert "not found" in message
    assert f"{reg.repository}:nosuchtag" in message
    assert_nothing_stored(engine)


def test_basic_auth_registry_without_credentials_says_log_in(engine: Engine) -> None:
    with FakeRegistry(auth="basic") as fake, pytest.raises(AuthError) as info:
        domain = fake.domain
        engine.pull(fake.ref())
    assert "tuidock login" in (info.value.hint or "")
    assert domain in (info.value.hint or "")
    assert_nothing_stored(engine)


def test_basic_auth_with_stored_credentials_pulls(engine: Engine) -> None:
    with FakeRegistry(auth="basic") as fake:
        auth.store_credentials(fake.domain, *fake.credentials)
        result = engine.pull(fake.ref())
        assert_pulled(engine, fake, result)
        api = [r for r in fake.requests if r.route.startswith("/v2/test/app/")]
        assert all((r.header("authorization") or "").startswith("Basic ") for r in api[1:])


# -- 14. challenge parsing ------------------------------------------------------------------


def test_bearer_challenge_with_commas_in_scope_and_odd_order() -> None:
    header = (
        'Bearer scope="repository:a/b:pull,push repository:c/d:pull",'
        'service="registry.example.com",error="insufficient_scope",'
        'realm="https://auth.example.com/token?x=1,y=2"'
    )
    (challenge,) = auth.parse_challenges(header)
    assert challenge.scheme == "bearer"
    assert challenge.params == {
        "scope": "repository:a/b:pull,push repository:c/d:pull",
        "service": "registry.example.com",
        "error": "insufficient_scope",
        "realm": "https://auth.example.com/token?x=1,y=2",
    }


def test_several_challenges_spaces_and_unquoted_values() -> None:
    header = (
        'Basic realm="Registry Realm" , BEARER  Service=reg , '
        'scope="repository:x:pull,push",realm="https://t.example/a\\"b"'
    )
    challenges = auth.parse_challenges(header)
    assert [c.scheme for c in challenges] == ["basic", "bearer"]
    assert challenges[0].params == {"realm": "Registry Realm"}
    assert challenges[1].params == {
        "service": "reg",
        "scope": "repository:x:pull,push",
        "realm": 'https://t.example/a"b',
    }


def test_bearer_scope_with_commas_from_the_fake_gets_a_token(reg: FakeRegistry) -> None:
    reg.auth = "bearer"
    client = client_for(reg)
    client.ping()
    token_request = reg.requests_to("/token")[0]
    assert "scope=repository%3Atest%2Fapp%3Apull" in token_request.path
    assert "service=fake-registry" in token_request.path


# -- 15. platforms -----------------------------------------------------------------------------


def _other_arch() -> str:
    return "arm64" if host_platform().architecture == "amd64" else "amd64"


def test_index_without_the_host_platform_lists_what_there_is(
    engine: Engine, reg: FakeRegistry
) -> None:
    other = _other_arch()
    reg.add_index("multi", [({"os": "linux", "architecture": other}, build_image(other))])
    with pytest.raises(PlatformMismatch) as info:
        engine.pull(reg.ref("multi"))
    hint = info.value.hint or ""
    assert f"linux/{other}" in hint
    assert "unknown" not in hint
    assert str(host_platform()) in info.value.message
    assert_nothing_stored(engine)


def test_platform_choice_picks_its_manifest_and_skips_attestations(
    engine: Engine, reg: FakeRegistry
) -> None:
    arm64, amd64 = build_image("arm64"), build_image("amd64")
    index_digest = reg.add_index(
        "multi",
        [
            ({"os": "linux", "architecture": "amd64"}, amd64),
            ({"os": "linux", "architecture": "arm64"}, arm64),
        ],
    )
    result = engine.pull(reg.ref("multi"), platform=parse_platform("linux/arm64"))
    assert result.image.id == arm64.config_digest
    assert result.image.architecture == "arm64"
    assert result.digest == index_digest
    fetched = {r.route.rsplit("/", 1)[1] for r in reg.requests_to("/manifests/")}
    assert fetched == {"multi", arm64.manifest_digest}
    assert [r.id for r in engine.list_images(reg.ref("multi"))] == [arm64.config_digest]


# -- 16. token expiry --------------------------------------------------------------------


def test_token_expired_mid_pull_is_renewed(engine: Engine) -> None:
    with FakeRegistry(auth="bearer") as fake:
        fake.revoke_tokens_after_manifest = True
        result = engine.pull(fake.ref())
        assert_pulled(engine, fake, result)
        assert fake.issued_tokens == ["tok-1", "tok-2"]
        config_gets = fake.requests_to(f"/blobs/{fake.image.config_digest}")
        assert [r.header("authorization") for r in config_gets] == [
            "Bearer tok-1",
            "Bearer tok-2",
        ]
        assert all(r.header("authorization") == "Bearer tok-2" for r in layer_gets(fake))


# -- the command line --------------------------------------------------------------------


def test_cli_reports_a_wrong_digest_in_a_few_lines(tmp_path: Path, reg: FakeRegistry) -> None:
    reg.manifest_digest_header = sha256(b"something else")
    env = {
        **os.environ,
        "TUIDOCK_ROOT": str(tmp_path / "root"),
        "TUIDOCK_CONFIG": str(tmp_path / "config"),
        "DOCKER_CONFIG": str(tmp_path / "docker"),
        "PYTHONPATH": str(REPO_ROOT),
    }
    env.pop("TUIDOCK_DEBUG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "tuidock", "pull", reg.ref()],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=20,
    )
    assert proc.returncode != 0
    assert proc.stderr.startswith("Error:"), proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 3, proc.stderr
    assert "sha256:" in proc.stderr


# -- hosts that do not answer ------------------------------------------------------------

LIBRARY_TEXT = ("Pool", "urllib3", "Max retries", "Errno", "HTTPS", "object at 0x")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pull_error(engine: Engine, ref: str) -> str:
    with pytest.raises(RegistryError) as info:
        engine.pull(ref)
    text = str(info.value)
    assert not any(junk in text for junk in LIBRARY_TEXT), text
    assert len(text.splitlines()) <= 2, text
    return text


def test_a_closed_port_is_connection_refused(engine: Engine) -> None:
    port = _free_port()
    text = _pull_error(engine, f"127.0.0.1:{port}/app")
    assert text.startswith(f"cannot reach registry 127.0.0.1:{port}: connection refused\n"), text


def test_a_port_that_never_answers_times_out(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tuidock.runtime.image.registry import client

    monkeypatch.setattr(client, "READ_TIMEOUT", 0.5)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel accepts connections; nobody ever answers
        port = silent.getsockname()[1]
        text = _pull_error(engine, f"127.0.0.1:{port}/app")
    assert text.startswith(f"cannot reach registry 127.0.0.1:{port}: timed out after 0.5 s"), text


def test_an_untrusted_tls_certificate_is_said_so(engine: Engine, tmp_path: Path) -> None:
    import ssl
    import threading

    from rig.certs import make_test_ca

    ca = make_test_ca(tmp_path / "tls")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(ca.server_cert, ca.server_key)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    host = f"127.0.0.1:{listener.getsockname()[1]}"

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                try:
                    ctx.wrap_socket(conn, server_side=True).close()
                except (ssl.SSLError, OSError):
                    pass  # the client gives up on the certificate

    threading.Thread(target=serve, daemon=True).start()
    config = Path(os.environ["TUIDOCK_CONFIG"])
    config.mkdir(parents=True, exist_ok=True)
    (config / "registries.toml").write_text(f'[registries."{host}"]\ninsecure = false\n')
    try:
        text = _pull_error(Engine(engine.root), f"{host}/app")
    finally:
        listener.close()
    assert text.startswith(f"TLS connection to {host} failed: TLS certificate not trusted"), text
    assert "ca_file" in text


def _cli_without_network(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a network namespace of its own with only loopback up: DNS fails at
    once, no packet leaves, and nothing of the host's loopback is reachable."""
    env = {
        **os.environ,
        "TUIDOCK_ROOT": str(tmp_path / "root"),
        "TUIDOCK_CONFIG": str(tmp_path / "config"),
        "DOCKER_CONFIG": str(tmp_path / "docker"),
        "PYTHONPATH": str(REPO_ROOT),
    }
    env.pop("TUIDOCK_DEBUG", None)
    script = 'ip link set lo up && exec "$@"'
    return subprocess.run(
        ["unshare", "-n", "sh", "-c", script, "sh", sys.executable, "-m", "tuidock", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )


def _assert_short(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode != 0
    assert proc.stderr.startswith("Error: "), proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2, proc.stderr
    assert not any(junk in proc.stderr for junk in LIBRARY_TEXT), proc.stderr


def test_a_name_that_does_not_resolve_is_said_so(tmp_path: Path) -> None:
    proc = _cli_without_network(tmp_path, "pull", "nonexistent.invalid/app")
    _assert_short(proc)
    assert "cannot reach registry nonexistent.invalid: name does not resolve" in proc.stderr


def test_a_dead_mirror_and_no_docker_hub_name_both_and_tuidock_demo(tmp_path: Path) -> None:
    port = _free_port()
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "registries.toml").write_text(
        f'[registries."docker.io"]\nmirrors = ["127.0.0.1:{port}"]\n'
    )
    proc = _cli_without_network(tmp_path, "pull", "busybox")
    _assert_short(proc)
    first = proc.stderr.splitlines()[0]
    assert f"mirror at 127.0.0.1:{port} (connection refused) did not answer" in first
    assert "Docker Hub (registry-1.docker.io) cannot be reached either: name does not" in first
    assert "`tuidock demo`" in proc.stderr
    assert "insecure" not in proc.stderr
