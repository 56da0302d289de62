"""The monitor process: it outlives the CLI, dies cleanly, is reconciled when killed,
copes with concurrent callers, and carries a PTY for `run -it`."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from clihelp import tuidock
from containerhelp import (
    cgroup_exists,
    image_fixture,
    inspect,
    monitors_of,
    no_leftovers_fixture,
    processes_mentioning,
    state,
    wait_for,
)

__all__ = ["image_fixture", "no_leftovers_fixture"]  # fixtures, used by name


def run_d(*args: str) -> str:
    res = tuidock("run", "-d", *args)
    assert res.code == 0, res.err
    return res.out.strip()


def _ppid_and_sid(pid: int) -> tuple[int, int]:
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return int(fields[1]), int(fields[3])


def test_container_outlives_the_cli(image: str, tuidock_root: Path) -> None:
    cli = subprocess.Popen(
        [sys.executable, "-m", "tuidock", "run", "-d", image, "sleep", "300"],
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = cli.communicate(timeout=60)
    cid = out.strip()
    # The CLI process is gone; from a new CLI the container is up.
    st = state(cid)
    assert st["Running"] and st["Status"] == "running"
    assert "Up " in tuidock("ps").out
    raw = json.loads((tuidock_root / "containers" / cid / "state.json").read_text())
    monitor = raw["MonitorPid"]
    ppid, sid = _ppid_and_sid(monitor)
    # Double-forked: adopted by init (or a subreaper), in a session of its own.
    assert ppid not in (cli.pid, os.getpid())
    assert sid not in (os.getsid(0), cli.pid)
    # PID 1 of the container is the monitor's child.
    assert _ppid_and_sid(st["Pid"])[0] == monitor
    assert monitors_of(cid) == [monitor]
    assert os.readlink(f"/proc/{monitor}/cwd") == str(tuidock_root / "containers" / cid)


def test_monitor_killed_is_reconciled(image: str, tuidock_root: Path) -> None:
    cid = run_d("--name", "orphan", image, "sleep", "300")
    raw = json.loads((tuidock_root / "containers" / cid / "state.json").read_text())
    monitor, pid1 = raw["MonitorPid"], raw["Pid"]
    assert cgroup_exists(cid)
    os.kill(monitor, signal.SIGKILL)
    # PDEATHSIG takes the container's PID 1 down with its monitor.
    wait_for(lambda: not os.path.exists(f"/proc/{pid1}") or _zombie(pid1), what="PID 1 death")
    res = tuidock("ps", "-a")
    (row,) = [r for r in res.out.splitlines() if r.endswith("orphan")]
    assert "Exited (137)" in row
    st = state("orphan")
    assert st["Status"] == "exited" and st["ExitCode"] == 137 and not st["Running"]
    assert st["Pid"] == 0 and "monitor" in st["Error"]
    assert not cgroup_exists(cid)
    assert not processes_mentioning(cid)
    # It can be started again.
    assert tuidock("start", "orphan").code == 0
    assert state("orphan")["Running"]


def test_monitor_killed_rm_container_is_removed(image: str, tuidock_root: Path) -> None:
    cid = run_d("--rm", image, "sleep", "300")
    monitor = json.loads((tuidock_root / "containers" / cid / "state.json").read_text())[
        "MonitorPid"
    ]
    os.kill(monitor, signal.SIGKILL)
    wait_for(lambda: not processes_mentioning(cid), what="monitor gone")
    assert tuidock("ps", "-aq").out == ""
    assert not (tuidock_root / "containers" / cid).exists()
    assert not cgroup_exists(cid)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except OSError:
        return True


def test_concurrent_runs(image: str) -> None:
    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(lambda _: tuidock("run", "-d", image, "sleep", "300"), range(5)))
    assert all(r.code == 0 for r in results), [r.err for r in results]
    ids = {r.out.strip() for r in results}
    assert len(ids) == 5
    rows = [json.loads(line) for line in tuidock("ps", "--format", "json").out.splitlines()]
    assert len(rows) == 5 and len({r["Names"] for r in rows}) == 5
    assert all(r["State"] == "running" for r in rows)
    # Concurrent removal too.
    with ThreadPoolExecutor(5) as pool:
        removed = list(pool.map(lambda cid: tuidock("rm", "-f", cid), ids))
    assert all(r.code == 0 for r in removed)
    assert tuidock("ps", "-aq").out == ""


def test_concurrent_same_name(image: str) -> None:
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(lambda _: tuidock("create", "--name", "one", image, "true"), range(4))
        )
    assert sorted(r.code for r in results) == [0, 125, 125, 125]
    assert len(tuidock("ps", "-aq").out.split()) == 1


def test_concurrent_start_of_one_container(image: str) -> None:
    cid = tuidock("create", image, "sleep", "300").out.strip()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: tuidock("start", cid), range(4)))
    assert all(r.code == 0 for r in results), [r.err for r in results]
    time.sleep(0.2)
    assert len(monitors_of(cid)) == 1, processes_mentioning(cid)


def test_wait_returns_exit_code(image: str) -> None:
    cid = run_d(image, "sh", "-c", "sleep 1; exit 9")
    start = time.monotonic()
    res = tuidock("wait", cid)
    assert res.out == "9\n" and time.monotonic() - start < 10
    assert tuidock("wait", cid).out == "9\n"  # already exited: at once


def _pty_run(args: list[str], script: list[tuple[bytes, bytes]], timeout: float = 20.0):
    """Run the CLI under a pseudo-terminal; for each (expect, send) wait for `expect`, type `send`."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(sys.executable, [sys.executable, "-m", "tuidock", *args], dict(os.environ))
    out = b""
    deadline = time.monotonic() + timeout
    try:
        for expect, send in script:
            while expect not in out:
                left = deadline - time.monotonic()
                assert left > 0, f"no {expect!r} in {out!r}"
                ready, _, _ = select.select([fd], [], [], left)
                if ready:
                    try:
                        chunk = os.read(fd, 4096)
                    except OSError:
                        chunk = b""
                    if not chunk:
                        raise AssertionError(f"EOF before {expect!r}: {out!r}")
                    out += chunk
            if send:
                os.write(fd, send)
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"CLI did not exit: {out!r}"
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        done, status = os.waitpid(pid, os.WNOHANG)
        if not done:
            # Failed half-way: do not leave the CLI behind.
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), out


