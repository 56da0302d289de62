"""Backend.copy_from_container / copy_to_container on every backend: the embedded
engine and the session's real dockerd and Podman service (`backend`).

One scenario runs on a running and on a stopped container of each: a file and a
directory out (content on disk, counts and where it landed), "/." contents,
a directory in (read back out), and the errors docker cp gives: a missing
container path, a missing host parent directory (nothing left behind), a
missing host source.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from clihelp import tuidock
from containerhelp import image_fixture
from uihelp import local_backend

from tuidock.backends.base import Backend, RunSpec
from tuidock.errors import TuidockError

__all__ = ["image_fixture"]  # a fixture, used by name

SETUP = "mkdir -p /data/sub && echo hi > /data/a && echo yo-yo > /data/sub/b"


def exercise(backend: Backend, cid: str, tmp: Path) -> None:
    tmp.mkdir()
    out = backend.copy_from_container(cid, "/data/a", str(tmp))
    assert (tmp / "a").read_text() == "hi\n"
    assert (out.files, out.bytes, out.dest) == (1, 3, f"{tmp}/a")

    out = backend.copy_from_container(cid, "/data", str(tmp / "tree"))
    assert (tmp / "tree" / "a").read_text() == "hi\n"
    assert (tmp / "tree" / "sub" / "b").read_text() == "yo-yo\n"
    assert (out.files, out.bytes, out.dest) == (2, 9, str(tmp / "tree"))

    (tmp / "into").mkdir()
    out = backend.copy_from_container(cid, "/data/.", str(tmp / "into"))
    assert sorted(p.name for p in (tmp / "into").iterdir()) == ["a", "sub"]
    assert out.dest == str(tmp / "into")

    src = tmp / f"up-{uuid.uuid4().hex[:6]}"
    (src / "deep").mkdir(parents=True)
    (src / "x.txt").write_text("ex\n")
    (src / "deep" / "y.txt").write_text("why\n")
    out = backend.copy_to_container(cid, str(src), "/tmp")
    assert (out.files, out.bytes, out.dest) == (2, 7, f"/tmp/{src.name}")
    back = tmp / "back"
    backend.copy_from_container(cid, f"/tmp/{src.name}", str(back))
    assert (back / "x.txt").read_text() == "ex\n"
    assert (back / "deep" / "y.txt").read_text() == "why\n"

    with pytest.raises(TuidockError) as err:
        backend.copy_from_container(cid, f"/no-{uuid.uuid4().hex[:6]}", str(tmp / "n"))
    assert err.value.message and "\n" not in err.value.message
    assert not (tmp / "n").exists()
    with pytest.raises(TuidockError):
        backend.copy_from_container(cid, "/data", str(tmp / "missing" / "here"))
    assert not (tmp / "missing").exists()
    with pytest.raises(TuidockError) as err:
        backend.copy_to_container(cid, str(tmp / "not-there"), "/data")
    assert "not-there" in err.value.message


@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_local_copy_both_ways(image: str, tuidock_root, tmp_path: Path, running: bool) -> None:
    name = f"tdk-cp-{uuid.uuid4().hex[:8]}"
    res = tuidock("run", "-d", "--name", name, image, "sh", "-c", f"{SETUP}; sleep 1000")
    assert res.code == 0, res.err
    cid = res.out.strip()
    try:
        backend = local_backend()
        # The script's files exist once the copy of one of them works.
        _wait_for_file(backend, cid, tmp_path)
        if not running:
            assert tuidock("stop", "-t", "0", cid).code == 0
        exercise(backend, cid, tmp_path / "w")
    finally:
        tuidock("rm", "-f", cid)


def test_docker_copy_both_ways(backend, engine, registry, tmp_path: Path) -> None:
    spec = RunSpec(
        registry.ref("oci/busybox"),
        ["sh", "-c", f"{SETUP}; sleep 1000"],
        name=f"tdk-cp-{uuid.uuid4().hex[:8]}",
        network="none",
    )
    cid = backend.run(spec).id
    try:
        _wait_for_file(backend, cid, tmp_path)
        exercise(backend, cid, tmp_path / "running")
        backend.stop(cid, timeout=0)
        exercise(backend, cid, tmp_path / "stopped")
        with pytest.raises(TuidockError) as err:
            backend.copy_from_container("tdk-no-such-" + uuid.uuid4().hex[:6], "/", str(tmp_path))
        assert err.value.message.startswith("No such container")
    finally:
        backend.remove(cid, force=True)


def _wait_for_file(backend: Backend, cid: str, tmp: Path) -> None:
    from containerhelp import wait_for

    probe = tmp / "probe"
    probe.mkdir()

    def ready() -> bool:
        try:
            backend.copy_from_container(cid, "/data/sub/b", str(probe))
        except TuidockError:
            return False
        return True

    wait_for(ready, timeout=30, what="the container's files")
