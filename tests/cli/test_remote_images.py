"""images, rmi, tag, inspect, history, image prune, save/load/import, pull and push
on a Docker and a Podman engine (tests/rig/engines.py), each compared with what
the docker CLI prints for the same engine. Every test runs on both engines."""

from __future__ import annotations

import io
import json
import os
import pty
import socket
import subprocess
import sys
import tarfile

from clihelp import assert_clean_error, tuidock
from dockeroracle import daemon_error, docker, lines, name


def _pulled(engine, registry) -> str:
    ref = registry.ref("oci/busybox")
    docker(engine, "pull", "-q", ref)
    return ref


def _tagged(engine, registry, repo: str = "tdk/img") -> str:
    """A uniquely named tag of the fixture busybox on the engine."""
    tag = f"{name(repo)}:v1"
    docker(engine, "tag", _pulled(engine, registry), tag)
    return tag


def test_images_rows_match_docker(engine, registry):
    tag = _tagged(engine, registry)
    repo = tag.split(":")[0]
    try:
        for extra in ([], ["--digests"], ["--no-trunc"], ["-q"], ["--format", "{{json .}}"]):
            ours = tuidock("-H", engine.host, "images", *extra, repo)
            assert ours.code == 0, ours.err
            theirs = docker(engine, "images", *extra, repo)
            got, want = lines(ours.out), lines(theirs.stdout)
            if extra[:1] == ["--format"]:
                got = [json.dumps(json.loads(x), sort_keys=True) for x in got]
                want = [json.dumps(json.loads(x), sort_keys=True) for x in want]
            # The docker CLI orders an image's names as a Go map gives them: any order.
            assert sorted(got) == sorted(want), extra
            if extra[:1] not in (["-q"], ["--format"]):
                assert got[0] == want[0], extra  # the header first
        table = lines(tuidock("-H", engine.host, "images", repo).out)
        assert table[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
        row = next(r.split() for r in table[1:] if r.startswith(repo + " "))
        assert row[1] == "v1" and len(row[2]) == 12
    finally:
        docker(engine, "rmi", tag, check=False)


def test_rmi_prints_what_docker_prints_and_missing_is_one_line(engine, registry):
    tag = _tagged(engine, registry)
    res = tuidock("-H", engine.host, "rmi", tag)
    assert res.code == 0, res.err
    assert res.out.splitlines()[0].startswith("Untagged: ")
    assert tag.split(":")[0] in res.out.splitlines()[0]
    assert docker(engine, "images", "-q", tag).stdout == ""

    missing = name("tdk/missing")
    res = tuidock("-H", engine.host, "rmi", missing)
    assert_clean_error(res)
    assert res.code == 1
    theirs = docker(engine, "rmi", missing, check=False)
    assert res.err.splitlines()[0] == "Error: " + daemon_error(theirs.stderr)


def test_tag_and_inspect_as_docker(engine, registry):
    source = _pulled(engine, registry)
    target = f"{name('tdk/tagged')}:t1"
    try:
        res = tuidock("-H", engine.host, "tag", source, target)
        assert res.code == 0, res.err
        ours = tuidock("-H", engine.host, "inspect", "-f", "{{.Id}}", target)
        assert lines(ours.out) == lines(docker(engine, "inspect", "-f", "{{.Id}}", target).stdout)
        doc = json.loads(tuidock("-H", engine.host, "image", "inspect", target).out)
        assert doc[0]["Id"] == ours.out.strip()
        missing = name("nosuch")
        res = tuidock("-H", engine.host, "inspect", missing)
        assert_clean_error(res)
        theirs = docker(engine, "inspect", missing, check=False)
        assert res.out.strip() == "[]"
        assert res.err.strip() == theirs.stderr.strip() == f"Error: No such object: {missing}"
    finally:
        docker(engine, "rmi", target, check=False)


def test_history_matches_docker(engine, registry):
    ref = _pulled(engine, registry)
    for extra in ([], ["--no-trunc"], ["-H=false"], ["-q"], ["--format", "{{.ID}}|{{.Size}}"]):
        ours = tuidock("-H", engine.host, "history", *extra, ref)
        assert ours.code == 0, ours.err
        assert lines(ours.out) == lines(docker(engine, "history", *extra, ref).stdout), extra


def test_save_load_and_import(engine, registry, tmp_path):
    tag = _tagged(engine, registry, "tdk/saved")
    archive = tmp_path / "saved.tar"
    try:
        res = tuidock("-H", engine.host, "save", "-o", str(archive), tag)
        assert res.code == 0, res.err
        with tarfile.open(archive) as tar:
            assert "manifest.json" in tar.getnames()
        docker(engine, "rmi", tag)
        res = tuidock("-H", engine.host, "load", "-i", str(archive))
        assert res.code == 0, res.err
        loaded = res.out.strip().removeprefix("Loaded image: ")
        assert loaded.split("/")[-1] == tag.split("/")[-1]  # Podman names it docker.io/...
        assert docker(engine, "images", "-q", tag).stdout.strip()
    finally:
        docker(engine, "rmi", tag, check=False)

    rootfs = io.BytesIO()
    with tarfile.open(fileobj=rootfs, mode="w") as tar:
        data = b"imported\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    src = tmp_path / "rootfs.tar"
    src.write_bytes(rootfs.getvalue())
    imported = f"{name('tdk/imported')}:i1"
    try:
        res = tuidock("-H", engine.host, "import", str(src), imported)
        assert res.code == 0, res.err
        image_id = res.out.strip()
        assert image_id.startswith("sha256:") and len(image_id) == 71
        listed = docker(engine, "images", "--no-trunc", "-q", imported).stdout.split()
        assert listed == [image_id]
    finally:
        docker(engine, "rmi", imported, check=False)


def test_save_refuses_a_terminal_and_load_a_missing_file(engine, registry, tmp_path):
    ref = _pulled(engine, registry)
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "tuidock", "-H", engine.host, "save", ref],
            stdout=follower,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert proc.returncode != 0
    assert proc.stderr.splitlines()[0] == "Error: cowardly refusing to save to a terminal."

    res = tuidock("-H", engine.host, "load", "-i", str(tmp_path / "none.tar"))
    assert_clean_error(res)


