"""images, inspect, tag, rmi and image prune, driven through the CLI as users type them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clihelp import assert_clean_error, tuidock


def pull(ref: str) -> None:
    res = tuidock("pull", "-q", ref)
    assert res.code == 0, res.err


@pytest.fixture
def busybox(registry, tuidock_root: Path):
    img = registry.images["oci/busybox"]
    pull(img.reference)
    return img


def test_images_table(busybox) -> None:
    res = tuidock("images")
    assert res.code == 0
    header, *rows = res.out.splitlines()
    assert header.split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    repo = busybox.reference.rsplit(":", 1)[0]
    cells = rows[0].split()
    assert cells[0] == repo and cells[1] == "latest"
    assert cells[2] == busybox.image_id[7:19]
    assert cells[-1].endswith("MB")


def test_images_quiet_no_trunc_filter(busybox, registry) -> None:
    repo = busybox.reference.rsplit(":", 1)[0]
    assert tuidock("images", "-q").out.split() == [busybox.image_id[7:19]]
    # The issue's own example: `images -q --no-trunc NAME` prints sha256:<hex>.
    assert tuidock("images", "-q", "--no-trunc", repo).out.split() == [busybox.image_id]
    assert tuidock("images", "-q", f"{repo}:latest").out.split() == [busybox.image_id[7:19]]
    assert tuidock("images", "-q", f"{repo}:nope").out == ""
    assert tuidock("images", "-q", "busybox").out == ""


def test_images_digests_and_json(busybox) -> None:
    res = tuidock("images", "--digests")
    assert "DIGEST" in res.out.splitlines()[0]
    assert busybox.manifest_digest in res.out
    rows = [json.loads(line) for line in tuidock("images", "--format", "json").out.splitlines()]
    assert rows[0]["ID"] == busybox.image_id[7:19]
    assert rows[0]["Tag"] == "latest"
    assert rows[0]["Digest"] == busybox.manifest_digest
    custom = tuidock("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").out.strip()
    assert custom == f"{busybox.reference} {busybox.image_id[7:19]}"


def test_inspect_has_docker_fields(busybox) -> None:
    res = tuidock("inspect", busybox.reference)
    assert res.code == 0, res.err
    (doc,) = json.loads(res.out)
    config = json.loads(busybox.config)
    assert doc["Id"] == busybox.image_id
    assert doc["RepoTags"] == [busybox.reference]
    assert doc["RepoDigests"] == [
        f"{busybox.reference.rsplit(':', 1)[0]}@{busybox.manifest_digest}"
    ]
    assert doc["Created"] == config["created"]
    assert doc["Config"]["Cmd"] == config["config"]["Cmd"]
    assert doc["RootFS"] == {"Type": "layers", "Layers": list(busybox.diff_ids)}
    assert doc["Architecture"] == config["architecture"] and doc["Os"] == "linux"
    assert doc["Size"] > 0
    assert (
        tuidock("image", "inspect", "-f", "{{.Id}}", busybox.image_id[7:12]).out.strip()
        == busybox.image_id
    )


def test_unique_prefix_and_ambiguity(busybox) -> None:
    assert (
        tuidock("inspect", "-f", "{{.Id}}", busybox.image_id[7:10]).out.strip() == busybox.image_id
    )
    missing = tuidock("inspect", "nosuchimage")
    assert missing.code != 0 and "No such object: nosuchimage" in missing.err


def test_tag_and_untag_then_delete(busybox) -> None:
    assert tuidock("tag", busybox.reference, "mybox:1").code == 0
    assert tuidock("tag", busybox.image_id[7:15], "example.com/team/box").code == 0
    listing = tuidock("images", "--format", "{{.Repository}}:{{.Tag}}").out.split()
    assert sorted(listing) == sorted([busybox.reference, "mybox:1", "example.com/team/box:latest"])

    # By name:tag: only that tag goes while others remain.
    res = tuidock("rmi", "mybox:1")
    assert res.code == 0 and res.out.splitlines() == ["Untagged: mybox:1"]
    # By ID with tags in several repositories: refused without -f, like Docker.
    refused = tuidock("rmi", busybox.image_id[7:19])
    assert_clean_error(refused)
    assert "must be forced" in refused.err
    forced = tuidock("rmi", "-f", busybox.image_id[7:19])
    assert forced.code == 0, forced.err
    assert f"Deleted: {busybox.image_id}" in forced.out
    assert "Untagged: example.com/team/box:latest" in forced.out
    assert tuidock("images", "-q").out == ""


def test_rmi_removes_unused_layers_only(registry, tuidock_root: Path) -> None:
    base, layered = registry.images["oci/busybox"], registry.images["layers/whiteout"]
    pull(base.reference)
    pull(layered.reference)
    layers = lambda: sorted(p.name for p in (tuidock_root / "layers").iterdir())  # noqa: E731
    shared = base.diff_ids[0][7:] in layers()
    before = layers()
    res = tuidock("rmi", layered.reference)
    assert res.code == 0, res.err
    after = layers()
    # The base layer is shared with busybox when it is the same diff: it stays.
    assert len(after) == len(before) - (len(layered.diff_ids) - (1 if shared else 0))
    assert base.diff_ids[0][7:] in after
    blobs = {p.name for p in (tuidock_root / "blobs" / "sha256").iterdir()}
    assert layered.config_digest[7:] not in blobs
    assert base.config_digest[7:] in blobs


def test_rmi_several_and_missing(busybox) -> None:
    res = tuidock("rmi", busybox.reference, "nope:1")
    assert res.code == 1
    assert f"Deleted: {busybox.image_id}" in res.out
    assert "No such image: nope:1" in res.err


def test_rmi_refuses_image_used_by_container(busybox, tuidock_root: Path) -> None:
    # A container record as the container store keeps them.
    cdir = tuidock_root / "containers" / ("c" * 64)
    cdir.mkdir(parents=True)
    (cdir / "config.json").write_text(json.dumps({"Image": busybox.image_id}))
    refused = tuidock("rmi", busybox.reference)
    assert_clean_error(refused)
    assert "is using its referenced image" in refused.err
    forced = tuidock("rmi", "-f", busybox.reference)
    assert forced.code == 0
    assert "Deleted" not in forced.out  # untagged, kept for the container
    assert tuidock("images", "-q").out.split() == [busybox.image_id[7:19]]


def test_image_prune(registry, tuidock_root: Path) -> None:
    a, b = registry.images["oci/busybox"], registry.images["layers/whiteout"]
    pull(a.reference)
    pull(b.reference)
    # Moving a's only tag onto b leaves a dangling, as `docker tag` does.
    assert tuidock("tag", b.reference, a.reference).code == 0
    rows = tuidock("images", "--format", "{{.Repository}} {{.Tag}} {{.ID}}").out.splitlines()
    assert f"<none> <none> {a.image_id[7:19]}" in rows

    assert_clean_error(tuidock("image", "prune"))  # no terminal to confirm on
    res = tuidock("image", "prune", "-f")
    assert res.code == 0 and "Total reclaimed space" in res.out
    assert f"deleted: {a.image_id}" in res.out
    assert set(tuidock("images", "-q").out.split()) == {b.image_id[7:19]}
    res = tuidock("image", "prune", "-a", "-f")
    assert f"deleted: {b.image_id}" in res.out
    assert tuidock("images", "-q").out == ""
    assert list((tuidock_root / "layers").iterdir()) == []
    assert list((tuidock_root / "blobs" / "sha256").iterdir()) == []


def test_images_name_tag_lists_only_matching_rows(busybox) -> None:
    repo = busybox.reference.rsplit(":", 1)[0]
    for tag in ("v2s2", "zstd"):
        assert tuidock("tag", busybox.reference, f"{repo}:{tag}").code == 0
    assert tuidock("tag", busybox.reference, "other/name:x").code == 0
    fmt = ("--format", "{{.Repository}}:{{.Tag}}")
    assert tuidock("images", *fmt, f"{repo}:latest").out.split() == [f"{repo}:latest"]
    assert tuidock("images", *fmt, f"{repo}:zstd").out.split() == [f"{repo}:zstd"]
    assert sorted(tuidock("images", *fmt, repo).out.split()) == [
        f"{repo}:{t}" for t in ("latest", "v2s2", "zstd")
    ]
    assert len(tuidock("images", f"{repo}:latest").out.splitlines()) == 2  # header, one row
    res = tuidock("images", "-q", "--no-trunc", f"{repo}:latest")
    assert res.out.split() == [busybox.image_id]
    assert tuidock("images", *fmt, "other/name").out.split() == ["other/name:x"]
