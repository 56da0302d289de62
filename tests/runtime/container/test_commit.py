"""`commit`: a container's changes become a layer of a new image that runs."""

from __future__ import annotations

import json
import os
import tarfile
import time
from pathlib import Path

from clihelp import assert_clean_error, tuidock, tuidock_popen
from containerhelp import image_fixture, no_leftovers_fixture

from tuidock.runtime.container import commit as commitmod

__all__ = ["image_fixture", "no_leftovers_fixture"]  # fixtures, used by name


def run_ok(*args: str, input: str | None = None) -> str:
    res = tuidock(*args, input=input)
    assert res.code == 0, (res.code, res.out, res.err)
    return res.out


def test_commit_then_run(image: str) -> None:
    script = (
        "echo committed > /hello.txt && rm /bin/ls && mkdir -p /opt/d && echo x > /opt/d/f"
        " && rm -rf /home && mkdir /home && echo new > /home/only"
    )
    run_ok("run", "--name", "c1", image, "sh", "-c", script)
    out = run_ok("commit", "-m", "my change", "-a", "me", "-c", "ENV FOO=bar", "c1", "committed:v1")
    image_id = out.strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    assert run_ok("run", "--rm", "committed:v1", "cat", "/hello.txt") == "committed\n"
    # A deleted file stays deleted; a replaced directory shows only its new content.
    res = tuidock("run", "--rm", "committed:v1", "sh", "-c", "test -e /bin/ls && echo there")
    assert "there" not in res.out
    assert run_ok("run", "--rm", "committed:v1", "sh", "-c", "echo /home/*") == "/home/only\n"
    assert run_ok("run", "--rm", "committed:v1", "sh", "-c", "echo $FOO") == "bar\n"
    (doc,) = json.loads(run_ok("image", "inspect", "committed:v1"))
    assert doc["Id"] == image_id
    assert doc["Comment"] == "my change" and doc["Author"] == "me"
    base = json.loads(run_ok("image", "inspect", image))[0]
    assert len(doc["RootFS"]["Layers"]) == len(base["RootFS"]["Layers"]) + 1
    run_ok("rm", "c1")
    run_ok("rmi", "committed:v1")


def test_commit_running_container_and_cmd_change(image: str) -> None:
    run_ok("run", "-d", "--name", "live", image, "sh", "-c", "echo hi > /greeting; sleep 60")
    deadline_ok = False
    for _ in range(100):
        if tuidock("exec", "live", "test", "-e", "/greeting").code == 0:
            deadline_ok = True
            break
    assert deadline_ok
    run_ok("commit", "-c", 'CMD ["cat", "/greeting"]', "live", "greeter")
    # The container was paused for the commit and runs again.
    assert json.loads(run_ok("inspect", "live"))[0]["State"]["Status"] == "running"
    assert run_ok("run", "--rm", "greeter") == "hi\n"
    # /etc/hosts & co. were only mount targets: not in the layer.
    res = tuidock("run", "--rm", "greeter", "sh", "-c", "cat /etc/hostname")
    assert res.code == 0
    run_ok("rm", "-f", "live")
    run_ok("rmi", "greeter")
    assert_clean_error(tuidock("commit", "nosuch"))
    assert_clean_error(tuidock("commit", "-c", "RUN true", "nosuch"))


def test_layer_tar_has_oci_whiteouts(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "gone_dir").mkdir(parents=True)
    (upper / "opq").mkdir()
    (upper / "opq" / "new").write_text("n")
    os.setxattr(upper / "opq", "trusted.overlay.opaque", b"y")
    os.mknod(upper / "deleted", 0o600 | 0o020000, os.makedev(0, 0))
    (upper / "etc").mkdir()
    (upper / "etc" / "hosts").write_text("")
    out = tmp_path / "l.tar"
    diff_id = commitmod.write_layer(upper, str(out), {"etc/hosts"})
    assert diff_id.startswith("sha256:")
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert ".wh.deleted" in names and "deleted" not in names
    assert "opq/.wh..wh..opq" in names and "opq/new" in names
    assert "etc" in names and "etc/hosts" not in names