def test_run_it_pty(image: str) -> None:
    code, out = _pty_run(
        ["run", "-it", "--rm", image, "sh"],
        [(b"#", b"tty; stty size; echo $TERM\r"), (b"xterm", b"exit 5\r")],
    )
    assert code == 5, out
    assert b"/dev/pts/0" in out
    assert b"xterm" in out


def test_run_it_detach_keeps_running(image: str) -> None:
    code, out = _pty_run(
        ["run", "-it", "--name", "det", image, "sh"],
        [(b"#", b"echo alive\r"), (b"alive\r\n/ #", b"\x10\x11")],
    )
    assert code == 0, out
    st = state("det")
    assert st["Running"], st
    assert "alive" in tuidock("logs", "det").out
    # Attach again, then leave by exiting the shell.
    code, out = _pty_run(["attach", "det"], [(b"", b"echo back\r"), (b"back\r\n/ #", b"exit 3\r")])
    assert code == 3, out
    wait_for(lambda: state("det")["Status"] == "exited", what="exit")


def test_run_dt_logs_terminal_output(image: str) -> None:
    cid = run_d("-t", image, "sh", "-c", "tty; echo done")
    assert tuidock("wait", cid).out == "0\n"
    logs = tuidock("logs", cid).out
    assert "/dev/pts/0" in logs and "done" in logs
    assert inspect(cid)["Config"]["Tty"] is True


def test_log_rotation(tuidock_root: Path) -> None:
    from tuidock.runtime.container import logs as ctrlog

    d = tuidock_root / "rot"
    d.mkdir()
    w = ctrlog.LogWriter(str(d), max_size=1000)
    for i in range(100):
        w.write("stdout", f"line {i}\n".encode())
    w.write("stderr", b"partial")
    w.close()
    assert (d / "ctr.log.1").exists() and (d / "ctr.log").stat().st_size <= 1000
    entries = ctrlog.read_all(str(d))
    assert entries[-1].data == b"partial" and entries[-1].stream == "stderr"
    texts = [e.data for e in entries if e.stream == "stdout"]
    assert texts == [f"line {i}\n".encode() for i in range(100 - len(texts), 100)]
    assert len(texts) > 10
    # Non-UTF-8 bytes come back exactly.
    w = ctrlog.LogWriter(str(d))
    w.write("stdout", b"\xff\xfe bin\n")
    w.close()
    assert ctrlog.read_all(str(d))[-1].data == b"\xff\xfe bin\n"


