"""The Docker toolbox commands (stats, top, diff, export, import) on real containers."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from clihelp import assert_clean_error, tuidock
from containerhelp import image_fixture, no_leftovers_fixture

from tuidock.runtime.container.stats import StatsRow, parse_net_dev

__all__ = ["image_fixture", "no_leftovers_fixture"]  # fixtures, used by name


def run_ok(*args: str, input: str | None = None) -> str:
    res = tuidock(*args, input=input)
    assert res.code == 0, (res.code, res.out, res.err)
    return res.out


# -- stats -------------------------------------------------------------------------------------


def test_parse_net_dev_skips_loopback() -> None:
    text = (
        "Inter-|   Receive                            |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes ...\n"
        "    lo:     500       5    0    0    0     0          0         0      500 5 0 0 0 0 0 0\n"
        "  eth0:    1200      10    0    0    0     0          0         0      3400 8 0 0 0 0 0 0\n"
        "  eth1:      10       1    0    0    0     0          0         0        5 1 0 0 0 0 0 0\n"
    )
    assert parse_net_dev(text) == (1210, 3405)


def test_stats_row_formats_like_docker() -> None:
    row = StatsRow("a" * 64, "web", 12.345, 1536 * 1024, 2 * 1024**3, 1200, 0, 4096, 0, 3)
    cells = row.cells()
    assert cells["ID"] == "a" * 12
    assert cells["CPUPerc"] == "12.35%"
    assert cells["MemUsage"] == "1.5MiB / 2GiB"
    assert cells["MemPerc"] == "0.07%"
    assert cells["NetIO"] == "1.2kB / 0B"
    assert cells["BlockIO"] == "4.1kB / 0B"
    assert cells["PIDs"] == "3"


def test_stats_no_stream_measures_a_busy_container(image: str) -> None:
    busy = run_ok(
        "run", "-d", "--name", "busy", "-m", "64m", image, "sh", "-c", "while :; do :; done"
    ).strip()
    idle = run_ok("run", "-d", "--name", "idle", image, "sleep", "60").strip()
    out = run_ok("stats", "--no-stream", "--format", "json")
    rows = {r["Name"]: r for r in map(json.loads, out.splitlines())}
    assert set(rows) == {"busy", "idle"}
    assert rows["busy"]["ID"] == busy[:12]
    # A spinning shell uses about one CPU: far above zero, at most the host's CPUs.
    cpu = float(rows["busy"]["CPUPerc"].rstrip("%"))
    assert 20.0 < cpu <= os.cpu_count() * 100 + 5, rows["busy"]
    assert rows["busy"]["MemUsage"].endswith(" / 64MiB"), rows["busy"]
    assert rows["idle"]["PIDs"] == "1"
    assert float(rows["idle"]["CPUPerc"].rstrip("%")) < 5.0
    # The default table: Docker's columns, one row per running container.
    out = run_ok("stats", "--no-stream", idle[:8])
    lines = out.splitlines()
    assert lines[0].split() == [
        "CONTAINER", "ID", "NAME", "CPU", "%", "MEM", "USAGE", "/", "LIMIT",
        "MEM", "%", "NET", "I/O", "BLOCK", "I/O", "PIDS",
    ]  # fmt: skip
    assert len(lines) == 2 and lines[1].startswith(idle[:12]) and " idle " in lines[1]
    # A template, as scripts use it.
    out = run_ok("stats", "--no-stream", "--format", "{{.Name}}: {{.PIDs}}", "idle")
    assert out == "idle: 1\n"


def test_stats_all_shows_stopped_with_zeros(image: str) -> None:
    run_ok("create", "--name", "sleeper", image, "true")
    out = run_ok("stats", "--no-stream", "--format", "json")
    assert out == ""
    out = run_ok("stats", "--no-stream", "-a", "--format", "json")
    row = json.loads(out)
    assert row["Name"] == "sleeper"
    assert row["CPUPerc"] == "0.00%" and row["MemUsage"] == "0B / 0B" and row["PIDs"] == "0"


def test_stats_unknown_container_is_a_clean_error(tuidock_root: Path) -> None:
    assert_clean_error(tuidock("stats", "--no-stream", "nosuchthing"))


def test_stats_stream_repeats_and_ctrl_c_exits_zero(image: str) -> None:
    run_ok("run", "-d", "--name", "streamed", image, "sleep", "60")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuidock", "stats", "--format", "{{.Name}} {{.PIDs}}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    time.sleep(3.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    # Not a terminal: plain repeated frames, no escape sequences.
    assert "\033" not in out
    assert out.splitlines().count("streamed 1") >= 2, out


# -- top ----------------------------------------------------------------------------------------


def test_top_lists_the_container_processes(image: str) -> None:
    cid = run_ok("run", "-d", image, "sleep", "61").strip()
    out = run_ok("top", cid)
    assert out.splitlines()[0].split()[:3] == ["UID", "PID", "PPID"]
    assert "sleep 61" in out
    out = run_ok("top", cid, "-o", "pid,comm")
    assert out.splitlines()[0].split() == ["PID", "COMMAND"]


# -- diff -------------------------------------------------------------------------------------------


def test_diff_lists_added_changed_and_deleted(image: str) -> None:
    script = (
        "mkdir -p /tmp/newdir && echo hi > /tmp/newdir/file && echo x >> /etc/passwd"
        " && rm /bin/ls && rm -rf /home && mkdir -p /newtop"
    )
    run_ok("run", "--name", "changed", image, "sh", "-c", script)
    out = run_ok("diff", "changed")
    lines = out.splitlines()
    assert "A /tmp/newdir" in lines
    assert "A /tmp/newdir/file" in lines
    assert "C /etc/passwd" in lines
    assert "C /tmp" in lines  # the parent of an addition
    assert "D /bin/ls" in lines
    assert "C /bin" in lines
    assert "D /home" in lines
    assert "A /newtop" in lines
    # The runtime's own mount points are not changes the container made.
    assert not any(line.endswith((" /proc", " /sys", " /dev", "/etc/hostname")) for line in lines)
    # Docker's order: a directory right before its contents.
    assert lines.index("C /bin") < lines.index("D /bin/ls")
    assert lines.index("A /tmp/newdir") < lines.index("A /tmp/newdir/file")
    assert lines == sorted(lines, key=lambda ln: ln[2:].split("/"))


def test_diff_of_a_fresh_container_is_empty(image: str) -> None:
    run_ok("run", "--name", "fresh", image, "true")
    assert run_ok("diff", "fresh") == ""


# -- export / import ----------------------------------------------------------------------------------


def test_export_import_round_trip(image: str, tmp_path: Path) -> None:
    run_ok("run", "--name", "exp", image, "sh", "-c", "echo payload > /data.txt && rm /bin/ls")
    archive = tmp_path / "exp.tar"
    run_ok("export", "-o", str(archive), "exp")
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        data = tar.extractfile("data.txt")
        assert data is not None and data.read() == b"payload\n"
        assert tar.getmember("bin/sh").issym() or tar.getmember("bin/sh").isfile()
        assert all(not m.uname and not m.gname for m in tar.getmembers())
    assert "bin/ls" not in names
    assert "etc/passwd" in names
    assert not any(n.startswith("proc/") for n in names)

    res = tuidock("import", str(archive), "imported:v1")
    assert res.code == 0, res.err
    image_id = res.out.strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    doc = json.loads(run_ok("image", "inspect", "imported:v1"))[0]
    assert doc["Id"] == image_id
    assert len(doc["RootFS"]["Layers"]) == 1
    out = run_ok("run", "--rm", "imported:v1", "cat", "/data.txt")
    assert out == "payload\n"
    res = tuidock("run", "--rm", "imported:v1", "ls", "/")
    assert res.code != 0  # /bin/ls was deleted before the export
    # --change sets the config, as `docker import -c` does.
    res = tuidock(
        "import", "-c", 'CMD ["cat", "/data.txt"]', "-c", "ENV GREETING=hi", str(archive), "withcmd"
    )
    assert res.code == 0, res.err
    doc = json.loads(run_ok("image", "inspect", "withcmd"))[0]
    assert doc["Config"]["Cmd"] == ["cat", "/data.txt"] and "GREETING=hi" in doc["Config"]["Env"]
    assert run_ok("run", "--rm", "withcmd") == "payload\n"
    assert_clean_error(tuidock("import", "-c", "RUN rm -rf /", str(archive)))


def test_export_to_stdout_and_import_from_stdin(image: str, tmp_path: Path) -> None:
    cid = run_ok("create", image, "true").strip()
    proc = subprocess.run(
        [sys.executable, "-m", "tuidock", "export", cid],
        capture_output=True,
        env=dict(os.environ),
        check=True,
    )
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        assert "bin/busybox" in tar.getnames()
    # Gzip, as `docker import` accepts it, from stdin; same content, same layer.
    gz = tmp_path / "fs.tar.gz"
    import gzip

    gz.write_bytes(gzip.compress(proc.stdout))
    with open(gz, "rb") as f:
        res = subprocess.run(
            [sys.executable, "-m", "tuidock", "import", "-", "fromstdin"],
            stdin=f,
            capture_output=True,
            text=True,
            env=dict(os.environ),
        )
    assert res.returncode == 0, res.stderr
    doc = json.loads(run_ok("image", "inspect", "fromstdin"))[0]
    assert doc["Id"] == res.stdout.strip()
    assert run_ok("run", "--rm", "fromstdin", "echo", "ok") == "ok\n"


def test_import_changes_parse_like_docker() -> None:
    from tuidock.runtime.image.tarimport import apply_changes

    cfg = apply_changes(
        [
            "CMD echo hi",
            'ENTRYPOINT ["/bin/sh", "-c"]',
            "ENV A=1 B='two words'",
            "ENV C 3",
            "EXPOSE 80 53/udp",
            "WORKDIR /srv",
            "USER nobody",
            "LABEL k=v",
        ]
    )
    assert cfg["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    assert cfg["Entrypoint"] == ["/bin/sh", "-c"]
    assert cfg["Env"] == ["A=1", "B=two words", "C=3"]
    assert cfg["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert (cfg["WorkingDir"], cfg["User"], cfg["Labels"]) == ("/srv", "nobody", {"k": "v"})


def test_import_rejects_a_hostile_archive(tuidock_root: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as tar:
        info = tarfile.TarInfo("../../escaped")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    res = tuidock("import", str(bad))
    assert_clean_error(res)
    assert not (tmp_path.parent / "escaped").exists()


@pytest.mark.parametrize("target", ["", "-o"])
def test_export_unknown_container_is_a_clean_error(tuidock_root: Path, target: str) -> None:
    args = ["export", *([target, "/dev/null"] if target else []), "nosuch"]
    assert_clean_error(tuidock(*args))


# -- cp -------------------------------------------------------------------------------------------------


def _tar_of(*args: str, input: bytes | None = None) -> tarfile.TarFile:
    proc = subprocess.run(
        [sys.executable, "-m", "tuidock", *args],
        input=input,
        capture_output=True,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr
    return tarfile.open(fileobj=io.BytesIO(proc.stdout))


def _container_passwd(image: str) -> str:
    return run_ok("run", "--rm", image, "cat", "/etc/passwd")


@pytest.mark.parametrize("running", [False, True], ids=["stopped", "running"])
def test_cp_through_a_hostile_symlink_stays_inside(
    image: str, tmp_path: Path, running: bool
) -> None:
    script = "ln -s /etc /hostile && ln -s ../../../../../../etc /relative"
    if running:
        run_ok("run", "-d", "--name", "victim", image, "sh", "-c", script + " && sleep 60")
        time.sleep(0.5)
    else:
        run_ok("run", "--name", "victim", image, "sh", "-c", script)
    host_etc = sorted(os.listdir("/etc"))
    payload = tmp_path / "tuidock-cp-pwned"
    payload.write_text("pwned\n")
    for link in ("hostile", "relative"):
        run_ok("cp", str(payload), f"victim:/{link}/")
        assert not Path("/etc/tuidock-cp-pwned").exists()
        # It landed in the container's /etc.
        out = tmp_path / f"back-{link}"
        run_ok("cp", "victim:/etc/tuidock-cp-pwned", str(out))
        assert out.read_text() == "pwned\n"
        # Reading through the link gives the container's /etc/passwd, not the host's.
        got = tmp_path / f"passwd-{link}"
        run_ok("cp", f"victim:/{link}/passwd", str(got))
        assert got.read_text() == _container_passwd(image)
        assert got.read_text() != Path("/etc/passwd").read_text()
    assert sorted(os.listdir("/etc")) == host_etc
    # A symlink itself is copied as a symlink (no -L), pointing where it pointed.
    link_copy = tmp_path / "link-copy"
    run_ok("cp", "victim:/hostile", str(link_copy))
    assert link_copy.is_symlink() and os.readlink(link_copy) == "/etc"
    # "/." through the link copies the container's /etc, not the host's.
    etc_copy = tmp_path / "etc-copy"
    run_ok("cp", "victim:/hostile/.", str(etc_copy))
    assert (etc_copy / "passwd").read_text() == _container_passwd(image)
    assert (etc_copy / "tuidock-cp-pwned").exists()


def test_cp_tar_into_container_refuses_symlinked_parents(image: str, tmp_path: Path) -> None:
    run_ok("run", "--name", "victim2", image, "sh", "-c", "ln -s /etc /hostile")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hostile/tuidock-tar-pwned")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"x\n"))
    proc = subprocess.run(
        [sys.executable, "-m", "tuidock", "cp", "-", "victim2:/"],
        input=buf.getvalue(),
        capture_output=True,
        env=dict(os.environ),
    )
    assert proc.returncode != 0
    assert b"Traceback" not in proc.stderr
    assert not Path("/etc/tuidock-tar-pwned").exists()


@pytest.mark.parametrize("running", [False, True], ids=["stopped", "running"])
def test_cp_round_trip_directories_and_streams(image: str, tmp_path: Path, running: bool) -> None:
    if running:
        run_ok("run", "-d", "--name", "box", image, "sleep", "60")
    else:
        run_ok("create", "--name", "box", image, "true")
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "file.txt").write_text("inner\n")
    (src / "top.txt").write_text("top\n")
    os.chown(src / "top.txt", 4321, 4321)
    os.symlink("sub/file.txt", src / "link")
    run_ok("cp", str(src), "box:/tmp/")
    back = tmp_path / "back"
    run_ok("cp", "box:/tmp/tree", str(back))  # a new name: the directory becomes it
    assert (back / "sub" / "file.txt").read_text() == "inner\n"
    assert (back / "top.txt").read_text() == "top\n"
    assert os.readlink(back / "link") == "sub/file.txt"
    followed = tmp_path / "followed"
    run_ok("cp", "-L", "box:/tmp/tree/link", str(followed))  # -L: the file it points to
    assert not followed.is_symlink() and followed.read_text() == "inner\n"
    # export sees what cp wrote, running or not, without mounting anything on the host.
    exported = _tar_of("export", "box")
    assert "tmp/tree/sub/file.txt" in exported.getnames()
    # Without -a files copied in belong to root; with -a they keep their owner.
    tar = _tar_of("cp", "box:/tmp/tree/top.txt", "-")
    assert [(m.name, m.uid) for m in tar.getmembers()] == [("top.txt", 0)]
    run_ok("cp", "-a", str(src / "top.txt"), "box:/tmp/kept.txt")
    tar = _tar_of("cp", "box:/tmp/kept.txt", "-")
    member = tar.getmember("kept.txt")
    assert member.uid == 4321
    # A tar stream in: extracted below an existing directory.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("streamed/hello")
        info.size = 6
        t.addfile(info, io.BytesIO(b"hello\n"))
    proc = subprocess.run(
        [sys.executable, "-m", "tuidock", "cp", "-", "box:/tmp"],
        input=buf.getvalue(),
        capture_output=True,
        env=dict(os.environ),
    )
    assert proc.returncode == 0 and proc.stdout == b"", proc.stderr
    tar = _tar_of("cp", "box:/tmp/streamed/.", "-")
    hello = tar.extractfile("hello")
    assert hello is not None and hello.read() == b"hello\n"
    # "/." copies a directory's contents into an existing directory.
    into = tmp_path / "into"
    into.mkdir()
    run_ok("cp", "box:/tmp/tree/.", str(into))
    assert (into / "top.txt").exists() and (into / "sub").is_dir()


def test_cp_errors_are_clean(image: str, tmp_path: Path) -> None:
    run_ok("create", "--name", "errs", image, "true")
    assert_clean_error(tuidock("cp", "errs:/no/such/file", str(tmp_path / "x")))
    assert_clean_error(tuidock("cp", "nosuch:/etc/passwd", str(tmp_path / "x")))
    assert_clean_error(tuidock("cp", str(tmp_path / "missing"), "errs:/tmp/"))
    assert_clean_error(tuidock("cp", str(tmp_path), str(tmp_path / "y")))


@pytest.mark.parametrize("running", [False, True], ids=["stopped", "running"])
def test_cp_out_maps_owners_and_makes_no_device_nodes(
    image: str, tmp_path: Path, running: bool
) -> None:
    script = (
        "mkdir -p /d/sub && echo hi > /d/sub/f && chown -R 4321:4321 /d"
        " && chmod 555 /d/sub && mknod /d/blk b 7 0 && chmod 666 /d/blk"
    )
    if running:
        run_ok("run", "-d", "--name", "own", image, "sh", "-c", script + " && sleep 60")
        time.sleep(0.5)
    else:
        run_ok("run", "--name", "own", image, "sh", "-c", script)
    plain = tmp_path / "plain"
    run_ok("cp", "own:/d", str(plain))  # without -a: the caller's files
    assert (plain / "sub" / "f").read_text() == "hi\n"
    assert (plain / "sub" / "f").stat().st_uid == os.getuid()
    # A read-only directory gets its mode after its entries are in.
    assert (plain / "sub").stat().st_mode & 0o777 == 0o555
    assert not os.path.lexists(plain / "blk")  # a container's 0666 disk stays there
    kept = tmp_path / "kept"
    run_ok("cp", "-a", "own:/d/.", str(kept))
    assert (kept / "sub" / "f").stat().st_uid == 4321
    assert (kept / "sub").stat().st_gid == 4321
    assert not os.path.lexists(kept / "blk")


@pytest.mark.parametrize("running", [False, True], ids=["stopped", "running"])
def test_cp_out_that_fails_leaves_nothing_behind(image: str, tmp_path: Path, running: bool) -> None:
    script = "mkdir /big && echo small > /big/a && head -c 2000000 /dev/zero > /big/z"
    if running:
        run_ok("run", "-d", "--name", "full", image, "sh", "-c", script + " && sleep 60")
        time.sleep(0.5)
    else:
        run_ok("run", "--name", "full", image, "sh", "-c", script)
    small = tmp_path / "small"
    small.mkdir()
    # A host filesystem too small for the copy: it fails part way through.
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tuidock-cp", str(small)], check=True)
    try:
        (small / "mine").write_text("kept\n")
        for src, dest in [
            ("full:/big/.", small / "newdir"),
            ("full:/big", small / "newdir"),
            ("full:/big/.", small),
        ]:
            assert_clean_error(tuidock("cp", src, str(dest)))
            assert sorted(os.listdir(small)) == ["mine"], (src, dest)
        assert (small / "mine").read_text() == "kept\n"
    finally:
        subprocess.run(["umount", str(small)], check=True)


# -- info / system df --------------------------------------------------------------------------------


def test_info_and_system_df_count_what_the_root_holds(image: str, tuidock_root: Path) -> None:
    run_ok("run", "-d", "--name", "up", image, "sleep", "60")
    run_ok("run", "--name", "down", image, "sh", "-c", "head -c 100000 /dev/zero > /big")
    doc = json.loads(run_ok("info", "--format", "json"))
    assert doc["Containers"] == 2 and doc["ContainersRunning"] == 1
    assert doc["ContainersStopped"] == 1 and doc["Images"] == 1
    assert doc["DockerRootDir"] == str(tuidock_root)
    assert doc["Driver"] == "overlay"
    assert doc["CgroupVersion"] in ("1", "2")
    assert doc["KernelVersion"] == os.uname().release
    out = run_ok("system", "info")
    assert f"Data Root Dir: {tuidock_root}" in out and " Running: 1" in out
    assert run_ok("info", "--format", "{{.Containers}}/{{.Images}}") == "2/1\n"

    rows = {
        r["Type"]: r
        for r in map(json.loads, run_ok("system", "df", "--format", "json").splitlines())
    }
    assert rows["Images"]["TotalCount"] == "1" and rows["Images"]["Active"] == "1"
    assert rows["Images"]["Reclaimable"].startswith("0B")
    assert rows["Containers"]["TotalCount"] == "2" and rows["Containers"]["Active"] == "1"
    # The stopped container's 100 kB file is what can be reclaimed.
    assert rows["Containers"]["Reclaimable"].startswith("100kB"), rows["Containers"]
    table = run_ok("system", "df").splitlines()
    assert table[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert [line.split()[0] for line in table[1:]] == ["Images", "Containers", "Local", "Build"]


# -- save / load ----------------------------------------------------------------------------------------


def _image_id(name: str) -> str:
    return json.loads(run_ok("image", "inspect", name))[0]["Id"]


def test_save_then_load_restores_the_same_image(image: str, tmp_path: Path) -> None:
    want = _image_id(image)
    archive = tmp_path / "saved.tar"
    run_ok("tag", image, "mybox:1")
    run_ok("save", "-o", str(archive), "mybox:1")
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
        assert {"oci-layout", "index.json", "manifest.json"} <= names
        assert manifest[0]["RepoTags"] == ["mybox:1"]
        assert manifest[0]["Config"] == "blobs/sha256/" + want.removeprefix("sha256:")
        for layer in manifest[0]["Layers"]:
            data = tar.extractfile(layer).read()  # type: ignore[union-attr]
            assert "sha256:" + __import__("hashlib").sha256(data).hexdigest() == (
                "sha256:" + layer.rsplit("/", 1)[1]
            )
        assert index["manifests"][0]["annotations"]["io.containerd.image.name"].endswith("mybox:1")
    run_ok("rmi", "mybox:1", image)
    assert tuidock("image", "inspect", "mybox:1").code != 0
    # From stdin, as `docker load < file`.
    with open(archive, "rb") as f:
        proc = subprocess.run(
            [sys.executable, "-m", "tuidock", "load"],
            stdin=f,
            capture_output=True,
            text=True,
            env=dict(os.environ),
        )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Loaded image: mybox:1\n"
    assert _image_id("mybox:1") == want
    assert run_ok("run", "--rm", "mybox:1", "echo", "loaded") == "loaded\n"


def test_load_rejects_a_layer_that_does_not_match(image: str, tmp_path: Path) -> None:
    archive = tmp_path / "saved.tar"
    run_ok("save", "-o", str(archive), image)
    bad = tmp_path / "bad.tar"
    with tarfile.open(archive) as src, tarfile.open(bad, "w") as dst:
        manifest = json.loads(src.extractfile("manifest.json").read())  # type: ignore[union-attr]
        layer = manifest[0]["Layers"][0]
        for m in src.getmembers():
            data = src.extractfile(m).read() if m.isreg() else None  # type: ignore[union-attr]
            if m.name == layer:
                evil = io.BytesIO()
                with tarfile.open(fileobj=evil, mode="w") as t:
                    info = tarfile.TarInfo("evil")
                    info.size = 1
                    t.addfile(info, io.BytesIO(b"x"))
                data = evil.getvalue()
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data) if data is not None else None)
    assert_clean_error(tuidock("load", "-i", str(bad)))
    assert_clean_error(tuidock("load", "-i", str(tmp_path / "missing.tar")))


def _podman(store: Path, *args: str) -> str:
    proc = subprocess.run(
        [
            "podman",
            "--root",
            str(store / "root"),
            "--runroot",
            str(store / "run"),
            "--storage-driver",
            "vfs",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_killed_save_leaves_a_temp_the_next_save_removes(image: str, tmp_path: Path) -> None:
    # A big layer keeps the save busy long enough to be killed while it writes.
    run_ok("run", "--name", "bigsave", image, "dd", "if=/dev/zero", "of=/big", "bs=1M", "count=128")
    run_ok("commit", "bigsave", "bigsave:v1")
    run_ok("rm", "bigsave")
    dest = tmp_path / "out.tar"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuidock", "save", "-o", str(dest), "bigsave:v1"],
        env=dict(os.environ),
    )
    try:
        deadline = time.monotonic() + 60
        while not any(p.stat().st_size > 1 << 20 for p in tmp_path.glob("out.tar.tmp*")):
            assert proc.poll() is None, "save ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.002)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert len(list(tmp_path.glob("out.tar.tmp*"))) == 1
    run_ok("save", "-o", str(dest), "bigsave:v1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tar"]
    run_ok("rmi", "bigsave:v1")


@pytest.mark.skipif(not __import__("shutil").which("podman"), reason="podman is not installed")
def test_save_load_round_trip_with_podman(image: str, tmp_path: Path) -> None:
    want = _image_id(image)
    # podman wants a short runroot: not under pytest's long tmp_path.
    store = Path(__import__("tempfile").mkdtemp(prefix="tdpod-", dir="/tmp"))
    archive = tmp_path / "tuidock.tar"
    run_ok("tag", image, "roundtrip:1")
    run_ok("save", "-o", str(archive), "roundtrip:1")
    try:
        out = _podman(store, "load", "-i", str(archive))
        assert "roundtrip:1" in out
        ids = _podman(store, "images", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}")
        assert (
            f"{want} localhost/roundtrip:1" in ids or f"{want} docker.io/library/roundtrip:1" in ids
        ), ids
        back = tmp_path / "podman.tar"
        _podman(store, "save", "--format", "docker-archive", "-o", str(back), want)
        back_oci = tmp_path / "podman-oci.tar"
        _podman(store, "save", "--format", "oci-archive", "-o", str(back_oci), "roundtrip:1")
    finally:
        subprocess.run(
            ["podman", "--root", str(store / "root"), "--runroot", str(store / "run"),
             "--storage-driver", "vfs", "system", "reset", "-f"],
            capture_output=True,
            timeout=120,
        )  # fmt: skip
        __import__("shutil").rmtree(store, ignore_errors=True)
    run_ok("rmi", "-f", "roundtrip:1", image)
    res = tuidock("load", "-i", str(back))
    assert res.code == 0, res.err
    assert _image_id(want.removeprefix("sha256:")[:12]) == want
    run_ok("rmi", "-f", want.removeprefix("sha256:")[:12])
    res = tuidock("load", "-i", str(back_oci))
    assert res.code == 0, res.err
    assert _image_id(want.removeprefix("sha256:")[:12]) == want
    out = run_ok("run", "--rm", want.removeprefix("sha256:")[:12], "echo", "from-podman")
    assert out == "from-podman\n"


def test_diff_of_a_replaced_directory_deletes_what_it_hid(image: str) -> None:
    # rm -rf + mkdir makes an opaque directory in the upper layer.
    script = "ls /var; rm -rf /var && mkdir /var && echo x > /var/new"
    before = run_ok("run", "--name", "opaque", image, "sh", "-c", script).split()
    assert before
    lines = run_ok("diff", "opaque").splitlines()
    assert "C /var" in lines and "A /var/new" in lines
    for name in before:
        assert f"D /var/{name}" in lines
    tar = _tar_of("export", "opaque")
    names = tar.getnames()
    assert "var/new" in names and not any(n.startswith(f"var/{before[0]}") for n in names)


def test_stats_on_a_terminal_redraws_in_place(image: str) -> None:
    import pty
    import select

    run_ok("run", "-d", "--name", "tty-streamed", image, "sleep", "60")
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuidock", "stats"],
        stdout=slave,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
    )
    os.close(slave)
    data = b""
    deadline = time.monotonic() + 15
    while data.count(b"\033[H") < 2 and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            data += os.read(master, 65536)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0
    os.close(master)
    assert data.count(b"\033[H") >= 2, data
    assert b"CONTAINER ID" in data and b"tty-streamed" in data


def _layer(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _docker_archive(layers: list[bytes], diff_ids: list[str] | None = None) -> dict[str, bytes]:
    """The members of a docker-archive of one image `tiny:1` with these layers."""
    from tuidock.core.digest import sha256_digest

    ids = diff_ids or [sha256_digest(layer) for layer in layers]
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": ids}}
    ).encode()
    members = {f"blobs/sha256/{sha256_digest(la)[7:]}": la for la in layers}
    config_name = f"blobs/sha256/{sha256_digest(config)[7:]}"
    members[config_name] = config
    members["manifest.json"] = json.dumps(
        [{"Config": config_name, "RepoTags": ["tiny:1"], "Layers": list(members)[:-1]}]
    ).encode()
    return members


def _write_tar(path: Path, members: dict[str, bytes]) -> Path:
    path.write_bytes(_layer(members))
    return path


def _store_files(root: Path) -> list[str]:
    """What the image stores of the data root hold (blobs, layers, tags)."""
    out = [str(p.relative_to(root)) for p in (root / "blobs").rglob("*") if p.is_file()]
    out += [p.name for p in (root / "layers").iterdir()] if (root / "layers").is_dir() else []
    return sorted(p for p in out if not p.startswith("blobs/locks"))


def test_load_of_a_broken_archive_is_a_clean_error_and_leaves_nothing(
    tuidock_root: Path, tmp_path: Path
) -> None:
    good = _docker_archive([_layer({"a": b"1"})])
    config_name = json.loads(good["manifest.json"])[0]["Config"]
    oci = {k: v for k, v in good.items() if k != "manifest.json"}
    desc = {
        "digest": "sha256:" + "0" * 64,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
    }
    whole = _write_tar(tmp_path / "whole.tar", good).read_bytes()
    cases: dict[str, tuple[dict[str, bytes] | bytes, str]] = {
        "manifest-not-json": ({**good, "manifest.json": b"{not json"}, "manifest.json is not JSON"),
        "manifest-object": ({**good, "manifest.json": b"{}"}, "manifest.json is not a JSON list"),
        "manifest-no-config": ({**good, "manifest.json": b"[{}]"}, "has no Config"),
        "manifest-entry-list": ({**good, "manifest.json": b"[[]]"}, "not a JSON object"),
        "config-not-json": ({**good, config_name: b"\xff\xfe"}, f"{config_name} is not JSON"),
        "config-list": ({**good, config_name: b"[]"}, f"{config_name} is not a JSON object"),
        "config-no-rootfs": ({**good, config_name: b"{}"}, "has no rootfs"),
        "index-not-json": ({**oci, "index.json": b"nope"}, "index.json is not JSON"),
        "index-list": ({**oci, "index.json": b"[]"}, "index.json is not a JSON object"),
        "index-no-manifests": ({**oci, "index.json": b"{}"}, "index.json has no manifests"),
        "index-bad-digest": (
            {**oci, "index.json": json.dumps({"manifests": [{"digest": "../x"}]}).encode()},
            "no valid sha256 digest",
        ),
        "index-missing-blob": (
            {**oci, "index.json": json.dumps({"manifests": [desc]}).encode()},
            "is missing",
        ),
        "oci-layout-not-json": (
            {**oci, "oci-layout": b"x", "index.json": b"{}"},
            "oci-layout is not JSON",
        ),
        "truncated": (whole[: 512 + 5000], "truncated or corrupt"),
        "not-a-tar": (b"hello, I am not an archive\n" * 40, "not a tar file"),
        "empty": (b"", "not a tar file"),
        "truncated-gzip": (__import__("gzip").compress(whole)[:200], "truncated or corrupt"),
    }
    for label, (content, want) in cases.items():
        path = tmp_path / f"{label}.tar"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            _write_tar(path, content)
        res = tuidock("load", "-i", str(path))
        assert_clean_error(res)
        assert want in res.err, (label, res.err)
        assert "internal error" not in res.err, (label, res.err)
        assert _store_files(tuidock_root) == [], label
    assert run_ok("images", "-q") == ""


def test_a_load_that_fails_at_a_later_layer_takes_the_earlier_ones_away(
    tuidock_root: Path, tmp_path: Path
) -> None:
    from tuidock.core.digest import sha256_digest

    first, second = _layer({"a": b"1"}), _layer({"b": b"2"})
    wrong = sha256_digest(b"something else")
    bad = _write_tar(
        tmp_path / "bad.tar", _docker_archive([first, second], [sha256_digest(first), wrong])
    )
    assert_clean_error(tuidock("load", "-i", str(bad)))
    assert _store_files(tuidock_root) == []
    assert run_ok("images", "-q") == ""
    ok = _write_tar(tmp_path / "ok.tar", _docker_archive([first, second]))
    assert run_ok("load", "-i", str(ok)) == "Loaded image: tiny:1\n"
    assert len(_store_files(tuidock_root)) == 2 + 2 + 2  # layers, their blobs, config+manifest
