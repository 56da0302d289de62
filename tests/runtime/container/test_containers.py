"""Container lifecycle through the CLI, with real containers from the fixture registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clihelp import assert_clean_error, tuidock
from containerhelp import (
    cgroup_exists,
    image_fixture,
    inspect,
    no_leftovers_fixture,
    processes_mentioning,
    state,
    wait_for,
)

__all__ = ["image_fixture", "no_leftovers_fixture"]  # fixtures, used by name


def run_ok(*args: str, input: str | None = None) -> str:
    res = tuidock(*args, input=input)
    assert res.code == 0, (res.code, res.out, res.err)
    return res.out


def test_run_echo_and_exit_codes(image: str) -> None:
    res = tuidock("run", "--rm", image, "echo", "hello", "world")
    assert (res.code, res.out) == (0, "hello world\n"), res.err
    res = tuidock("run", "--rm", image, "sh", "-c", "exit 3")
    assert res.code == 3, res.err
    # A signal death is 128+n (here of a child process).
    res = tuidock("run", "--rm", image, "sh", "-c", "sh -c 'kill -KILL $$'; echo $?")
    assert res.out.strip() == "137", res.err


def test_stdout_and_stderr_are_separate(image: str) -> None:
    res = tuidock("run", image, "sh", "-c", "echo out; echo err >&2; echo out2")
    assert res.code == 0
    assert res.out == "out\nout2\n"
    assert res.err == "err\n"


def test_env_workdir_user(image: str, tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# a comment\nFROMFILE=file\n\nOVERRIDE=file\nHOSTVAR2\n")
    os.environ["HOSTVAR"] = "from-host"
    os.environ["HOSTVAR2"] = "also-host"
    try:
        out = run_ok(
            "run",
            "--rm",
            "-e",
            "A=1",
            "-e",
            "OVERRIDE=cli",
            "-e",
            "HOSTVAR",
            "-e",
            "UNSET_X",
            "--env-file",
            str(env_file),
            image,
            "env",
        )
    finally:
        del os.environ["HOSTVAR"], os.environ["HOSTVAR2"]
    env = dict(line.split("=", 1) for line in out.splitlines())
    assert env["A"] == "1"
    assert env["OVERRIDE"] == "cli"  # -e wins over --env-file
    assert env["FROMFILE"] == "file"
    assert env["HOSTVAR"] == "from-host" and env["HOSTVAR2"] == "also-host"
    assert "UNSET_X" not in env
    assert env["PATH"].startswith("/usr/local/sbin")  # from the image
    assert env["HOME"] == "/root"
    assert run_ok("run", "--rm", "-w", "/tmp/new/dir", image, "pwd") == "/tmp/new/dir\n"
    assert run_ok("run", "--rm", "-u", "www-data", image, "id").startswith(
        "uid=33(www-data) gid=33(www-data)"
    )
    assert run_ok("run", "--rm", "-u", "1000:100", image, "id", "-u") == "1000\n"
    assert run_ok("run", "--rm", "-u", "1000:100", image, "id", "-g") == "100\n"


def test_hostname_default_and_given(image: str) -> None:
    cid = run_ok("run", "-d", image, "sleep", "30").strip()
    assert len(cid) == 64
    res = tuidock("logs", cid)  # nothing yet, but it works
    assert res.code == 0
    out = run_ok(
        "run", "--rm", "--hostname", "box1", image, "sh", "-c", "hostname; cat /etc/hostname"
    )
    assert out == "box1\nbox1\n"
    name = run_ok("run", "--rm", image, "hostname").strip()
    assert len(name) == 12 and all(c in "0123456789abcdef" for c in name)
    hosts = run_ok("run", "--rm", "-h", "box2", image, "cat", "/etc/hosts")
    assert "127.0.0.1\tlocalhost" in hosts and "box2" in hosts
    assert inspect(cid)["Config"]["Hostname"] == cid[:12]


def test_detached_ps_and_logs(image: str) -> None:
    script = "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done; sleep 300"
    cid = run_ok("run", "-d", "--name", "logger", image, "sh", "-c", script).strip()
    wait_for(lambda: "out5" in tuidock("logs", "logger").out, what="logs")
    ps = tuidock("ps")
    header, *rows = ps.out.splitlines()
    assert header.split() == [
        "CONTAINER",
        "ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ]
    (row,) = [r for r in rows if r.endswith("logger")]
    assert row.startswith(cid[:12])
    assert "   Up " in row
    assert '"sh -c \'for i in 1 2…"' in row
    res = tuidock("logs", "logger")
    assert res.out == "".join(f"out{i}\n" for i in range(1, 6))
    assert res.err == "".join(f"err{i}\n" for i in range(1, 6))
    # Two pipes: which of out5/err5 the monitor read last is not fixed (as with Docker).
    res = tuidock("logs", "--tail", "3", "logger")
    assert len((res.out + res.err).splitlines()) == 3
    assert tuidock("logs", "--tail", "0", "logger").out == ""
    res = tuidock("logs", "-t", "--tail", "1", "logger")
    stamp, text = (res.out + res.err).split(" ", 1)
    assert text in ("out5\n", "err5\n") and stamp.endswith("Z") and "T" in stamp
    assert tuidock("logs", "--since", "1h", "logger").out.count("out") == 5
    assert tuidock("logs", "--since", "2099-01-01T00:00:00Z", "logger").out == ""
    rows = [json.loads(line) for line in tuidock("ps", "--format", "json").out.splitlines()]
    (mine,) = [r for r in rows if r["Names"] == "logger"]
    assert mine["State"] == "running" and mine["Status"].startswith("Up ")
    assert mine["ID"] == cid[:12]
    assert tuidock("ps", "-q", "--no-trunc").out.split() == [cid]


def test_logs_follow_until_exit(image: str) -> None:
    cid = run_ok(
        "run", "-d", image, "sh", "-c", "echo first; sleep 1; echo second >&2; sleep 1; echo third"
    ).strip()
    start = time.monotonic()
    res = tuidock("logs", "-f", cid, timeout=30)
    took = time.monotonic() - start
    assert res.code == 0
    assert res.out == "first\nthird\n" and res.err == "second\n"
    assert 1.0 < took < 15, took


def test_logs_follow_across_restart(image: str) -> None:
    cid = run_ok(
        "run", "-d", "--restart", "on-failure:1", image, "sh", "-c", "echo run; sleep 0.5; exit 1"
    ).strip()
    res = tuidock("logs", "-f", cid, timeout=30)
    assert res.out == "run\nrun\n"
    assert state(cid)["Status"] == "exited"


def test_stop_ignoring_sigterm_is_killed_at_timeout(image: str) -> None:
    cid = run_ok("run", "-d", image, "sleep", "300").strip()
    start = time.monotonic()
    res = tuidock("stop", "-t", "1", cid[:10])
    took = time.monotonic() - start
    assert res.code == 0 and res.out == cid[:10] + "\n"
    assert 1.0 <= took < 4.0, took
    st = state(cid)
    assert (st["Status"], st["ExitCode"], st["Running"]) == ("exited", 137, False)
    assert not cgroup_exists(cid)


def test_stop_with_a_handler_is_quick(image: str) -> None:
    cid = run_ok(
        "run", "-d", image, "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"
    ).strip()
    time.sleep(0.3)
    start = time.monotonic()
    assert tuidock("stop", cid).code == 0
    assert time.monotonic() - start < 5
    assert state(cid)["ExitCode"] == 0


def test_stop_with_a_timeout_of_centuries_waits_for_the_handler(image: str) -> None:
    cid = run_ok(
        "run",
        "-d",
        "--stop-timeout",
        str(1 << 62),
        image,
        "sh",
        "-c",
        "trap 'exit 5' TERM; while true; do sleep 0.1; done",
    ).strip()
    time.sleep(0.3)
    assert tuidock("stop", cid).code == 0
    assert state(cid)["ExitCode"] == 5
    run_ok("start", cid)
    time.sleep(0.3)
    assert tuidock("stop", "-t", "9000000000000000000", cid).code == 0
    assert state(cid)["ExitCode"] == 5


NUMERIC_FLAG_ERRORS = [
    (["--cpus", "nan"], 'invalid argument "nan" for "--cpus" flag: failed to parse nan'),
    (["--cpus", "inf"], 'invalid argument "inf" for "--cpus" flag'),
    (["--cpus", "1e400"], "Range of CPUs is from 0.01 to"),
    (["--cpus", "-1"], "Range of CPUs is from 0.01 to"),
    (["--cpus", "0.0000001"], "Range of CPUs is from 0.01 to"),
    (["--cpus", "1000000"], f"as there are only {os.cpu_count()} CPUs available"),
    (["--cpus", "0.0000000001"], 'for "--cpus" flag: value is too precise'),
    (["--pids-limit", "nan"], 'invalid argument "nan" for "--pids-limit" flag'),
    (["--pids-limit", "1" + "0" * 20], "value out of range"),
    (["-m", "1e3"], """invalid argument "1e3" for "-m, --memory" flag: invalid size: '1e3'"""),
    (["--memory", "1" + "0" * 20 + "p"], "invalid size"),
    (["-m", ""], "invalid size: ''"),
    (["--stop-timeout", "1" + "0" * 20], 'for "--stop-timeout" flag'),
    (["--stop-timeout", "soon"], 'for "--stop-timeout" flag'),
]


@pytest.mark.parametrize("flags,message", NUMERIC_FLAG_ERRORS)
def test_bad_numeric_flags_get_dockers_messages(
    tuidock_root: Path, flags: list[str], message: str
) -> None:
    # Checked before the image is looked for: the name need not exist.
    for command in ("run", "create"):
        res = tuidock(command, *flags, "127.0.0.1:9/nosuch")
        assert_clean_error(res)
        assert message in res.err, res.err
    for value in ("nan", "1" + "0" * 20):
        res = tuidock("stop", "-t", value, "nosuch")
        assert_clean_error(res)
        assert f'invalid argument "{value}" for "-t, --time" flag' in res.err


def test_kill_with_signal(image: str) -> None:
    cid = run_ok(
        "run", "-d", image, "sh", "-c", "trap 'exit 42' USR1; while true; do sleep 0.1; done"
    ).strip()
    time.sleep(0.3)
    assert tuidock("kill", "-s", "USR1", cid).code == 0
    assert tuidock("wait", cid).out == "42\n"
    res = tuidock("kill", cid)
    assert_clean_error(res)
    assert "is not running" in res.err
    cid = run_ok("run", "-d", image, "sleep", "300").strip()
    assert tuidock("kill", "-s", "SIGKILL", cid).code == 0
    assert state(cid)["ExitCode"] == 137
    assert_clean_error(tuidock("kill", "-s", "NOPE", cid))


def test_rm_flag_removes_the_container(image: str, tuidock_root: Path) -> None:
    assert run_ok("run", "--rm", "--name", "gone", image, "true") == ""
    assert tuidock("ps", "-aq").out == ""
    cid = run_ok("run", "-d", "--rm", image, "sh", "-c", "sleep 0.3").strip()
    wait_for(lambda: not (tuidock_root / "containers" / cid).exists(), what="--rm removal")
    assert not cgroup_exists(cid)
    assert "No such container" in tuidock("inspect", "--type", "container", cid).err


def test_restart_policy_on_failure(image: str) -> None:
    cid = run_ok("run", "-d", "--restart", "on-failure:2", image, "sh", "-c", "exit 1").strip()
    assert tuidock("wait", cid).code == 0
    doc = wait_for(lambda: (d := inspect(cid))["State"]["Status"] == "exited" and d, what="exit")
    assert doc["RestartCount"] == 2
    assert doc["State"]["ExitCode"] == 1
    assert doc["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert tuidock("logs", cid).out == ""


def test_restart_always_stops_on_stop(image: str) -> None:
    cid = run_ok("run", "-d", "--restart", "always", image, "sh", "-c", "sleep 0.2; exit 5").strip()
    wait_for(lambda: inspect(cid)["RestartCount"] >= 2, what="restarts")
    assert tuidock("stop", "-t", "1", cid).code == 0
    st = state(cid)
    assert st["Status"] == "exited" and not st["Restarting"]
    count = inspect(cid)["RestartCount"]
    time.sleep(0.8)
    assert inspect(cid)["RestartCount"] == count
    assert not processes_mentioning(cid)


def test_restart_command(image: str) -> None:
    cid = run_ok("run", "-d", image, "sleep", "300").strip()
    first = state(cid)
    assert run_ok("restart", "-t", "0", cid) == cid + "\n"
    second = state(cid)
    assert second["Running"] and second["Pid"] != first["Pid"]
    assert second["StartedAt"] > first["StartedAt"]


def test_name_conflict_and_prefixes(image: str) -> None:
    run_ok("create", "--name", "twin", image, "true")
    res = tuidock("create", "--name", "twin", image, "true")
    assert_clean_error(res)
    assert res.code == 125
    assert 'The container name "/twin" is already in use' in res.err
    assert_clean_error(tuidock("create", "--name", "bad name", image, "true"))
    # Unique prefixes resolve; ambiguous ones are refused clearly.
    ids = [run_ok("create", image, "true").strip() for _ in range(17)]
    by_first: dict[str, list[str]] = {}
    for cid in ids:
        by_first.setdefault(cid[0], []).append(cid)
    shared = next(v for v in by_first.values() if len(v) > 1)
    res = tuidock("inspect", "--type", "container", shared[0][0])
    assert res.code != 0 and "multiple IDs found with provided prefix" in res.err
    unique = ids[0][:12]
    assert inspect(unique)["Id"] == ids[0]
    assert inspect("twin")["Name"] == "/twin"
    assert inspect("/twin")["Name"] == "/twin"
    assert_clean_error(tuidock("start", "nosuchcontainer"))


def test_rm_running_needs_force(image: str, tuidock_root: Path) -> None:
    cid = run_ok("run", "-d", "--name", "busy", image, "sleep", "300").strip()
    res = tuidock("rm", "busy")
    assert_clean_error(res)
    assert 'cannot remove container "/busy": container is running' in res.err
    res = tuidock("rm", "-f", "busy")
    assert res.code == 0 and res.out == "busy\n"
    assert not (tuidock_root / "containers" / cid).exists()
    assert not cgroup_exists(cid)
    assert not processes_mentioning(cid)
    a = run_ok("create", image, "true").strip()
    b = run_ok("create", image, "true").strip()
    res = tuidock("rm", a, "nope", b)
    assert res.code == 1 and res.out == f"{a}\n{b}\n" and "No such container: nope" in res.err


def test_pause_unpause(image: str) -> None:
    cid = run_ok(
        "run", "-d", image, "sh", "-c", "while true; do date +%s%N; sleep 0.05; done"
    ).strip()
    time.sleep(0.3)
    assert tuidock("pause", cid).code == 0
    st = state(cid)
    assert st["Status"] == "paused" and st["Paused"]
    assert "(Paused)" in tuidock("ps").out
    before = tuidock("logs", cid).out.count("\n")
    time.sleep(0.5)
    assert tuidock("logs", cid).out.count("\n") == before
    assert_clean_error(tuidock("pause", cid))
    assert tuidock("unpause", cid).code == 0
    assert state(cid)["Status"] == "running"
    wait_for(lambda: tuidock("logs", cid).out.count("\n") > before, what="output after unpause")
    assert_clean_error(tuidock("unpause", cid))
    # A paused container can be stopped and removed.
    assert tuidock("pause", cid).code == 0
    assert tuidock("rm", "-f", cid).code == 0
    assert not cgroup_exists(cid)


def test_container_prune(image: str) -> None:
    running = run_ok("run", "-d", image, "sleep", "300").strip()
    exited = run_ok("run", "-d", image, "true").strip()
    created = run_ok("create", image, "true").strip()
    tuidock("wait", exited)
    res = tuidock("container", "prune", "-f")
    assert res.code == 0
    assert res.out.startswith("Deleted Containers:\n")
    assert exited in res.out and created in res.out and running not in res.out
    assert "Total reclaimed space:" in res.out
    assert tuidock("ps", "-aq", "--no-trunc").out.split() == [running]
    assert_clean_error(tuidock("container", "prune"))  # no terminal to confirm on


def test_inspect_fields(image: str, registry) -> None:
    cid = run_ok(
        "run",
        "-d",
        "--name",
        "insp",
        "-e",
        "X=1",
        "-l",
        "tier=web",
        "-m",
        "64m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "50",
        image,
        "sleep",
        "300",
    ).strip()
    doc = inspect("insp")
    assert doc["Id"] == cid and doc["Name"] == "/insp"
    assert doc["Path"] == "sleep" and doc["Args"] == ["300"]
    st = doc["State"]
    assert st["Status"] == "running" and st["Running"] and st["Pid"] > 0
    assert st["ExitCode"] == 0 and st["OOMKilled"] is False and st["StartedAt"].endswith("Z")
    assert st["FinishedAt"] == "0001-01-01T00:00:00Z"
    assert doc["Image"] == registry.images["oci/busybox"].image_id
    assert doc["Config"]["Image"] == image
    assert "X=1" in doc["Config"]["Env"] and doc["Config"]["Labels"]["tier"] == "web"
    assert doc["Config"]["Cmd"] == ["sleep", "300"] and doc["Config"]["Hostname"] == cid[:12]
    hc = doc["HostConfig"]
    assert hc["Memory"] == 64 * 1024 * 1024 and hc["NanoCpus"] == 500_000_000
    assert hc["PidsLimit"] == 50 and hc["NetworkMode"] == "bridge"
    assert hc["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert doc["Mounts"] == [] and doc["RestartCount"] == 0
    gd = doc["GraphDriver"]
    assert gd["Name"] == "overlay"
    assert gd["Data"]["UpperDir"].endswith(f"{cid}/upper") and "layers" in gd["Data"]["LowerDir"]
    res = tuidock("inspect", "-f", "{{.State.Status}} {{.Name}}", "insp", image)
    assert res.out.splitlines()[0] == "running /insp"
    assert json.loads(tuidock("inspect", "insp", image).out)[1]["RepoTags"] == [image]
    assert tuidock("container", "inspect", "-f", "{{.Id}}", cid[:8]).out.strip() == cid
    res = tuidock("inspect", "--type", "image", "insp")
    assert res.code != 0 and "No such image: insp" in res.err
    ps = json.loads(tuidock("ps", "--format", "json", "--filter", "label=tier=web").out)
    assert ps["Names"] == "insp" and ps["Labels"] == "tier=web"
    assert tuidock("ps", "-q", "--filter", "label=tier=db").out == ""
    assert tuidock("ps", "-q", "--filter", "name=ins").out.strip() == cid[:12]
    assert tuidock("ps", "-q", "--filter", "status=exited").out == ""


def test_failing_starts_leave_nothing(image: str, tuidock_root: Path) -> None:
    res = tuidock("run", "--name", "nocmd", image, "no-such-command")
    assert res.code == 127, res.err
    assert_clean_error(res)
    assert "executable file not found" in res.err
    st = state("nocmd")
    assert st["Status"] == "created" and not st["Running"] and st["Pid"] == 0
    assert st["ExitCode"] == 127 and "executable file not found" in st["Error"]
    cid = inspect("nocmd")["Id"]
    assert not cgroup_exists(cid)
    res = tuidock("run", "--rm", "-u", "nosuchuser", image, "true")
    assert res.code == 125, res.err
    assert_clean_error(res)
    assert "nosuchuser" in res.err
    assert tuidock("ps", "-aq").out.split() == [cid[:12]]  # --rm removed the failed one
    res = tuidock("run", "--rm", image, "/etc/passwd")
    assert res.code == 126, res.err
    res = tuidock("start", "nocmd")
    assert res.code == 1 and "executable file not found" in res.err
    assert not processes_mentioning(str(tuidock_root))
    assert not cgroup_exists(cid)


def test_usage_errors(image: str) -> None:
    for args in (
        ("run", "-p", "not-a-port", image, "true"),
        ("run", "--network", "no-such-network", image, "true"),
        ("run", "--rm", "--restart", "always", image, "true"),
        ("run", "-m", "1k", image, "true"),
        ("run", "--cpus", "999", image, "true"),
        ("run", "--restart", "sometimes", image, "true"),
    ):
        res = tuidock(*args)
        assert_clean_error(res)
        assert res.code == 125, args
    assert tuidock("ps", "-aq").out == ""


def test_stdin_pipe(image: str) -> None:
    res = tuidock("run", "--rm", "-i", image, "sh", "-c", "cat; echo done", input="line1\nline2\n")
    assert res.out == "line1\nline2\ndone\n", res.err
    res = tuidock("run", "--rm", "-it", image, "cat", input="x\n")
    assert_clean_error(res)
    assert "the input device is not a TTY" in res.err and tuidock("ps", "-aq").out == ""
    # Without -i the container's stdin is empty.
    res = tuidock("run", "--rm", image, "cat", input="ignored\n")
    assert res.out == "" and res.code == 0


def test_start_attach(image: str) -> None:
    cid = run_ok("create", "--name", "later", image, "sh", "-c", "echo hi; exit 4").strip()
    assert state(cid)["Status"] == "created"
    res = tuidock("start", "-a", "later")
    assert (res.code, res.out) == (4, "hi\n")
    res = tuidock("start", "later")
    assert res.out == "later\n"
    assert tuidock("wait", "later").out == "4\n"
    assert tuidock("logs", "later").out == "hi\nhi\n"


def test_sig_proxy_forwards_sigint(image: str) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tuidock",
            "run",
            "--rm",
            image,
            "sh",
            "-c",
            "trap 'echo got; exit 7' INT; echo ready; while true; do sleep 0.1; done",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(2)
    out, _ = proc.communicate(timeout=20)
    assert out == "got\n" and proc.returncode == 7


def test_rename(image: str) -> None:
    run_ok("create", "--name", "old", image, "true")
    run_ok("create", "--name", "other", image, "true")
    assert tuidock("rename", "old", "new").code == 0
    assert inspect("new")["Name"] == "/new"
    assert tuidock("inspect", "--type", "container", "old").code != 0
    res = tuidock("rename", "new", "other")
    assert_clean_error(res)
    assert "already in use" in res.err


def test_top(image: str) -> None:
    run_ok("run", "-d", "--name", "toppy", image, "sh", "-c", "sleep 300 & sleep 301")
    wait_for(lambda: "sleep 301" in tuidock("top", "toppy").out, what="top")
    res = tuidock("top", "toppy")
    assert res.out.splitlines()[0].split()[:3] == ["UID", "PID", "PPID"]
    # busybox sh execs its last command: the two sleeps are all there is.
    assert [line.split()[-1] for line in res.out.splitlines()[1:]] == ["301", "300"]


def test_engine_api(image: str) -> None:
    from tuidock.runtime.container.options import CreateOptions
    from tuidock.runtime.engine import default_engine

    engine = default_engine()
    cid, client, _ = engine.run(
        CreateOptions(image=image, command=["sh", "-c", "echo via-engine"]), attach=True
    )
    assert client is not None
    frames = []
    while True:
        got = client.read_frames()
        if not got:
            break
        frames += got
    client.close()
    assert (b"o", b"via-engine\n") in frames
    assert json.loads(frames[-1][1])["ExitCode"] == 0
    infos = engine.list_containers(all=True)
    assert [i.id for i in infos] == [cid]
    assert infos[0].status == "exited" and infos[0].status_text().startswith("Exited (0) ")
    assert [e.data for e in engine.container_logs(cid)] == [b"via-engine\n"]
    engine.remove_container(cid)
    assert engine.list_containers(all=True) == []


def test_run_pulls_a_missing_image(registry, tuidock_root: Path) -> None:
    ref = registry.images["oci/busybox"].reference
    res = tuidock("run", "--rm", ref, "echo", "pulled")
    assert res.code == 0, res.err
    assert res.out == "pulled\n"  # pull progress goes to stderr, as docker run does
    assert f"Unable to find image '{ref}' locally" in res.err
    assert tuidock("images", "-q").out.strip() == registry.images["oci/busybox"].image_id[7:19]
    res = tuidock("run", "--rm", f"{registry.host}/no/such:image", "true")
    assert res.code == 125 and "Traceback" not in res.err


def test_network_none_and_host(image: str) -> None:
    links = run_ok("run", "--rm", "--network", "none", image, "cat", "/proc/net/dev")
    names = {line.split(":")[0].strip() for line in links.splitlines()[2:]}
    assert names == {"lo"}
    resolv = run_ok("run", "--rm", "--network", "none", image, "cat", "/etc/resolv.conf")
    assert "nameserver" not in resolv
    host_links = run_ok("run", "--rm", "--network", "host", image, "cat", "/proc/net/dev")
    assert len(host_links.splitlines()) >= len(links.splitlines())
    assert run_ok("run", "--rm", "--net", "host", image, "hostname").strip() == os.uname().nodename
    assert Path("/etc/hosts").read_text() == run_ok(
        "run", "--rm", "--network", "host", image, "cat", "/etc/hosts"
    )


def test_monitor_failing_before_spawn_cleans_up(image: str, tuidock_root: Path) -> None:
    cid = run_ok("create", "--name", "broken", image, "true").strip()
    (tuidock_root / "containers" / cid / "spec.json").write_text("{not json")
    res = tuidock("start", "broken")
    assert_clean_error(res)
    assert res.code == 1  # docker start exits 1; only run uses 125/126/127
    st = state("broken")
    assert st["Status"] == "created" and not st["Running"] and st["Pid"] == 0
    assert not cgroup_exists(cid)
    assert not processes_mentioning(cid)
    assert "monitor" in (tuidock_root / "containers" / cid / "monitor.log").read_text()


def test_ps_templates_and_filters(image: str) -> None:
    a = run_ok("run", "-d", "--name", "alpha", image, "sleep", "300").strip()
    run_ok("create", "--name", "beta", image, "true")
    res = tuidock("ps", "-a", "--format", "table {{.ID}}\t{{.Names}}\t{{.State}}")
    lines = res.out.splitlines()
    assert lines[0].split() == ["CONTAINER", "ID", "NAMES", "STATE"]
    assert sorted(line.split()[1:] for line in lines[1:]) == [
        ["alpha", "running"],
        ["beta", "created"],
    ]
    assert tuidock("ps", "--format", "{{.Names}}").out == "alpha\n"
    assert (
        tuidock("ps", "-a", "--filter", "status=created", "--format", "{{.Names}}").out == "beta\n"
    )
    assert tuidock("ps", "-a", "-q", "--filter", f"id={a[:6]}").out.strip() == a[:12]
    both = tuidock("ps", "-aq", "--filter", "name=alpha", "--filter", "name=beta").out.split()
    assert len(both) == 2
    assert (
        tuidock("ps", "-a", "--filter", "status=running", "--filter", "name=beta").out.count("\n")
        == 1
    )
    assert_clean_error(tuidock("ps", "--filter", "color=blue"))
    assert tuidock("ps", "-l", "--format", "{{.Names}}").out == "beta\n"


def test_engine_stats_and_top(image: str) -> None:
    from tuidock.runtime.container.options import CreateOptions
    from tuidock.runtime.engine import default_engine

    engine = default_engine()
    cid, _, _ = engine.run(
        CreateOptions(image=image, command=["sleep", "300"], memory=64 << 20, pids_limit=20)
    )
    stats = engine.container_stats(cid[:8])
    assert stats.pids_current == 1 and stats.pids_limit == 20
    assert stats.memory_limit == 64 << 20 and stats.memory_usage > 0
    header, rows = engine.container_top(cid)
    assert "PID" in header and len(rows) == 1 and rows[0][-1] == "sleep 300"
    engine.kill_container(cid)
    assert engine.wait_container(cid) == 137
    with pytest.raises(Exception, match="not running"):
        engine.container_stats(cid)


def test_large_output_and_input_are_intact(image: str) -> None:
    res = tuidock("run", "--name", "big", image, "sh", "-c", "yes 0123456789 | head -n 300000")
    assert res.code == 0
    assert res.out == "0123456789\n" * 300000
    # ~21 MB of json-file entries: rotated at 10 MiB with one old file kept, so
    # the log holds the newest ~2 MB of output.
    logs = tuidock("logs", "big").out
    assert res.out.endswith(logs) and 1_500_000 < len(logs) < len(res.out)
    assert tuidock("logs", "--tail", "3", "big").out == "0123456789\n" * 3
    data = "".join(f"{i:07d}\n" for i in range(200000))  # 1.6 MB through stdin
    res = tuidock("run", "--rm", "-i", image, "sh", "-c", "cat; echo end >&2", input=data)
    assert res.out == data and res.err == "end\n"