def test_image_prune_deletes_a_dangling_image(engine, tmp_path):
    rootfs = io.BytesIO()
    with tarfile.open(fileobj=rootfs, mode="w") as tar:
        data = name("dangling").encode()  # unique content: a new image ID
        info = tarfile.TarInfo("id.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    src = tmp_path / "rootfs.tar"
    src.write_bytes(rootfs.getvalue())
    res = tuidock("-H", engine.host, "import", str(src))
    assert res.code == 0, res.err
    image_id = res.out.strip()
    res = tuidock("-H", engine.host, "image", "prune", "-f")
    assert res.code == 0, res.err
    out = res.out.splitlines()
    assert out[0] == "Deleted Images:"
    assert f"deleted: {image_id}" in out
    assert out[-1].startswith("Total reclaimed space: ")
    assert docker(engine, "images", "-q", "--no-trunc").stdout.count(image_id) == 0

    res = tuidock("-H", engine.host, "image", "prune")  # no terminal: -f is required
    assert_clean_error(res)


def test_pull_prints_docker_lines_then_the_reference(engine, registry):
    ref = registry.ref("layers/whiteout")
    docker(engine, "rmi", ref, check=False)
    try:
        res = tuidock("-H", engine.host, "pull", ref)
        assert res.code == 0, res.err
        out = res.out.splitlines()
        theirs = docker(engine, "pull", ref).stdout.splitlines()  # now up to date
        assert out[-1] == theirs[-1] == ref
        assert out[-2] == f"Status: Downloaded newer image for {ref}"
        if engine.name == "docker":  # Podman's compat pull sends no status of its own
            assert theirs[-2] == f"Status: Image is up to date for {ref}"
        layer_lines = [x for x in out if x[:12].isalnum() and x[12:14] == ": "]
        assert layer_lines, res.out
        if engine.name == "docker":  # Podman's compat pull sends no digest line
            assert any(x.startswith("Digest: sha256:") for x in out)
        res = tuidock("-H", engine.host, "pull", "-q", ref)
        assert (res.code, res.out) == (0, ref + "\n")
    finally:
        docker(engine, "rmi", ref, check=False)


def test_pull_missing_tag_and_refused_registry_are_short_errors(engine, registry):
    res = tuidock("-H", engine.host, "pull", registry.ref("oci/busybox", name("nosuch")))
    assert_clean_error(res)
    assert "manifest unknown" in res.err
    assert "Pulling from" not in res.out

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free once closed: nothing listens there
    res = tuidock("-H", engine.host, "pull", f"127.0.0.1:{port}/tdk/x:1")
    assert_clean_error(res)
    assert "connection refused" in res.err
    assert "Error response from daemon" not in res.err


def test_push_reports_the_digest(engine, registry):
    target = f"{registry.host}/{name('tdk/pushed')}:p1"
    docker(engine, "tag", _pulled(engine, registry), target)
    try:
        res = tuidock("-H", engine.host, "push", target)
        assert res.code == 0, res.err
        out = res.out.splitlines()
        assert out[0].startswith("The push refers to repository [")
        assert out[-1].startswith("p1: digest: sha256:")
        res = tuidock("-H", engine.host, "push", "-q", target)
        assert (res.code, res.out.strip()) == (0, target)
        res = tuidock("-H", engine.host, "push", f"{registry.host}/{name('tdk/absent')}:x")
        assert_clean_error(res)
    finally:
        docker(engine, "rmi", target, check=False)
