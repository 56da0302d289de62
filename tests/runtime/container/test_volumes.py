"""Volumes: `volume` commands, -v/--mount/--tmpfs on real containers, rm -v."""

from __future__ import annotations

import json
from pathlib import Path

from clihelp import assert_clean_error, tuidock
from containerhelp import image_fixture, inspect, no_leftovers_fixture

__all__ = ["image_fixture", "no_leftovers_fixture"]  # fixtures, used by name


def run_ok(*args: str, input: str | None = None) -> str:
    res = tuidock(*args, input=input)
    assert res.code == 0, (res.code, res.out, res.err)
    return res.out


def volume_names() -> list[str]:
    return run_ok("volume", "ls", "-q").split()


def test_volume_create_ls_inspect_rm_prune(tuidock_root: Path) -> None:
    assert run_ok("volume", "create", "data1").strip() == "data1"
    assert run_ok("volume", "create", "data1").strip() == "data1"  # existing: no error
    unnamed = run_ok("volume", "create", "--label", "k=v").strip()
    assert len(unnamed) == 64
    assert set(volume_names()) == {"data1", unnamed}
    assert "DRIVER" in run_ok("volume", "ls") and "local" in run_ok("volume", "ls")

    (doc,) = json.loads(run_ok("volume", "inspect", "data1"))
    assert doc["Name"] == "data1" and doc["Driver"] == "local" and doc["Scope"] == "local"
    assert doc["Mountpoint"] == str(tuidock_root / "volumes" / "data1" / "_data")
    assert Path(doc["Mountpoint"]).is_dir() and doc["CreatedAt"]
    assert json.loads(run_ok("volume", "inspect", unnamed))[0]["Labels"] == {"k": "v"}
    assert run_ok("volume", "inspect", "-f", "{{.Driver}}", "data1").strip() == "local"

    assert_clean_error(tuidock("volume", "create", "bad/name"))
    assert_clean_error(tuidock("volume", "inspect", "nosuch"))
    assert_clean_error(tuidock("volume", "rm", "nosuch"))
    assert tuidock("volume", "rm", "-f", "nosuch").code == 0

    assert run_ok("volume", "rm", "data1").strip() == "data1"
    assert not (tuidock_root / "volumes" / "data1").exists()
    # Without -a, prune takes only anonymous volumes (Docker 23+); -a takes named ones too.
    assert_clean_error(tuidock("volume", "prune"))  # no terminal, no -f
    assert unnamed not in run_ok("volume", "prune", "-f")
    out = run_ok("volume", "prune", "-a", "-f")
    assert unnamed in out and "Total reclaimed space" in out
    assert volume_names() == []


def test_named_volume_persists_and_is_populated_from_the_image(image: str) -> None:
    run_ok("run", "--rm", "-v", "vol1:/data", image, "sh", "-c", "echo kept > /data/f")
    assert run_ok("run", "--rm", "-v", "vol1:/data", image, "cat", "/data/f") == "kept\n"
    # A new empty volume gets what the image has at the target.
    etc = run_ok("run", "--rm", image, "ls", "/etc").split()
    assert "passwd" in etc
    assert run_ok("run", "--rm", "-v", "etcvol:/etc", image, "ls", "/etc").split() == etc
    # Read-only.
    res = tuidock("run", "--rm", "-v", "vol1:/data:ro", image, "touch", "/data/x")
    assert res.code != 0
    run_ok("volume", "rm", "vol1", "etcvol")


def test_volume_rm_refuses_a_volume_in_use(image: str) -> None:
    run_ok("create", "--name", "user", "-v", "busy:/data", image, "true")
    res = tuidock("volume", "rm", "busy")
    assert res.code != 0
    assert "volume is in use" in res.err
    assert "busy" in volume_names()
    assert "busy" not in run_ok("volume", "prune", "-a", "-f")
    run_ok("rm", "user")
    run_ok("volume", "rm", "busy")


def test_bind_mounts_and_tmpfs(image: str, tmp_path: Path) -> None:
    host = tmp_path / "share"
    host.mkdir()
    (host / "in").write_text("from host\n")
    out = run_ok(
        "run", "--rm", "-v", f"{host}:/mnt", image, "sh", "-c", "cat /mnt/in; echo w > /mnt/out"
    )
    assert out == "from host\n"
    assert (host / "out").read_text() == "w\n"
    res = tuidock("run", "--rm", "-v", f"{host}:/mnt:ro", image, "touch", "/mnt/y")
    assert res.code != 0 and not (host / "y").exists()
    # -v creates a missing host path, as Docker; --mount refuses it.
    missing = tmp_path / "made" / "by-v"
    run_ok("run", "--rm", "-v", f"{missing}:/m", image, "true")
    assert missing.is_dir()
    res = tuidock(
        "run", "--rm", "--mount", f"type=bind,source={tmp_path}/nope,target=/m", image, "true"
    )
    assert_clean_error(res)
    assert "bind source path does not exist" in res.err
    out = run_ok(
        "run",
        "--rm",
        "--mount",
        f"type=bind,source={host},target=/m,readonly",
        image,
        "sh",
        "-c",
        "cat /m/in; touch /m/z 2>/dev/null || echo refused",
    )
    assert out == "from host\nrefused\n"
    out = run_ok(
        "run",
        "--rm",
        "--tmpfs",
        "/scratch:size=1m",
        image,
        "sh",
        "-c",
        "grep /scratch /proc/mounts",
    )
    assert "tmpfs" in out and "size=1024k" in out
    out = run_ok(
        "run",
        "--rm",
        "--mount",
        "type=tmpfs,target=/t",
        image,
        "sh",
        "-c",
        "grep ' /t ' /proc/mounts",
    )
    assert "tmpfs" in out
    out = run_ok(
        "run", "--rm", "--mount", "type=volume,source=mvol,target=/d", image, "ls", "-d", "/d"
    )
    assert out == "/d\n"
    run_ok("volume", "rm", "mvol")
    assert_clean_error(tuidock("run", "--rm", "-v", "a:b", image, "true"))
    assert_clean_error(tuidock("run", "--rm", "-v", "/x", "--tmpfs", "/x", image, "true"))


