"""Real containers from the busybox fixture image: namespaces, mounts, users,
capabilities, cgroup limits, hostile images and failed starts.

Each container runs through tests/isolation_runner.py in its own
single-threaded process, as the monitor will run spawn(). Every run also
checks that the host's mount table is unchanged and that no cgroup
directory is left behind.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tuidock.core.spec import Limits
from tuidock.errors import TuidockError
from tuidock.runtime.engine import Engine
from tuidock.runtime.linux import capabilities, cgroups, userdb

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

RUNNER = Path(__file__).with_name("isolation_runner.py")
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_CAPS = "00000000a80425fb"

ESCAPE_C = r"""
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
int main(void) {
    mkdir("/escape-x", 0755);
    if (chroot("/escape-x") != 0) { perror("chroot"); return 1; }
    for (int i = 0; i < 64; i++) chdir("..");
    if (chroot(".") != 0) { perror("chroot ."); return 1; }
    execl("/bin/sh", "sh", "-c", "cat /etc/tuidock-marker; ls /", (char *)0);
    perror("exec");
    return 1;
}
"""


@dataclass
class Image:
    layers: list[str]  # top first
    scratch: Path  # for extra layers made by tests


@pytest.fixture(scope="module")
def image(registry) -> Iterator[Image]:
    """busybox pulled from the fixture registry into a private store."""
    base = Path(tempfile.mkdtemp(prefix="tuidock-iso-"))
    root, config = base / "root", base / "config"
    root.mkdir()
    config.mkdir()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("TUIDOCK_ROOT", str(root))
            mp.setenv("TUIDOCK_CONFIG", str(config))
            engine = Engine(root)
            rec = engine.pull(registry.images["oci/busybox"].reference).image
            layers = [str(engine.layers.diff_dir(c)) for c in reversed(rec.chain_ids)]
        scratch = base / "scratch"
        scratch.mkdir()
        yield Image(layers, scratch)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def run(
    image: Image,
    tmp_path: Path,
    *args: str,
    extra_layers: tuple[str, ...] = (),
    job: dict | None = None,
    **spec: object,
) -> dict:
    """Run one container to its end; the runner's JSON result."""
    cid = "t" + secrets.token_hex(8)
    cdir = tmp_path / cid
    for sub in ("upper", "work", "merged"):
        (cdir / sub).mkdir(parents=True)
    full = {
        "id": cid,
        "hostname": "testbox",
        "args": list(args),
        "env": [PATH_ENV],
        "lower_dirs": [*extra_layers, *image.layers],
        "upper_dir": str(cdir / "upper"),
        "work_dir": str(cdir / "work"),
        "rootfs": str(cdir / "merged"),
        **spec,
    }
    proc = subprocess.run(
        [sys.executable, str(RUNNER)],
        input=json.dumps({"spec": full, **(job or {})}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["cgroup_left"] == [], "cgroup directories left behind"
    assert result["mounts_before"] == result["mounts_after"] == [], "container mounts on the host"
    return result


def ok(result: dict) -> str:
    assert "error" not in result, result["error"]
    assert result["exit_code"] == 0, result["stderr"]
    return result["stdout"]


def status_field(text: str, name: str) -> str:
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split()[1]
    raise AssertionError(f"{name} not in {text!r}")


# ------------------------------------------------------------- namespaces


def test_pid1_and_no_host_processes(image, tmp_path) -> None:
    # (A last command would be exec'd by sh in place, hence the final echo.)
    out = ok(run(image, tmp_path, "sh", "-c", "echo $$; ps -o pid,comm; echo end"))
    lines = out.splitlines()
    assert lines[0] == "1"
    procs = lines[2:-1]  # between the header and "end"
    assert 1 <= len(procs) <= 2, out
    assert procs[0].split() == ["1", "sh"]


def test_hostname_env_workdir(image, tmp_path) -> None:
    out = ok(
        run(
            image,
            tmp_path,
            "sh",
            "-c",
            "hostname; echo $HOSTNAME $HOME $FOO; pwd; cat /proc/sys/kernel/hostname",
            env=[PATH_ENV, "FOO=bar baz"],
            cwd="/srv/app",
            hostname="web-1",
        )
    )
    assert out.splitlines() == ["web-1", "web-1 /root bar baz", "/srv/app", "web-1"]


def test_network_none_has_only_loopback_up(image, tmp_path) -> None:
    out = ok(run(image, tmp_path, "sh", "-c", "ls /sys/class/net; ping -c1 -W1 127.0.0.1"))
    assert out.splitlines()[0] == "lo"
    assert "1 packets received" in out


def test_user_by_name_and_uid_gid(image, tmp_path) -> None:
    assert ok(run(image, tmp_path, "id", user="www-data")).startswith(
        "uid=33(www-data) gid=33(www-data)"
    )
    assert ok(run(image, tmp_path, "id", user="1000:33")).startswith("uid=1000 gid=33(www-data)")
    assert ok(run(image, tmp_path, "sh", "-c", "echo $HOME", user="daemon")) == "/usr/sbin\n"
    result = run(image, tmp_path, "id", user="nosuchuser")
    assert result["error"] == (
        "cannot start container: user: unable to find user nosuchuser: "
        "no matching entries in passwd file"
    )


# ---------------------------------------------------------- capabilities


def caps_of(image: Image, tmp_path: Path, **spec: object) -> dict[str, str]:
    out = ok(run(image, tmp_path, "cat", "/proc/self/status", **spec))
    return {k: status_field(out, k) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}


def test_default_capabilities(image, tmp_path) -> None:
    caps = caps_of(image, tmp_path)
    assert caps == {
        "CapInh": "0000000000000000",
        "CapPrm": DEFAULT_CAPS,
        "CapEff": DEFAULT_CAPS,
        "CapBnd": DEFAULT_CAPS,
        "CapAmb": "0000000000000000",
    }


def test_cap_add_drop_privileged_and_non_root(image, tmp_path) -> None:
    caps = caps_of(image, tmp_path, cap_add=["NET_ADMIN"], cap_drop=["CAP_CHOWN"])
    expected = f"{(0xA80425FB | 1 << 12) & ~1:016x}"
    assert caps["CapEff"] == caps["CapBnd"] == expected
    everything = f"{capabilities.mask(capabilities.all_caps()):016x}"
    caps = caps_of(image, tmp_path, privileged=True)
    assert caps["CapEff"] == caps["CapBnd"] == everything
    caps = caps_of(image, tmp_path, user="www-data")
    assert caps["CapEff"] == caps["CapPrm"] == "0000000000000000"
    assert caps["CapBnd"] == DEFAULT_CAPS
    result = run(image, tmp_path, "true", cap_add=["NOT_A_CAP"])
    assert result["error"].startswith('unknown capability: "CAP_NOT_A_CAP"')


# ---------------------------------------------------------------- mounts


def test_masked_and_readonly_paths(image, tmp_path) -> None:
    script = """
    ls -A /proc/acpi /sys/firmware | grep -v : | grep -c . || true
    cat /proc/keys /proc/timer_list | wc -c
    echo 1 > /proc/sys/vm/drop_caches && echo proc-sys-writable
    touch /sys/kernel/x 2>/dev/null && echo sys-writable
    grep -E ' /proc/(acpi|keys|timer_list|sys) ' /proc/self/mountinfo | awk '{print $5, $6}'
    """
    out = ok(run(image, tmp_path, "sh", "-c", script))
    lines = out.splitlines()
    assert lines[0] == "0", "masked directories are not empty"
    assert lines[1] == "0", "masked files are not empty"
    assert "proc-sys-writable" not in out and "sys-writable" not in out
    mounts = dict(line.split() for line in lines[2:])
    assert mounts["/proc/acpi"].startswith("ro")
    assert mounts["/proc/sys"].startswith("ro")
    assert "/proc/keys" in mounts and "/proc/timer_list" in mounts


def test_only_stdio_fds_reach_the_process(image, tmp_path) -> None:
    # 3 is ls's own handle on the directory it lists.
    assert ok(run(image, tmp_path, "ls", "/proc/self/fd")).split() == ["0", "1", "2", "3"]


def test_dev_contents(image, tmp_path) -> None:
    script = "ls -A /dev | tr '\\n' ' '; echo; stat -c '%a %G %t:%T' /dev/null; readlink /dev/ptmx"
    out = ok(run(image, tmp_path, "sh", "-c", script)).splitlines()
    assert set(out[0].split()) >= {
        "null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "mqueue",
        "fd", "stdin", "stdout", "stderr",
    }  # fmt: skip
    assert out[1] == "666 root 1:3"
    assert out[2] == "pts/ptmx"


def test_terminal_gets_its_own_pts(image, tmp_path) -> None:
    result = run(
        image,
        tmp_path,
        "sh",
        "-c",
        "tty; stat -c '%U %g %a' $(tty); echo $TERM; ls /dev/pts",
        terminal=True,
    )
    out = ok(result).replace("\r", "").splitlines()
    assert out[0] == "/dev/pts/0"
    assert out[1] == "root 5 620"
    assert out[2] == "xterm"
    assert out[3].split() == ["0", "ptmx"]


def test_readonly_rootfs(image, tmp_path) -> None:
    script = "touch /x 2>&1; touch /dev/shm/ok && echo shm-ok"
    out = ok(run(image, tmp_path, "sh", "-c", script, readonly_rootfs=True))
    assert "Read-only file system" in out
    assert "shm-ok" in out


def test_bind_and_tmpfs_mounts_and_etc_files(image, tmp_path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "in").write_text("from host\n")
    hosts = tmp_path / "hosts"
    hosts.write_text("10.0.0.9 peer\n")
    script = (
        "cat /data/in /etc/hosts; echo out > /data/out; touch /ro/x; grep ' /scratch ' /proc/mounts"
    )
    result = run(
        image,
        tmp_path,
        "sh",
        "-c",
        script,
        mounts=[
            {"destination": "/data", "source": str(data)},
            {"destination": "/ro", "source": str(data), "options": ["ro"]},
            {"destination": "/scratch", "type": "tmpfs", "options": ["size=1m"]},
        ],
        etc_files={"/etc/hosts": str(hosts)},
    )
    assert result["stdout"].startswith("from host\n10.0.0.9 peer\n")
    assert "nosuid,nodev,noexec" in result["stdout"]
    assert "Read-only file system" in result["stderr"]
    assert (data / "out").read_text() == "out\n"


# --------------------------------------------------------- hostile images


def make_layer(image: Image, name: str) -> Path:
    layer = image.scratch / f"{name}-{secrets.token_hex(4)}"
    layer.mkdir()
    return layer


def test_symlinked_proc_is_refused_without_host_writes(image, tmp_path) -> None:
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    layer = make_layer(image, "evil-proc")
    os.symlink(sentinel, layer / "proc")
    result = run(image, tmp_path, "true", extra_layers=(str(layer),))
    assert result["error"] == (
        f"cannot start container: mount /proc: /proc is a symlink in the image "
        f"(to {sentinel}): refusing to mount over it"
    )
    assert list(sentinel.iterdir()) == []
    assert os.stat(sentinel).st_nlink == 2

    layer = make_layer(image, "evil-devnull")
    (layer / "dev").mkdir()
    os.symlink(sentinel / "null", layer / "dev" / "null")
    result = run(image, tmp_path, "true", extra_layers=(str(layer),))
    assert "/dev/null is a symlink in the image" in result["error"]
    assert list(sentinel.iterdir()) == []


def test_mount_target_symlinks_resolve_inside_the_rootfs(image, tmp_path) -> None:
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    layer = make_layer(image, "evil-etc")
    (layer / "etc").mkdir()
    os.symlink(sentinel / "hosts", layer / "etc" / "hosts")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink("../../../../../../../" + str(elsewhere), layer / "vol")
    hosts = tmp_path / "hosts"
    hosts.write_text("1.2.3.4 inside\n")
    data = tmp_path / "data"
    data.mkdir()
    (data / "f").write_text("vol\n")
    out = ok(
        run(
            image,
            tmp_path,
            "sh",
            "-c",
            "cat /etc/hosts; cat /vol/f",
            extra_layers=(str(layer),),
            etc_files={"/etc/hosts": str(hosts)},
            mounts=[{"destination": "/vol", "source": str(data)}],
        )
    )
    assert out == "1.2.3.4 inside\nvol\n"
    assert list(sentinel.iterdir()) == []
    assert list(elsewhere.iterdir()) == []


@pytest.fixture(scope="module")
def escape_binary(image) -> Path:
    """A static program that tries the classic chroot escape."""
    if shutil.which("gcc") is None:
        pytest.fail("the chroot-escape test needs gcc (apt-get install gcc libc6-dev)")
    src = image.scratch / "escape.c"
    src.write_text(ESCAPE_C)
    out = image.scratch / "escape"
    subprocess.run(["gcc", "-static", "-O1", "-o", str(out), str(src)], check=True)
    return out


def test_chroot_escape_stays_in_the_container(image, tmp_path, escape_binary) -> None:
    layer = make_layer(image, "escape")
    (layer / "bin").mkdir()
    (layer / "etc").mkdir()
    shutil.copy2(escape_binary, layer / "bin" / "escape")
    (layer / "etc" / "tuidock-marker").write_text("inside\n")
    out = ok(run(image, tmp_path, "/bin/escape", extra_layers=(str(layer),)))
    assert out.splitlines()[0] == "inside"
    assert "escape-x" in out.split()  # the container's own root, listed
    # Control: under a plain chroot the same program does get out.
    jail = tmp_path / "jail"
    (jail / "bin").mkdir(parents=True)
    shutil.copy2(escape_binary, jail / "bin" / "escape")
    control = subprocess.run(
        ["unshare", "-m", "chroot", str(jail), "/bin/escape"], capture_output=True, text=True
    )
    assert "inside" not in control.stdout
    assert "tmp" in control.stdout.split()  # the host's root


# ------------------------------------------------------- failed starts


def test_failure_mid_setup_leaves_nothing(image, tmp_path) -> None:
    result = run(
        image,
        tmp_path,
        "true",
        mounts=[{"destination": "/data", "source": str(tmp_path / "missing")}],
    )
    assert result["error"] == (
        f"cannot start container: mount /data: bind source {tmp_path / 'missing'}: "
        "No such file or directory"
    )
    assert result["error_type"] == "TuidockError"
    # run() checked the host mount table and the cgroup directories.


def test_exec_failures_report_126_and_127(image, tmp_path) -> None:
    result = run(image, tmp_path, "nonexistent-cmd")
    assert result["error_type"] == "ExecFailed"
    assert result["error_exit_code"] == 127
    assert result["error"].endswith('exec: "nonexistent-cmd": executable file not found in $PATH')
    result = run(image, tmp_path, "/etc/passwd")
    assert result["error_exit_code"] == 126
    assert result["error"].endswith('exec: "/etc/passwd": permission denied')
    result = run(image, tmp_path, "/no/such")
    assert result["error_exit_code"] == 127


# ------------------------------------------------------------------ init


@pytest.mark.parametrize("init_binary", ["tini", "python"])
def test_init_reaps_zombies_and_forwards_sigterm(image, tmp_path, init_binary) -> None:
    job: dict = {"signal_after": [0.8, signal.SIGTERM]}
    if init_binary == "python":
        job["init_binary"] = "/nonexistent"
    elif not os.path.exists("/usr/bin/tini-static"):
        pytest.fail("--init with tini needs Debian's tini package (/usr/bin/tini-static)")
    script = (
        "trap 'echo got-term; exit 7' TERM; (sleep 0.1 &); sleep 0.4; "
        "ps -o pid,stat,comm | tail -n +2 | tr '\\n' ';'; echo; sleep 10 & wait"
    )
    result = run(image, tmp_path, "sh", "-c", script, init=True, job=job)
    assert "error" not in result, result.get("error")
    lines = result["stdout"].splitlines()
    table = [row.split() for row in lines[0].split(";") if row.strip()]
    assert table[0][0] == "1"  # the init
    assert table[1][0] == "2" and table[1][2] == "sh"
    assert not [row for row in table if row[1].startswith("Z")], f"zombies: {table}"
    assert lines[1] == "got-term"
    assert result["exit_code"] == 7


# ---------------------------------------------------------------- limits


def test_memory_limit_oom_kill(image, tmp_path) -> None:
    result = run(
        image,
        tmp_path,
        "sh",
        "-c",
        "x=$(head -c 64m /dev/zero | tr '\\0' a); echo survived",
        limits={"memory": 16 << 20},
    )
    assert result["exit_code"] == -signal.SIGKILL  # the monitor reports 137
    assert result["oom_killed"] is True
    assert "survived" not in result["stdout"]


def test_pids_limit_contains_a_fork_bomb(image, tmp_path) -> None:
    # The inner shell forks until it cannot; PID 1 then becomes a sleep
    # (exec: no fork needed) so the cgroup can be sampled while full.
    script = 'sh -c "for i in \\$(seq 50); do sleep 5 & done" 2>&1; echo bomb=$?; exec sleep 2'
    result = run(
        image,
        tmp_path,
        "sh",
        "-c",
        script,
        limits={"pids": 20},
        job={"stats_after": 1.0, "pids_probe_after": 1.0},
    )
    assert "can't fork" in result["stdout"]
    assert "bomb=2" in result["stdout"]
    assert result["stats"]["pids_limit"] == 20
    assert 10 <= result["stats"]["pids_current"] <= 20
    assert len(result["pids"]) <= 20
    # run() checked that every process is gone and the cgroup removed.
    assert subprocess.run(["true"]).returncode == 0


def test_cpu_limit_and_stats(image, tmp_path) -> None:
    script = (
        "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us "
        "/sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/cpu.max; "
        "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 1"
    )
    result = run(
        image,
        tmp_path,
        "sh",
        "-c",
        script,
        limits={"cpus": 0.5, "memory": 64 << 20},
        job={"stats_after": 0.9},
    )
    out = ok(result)
    assert out.split()[:2] == ["50000", "100000"]
    stats = result["stats"]
    assert stats["cpu_ns"] > 0
    assert 0 < stats["memory_usage"] < 64 << 20
    assert stats["memory_limit"] == 64 << 20
    assert stats["pids_current"] >= 1


def test_pure_v2_style_cgroup_with_nodev_devices(image, tmp_path) -> None:
    """The unified tree alone (as on a pure-v2 host, minus controllers here):
    no devices cgroup, so writable mounts are nodev and /dev holds bind
    mounts of the host's nodes."""
    script = (
        "echo x > /dev/null && head -c 4 /dev/zero | wc -c; "
        "mknod /tmp/n c 1 3 && (echo x > /tmp/n) 2>&1; "
        "cat /proc/self/cgroup | grep '^0::'; ls /sys/fs/cgroup | grep -c cgroup.procs"
    )
    out = ok(run(image, tmp_path, "sh", "-c", script, job={"unified": True}))
    lines = out.splitlines()
    assert lines[0] == "4"
    assert "Permission denied" in lines[1]
    assert lines[2] == "0::/"
    assert lines[3] == "1"


# ------------------------------------------------------- cgroups directly


def unified_layout() -> cgroups.Layout:
    detected = cgroups.detect_layout()
    if detected.version == "v2":
        return detected
    point = "/sys/fs/cgroup/unified"
    return cgroups.Layout("v2", (cgroups.Hierarchy(point, cgroups._v2_controllers(point), True),))


def test_cgroup_version() -> None:
    assert cgroups.cgroup_version() in ("v1", "v2", "hybrid")


@pytest.mark.parametrize("which", ["detected", "unified"])
def test_cgroup_freeze_kill_destroy(which) -> None:
    layout = cgroups.detect_layout() if which == "detected" else unified_layout()
    cid = "t" + secrets.token_hex(8)
    cg = cgroups.ContainerCgroup.create(cid, Limits(), layout=layout)
    proc = subprocess.Popen(["sleep", "30"])
    try:
        cg.add(proc.pid)
        assert cg.pids() == [proc.pid]
        cg.freeze()
        state = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        assert state in ("D", "T", "S")  # frozen tasks sleep in the freezer
        loaded = cgroups.ContainerCgroup.load(cid, layout=layout)
        assert loaded.exists and loaded.pids() == [proc.pid]
        cg.thaw()
        cg.kill_all(signal.SIGTERM)
        assert proc.wait(timeout=5) == -signal.SIGTERM
        cg.destroy()
        cg.destroy()  # idempotent
        assert not cgroups.ContainerCgroup.load(cid, layout=layout).exists
    finally:
        proc.kill()
        proc.wait()
        cg.destroy()


def test_destroy_kills_what_is_left() -> None:
    cid = "t" + secrets.token_hex(8)
    cg = cgroups.ContainerCgroup.create(cid, Limits(pids=10))
    procs = [subprocess.Popen(["sleep", "30"]) for _ in range(3)]
    for p in procs:
        cg.add(p.pid)
    cg.destroy()
    assert [p.wait(timeout=5) for p in procs] == [-signal.SIGKILL] * 3
    assert not cgroups.ContainerCgroup.load(cid).exists


# ------------------------------------------------------------------ units


def test_capability_names_and_docker_rules() -> None:
    assert capabilities.mask(capabilities.DEFAULT_CAPS) == 0xA80425FB
    assert capabilities.cap_number("net_admin") == capabilities.cap_number("CAP_NET_ADMIN") == 12
    assert capabilities.cap_name(40) == "CAP_CHECKPOINT_RESTORE"
    every = capabilities.all_caps()
    assert capabilities.effective_caps(["ALL"], ["SYS_ADMIN"], False) == every - {21}
    assert capabilities.effective_caps(["KILL"], ["ALL"], False) == {5}
    assert capabilities.effective_caps(["CHOWN"], ["CHOWN"], False) == set(
        capabilities.DEFAULT_CAPS
    )
    assert capabilities.effective_caps([], [], True) == every
    with pytest.raises(TuidockError, match="unknown capability"):
        capabilities.effective_caps([], ["BOGUS"], False)


def test_userdb_resolution(tmp_path) -> None:
    passwd = tmp_path / "passwd"
    group = tmp_path / "group"
    passwd.write_text("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
    group.write_text("root:x:0:\napp:x:1000:\nwheel:x:10:app,other\naudio:x:29:app\n")

    def r(spec: str) -> userdb.ExecUser:
        return userdb.resolve(spec, str(passwd), str(group))

    assert r("") == userdb.ExecUser(0, 0, [], "/root")
    assert r("app") == userdb.ExecUser(1000, 1000, [10, 29], "/home/app")
    assert r("1000") == userdb.ExecUser(1000, 1000, [10, 29], "/home/app")
    assert r("app:wheel") == userdb.ExecUser(1000, 10, [], "/home/app")
    assert r("4242:77") == userdb.ExecUser(4242, 77, [], "/")
    with pytest.raises(TuidockError, match="unable to find group nogroup"):
        r("app:nogroup")
    assert userdb.resolve("5", str(tmp_path / "none"), str(tmp_path / "none")).uid == 5


# --------------------------------------------------------------- latency


def test_spawn_latency(image, tmp_path) -> None:
    """spawn() to the exit of `true`, median of 20 (printed; bound generous)."""
    times = []
    spawn_times = []
    for _ in range(20):
        result = run(image, tmp_path, "true", job={"bench": True})
        assert result["exit_code"] == 0
        times.append(result["run_ms"])
        spawn_times.append(result["spawn_ms"])
    median = statistics.median(times)
    print(
        f"\nspawn->exit of `true`: median {median:.1f} ms, min {min(times):.1f}, "
        f"max {max(times):.1f}; spawn() alone median {statistics.median(spawn_times):.1f} ms"
    )
    assert median < 100


# ------------------------------------------------- monitor death, netns


def test_killed_monitor_takes_the_container_down(image, tmp_path) -> None:
    cid = "t" + secrets.token_hex(8)
    cdir = tmp_path / cid
    for sub in ("upper", "work", "merged"):
        (cdir / sub).mkdir(parents=True)
    spec = {
        "id": cid,
        "hostname": "h",
        "args": ["sleep", "30"],
        "env": [PATH_ENV],
        "lower_dirs": image.layers,
        "upper_dir": str(cdir / "upper"),
        "work_dir": str(cdir / "work"),
        "rootfs": str(cdir / "merged"),
    }
    runner = subprocess.Popen(
        [sys.executable, str(RUNNER)], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    assert runner.stdin is not None
    runner.stdin.write(json.dumps({"spec": spec}).encode())
    runner.stdin.close()
    cg = None
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            cg = cgroups.ContainerCgroup.load(cid)
            if cg.exists and cg.pids():
                break
            time.sleep(0.02)
        assert cg is not None and cg.pids(), "the container never started"
        runner.kill()
        runner.wait()
        deadline = time.monotonic() + 5
        while cg.pids() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert cg.pids() == []
    finally:
        runner.kill()
        runner.wait()
        if cg is not None:
            cg.destroy()


def test_join_an_existing_network_namespace(image, tmp_path) -> None:
    ns = tmp_path / "netns"
    ns.touch()
    subprocess.run(["unshare", f"--net={ns}", "true"], check=True)
    try:
        out = ok(run(image, tmp_path, "sh", "-c", "ls /sys/class/net", network=f"netns:{ns}"))
        assert out.split() == ["lo"]
    finally:
        subprocess.run(["umount", str(ns)], check=True)