def test_exec_monitor_path(image: str, tuidock_root: Path, monkeypatch) -> None:
    """The UI's way (a fresh `python -I -S` monitor) does what the CLI's fork does."""
    monkeypatch.setenv("TUIDOCK_MONITOR_EXEC", "1")
    res = tuidock("run", "--rm", image, "sh", "-c", "echo out; echo err >&2; exit 6")
    assert (res.code, res.out, res.err) == (6, "out\n", "err\n")
    cid = run_d(image, "sleep", "300")
    (monitor,) = monitors_of(cid)
    cmdline = Path(f"/proc/{monitor}/cmdline").read_bytes().split(b"\0")
    assert cmdline[1:3] == [b"-I", b"-S"]
    assert tuidock("stop", "-t", "0", cid).code == 0
    assert state(cid)["ExitCode"] == 137
    res = tuidock("run", image, "nope")
    assert res.code == 127 and "executable file not found" in res.err


def test_engine_from_a_threaded_caller(image: str) -> None:
    """A threaded caller (the UI) must never fork: the monitor is exec'd."""
    import threading

    from tuidock.runtime.container.options import CreateOptions
    from tuidock.runtime.engine import default_engine

    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        engine = default_engine()
        cid, _, _ = engine.run(CreateOptions(image=image, command=["sleep", "300"]))
        (monitor,) = monitors_of(cid)
        assert b"-I" in Path(f"/proc/{monitor}/cmdline").read_bytes()
        assert engine.container(cid).status == "running"
        engine.stop_container(cid, timeout=0)
        assert engine.inspect_container(cid)["State"]["ExitCode"] == 137
    finally:
        stop.set()
        worker.join()


def test_monitor_dead_during_start_is_reconciled(image: str, tuidock_root: Path) -> None:
    """Both the caller and the monitor died half-way through a start."""
    from tuidock.core.spec import Limits
    from tuidock.runtime.linux.cgroups import ContainerCgroup

    cid = tuidock("create", image, "true").out.strip()
    dead = subprocess.Popen(["true"])
    dead.wait()
    path = tuidock_root / "containers" / cid / "state.json"
    raw = json.loads(path.read_text())
    raw.update(MonitorPid=dead.pid, MonitorStartTime=1)
    path.write_text(json.dumps(raw))
    ContainerCgroup.create(cid, Limits())
    assert cgroup_exists(cid)
    st = state(cid)
    assert st["Status"] == "created" and "monitor died" in st["Error"]
    assert not cgroup_exists(cid)
    assert json.loads(path.read_text())["MonitorPid"] == 0
    assert tuidock("start", "-a", cid).code == 0  # and it starts fine afterwards


def test_the_exit_frame_is_the_last_word(image: str, tuidock_root: Path, monkeypatch) -> None:
    """An attached client (`run` without -d) may go at the frame marked Last,
    before the monitor has closed its socket: by then the socket's path is
    free and, with --rm, the container is gone."""
    import contextlib

    from tuidock.runtime.container.monitor import protocol as proto
    from tuidock.runtime.container.options import CreateOptions
    from tuidock.runtime.engine import default_engine
    from tuidock.runtime.store import paths

    monkeypatch.setenv("TUIDOCK_MONITOR_EXEC", "1")  # no fork of pytest itself
    engine = default_engine()
    for remove in (False, True):
        opts = CreateOptions(image=image, command=["sh", "-c", "exit 3"], auto_remove=remove)
        cid, client, _ = engine.run(opts, attach=True)
        sock = proto.socket_path(str(paths.runtime_dir()), cid)
        exits = []
        with contextlib.closing(client):
            while not (exits and exits[-1].get("Last")):
                frames = client.read_frames()
                assert frames, f"the monitor hung up before a last exit frame: {exits}"
                exits += [json.loads(p) for kind, p in frames if kind == proto.EXIT]
            last = exits[-1]
            assert last["ExitCode"] == 3
            assert not os.path.exists(sock)
            if remove:
                assert last["Removed"]
                assert not (tuidock_root / "containers" / cid).exists()
                assert not cgroup_exists(cid)
            else:
                assert state(cid)["Status"] == "exited"
                engine.remove_container(cid)