def test_anonymous_volumes_inspect_mounts_and_rm_v(image: str, tmp_path: Path) -> None:
    run_ok(
        "create",
        "--name",
        "anon",
        "-v",
        "/data",
        "-v",
        "named:/n:ro",
        "-v",
        f"{tmp_path}:/h",
        "--tmpfs",
        "/tmp",
        image,
        "true",
    )
    mounts = {m["Destination"]: m for m in inspect("anon")["Mounts"]}
    assert set(mounts) == {"/data", "/n", "/h", "/tmp"}
    anon = mounts["/data"]
    assert anon["Type"] == "volume" and len(anon["Name"]) == 64 and anon["Driver"] == "local"
    assert anon["RW"] is True and Path(anon["Source"]).is_dir()
    assert mounts["/n"]["Name"] == "named" and mounts["/n"]["RW"] is False
    assert mounts["/n"]["Mode"] == "z" and mounts["/n"]["Type"] == "volume"
    assert mounts["/h"]["Type"] == "bind" and mounts["/h"]["Source"] == str(tmp_path)
    assert mounts["/tmp"]["Type"] == "tmpfs"
    assert set(volume_names()) == {anon["Name"], "named"}
    run_ok("rm", "-v", "anon")
    # rm -v takes anonymous volumes only; the named one stays.
    assert volume_names() == ["named"]
    run_ok("create", "--name", "keep", "-v", "/data", image, "true")
    kept = inspect("keep")["Mounts"][0]["Name"]
    run_ok("rm", "keep")
    assert kept in volume_names()
    run_ok("volume", "prune", "-f")
    assert volume_names() == ["named"]
    run_ok("volume", "rm", "named")


def test_image_volumes_become_anonymous_volumes(image: str, tmp_path: Path) -> None:
    run_ok("create", "--name", "src", image, "true")
    tar = tmp_path / "fs.tar"
    run_ok("export", "-o", str(tar), "src")
    run_ok("rm", "src")
    run_ok("import", "-c", "VOLUME /vol /etc", str(tar), "withvol:1")
    run_ok("create", "--name", "vc", "-v", "mine:/vol", "withvol:1", "cat", "/etc/passwd")
    mounts = {m["Destination"]: m for m in inspect("vc")["Mounts"]}
    # -v on an image VOLUME replaces it; the other one gets an anonymous volume, filled
    # from the image; /etc/hosts & co. are still mounted over it.
    assert mounts["/vol"]["Name"] == "mine"
    assert mounts["/etc"]["Type"] == "volume" and len(mounts["/etc"]["Name"]) == 64
    run_ok("start", "vc")
    run_ok("wait", "vc")
    assert "root" in run_ok("logs", "vc")
    out = run_ok("run", "--rm", "withvol:1", "sh", "-c", "cat /etc/hostname /etc/passwd")
    assert "root" in out
    run_ok("rm", "-v", "vc")
    # --rm's own anonymous volumes are not removed yet (see the report): prune them.
    run_ok("volume", "prune", "-f")
    assert volume_names() == ["mine"]
    run_ok("volume", "rm", "mine")
    run_ok("rmi", "withvol:1")


def test_run_rm_removes_its_anonymous_volumes(image: str) -> None:
    run_ok("volume", "create", "keepme")
    out = run_ok(
        "run",
        "--rm",
        "-v",
        "/data",
        "-v",
        "keepme:/k",
        image,
        "sh",
        "-c",
        "echo x > /data/f && echo y > /k/f && cat /data/f /k/f",
    )
    assert out == "x\ny\n"
    # --rm takes the anonymous volume with the container; the named one stays.
    assert volume_names() == ["keepme"]
    run_ok("volume", "rm", "keepme")


def _mounts_mentioning(text: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if text in line]


def test_filling_a_volume_killed_half_way_leaves_no_mount(tmp_path: Path) -> None:
    """The image view for the copy lives in the filler's own mount namespace."""
    import os
    import signal
    import subprocess
    import sys
    import time

    lower = tmp_path / "layer"
    (lower / "data").mkdir(parents=True)
    for i in range(4000):
        (lower / "data" / f"f{i}").write_bytes(os.urandom(64 * 1024))
    volume = tmp_path / "vol"
    (volume / "_data").mkdir(parents=True)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tuidock.runtime.container.volumepopulate",
            str(volume / "_data"),
            "/data",
            str(lower),
        ],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not any((volume / "_data").iterdir()):
            assert proc.poll() is None, "the copy ended before it could be interrupted"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert _mounts_mentioning(str(volume)) == [], "the view is never seen by the host"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert _mounts_mentioning(str(volume)) == []
