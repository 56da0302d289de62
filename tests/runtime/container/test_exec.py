"""`tuidock exec` against real containers: stdio, exit codes, env/user/workdir,
PTYs (tty, size, Ctrl-C, Ctrl-Z), what an exec'd process may see and do
(fds, capabilities, namespaces, cgroups), refusals, concurrency, -d, and
the UI's shell API."""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clihelp import assert_clean_error, tuidock
from containerhelp import image_fixture, no_leftovers_fixture, wait_for

from tuidock.cli.commands.exec import parse
from tuidock.errors import TuidockError, UsageError
from tuidock.runtime.linux.cgroupfiles import targets as cgroup_targets

__all__ = ["image_fixture", "no_leftovers_fixture"]  # fixtures, used by name

CAP_LINES = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")


# -- helpers -----------------------------------------------------------------------------


@pytest.fixture(name="ctr")
def ctr_fixture(image: str) -> Iterator[str]:
    """A running busybox container `sleep 300`, removed afterwards (even on failure)."""
    name = "exectest"
    res = tuidock("run", "-d", "--name", name, image, "sleep", "300")
    try:
        assert res.code == 0, res.err
        yield name
    finally:
        tuidock("rm", "-f", name)


def run_container(image: str, name: str, *flags: str) -> str:
    res = tuidock("run", "-d", "--name", name, *flags, image, "sleep", "300")
    assert res.code == 0, res.err
    return res.out.strip()


def pid1(name: str) -> int:
    res = tuidock("inspect", "--type", "container", "-f", "{{.State.Pid}}", name)
    assert res.code == 0, res.err
    return int(res.out)


