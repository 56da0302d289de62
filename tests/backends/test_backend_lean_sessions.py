"""The shell pane's programs on a unix:// Docker/Podman endpoint: the lean path.

`backend.shell_command` and `backend.attach_command` give the argv the pane
runs in a PTY of its own (backends/dockerexec.py, backends/attachrelay.py);
on a plain unix:// host they go over backends/unixget.py with no SDK. Each
case runs that argv on a real pseudo-terminal against the session's private
dockerd and Podman service, on a busybox container: the TTY's size (the
child sets it before it execs the program, so the program never sees
another) passed on at the start, a resize on SIGWINCH, the exit code, one-line errors,
and for attach its exit line and the detach keys. One case runs the exec
program on the dockerd's tcp:// TLS port, where the SDK path stays.
"""

from __future__ import annotations

import time
import uuid

import pytest
from clihelp import run_in_pty

from tuidock.backends.base import RunSpec
from tuidock.backends.docker import DockerBackend


def _running(backend: DockerBackend, registry, command: list[str], it: bool = False) -> str:  # type: ignore[no-untyped-def]
    spec = RunSpec(
        registry.ref("oci/busybox"),
        command,
        name=f"lean-{uuid.uuid4().hex[:8]}",
        network="none",
        tty=it,  # with stdin open, as -it
    )
    return backend.run(spec).id


_session = run_in_pty  # size set before the program starts; typed replies and resizes


@pytest.fixture
def started(backend: DockerBackend):  # type: ignore[no-untyped-def]
    cids: list[str] = []
    yield cids
    for cid in cids:
        try:
            backend.remove(cid, force=True)
        except Exception:
            pass


def test_pane_exec_runs_stty_size_at_the_pty_size_and_returns_the_exit_code(
    backend, registry, started
) -> None:
    cid = _running(backend, registry, ["sleep", "300"])
    started.append(cid)
    argv = backend.shell_command(cid)
    assert argv[1:4] == ["-m", "tuidock.backends.dockerexec", backend.location]
    assert argv[-1] == "/bin/sh"
    # The size goes with the start (ConsoleSize, API 1.42+) and as a resize right
    # after it, before the relay reads any input: a line typed once the command
    # has started is read after the size is set, on every engine.
    argv = [*argv[:-1], "sh", "-c", "echo ready; read line; stty size; tty; exit $line"]
    code, out = _session(argv, (33, 101), [(b"ready", b"7\r")])
    text = out.decode(errors="replace")
    assert "33 101" in text, text
    assert "/dev/pts/" in text, text
    assert code == 7, text


def test_pane_exec_passes_a_resize_on(backend, registry, started) -> None:
    cid = _running(backend, registry, ["sleep", "300"])
    started.append(cid)
    script = "echo ready; read a; stty size; read b; stty size; exit $b"
    argv = [*backend.shell_command(cid)[:-1], "sh", "-c", script]
    # The PTY resized, then a key typed at once: the relay passes the new size on
    # before the key (a resize and input seen by one select).
    steps = [(b"ready", b"go\r"), (b"30 90", (41, 123)), (b"30 90", b"4\r")]
    code, out = _session(argv, (30, 90), steps)
    text = out.decode(errors="replace")
    assert "30 90" in text and "41 123" in text, text
    assert text.index("30 90") < text.index("41 123")
    assert code == 4, text


def test_pane_exec_errors_are_one_line(backend, registry, started) -> None:
    cid = _running(backend, registry, ["true"])
    started.append(cid)
    from tuidock.backends.docker import exec_argv

    deadline = time.monotonic() + 30
    while backend.inspect_container(cid)["State"]["Running"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    base = exec_argv(backend.endpoint)  # shell_command itself refuses a stopped container
    code, out = _session([*base, cid, "/bin/sh"], (24, 80))
    lines = out.decode(errors="replace").strip().splitlines()
    assert code == 1
    assert lines[0] == f"Error: container {cid[:12]} is not running", lines
    assert len(lines) == 1 and "Traceback" not in out.decode(errors="replace")
    gone = f"gone-{uuid.uuid4().hex[:8]}"
    code, out = _session([*base, gone, "/bin/sh"], (24, 80))
    lines = out.decode(errors="replace").strip().splitlines()
    assert code == 1
    assert lines == [f"Error: No such container: {gone}"], lines
    # A command that is not there: the engine's words and its code.
    running = _running(backend, registry, ["sleep", "300"])
    started.append(running)
    code, out = _session([*base, running, "/no/such/cmd"], (24, 80))
    assert code in (126, 127), out  # Docker's inspect says 126 for a TTY exec's failed start
    assert "no such file or directory" in out.decode(errors="replace").lower(), out


def test_pane_attach_sizes_relays_and_ends_with_the_exit_code(backend, registry, started) -> None:
    cid = _running(backend, registry, ["sh"], it=True)
    started.append(cid)
    argv = backend.attach_command(cid)
    assert argv[1:3] == ["-m", "tuidock.backends.attachrelay"] and argv[3].startswith("unix://")
    typed = b"echo size=$(stty size); exit 6\r"
    code, out = _session(argv, (27, 95), [(b"#", typed)])
    text = out.decode(errors="replace")
    assert "size=27 95" in text, text
    assert "exited with code 6" in text, text
    assert code == 6


def test_pane_attach_detach_keys_leave_it_running(backend, registry, started) -> None:
    cid = _running(backend, registry, ["sh"], it=True)
    started.append(cid)
    argv = backend.attach_command(cid)
    code, out = _session(argv, (24, 80), [(b"#", b"echo hi-$((6*7))\r"), (b"hi-42", b"\x10\x11")])
    text = out.decode(errors="replace")
    assert code == 0, text
    assert "detached from" in text and "keeps running" in text, text
    assert backend.inspect_container(cid)["State"]["Running"]


def test_pane_exec_over_tls_keeps_the_sdk_path(engines, daemon_ca, registry, tmp_path) -> None:
    """tcp:// with --tlsverify: the same flow (backends/execops.py) over the SDK's
    client; the size passed on at the start, the exit code back."""
    from rig.engines import make_client_cert

    from tuidock.backends.endpoint import Endpoint, TLSConfig

    engine = engines["docker"]
    if isinstance(engine, str):
        pytest.skip(f"docker cannot start here: {engine}")
    cert, key = make_client_cert(daemon_ca.ca_cert, daemon_ca.ca_key, tmp_path / "client")
    tls = TLSConfig(True, str(daemon_ca.ca_cert), str(cert), str(key))
    backend = DockerBackend(Endpoint("tls", engine.tcp_host, tls))
    cid = _running(backend, registry, ["sleep", "300"])
    try:
        argv = backend.shell_command(cid)
        assert "--tlsverify" in argv and engine.tcp_host in argv
        argv = [*argv[:-1], "sh", "-c", "echo ready; read line; stty size; exit $line"]
        code, out = _session(argv, (29, 97), [(b"ready", b"5\r")])
        text = out.decode(errors="replace")
        assert "29 97" in text, text
        assert code == 5, text
    finally:
        backend.remove(cid, force=True)
        backend.close()
