"""Pulling from real registries (Debian's docker-registry) into the store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from clihelp import assert_clean_error, tuidock

from tuidock.core.digest import chain_ids, hex_of
from tuidock.core.platforms import host_platform, parse_platform
from tuidock.errors import AuthError, PlatformMismatch, RegistryError
from tuidock.runtime.engine import Engine


def _layer_dirs(root: Path) -> set[str]:
    return {p.name for p in (root / "layers").iterdir()}


def _assert_complete(root: Path, engine: Engine, image_id: str, diff_ids) -> None:
    rec = engine.image(image_id)
    assert rec.id == image_id
    for cid in chain_ids(list(diff_ids)):
        assert engine.layers.has(cid)
    for layer in rec.layers:
        assert engine.blobs.has(layer["digest"])
    assert engine.blobs.has(image_id)
    assert not list((root / "layers-tmp").iterdir())
    assert not list((root / "blobs" / "partial").iterdir())


def test_pull_oci_manifest(registry, tuidock_root: Path) -> None:
    img = registry.images["oci/busybox"]
    engine = Engine(tuidock_root)
    events = []
    result = engine.pull(img.reference, progress=events.append)
    assert result.image.id == img.image_id
    assert result.digest == img.manifest_digest
    assert result.image.repo_tags == [img.reference]
    assert result.image.repo_digests == [f"{img.reference.rsplit(':', 1)[0]}@{img.manifest_digest}"]
    assert result.image.size > 1_000_000  # busybox, unpacked
    _assert_complete(tuidock_root, engine, img.image_id, img.diff_ids)
    statuses = {e.status for e in events if e.kind == "layer"}
    assert "Pull complete" in statuses


def test_docker_v2s2_gives_the_same_image_id_and_shares_layers(registry, tuidock_root) -> None:
    oci, v2 = registry.images["oci/busybox"], registry.images["v2s2/busybox"]
    assert v2.media_type == "application/vnd.docker.distribution.manifest.v2+json"
    engine = Engine(tuidock_root)
    engine.pull(oci.reference)
    before = _layer_dirs(tuidock_root)
    result = engine.pull(v2.reference)
    # The same config (IMAGE ID) under two names, and the layers stored once.
    if v2.config_digest == oci.config_digest:
        assert result.image.id == oci.image_id
        assert sorted(result.image.repo_tags) == sorted([oci.reference, v2.reference])
    assert result.image.id == v2.image_id
    assert _layer_dirs(tuidock_root) == before


def test_second_pull_is_up_to_date(registry, tuidock_root) -> None:
    img = registry.images["oci/busybox"]
    engine = Engine(tuidock_root)
    assert engine.pull(img.reference).downloaded
    events = []
    again = engine.pull(img.reference, progress=events.append)
    assert not again.downloaded
    assert {e.status for e in events if e.kind == "layer"} == {"Already exists"}


def test_multi_arch_index_picks_the_host_platform(registry, tuidock_root) -> None:
    img = registry.images["multi/busybox"]
    assert img.is_index
    engine = Engine(tuidock_root)
    host = host_platform()
    key = str(host) if str(host) in img.platforms else f"{host.os}/{host.architecture}"
    result = engine.pull(img.reference)
    assert result.image.id == img.platforms[key].image_id
    # RepoDigests name the index, as Docker shows them.
    assert result.image.repo_digests[0].endswith("@" + img.manifest_digest)
    inspect = engine.inspect_image(img.reference)
    assert inspect["Architecture"] == host.architecture


def test_platform_flag_and_mismatch(registry, tuidock_root) -> None:
    img = registry.images["multi/busybox"]
    engine = Engine(tuidock_root)
    arm = next(p for name, p in img.platforms.items() if "arm64" in name)
    result = engine.pull(img.reference, platform=parse_platform("linux/arm64"))
    assert result.image.id == arm.image_id
    with pytest.raises(PlatformMismatch) as info:
        engine.pull(img.reference, platform=parse_platform("linux/s390x"))
    assert "linux/amd64" in str(info.value) and "unknown" not in str(info.value)


def test_pull_by_digest(registry, tuidock_root) -> None:
    img = registry.images["oci/busybox"]
    engine = Engine(tuidock_root)
    result = engine.pull(img.digest_reference)
    assert result.image.id == img.image_id
    assert result.image.repo_tags == []  # a digest pull adds no tag, as in Docker
    assert engine.image(img.digest_reference).id == img.image_id


def test_multi_layer_whiteout_image(registry, tuidock_root) -> None:
    img = registry.images["layers/whiteout"]
    assert len(img.diff_ids) == 3
    engine = Engine(tuidock_root)
    result = engine.pull(img.reference)
    _assert_complete(tuidock_root, engine, result.image.id, img.diff_ids)


def test_zstd_layer(registry, tuidock_root) -> None:
    img = registry.images["zstd/busybox"]
    assert any(mt.endswith("+zstd") for mt in img.layer_media_types)
    engine = Engine(tuidock_root)
    result = engine.pull(img.reference)
    assert result.image.id == img.image_id
    _assert_complete(tuidock_root, engine, img.image_id, img.diff_ids)


def test_basic_auth_needs_login(auth_registry, tuidock_root) -> None:
    img = auth_registry.images["auth/busybox"]
    host = auth_registry.registry.host
    with pytest.raises(AuthError) as info:
        Engine(tuidock_root).pull(img.reference)
    assert "tuidock login" in str(info.value)

    bad = tuidock("login", "-u", auth_registry.user, "--password-stdin", host, input="wrong\n")
    assert_clean_error(bad)
    ok = tuidock(
        "login",
        "-u",
        auth_registry.user,
        "--password-stdin",
        host,
        input=auth_registry.password + "\n",
    )
    assert ok.code == 0, ok.err
    assert "Login Succeeded" in ok.out
    auth_file = Path(os.environ["TUIDOCK_CONFIG"]) / "auth.json"
    assert oct(auth_file.stat().st_mode & 0o777) == "0o600"
    pulled = tuidock("pull", "-q", img.reference)
    assert pulled.code == 0, pulled.err
    assert pulled.out.strip() == img.image_id

    assert tuidock("logout", host).code == 0
    assert host not in json.loads(auth_file.read_text())["auths"]


def test_credentials_from_docker_config(auth_registry, tuidock_root, tmp_path, monkeypatch) -> None:
    import base64

    img = auth_registry.images["auth/busybox"]
    token = base64.b64encode(f"{auth_registry.user}:{auth_registry.password}".encode()).decode()
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {auth_registry.registry.host: {"auth": token}}})
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert Engine(tuidock_root).pull(img.reference).image.id == img.image_id


def test_bearer_token_anonymous_and_private(
    token_registry, tuidock_root, tmp_path, monkeypatch
) -> None:
    server = token_registry.token_server
    public = token_registry.images[token_registry.public_repo]
    private = token_registry.images[token_registry.private_repo]
    engine = Engine(tuidock_root)
    before = server.request_count
    assert engine.pull(public.reference).image.id == public.image_id
    assert server.request_count > before

    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))  # no credentials anywhere
    with pytest.raises(AuthError):
        engine.pull(private.reference)
    res = tuidock(
        "login",
        "-u",
        token_registry.user,
        "--password-stdin",
        token_registry.registry.host,
        input=token_registry.password,
    )
    assert res.code == 0, res.err
    assert engine.pull(private.reference).image.id == private.image_id


def _write_registries(config_dir: Path, host: str, **settings) -> None:
    body = "".join(
        f"{k} = {json.dumps(v) if not isinstance(v, bool) else str(v).lower()}\n"
        for k, v in settings.items()
    )
    (config_dir / "registries.toml").write_text(f'[registries."{host}"]\n{body}')


def test_tls_registry_with_test_ca(tls_registry, tuidock_root, tuidock_config) -> None:
    img = tls_registry.images["tls/busybox"]
    host = tls_registry.registry.host
    _write_registries(tuidock_config, host, insecure=False)
    with pytest.raises(RegistryError) as info:
        Engine(tuidock_root).pull(img.reference)
    assert "TLS" in str(info.value) and "ca_file" in str(info.value)
    _write_registries(tuidock_config, host, insecure=False, ca_file=str(tls_registry.ca))
    assert Engine(tuidock_root).pull(img.reference).image.id == img.image_id


def test_loopback_tls_registry_is_insecure_by_default(tls_registry, tuidock_root) -> None:
    img = tls_registry.images["tls/busybox"]
    assert Engine(tuidock_root).pull(img.reference).image.id == img.image_id


def test_mirror_serves_docker_io_names(registry, tuidock_root, tuidock_config) -> None:
    from tuidock.runtime.image.registry.config import write_mirror

    img = registry.images["oci/busybox"]
    write_mirror("docker.io", registry.registry.host, tuidock_config / "registries.toml")
    # docker.io/oci/busybox is looked up as oci/busybox on the mirror.
    result = Engine(tuidock_root).pull("oci/busybox")
    assert result.image.id == img.image_id
    assert result.image.repo_tags == ["docker.io/oci/busybox:latest"]


def test_unknown_image_and_bad_names_are_clean_cli_errors(registry, tuidock_root) -> None:
    host = registry.registry.host
    assert_clean_error(tuidock("pull", f"{host}/does/not-exist:1"))
    assert_clean_error(tuidock("pull", "Not_Valid"))
    assert_clean_error(tuidock("pull", "127.0.0.1:1/nothing-listens-here"))
    assert tuidock("images", "-q").out == ""


def test_capitals_in_a_repository_name_are_refused_by_every_command(tuidock_root) -> None:
    # Refused before any lookup: `UPPERCASE` is a Docker Hub namespace, not a host.
    want = "Error: invalid reference format: repository name (UPPERCASE/img) must be lowercase"
    for args in (
        ["pull", "UPPERCASE/img"],
        ["run", "--rm", "UPPERCASE/img"],
        ["create", "UPPERCASE/img"],
        ["tag", "busybox", "UPPERCASE/img"],
        ["push", "UPPERCASE/img"],
        ["rmi", "UPPERCASE/img"],
        ["save", "-o", "/dev/null", "UPPERCASE/img"],
        ["history", "UPPERCASE/img"],
    ):
        res = tuidock(*args)
        assert_clean_error(res)
        assert want in res.err, (args, res.err)


def test_cli_pull_output_plain(registry, tuidock_root) -> None:
    img = registry.images["oci/busybox"]
    res = tuidock("pull", img.reference)
    assert res.code == 0, res.err
    lines = res.out.splitlines()
    assert lines[0] == f"latest: Pulling from {img.name}"
    short = hex_of(img.layer_digests[0])[:12]
    assert f"{short}: Pull complete" in lines
    assert f"Digest: {img.manifest_digest}" in lines
    assert lines[-2] == f"Status: Downloaded newer image for {img.reference}"
    assert lines[-1] == img.reference