def status_lines(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        out[key.strip()] = value.strip()
    return out


class PtyClient:
    """The CLI with a pseudo-terminal as its controlling terminal, as in a real shell."""

    def __init__(self, args: list[str], rows: int = 24, cols: int = 80) -> None:
        master, slave = os.openpty()
        # The size is there before the CLI starts: it reads it at once.
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        pid = os.fork()
        if pid == 0:
            try:
                os.close(master)
                os.login_tty(slave)
                os.execve(sys.executable, [sys.executable, "-m", "tuidock", *args], os.environ)
            finally:
                os._exit(127)
        # Ours too: the terminal's settings can be read after the CLI is gone.
        self.slave = slave
        self.pid, self.fd = pid, master
        self.out = b""
        self.pos = 0  # where the next expect() starts looking
        self.code: int | None = None

    def _read(self, timeout: float) -> bool | None:
        """True: read something; False: EOF; None: nothing came in time."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return None
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:
            chunk = b""
        self.out += chunk
        return bool(chunk)

    def expect(self, pattern: bytes, timeout: float = 20.0) -> bytes:
        """Wait for `pattern` after what earlier calls matched; returns the text up to its end."""
        deadline = time.monotonic() + timeout
        while not (found := re.compile(pattern).search(self.out, self.pos)):
            left = deadline - time.monotonic()
            assert left > 0, f"no {pattern!r} in {self.out!r}"
            assert self._read(left) is not False, f"EOF before {pattern!r}: {self.out!r}"
        start, self.pos = self.pos, found.end()
        return self.out[start : self.pos]

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def resize(self, rows: int, cols: int) -> None:
        # The kernel sends SIGWINCH to the terminal's foreground group: the CLI.
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def wait(self, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while self.code is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.code = os.waitstatus_to_exitcode(status)
                break
            assert time.monotonic() < deadline, f"the CLI did not exit: {self.out!r}"
            self._read(0.05)
        while self._read(0):  # what is left in the terminal
            pass
        return self.code

    def close(self) -> None:
        if self.code is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        os.close(self.fd)
        os.close(self.slave)


@pytest.fixture(name="pty_client")
def pty_client_fixture() -> Iterator[type[PtyClient]]:
    made: list[PtyClient] = []

    class Tracked(PtyClient):
        def __init__(self, *a, **kw) -> None:
            super().__init__(*a, **kw)
            made.append(self)

    yield Tracked
    for client in made:
        client.close()


# -- stdio and exit codes ------------------------------------------------------------------


def test_echo_and_exit_codes(ctr: str) -> None:
    res = tuidock("exec", ctr, "echo", "hello", "world")
    assert (res.code, res.out, res.err) == (0, "hello world\n", "")
    res = tuidock("exec", ctr, "sh", "-c", "echo out; echo err >&2; exit 7")
    assert (res.code, res.out, res.err) == (7, "out\n", "err\n")
    # A signal that kills the command: 128 + its number, as a shell shows it.
    assert tuidock("exec", ctr, "sh", "-c", "kill -TERM $$").code == 143


def test_exec_failures_are_126_and_127(ctr: str) -> None:
    res = tuidock("exec", ctr, "nosuchcommand")
    assert res.code == 127
    assert 'exec: "nosuchcommand": executable file not found in $PATH' in res.err
    assert_clean_error(res)
    res = tuidock("exec", ctr, "/no/such/file")
    assert res.code == 127 and "no such file or directory" in res.err
    res = tuidock("exec", ctr, "/etc/passwd")  # not executable
    assert res.code == 126 and "permission denied" in res.err
    assert_clean_error(res)


def test_stdin_piping(ctr: str) -> None:
    res = tuidock("exec", "-i", ctr, "cat", input="x\nsecond line\n")
    assert (res.code, res.out) == (0, "x\nsecond line\n")
    # `echo x | tuidock exec -i c cat`, through a real shell pipeline.
    cmd = f"echo x | {sys.executable} -m tuidock exec -i {ctr} cat"
    proc = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (0, "x\n"), proc.stderr
    # Without -i the command's stdin is empty (/dev/null), as in Docker.
    res = tuidock("exec", ctr, "cat", input="ignored\n")
    assert (res.code, res.out) == (0, "")
    # A large input through a command that reads it all.
    data = "".join(f"{i:07d}\n" for i in range(40000))
    res = tuidock("exec", "-i", ctr, "wc", "-c", input=data)
    assert res.out.split() == [str(len(data))]


def test_env_workdir_user(ctr: str, tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROM_FILE=1\nBOTH=file\n")
    res = tuidock(
        "exec",
        "-e",
        "FOO=bar",
        "--env-file",
        str(env_file),
        "--env=BOTH=flag",
        ctr,
        "sh",
        "-c",
        'echo "$FOO $FROM_FILE $BOTH $HOME $HOSTNAME ${TERM:-noterm}"',
    )
    hostname = tuidock("inspect", "-f", "{{.Config.Hostname}}", ctr).out.strip()
    assert res.out == f"bar 1 flag /root {hostname} noterm\n", res.err
    assert tuidock("exec", "-w", "/etc", ctr, "pwd").out == "/etc\n"
    res = tuidock("exec", "-u", "33", ctr, "sh", "-c", "id -u; id -g; echo $HOME")
    assert res.out == "33\n33\n/var/www\n", res.err
    assert tuidock("exec", "-u", "nobody:users", ctr, "id", "-g").out == "100\n"
    assert tuidock("exec", "--user=4242", ctr, "id", "-u").out == "4242\n"
    res = tuidock("exec", "-u", "nosuchuser", ctr, "true")
    assert res.code == 126 and "unable to find user nosuchuser" in res.err
    assert_clean_error(res)
    # The working directory is resolved inside and never created.
    res = tuidock("exec", "-w", "/nonexistent", ctr, "true")
    assert res.code == 126 and "/nonexistent" in res.err
    assert_clean_error(res)
    assert tuidock("exec", ctr, "test", "-e", "/nonexistent").code == 1
    res = tuidock("exec", "-w", "relative", ctr, "true")
    assert res.code == 125 and "absolute path" in res.err


def test_output_to_a_file_is_relayed(ctr: str, tmp_path: Path) -> None:
    """A host file never reaches the container as an fd (it could reopen it read-write)."""
    out = tmp_path / "out.txt"
    with open(out, "w") as f:
        proc = subprocess.run(
            [sys.executable, "-m", "tuidock", "exec", ctr, "sh", "-c", "readlink /proc/self/fd/1"],
            stdout=f,
            timeout=60,
        )
    assert proc.returncode == 0
    assert out.read_text().startswith("pipe:")
    # Relayed in full, both ways: a file as stdin, a megabyte to a file.
    src = tmp_path / "in.txt"
    src.write_text("from a file\n")
    with open(src) as fin, open(out, "w") as fout:
        cmd = "cat; head -c 1000000 /dev/zero"
        proc = subprocess.run(
            [sys.executable, "-m", "tuidock", "exec", "-i", ctr, "sh", "-c", cmd],
            stdin=fin,
            stdout=fout,
            timeout=60,
        )
    assert proc.returncode == 0
    data = out.read_bytes()
    assert data.startswith(b"from a file\n") and len(data) == 12 + 1_000_000


def test_signals_are_forwarded(ctr: str) -> None:
    """Without a terminal, a signal to the CLI reaches the command (Docker's sig-proxy)."""
    script = "trap 'exit 42' USR1; sleep 100 & wait"
    procs = []
    try:
        for args, sig, code in (
            (["sh", "-c", script], signal.SIGUSR1, 42),
            (["sleep", "100"], signal.SIGTERM, 128 + signal.SIGTERM),
        ):
            cli = subprocess.Popen([sys.executable, "-m", "tuidock", "exec", ctr, *args])
            procs.append(cli)
            time.sleep(1.5)  # let it start
            cli.send_signal(sig)
            assert cli.wait(timeout=20) == code
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_only_fds_0_1_2(ctr: str, pty_client) -> None:
    # ls itself holds one more: the directory it lists.
    res = tuidock("exec", ctr, "ls", "/proc/self/fd")
    assert res.out.split() == ["0", "1", "2", "3"]
    client = pty_client(["exec", "-it", ctr, "ls", "/proc/self/fd"])
    assert client.wait() == 0
    assert client.out.split() == [b"0", b"1", b"2", b"3"]


# -- PTY -------------------------------------------------------------------------------------


def test_tty_from_the_containers_devpts(ctr: str, pty_client) -> None:
    script = 'tty; stat -c "%u %g %a %d" $(tty); stat -c %d /dev/pts/ptmx; stty size; echo $TERM'
    client = pty_client(["exec", "-it", ctr, "sh", "-c", script], rows=33, cols=111)
    assert client.wait() == 0, client.out
    lines = client.out.decode().split("\r\n")
    assert re.fullmatch(r"/dev/pts/\d+", lines[0]), lines
    owner, group, mode, device = lines[1].split()
    assert (owner, group, mode) == ("0", "5", "620")
    # The pts is on the container's own devpts instance, not on the host's.
    assert device == lines[2]
    assert int(device) != os.stat("/dev/pts/ptmx").st_dev
    assert lines[3] == "33 111"
    assert lines[4] == "xterm"
    # A user gets a terminal it owns.
    client = pty_client(["exec", "-it", "-u", "33", ctr, "sh", "-c", 'stat -c "%u %g" $(tty)'])
    assert client.wait() == 0
    assert client.out.strip() == b"33 5"


def test_detached_with_a_terminal(ctr: str) -> None:
    res = tuidock("exec", "-dt", ctr, "sh", "-c", "tty > /tmp/dt; echo lots of output; sleep 60")
    assert res.code == 0, res.err
    wait_for(lambda: tuidock("exec", ctr, "cat", "/tmp/dt").out.startswith("/dev/pts/"))
    assert "sleep 60" in tuidock("exec", ctr, "ps", "-o", "args").out


def test_terminal_restored_and_exit_code(ctr: str, pty_client) -> None:
    client = pty_client(["exec", "-it", ctr, "sh"])
    before = termios.tcgetattr(client.slave)
    client.expect(rb"# ")
    lflags = termios.tcgetattr(client.slave)[3]
    assert not lflags & (termios.ECHO | termios.ICANON | termios.ISIG)  # raw while it runs
    client.send(b"exit 3\r")
    assert client.wait() == 3
    assert termios.tcgetattr(client.slave) == before
    # Ended by a signal, too: the terminal comes back as it was.
    client = pty_client(["exec", "-it", ctr, "sh"])
    client.expect(rb"# ")
    os.kill(client.pid, signal.SIGTERM)
    assert client.wait() == 128 + signal.SIGTERM
    assert termios.tcgetattr(client.slave) == before


def test_resize_propagates(ctr: str, pty_client) -> None:
    client = pty_client(["exec", "-it", ctr, "sh"])
    client.expect(rb"# ")
    client.send(b"stty size\r")
    assert b"24 80" in client.expect(rb"24 80")
    client.resize(50, 132)
    time.sleep(0.3)  # SIGWINCH -> the CLI -> TIOCSWINSZ on the container's pts
    client.send(b"stty size\r")
    client.expect(rb"50 132")
    client.send(b"exit\r")
    assert client.wait() == 0


def test_ctrl_c_reaches_the_process(ctr: str, pty_client) -> None:
    client = pty_client(["exec", "-it", ctr, "sleep", "100"])
    time.sleep(1.0)  # let the exec happen; a Ctrl-C typed earlier is kept and sent anyway
    start = time.monotonic()
    client.send(b"\x03")
    assert client.wait(10) == 130
    assert time.monotonic() - start < 5
    assert b"^C" in client.out  # echoed by the container's terminal


def test_ctrl_z_reaches_the_process(ctr: str, pty_client) -> None:
    client = pty_client(["exec", "-it", ctr, "sh"])
    client.expect(rb"# ")
    client.send(b"sleep 100\r")
    time.sleep(0.5)
    client.send(b"\x1a")  # the container's terminal stops the job, the shell says so
    client.expect(rb"[Ss]topped")
    # ash forgets the killed job once it has seen it die and reported it.
    client.send(b"kill -9 %1; sleep 1; jobs\r")
    client.expect(rb"Killed")
    client.send(b"exit 4\r")
    assert client.wait() == 4


def test_ctrl_c_without_tty(ctr: str, pty_client) -> None:
    """No -t: the terminal's SIGINT goes to the CLI, which passes it on."""
    client = pty_client(["exec", ctr, "sleep", "100"])
    time.sleep(1.0)
    client.send(b"\x03")
    assert client.wait(10) == 130


def test_host_terminal_never_reaches_the_container(ctr: str, pty_client) -> None:
    """Without -t, the CLI's terminal is relayed through pipes: no TIOCSTI on the host's tty."""
    client = pty_client(["exec", "-i", ctr, "sh", "-c", "tty; readlink /proc/self/fd/0; cat"])
    client.expect(rb"not a tty")
    client.expect(rb"pipe:")
    client.send(b"typed\n")
    client.expect(rb"typed\r\ntyped")  # the local echo, then cat's copy
    client.send(b"\x04")  # EOF for cat, from our terminal in cooked mode
    assert client.wait() == 0


def test_it_needs_a_terminal(ctr: str) -> None:
    res = tuidock("exec", "-it", ctr, "cat", input="x\n")
    assert res.code != 0 and "the input device is not a TTY" in res.err
    # -t alone is fine without one: output only.
    res = tuidock("exec", "-t", ctr, "sh", "-c", "tty")
    assert res.code == 0 and res.out.startswith("/dev/pts/")


# -- what an exec'd process is --------------------------------------------------------------


def test_capabilities_equal_pid1(image: str) -> None:
    name = run_container(image, "capped", "--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN")
    script = "grep Cap /proc/1/status; echo --; grep Cap /proc/self/status"
    theirs, ours = tuidock("exec", name, "sh", "-c", script).out.split("--\n")
    first, mine = status_lines(theirs), status_lines(ours)
    for key in CAP_LINES:
        assert mine[key] == first[key], (key, mine, first)
    assert int(mine["CapEff"], 16) >> 12 & 1  # NET_ADMIN added
    assert not int(mine["CapEff"], 16) & 1  # CHOWN dropped
    # Not root: no effective capabilities, the same bounding set.
    mine = status_lines(tuidock("exec", "-u", "33", name, "grep", "Cap", "/proc/self/status").out)
    assert int(mine["CapEff"], 16) == 0 and mine["CapBnd"] == first["CapBnd"]
    # --privileged on the exec: every capability, as Docker gives it.
    mine = status_lines(
        tuidock("exec", "--privileged", name, "grep", "Cap", "/proc/self/status").out
    )
    assert int(mine["CapEff"], 16) > int(first["CapEff"], 16)
    assert int(mine["CapEff"], 16) & int(first["CapEff"], 16) == int(first["CapEff"], 16)


def test_default_caps_and_limits_match_pid1(ctr: str) -> None:
    script = "grep Cap /proc/self/status; cat /proc/self/limits; echo --; grep Cap /proc/1/status; cat /proc/1/limits"
    ours, theirs = tuidock("exec", ctr, "sh", "-c", script).out.split("--\n")
    assert status_lines(ours)["CapEff"] == "00000000a80425fb"
    assert ours.splitlines()[:5] == theirs.splitlines()[:5]
    limits = [line for line in ours.splitlines() if line.startswith("Max open files")]
    assert limits == [line for line in theirs.splitlines() if line.startswith("Max open files")]


def test_in_the_containers_namespaces_and_cgroups(ctr: str) -> None:
    res = tuidock("exec", ctr, "ps", "-o", "pid,comm")
    rows = [line.split() for line in res.out.splitlines()[1:]]
    assert ["1", "sleep"] in rows  # PID 1 is the container's command: its pid namespace
    assert tuidock("exec", "-d", ctr, "sleep", "123").code == 0
    first = pid1(ctr)

    def find() -> int | None:
        for entry in os.listdir("/proc"):
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if cmd == b"sleep\x00123\x00":
                return int(entry)
        return None

    pid = wait_for(find, what="the exec'd sleep")
    for ns in ("mnt", "pid", "net", "uts", "ipc", "cgroup"):
        assert os.readlink(f"/proc/{pid}/ns/{ns}") == os.readlink(f"/proc/{first}/ns/{ns}"), ns
    assert Path(f"/proc/{pid}/cgroup").read_text() == Path(f"/proc/{first}/cgroup").read_text()
    assert f"/tuidock/{_cid(ctr)}" in Path(f"/proc/{pid}/cgroup").read_text()
    # Its root is the container's, not the host's.
    root, theirs, host = (os.stat(p) for p in (f"/proc/{pid}/root/", f"/proc/{first}/root/", "/"))
    assert (root.st_dev, root.st_ino) == (theirs.st_dev, theirs.st_ino)
    assert (root.st_dev, root.st_ino) != (host.st_dev, host.st_ino)


def _cid(name: str) -> str:
    return tuidock("inspect", "-f", "{{.Id}}", name).out.strip()


def test_detach_leaves_the_process_running(ctr: str) -> None:
    start = time.monotonic()
    res = tuidock("exec", "-d", ctr, "sh", "-c", "echo discarded; sleep 120")
    assert (res.code, res.out, res.err) == (0, "", "")
    assert time.monotonic() - start < 10
    ps = tuidock("exec", ctr, "ps", "-o", "pid,ppid,args").out
    assert "sleep 120" in ps
    # Its parent is outside the container (PPID 0 inside), as with Docker.
    row = next(line.split() for line in ps.splitlines() if "sleep 120" in line)
    assert row[1] == "0"
    assert "discarded" not in tuidock("logs", ctr).out
    res = tuidock("exec", "-d", ctr, "nosuchcommand")
    assert res.code == 127 and "executable file not found" in res.err


def test_many_concurrent_execs(ctr: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tuidock", "exec", ctr, "sh", "-c", f"echo {i}; exit {i % 5}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(20)
    ]
    for i, proc in enumerate(procs):
        out, err = proc.communicate(timeout=120)
        assert (proc.returncode, out) == (i % 5, f"{i}\n"), err


# -- refusals ------------------------------------------------------------------------------------


def test_refused_cleanly_when_not_running(image: str) -> None:
    res = tuidock("create", "--name", "notstarted", image, "sleep", "300")
    assert res.code == 0, res.err
    cid = res.out.strip()
    res = tuidock("exec", "notstarted", "true")
    assert res.code == 125
    assert res.err.strip() == f"Error: container {cid} is not running"
    res = tuidock("run", "--name", "finished", image, "true")
    assert res.code == 0, res.err
    res = tuidock("exec", "finished", "true")
    assert res.code == 125 and "is not running" in res.err
    assert_clean_error(res)
    res = tuidock("exec", "nosuchcontainer", "true")
    assert res.code == 125 and res.err.strip() == "Error: No such container: nosuchcontainer"


def test_refused_when_paused(ctr: str) -> None:
    assert tuidock("pause", ctr).code == 0
    try:
        res = tuidock("exec", ctr, "true")
        assert res.code == 125 and "is paused" in res.err
        assert_clean_error(res)
    finally:
        tuidock("unpause", ctr)


def test_usage_errors() -> None:
    res = tuidock("exec", "onlyone")
    assert res.code == 125 and "requires at least 2 arguments" in res.err
    res = tuidock("exec", "-x", "c", "true")
    assert res.code == 125 and "unknown shorthand flag: 'x' in -x" in res.err
    res = tuidock("exec", "--help")
    assert res.code == 0 and "Usage:  tuidock exec [OPTIONS] CONTAINER COMMAND" in res.out
    assert "exec" in tuidock("--help").out


def test_parse_like_docker() -> None:
    a = parse(["-it", "c", "sh", "-c", "ls -l"])
    assert (a.interactive, a.tty, a.container, a.command) == (
        True,
        True,
        "c",
        ["sh", "-c", "ls -l"],
    )
    a = parse(["-e", "A=1", "-eB=2", "--env=C=3", "--env", "D", "-uroot", "-w=/tmp", "c", "x"])
    assert a.env == ["A=1", "B=2", "C=3", "D"] and a.user == "root" and a.workdir == "/tmp"
    a = parse(["-dite", "X=1", "--privileged", "--detach-keys", "ctrl-a", "c", "env", "-i"])
    assert (a.detach, a.interactive, a.tty, a.privileged) == (True, True, True, True)
    assert a.env == ["X=1"] and a.command == ["env", "-i"]
    assert parse(["--tty=false", "c", "x"]).tty is False
    assert parse(["--", "c", "-x"]).command == ["-x"]
    with pytest.raises(UsageError):
        parse(["--nope", "c", "x"])
    with pytest.raises(UsageError):
        parse(["-e"])


# -- cgroup paths ------------------------------------------------------------------------------


HYBRID_MOUNTS = """\
30 25 0:26 / /sys/fs/cgroup/unified rw,nosuid shared:9 - cgroup2 cgroup2 rw
31 25 0:27 / /sys/fs/cgroup/systemd rw,nosuid shared:10 - cgroup cgroup rw,xattr,name=systemd
35 25 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:15 - cgroup cgroup rw,cpu,cpuacct
36 25 0:32 / /sys/fs/cgroup/memory rw,nosuid shared:16 - cgroup cgroup rw,memory
37 25 0:33 /sub /mnt/pids\\040dir rw shared:17 - cgroup cgroup rw,pids
"""


def test_cgroup_targets_hybrid() -> None:
    membership = (
        "12:pids:/sub/tuidock/abc\n4:memory:/tuidock/abc\n3:cpu,cpuacct:/tuidock/abc\n"
        "1:name=systemd:/\n0::/user.slice\n2:freezer:/tuidock/abc\n"
    )
    assert cgroup_targets(membership, HYBRID_MOUNTS) == [
        "/mnt/pids dir/tuidock/abc/cgroup.procs",
        "/sys/fs/cgroup/memory/tuidock/abc/cgroup.procs",
        "/sys/fs/cgroup/cpu,cpuacct/tuidock/abc/cgroup.procs",
        "/sys/fs/cgroup/systemd/cgroup.procs",
        "/sys/fs/cgroup/unified/user.slice/cgroup.procs",
    ]  # freezer is not mounted here: skipped


def test_cgroup_targets_v2() -> None:
    mounts = "29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
    assert cgroup_targets("0::/tuidock/abc\n", mounts) == [
        "/sys/fs/cgroup/tuidock/abc/cgroup.procs"
    ]


# -- the UI's API --------------------------------------------------------------------------------


def test_shell_command_and_detection(ctr: str, monkeypatch, pty_client) -> None:
    from tuidock.runtime.container.exec.shell import detect_shell, shell_command

    cid = _cid(ctr)
    command = shell_command(ctr)
    # busybox has no bash: /bin/sh (a symlink to /bin/busybox, followed inside).
    assert command == [sys.executable, "-m", "tuidock", "exec", "-it", cid, "/bin/sh"]
    assert detect_shell(ctr, "ash") == "/bin/ash"
    assert detect_shell(ctr, "/bin/zsh") == "/bin/sh"  # configured but absent: fall back
    monkeypatch.setenv("TUIDOCK_SHELL", "/bin/ash")
    assert detect_shell(ctr) == "/bin/ash"
    monkeypatch.delenv("TUIDOCK_SHELL")
    (Path(os.environ["TUIDOCK_CONFIG"]) / "ui.toml").write_text('exec_shell = "ash"\n')
    assert detect_shell(ctr) == "/bin/ash"
    # What the UI does with it: run it in a PTY, resize, read the exit code.
    client = pty_client(command[3:])
    client.expect(rb"# ")
    from tuidock.runtime.container.exec.shell import resize

    resize(client.fd, 40, 100)
    time.sleep(0.3)
    client.send(b"stty size; exit 9\r")
    client.expect(rb"40 100")
    assert client.wait() == 9


def test_shell_detection_without_a_shell(ctr: str) -> None:
    from tuidock.runtime.container.exec.shell import detect_shell

    assert tuidock("exec", ctr, "rm", "/bin/sh", "/bin/ash").code == 0
    with pytest.raises(TuidockError, match="no shell in container"):
        detect_shell(ctr)


def test_shell_command_refuses_a_stopped_container(image: str) -> None:
    from tuidock.runtime.container.exec.shell import shell_command

    res = tuidock("create", "--name", "idle", image, "sh")
    assert res.code == 0, res.err
    with pytest.raises(TuidockError, match="is not running"):
        shell_command("idle")


# -- exec's light reader of the store agrees with the store --------------------------------------


def test_execstore_resolves_like_the_store(image: str, tuidock_root: Path) -> None:
    from tuidock.runtime.store import execs as execstore
    from tuidock.runtime.store.containers import ContainerStore

    ids = [tuidock("create", "--name", n, image, "true").out.strip() for n in ("one", "two")]
    store, root = ContainerStore(tuidock_root), str(tuidock_root)
    refs = [ids[0], "one", "/two", ids[1][:12], "", "nosuch", "0" * 64]
    # An ambiguous prefix, if the two IDs share a first character.
    if ids[0][0] == ids[1][0]:
        refs.append(ids[0][0])
    for ref in refs:
        try:
            expected: object = store.resolve(ref)
        except TuidockError as e:
            expected = (type(e), e.message)
        try:
            got: object = execstore.resolve(root, ref)
        except TuidockError as e:
            got = (type(e), e.message)
        assert got == expected, ref


def test_execstore_loads_like_json() -> None:
    import json

    from tuidock.runtime.store.execs import loads

    for text in (
        '{"a": [1, 2.5, -3e2, true, false, null], "b": "x\\u00e9\\n\\"", "c": {}}',
        '  [ "spaced" ]\n',
        '{"Pid": 123, "PidStartTime": null, "Name": "/n"}',
    ):
        assert loads(text) == json.loads(text)
    for bad in ('{"a": 1', '{"a": 1} trailing', "nope", '{"a": NaN'):
        with pytest.raises(ValueError):
            loads(bad)
