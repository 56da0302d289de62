"""The container lifecycle, run/create and build commands on Docker and Podman endpoints.

Every test runs on both private engines (the `engine` fixture) through the CLI
in a fresh process, and where the output is deterministic compares it with
what the docker CLI prints for the same engine (`docker -H`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import uuid

import pytest
from clihelp import assert_clean_error, run_in_pty, tuidock

needs_docker_cli = pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI")


def _name(prefix: str = "tdk") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _docker(engine, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", "-H", engine.host, *args],
        capture_output=True,
        text=True,
        timeout=120,
        input=input,
        check=False,
    )


def _td(engine, *args: str, input: str | None = None):
    return tuidock("-H", engine.host, *args, input=input)


def _names(engine) -> set[str]:
    out = _docker(engine, "ps", "-a", "--format", "{{.Names}}").stdout
    return set(out.split())


@pytest.fixture
def busybox(engine, registry) -> str:
    ref = registry.ref("oci/busybox")
    assert _docker(engine, "pull", "-q", ref).returncode == 0
    return ref


@pytest.fixture
def cleanup(engine):
    names: list[str] = []
    yield names
    for n in names:
        _docker(engine, "rm", "-f", "-v", n)


def _sleeper(engine, busybox: str, cleanup: list[str]) -> str:
    name = _name()
    cleanup.append(name)
    res = _td(engine, "run", "-d", "--name", name, "--network", "none", busybox, "sleep", "300")
    assert res.code == 0, res.err
    assert re.fullmatch(r"[0-9a-f]{64}\n", res.out), res.out
    return name


# -- lifecycle ------------------------------------------------------------------------


@needs_docker_cli
def test_missing_names_fail_like_docker_after_trying_the_others(engine, busybox, cleanup):
    name = _sleeper(engine, busybox, cleanup)
    missing = [_name("none"), _name("none")]
    for verb in (["pause"], ["unpause"], ["stop", "-t", "1"], ["start"], ["kill"]):
        mine = _td(engine, *verb, missing[0], name, missing[1])
        theirs_err = _docker(engine, *verb, missing[0], missing[1]).stderr
        assert mine.code == 1, (verb, mine)
        assert mine.out == f"{name}\n", (verb, mine.out)
        assert mine.err == theirs_err, (verb, mine.err, theirs_err)
        assert "Traceback" not in mine.err


@needs_docker_cli
def test_stop_start_restart_rm_wait_as_docker(engine, busybox, cleanup):
    name = _sleeper(engine, busybox, cleanup)
    assert _td(engine, "stop", "-t", "1", name).out == f"{name}\n"
    assert _docker(engine, "inspect", "-f", "{{.State.Running}}", name).stdout == "false\n"
    assert _td(engine, "start", name).out == f"{name}\n"
    assert _td(engine, "restart", "-t", "1", name).out == f"{name}\n"
    assert _td(engine, "kill", "-s", "KILL", name).out == f"{name}\n"
    waited = _td(engine, "wait", name)
    assert (waited.code, waited.out) == (0, _docker(engine, "wait", name).stdout)
    assert waited.out == "137\n"
    new = _name()
    cleanup.append(new)
    assert _td(engine, "rename", name, new).code == 0
    assert new in _names(engine) and name not in _names(engine)
    res = _td(engine, "rm", "-v", new)
    assert (res.code, res.out) == (0, f"{new}\n")
    assert new not in _names(engine)


def test_rm_of_a_running_container_needs_force(engine, busybox, cleanup):
    name = _sleeper(engine, busybox, cleanup)
    res = _td(engine, "rm", name)
    assert res.code == 1 and res.out == ""
    assert res.err.startswith("Error response from daemon: ") and len(res.err.splitlines()) == 1
    assert name in _names(engine)
    assert _td(engine, "rm", "-f", name).out == f"{name}\n"
    assert name not in _names(engine)


def test_bad_signal_and_unreachable_endpoint_are_one_line_errors(engine, busybox, cleanup):
    name = _sleeper(engine, busybox, cleanup)
    res = _td(engine, "kill", "-s", "NOSUCHSIG", name)
    assert_clean_error(res)
    assert _docker(engine, "inspect", "-f", "{{.State.Running}}", name).stdout == "true\n"
    gone = f"unix:///tmp/tdk-none-{uuid.uuid4().hex[:8]}.sock"
    for args in (["stop", "a", "b"], ["run", "--rm", busybox, "true"], ["build", "."]):
        res = tuidock("-H", gone, *args)
        assert_clean_error(res)
        assert "cannot reach" in res.err


def test_commit_prints_the_image_id_with_message_and_changes(engine, busybox, cleanup, registry):
    name = _sleeper(engine, busybox, cleanup)
    ref = f"{registry.host}/tdk/{_name('commit')}:v1"
    res = _td(engine, "commit", "-m", "a message", "-a", "me", "-c", "ENV TDK=1", name, ref)
    try:
        assert res.code == 0, res.err
        assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", res.out), res.out
        got = _docker(engine, "inspect", "-f", "{{.Id}}|{{.Author}}|{{.Config.Env}}", ref).stdout
        image, author, env = got.strip().split("|")
        assert image.removeprefix("sha256:") == res.out.strip().removeprefix("sha256:")
        assert author == "me" and "TDK=1" in env
    finally:
        _docker(engine, "rmi", ref)


def test_container_prune_lists_what_it_removed(engine, busybox):
    name = _name()
    label = f"tdk.prune={uuid.uuid4().hex[:8]}"
    made = _td(engine, "create", "--label", label, "--name", name, busybox, "true")
    assert made.code == 0, made.err
    cid = made.out.strip()
    res = _td(engine, "container", "prune", "-f", "--filter", f"label={label}")
    assert res.code == 0, res.err
    assert res.out.startswith("Deleted Containers:\n"), res.out
    assert f"\n{cid}\n" in res.out
    assert re.search(r"\nTotal reclaimed space: [0-9.]+[kMG]?B\n$", res.out), res.out
    assert name not in _names(engine)
    assert_clean_error(_td(engine, "container", "prune", "-f", "--filter", "color=red"))


# -- run / create ---------------------------------------------------------------------


def test_attached_run_demuxes_streams_and_exits_with_the_code(engine, busybox):
    name = _name()
    res = _td(
        engine, "run", "--rm", "--name", name, "--network", "none", busybox,
        "sh", "-c", "echo out1; echo err1 >&2; echo out2; exit 3",
    )  # fmt: skip
    assert (res.code, res.out, res.err) == (3, "out1\nout2\n", "err1\n")
    assert name not in _names(engine)  # --rm


@needs_docker_cli
def test_run_output_matches_the_docker_cli(engine, busybox):
    if engine.name == "podman":
        pytest.skip("the docker CLI exits 0 for any exit code on Podman's compat attach")
    cmd = ["--rm", "--network", "none", "-e", "A=1", "-w", "/tmp", "-u", "65534",
           busybox, "sh", "-c", "echo $A $(pwd) $(id -u); echo e >&2; exit 5"]  # fmt: skip
    mine = _td(engine, "run", *cmd)
    theirs = _docker(engine, "run", *cmd)
    assert (mine.code, mine.out, mine.err) == (theirs.returncode, theirs.stdout, theirs.stderr)
    assert mine.out == "1 /tmp 65534\n"


def test_run_flags_reach_the_engine(engine, busybox, cleanup, tmp_path):
    name = _name()
    cleanup.append(name)
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROM_FILE=f\nB=file\n")
    res = _td(
        engine, "run", "-d", "--name", name, "--env-file", str(env_file), "-e", "B=flag",
        "--label", "tdk.x=1", "--hostname", "hosty", "--memory", "64m", "--pids-limit", "50",
        "--cap-drop", "net_raw", "--restart", "on-failure:2", "--entrypoint", "sh",
        "--tmpfs", "/scratch", "-v", "/anon", "--network", "none", busybox, "-c", "sleep 300",
    )  # fmt: skip
    assert res.code == 0, res.err
    fmt = (
        '{{.Config.Hostname}}|{{index .Config.Labels "tdk.x"}}|{{.HostConfig.Memory}}|'
        "{{.HostConfig.PidsLimit}}|{{.HostConfig.RestartPolicy.Name}}|"
        "{{.HostConfig.RestartPolicy.MaximumRetryCount}}|{{json .Config.Entrypoint}}|"
        "{{json .HostConfig.CapDrop}}"
    )
    got = _docker(engine, "inspect", "-f", fmt, name).stdout.strip().split("|")
    assert got[:6] == ["hosty", "1", str(64 << 20), "50", "on-failure", "2"], got
    assert got[6] == '["sh"]' and "NET_RAW" in got[7], got
    env = _docker(engine, "exec", name, "env").stdout
    assert "FROM_FILE=f\n" in env and "B=flag\n" in env
    mounts = _docker(engine, "exec", name, "cat", "/proc/mounts").stdout
    assert " /scratch tmpfs " in mounts and " /anon " in mounts


def test_run_pulls_a_missing_image_first(engine, registry, cleanup):
    ref = registry.ref("demo/multilayer")
    _docker(engine, "rmi", "-f", ref)
    name = _name()
    cleanup.append(name)
    res = _td(engine, "run", "--name", name, "--network", "none", ref, "true")
    assert res.code == 0, res.err
    lines = res.err.splitlines()
    assert lines[0] == f"Unable to find image '{ref}' locally", lines
    assert any(": Pulling from demo/multilayer" in line for line in lines), lines
    assert lines[-1] == f"Status: Downloaded newer image for {ref}", lines
    assert _docker(engine, "image", "inspect", ref).returncode == 0


def test_run_errors_exit_as_docker_and_leave_nothing(engine, busybox, registry):
    name = _name()
    res = _td(engine, "run", "--rm", "--name", name, "--network", "none", busybox, "nosuchcmd")
    assert_clean_error(res)
    assert res.code == 127
    assert name not in _names(engine)  # the failed start of a --rm container removed it
    missing = f"{registry.host}/tdk/{_name('missing')}"
    res = _td(engine, "run", "--rm", "--name", name, missing)
    assert res.code == 125 and "Traceback" not in res.err
    assert res.err.startswith(f"Unable to find image '{missing}:latest' locally\n")
    assert [ln for ln in res.err.splitlines() if ln.startswith("Error: ")], res.err
    for bad in (["--memory", "lots"], ["--cpus", "x"], ["-p", "99999:80"], ["--restart", "bad"]):
        res = _td(engine, "run", "--rm", "--name", name, *bad, busybox, "true")
        assert_clean_error(res)
        assert res.code == 125, (bad, res.code)
    assert name not in _names(engine)


def test_create_then_start_attached_with_stdin(engine, busybox, cleanup):
    name = _name()
    cleanup.append(name)
    made = _td(engine, "create", "-i", "--name", name, "--network", "none", busybox,
               "sh", "-c", "echo started; cat; exit 4")  # fmt: skip
    assert made.code == 0 and re.fullmatch(r"[0-9a-f]{64}\n", made.out), made
    res = _td(engine, "start", "-a", "-i", name, input="from stdin\n")
    assert (res.code, res.out) == (4, "started\nfrom stdin\n"), res
    res = _td(engine, "run", "-i", "--rm", "--network", "none", busybox, "wc", "-l",
              input="a\nb\nc\n")  # fmt: skip
    assert (res.code, res.out.strip()) == (0, "3")


def test_detached_rm_is_removed_by_the_engine(engine, busybox):
    name = _name()
    res = _td(engine, "run", "-d", "--rm", "--name", name, "--network", "none", busybox, "true")
    assert res.code == 0 and re.fullmatch(r"[0-9a-f]{64}\n", res.out), res
    deadline = time.monotonic() + 30
    while name in _names(engine) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert name not in _names(engine)


def test_run_it_relays_a_terminal_with_its_size(engine, busybox):
    name = _name()
    argv = [sys.executable, "-m", "tuidock", "-H", engine.host, "run", "-it", "--rm",
            "--name", name, "--network", "none", busybox,
            "sh", "-c", "sleep 1; stty size; tty; read line; echo got-$line; exit 6"]  # fmt: skip
    code, out = run_in_pty(argv, (33, 101), [(b"/dev/pts/", b"hello\r")])
    assert b"33 101" in out, out
    assert b"got-hello" in out, out
    assert code == 6, out
    assert name not in _names(engine)


def test_run_it_without_a_terminal_says_so(engine, busybox):
    res = _td(engine, "run", "-it", "--rm", busybox, "true", input="")
    assert_clean_error(res)
    assert "not a TTY" in res.err


# -- build ----------------------------------------------------------------------------


def test_build_streams_steps_and_quiet_prints_the_id(engine, busybox, tmp_path):
    tag = f"tdk-build-{uuid.uuid4().hex[:8]}:v1"
    (tmp_path / "Dockerfile").write_text(
        f"FROM {busybox}\nARG WHO=nobody\nRUN echo hi-$WHO > /f\nCMD cat /f\n"
    )
    try:
        res = _td(engine, "build", "-t", tag, "--build-arg", "WHO=arg", str(tmp_path))
        assert res.code == 0, res.err
        assert re.search(r"^(Step|STEP) 1/4", res.out, re.M), res.out
        quiet = _td(
            engine, "build", "-q", "--no-cache", "-t", tag, "--build-arg", "WHO=arg", str(tmp_path)
        )
        assert quiet.code == 0 and re.fullmatch(r"sha256:[0-9a-f]{64}\n", quiet.out), quiet
        shown = _docker(engine, "image", "inspect", "-f", "{{.Id}}", tag).stdout.strip()
        assert shown.removeprefix("sha256:") == quiet.out.strip().removeprefix("sha256:")
        ran = _td(engine, "run", "--rm", "--network", "none", tag)
        assert ran.out == "hi-arg\n"
    finally:
        _docker(engine, "rmi", "-f", tag)
    res = _td(engine, "build", "-", input=f"FROM {busybox}\nRUN exit 7\n")
    assert_clean_error(res)
    assert_clean_error(_td(engine, "build", str(tmp_path / "nosuchdir")))