def test_system_prune(image: str) -> None:
    run_ok("run", "--name", "stopped", "-v", "/anon", image, "true")
    stopped_id = json.loads(run_ok("inspect", "stopped"))[0]["Id"]
    anon = json.loads(run_ok("inspect", "stopped"))[0]["Mounts"][0]["Name"]
    run_ok("volume", "create", "named")
    run_ok("run", "-d", "--name", "alive", image, "sleep", "60")
    first = run_ok("commit", "stopped", "tmpimg").strip()
    second = run_ok("commit", "-m", "again", "stopped", "tmpimg").strip()
    assert first != second  # the first is now dangling

    assert_clean_error(tuidock("system", "prune"))  # no terminal, no -f
    out = run_ok("system", "prune", "-f", "--volumes")
    assert "Deleted Containers:" in out and stopped_id in out
    assert "Deleted Volumes:" in out and anon in out
    assert f"deleted: {first}" in out
    assert "Total reclaimed space:" in out
    # The running container, its image, the named volume, the tagged image stay.
    assert json.loads(run_ok("inspect", "alive"))[0]["State"]["Status"] == "running"
    assert run_ok("volume", "ls", "-q").split() == ["named"]
    assert run_ok("images", "-q", "tmpimg").strip()
    out = run_ok("system", "prune", "-a", "-f")
    assert f"deleted: {second}" in out and "untagged: tmpimg:latest" in out
    assert run_ok("images", "-q", image).strip()  # used by `alive`
    run_ok("rm", "-f", "alive")
    run_ok("volume", "rm", "named")


def _kill_commit_while_writing(root: Path, container: str) -> None:
    """Run `commit` and SIGKILL it once it writes the layer (container paused, tar growing)."""
    cid = json.loads(run_ok("inspect", container))[0]["Id"]
    state_path = root / "containers" / cid / "state.json"
    earlier = set((root / "tmp").glob("commit-*/layer.tar"))
    proc = tuidock_popen("commit", container, "never:made")
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            paused = json.loads(state_path.read_text())["Status"] == "paused"
            layers = [
                p
                for p in (root / "tmp").glob("commit-*/layer.tar")
                if p not in earlier and p.stat().st_size
            ]
            if paused and layers:
                break
            assert proc.poll() is None, "commit ended before it could be killed"
            time.sleep(0.002)
        else:
            raise AssertionError("commit never paused the container to write its layer")
    finally:
        proc.kill()
        proc.wait()


def test_killed_commit_leaves_container_running(image: str, tuidock_root: Path) -> None:
    # A big file makes the layer slow enough to be caught while it is written.
    script = "dd if=/dev/zero of=/big bs=1M count=256 2>/dev/null; touch /ready; sleep 300"
    run_ok("run", "-d", "--name", "frozen", image, "sh", "-c", script)
    deadline = time.monotonic() + 60
    while tuidock("exec", "frozen", "test", "-e", "/ready").code != 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    # The next process that looks (exec's own fast path, or ps) thaws the
    # pause its dead owner held.
    _kill_commit_while_writing(tuidock_root, "frozen")
    assert run_ok("exec", "frozen", "echo", "alive") == "alive\n"
    _kill_commit_while_writing(tuidock_root, "frozen")
    ps = run_ok("ps", "--filter", "name=frozen", "--format", "{{.Status}}")
    assert ps.startswith("Up") and "Paused" not in ps, ps
    assert run_ok("exec", "frozen", "echo", "alive") == "alive\n"
    assert json.loads(run_ok("inspect", "frozen"))[0]["State"]["Status"] == "running"
    # The killed commits' work dirs are stale scratch: counted, then pruned.
    assert len(list((tuidock_root / "tmp").iterdir())) == 2
    (row,) = [
        r
        for r in map(json.loads, run_ok("system", "df", "--format", "json").splitlines())
        if r["Type"] == "Build Cache"
    ]
    assert row["TotalCount"] == "2" and not row["Reclaimable"].startswith("0B"), row
    out = run_ok("image", "prune", "-f")
    assert "Total reclaimed space: 0B" not in out, out
    assert list((tuidock_root / "tmp").iterdir()) == []
    # A user's pause has no owner process: it lasts.
    run_ok("pause", "frozen")
    assert "Paused" in run_ok("ps", "--filter", "name=frozen", "--format", "{{.Status}}")
    assert tuidock("exec", "frozen", "true").code != 0
    run_ok("unpause", "frozen")
    run_ok("rm", "-f", "frozen")
