"""`tuidock -H unix://... exec` over the lean client, and `run -it --detach-keys`, on
Docker and Podman, against `docker -H`.

exec on a unix:// host goes through backends/unixget.py (no SDK): create, the
hijacked start (Docker answers 101, Podman 101 or 200), the frames or the raw
TTY stream, resize, the exec's inspect. tests/cli/test_remote_io.py has the
SDK-era exec cases (-e/-w/-u, -d, 126/127, missing and stopped containers),
which run on this path too.
"""

from __future__ import annotations

import sys
import time
import uuid

from clihelp import assert_clean_error, run_in_pty, tuidock
from remotehelp import container, docker


def _both(host: str, *args: str, input: str | None = None):
    """(tuidock's result, docker's result) of the same command line; docker's output
    read as clihelp reads ours (text, universal newlines)."""
    mine = tuidock("-H", host, *args, input=input)
    theirs = docker(host, *args, input=input.encode() if input is not None else None)
    for name in ("stdout", "stderr"):
        setattr(theirs, name, getattr(theirs, name).replace(b"\r\n", b"\n"))
    return mine, theirs


def test_exec_output_and_exit_codes_as_docker(engine, registry):
    with container(engine, registry) as name:
        for argv in (
            ["true"],
            ["false"],
            ["sh", "-c", "echo out; echo err >&2; exit 3"],
            ["sh", "-c", "printf 'no newline'"],
        ):
            mine, theirs = _both(engine.host, "exec", name, *argv)
            assert mine.code == theirs.returncode, (argv, mine, theirs)
            assert (mine.out, mine.err) == (theirs.stdout.decode(), theirs.stderr.decode()), argv


def test_exec_stdin_piped_without_a_tty(engine, registry):
    with container(engine, registry) as name:
        data = "".join(f"line {i}\n" for i in range(2000))  # more than one frame's worth
        mine, theirs = _both(engine.host, "exec", "-i", name, "sh", "-c", "wc -l; echo e >&2",
                             input=data)  # fmt: skip
        assert (mine.code, mine.out.strip(), mine.err) == (0, "2000", "e\n"), mine
        assert mine.out == theirs.stdout.decode()
        # Without -i the exec gets no stdin: cat ends at once.
        res = tuidock("-H", engine.host, "exec", name, "cat", input="ignored\n")
        assert (res.code, res.out) == (0, ""), res


def test_exec_options_reach_the_process(engine, registry):
    with container(engine, registry) as name:
        argv = ["exec", "-e", "A=1", "-e", "B=two words", "-w", "/tmp", "-u", "65534:65534",
                name, "sh", "-c", 'echo "$A|$B|$(pwd)|$(id -u):$(id -g)"']  # fmt: skip
        mine, theirs = _both(engine.host, *argv)
        assert (mine.code, mine.out) == (0, "1|two words|/tmp|65534:65534\n"), mine
        assert mine.out == theirs.stdout.decode()
        # --privileged: the engine's answer as docker's (on this machine's Docker the
        # runtime may refuse the full capability set: the same refusal, the same code).
        caps = ["exec", "--privileged", name, "sh", "-c", "grep CapEff /proc/self/status"]
        mine, theirs = _both(engine.host, *caps)
        assert mine.code == theirs.returncode, (mine, theirs)
        assert (mine.out, mine.err) == (theirs.stdout.decode(), theirs.stderr.decode())
        plain = tuidock("-H", engine.host, "exec", name, "grep", "CapEff", "/proc/self/status")
        assert plain.code == 0 and plain.out.startswith("CapEff:"), plain
        if mine.code == 0:
            assert plain.out != mine.out  # privileged: more than the default set


def test_exec_detached_runs_on(engine, registry):
    with container(engine, registry) as name:
        res = tuidock("-H", engine.host, "exec", "-d", name, "sh", "-c", "sleep 1; touch /tmp/d")
        assert (res.code, res.out, res.err) == (0, "", ""), res
        deadline = time.monotonic() + 30
        while docker(engine.host, "exec", name, "test", "-e", "/tmp/d").returncode != 0:
            assert time.monotonic() < deadline, "the detached exec did not run"
            time.sleep(0.2)


def test_exec_it_types_into_a_terminal_of_the_ptys_size(engine, registry):
    with container(engine, registry) as name:
        argv = [sys.executable, "-m", "tuidock", "-H", engine.host, "exec", "-it", name,
                "sh", "-c", "echo ready; read line; stty size; echo got-$line; exit 5"]  # fmt: skip
        # Read after the first line typed: the size is passed on before any input is.
        code, out = run_in_pty(argv, (41, 97), [(b"ready", b"hello\r")])
        assert b"41 97" in out, out
        assert b"got-hello" in out, out
        assert code == 5, out


def test_exec_errors_in_one_line(engine, registry, tmp_path):
    missing = tuidock("-H", engine.host, "exec", f"tdk-no-such-{uuid.uuid4().hex[:8]}", "true")
    assert missing.code == 125
    assert_clean_error(missing)
    assert "No such container: tdk-no-such-" in missing.err
    with container(engine, registry, start=False) as stopped:
        res = tuidock("-H", engine.host, "exec", stopped, "true")
        assert res.code == 125 and "is not running" in res.err, res
        assert_clean_error(res)
    nosock = f"unix://{tmp_path}/none.sock"
    res = tuidock("-H", nosock, "exec", "x", "true")
    assert res.code == 125
    assert_clean_error(res)
    assert f"cannot reach the Docker engine at {nosock}: no such file or directory" in res.err
    # A socket nobody listens on: refused.
    import socket

    path = tmp_path / "dead.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()
    res = tuidock("-H", f"unix://{path}", "exec", "x", "true")
    assert res.code == 125
    assert_clean_error(res)
    assert "connection refused" in res.err


def test_exec_it_detach_keys_leave_the_exec_running(engine, registry):
    with container(engine, registry) as name:
        argv = [sys.executable, "-m", "tuidock", "-H", engine.host, "exec", "-it",
                "--detach-keys", "ctrl-x,x", name,
                "sh", "-c", "echo ready; sleep 2; touch /tmp/after"]  # fmt: skip
        code, out = run_in_pty(argv, (24, 80), [(b"ready", b"\x18x")])
        assert code == 0, out
        deadline = time.monotonic() + 30
        while docker(engine.host, "exec", name, "test", "-e", "/tmp/after").returncode != 0:
            assert time.monotonic() < deadline, "the exec did not run on after the detach"
            time.sleep(0.2)
        bad = tuidock("-H", engine.host, "exec", "--detach-keys", "ctrl-", name, "true")
        assert bad.code == 125
        assert_clean_error(bad)


def test_run_it_detach_keys_leave_the_container_running(engine, registry):
    name = f"tdk-{uuid.uuid4().hex[:10]}"
    argv = [sys.executable, "-m", "tuidock", "-H", engine.host, "run", "-it",
            "--detach-keys", "ctrl-x,x", "--name", name, "--network", "none",
            registry.ref("oci/busybox"), "sh", "-c", "echo ready; sleep 300"]  # fmt: skip
    try:
        code, out = run_in_pty(argv, (24, 80), [(b"ready", b"\x18x")])
        assert code == 0, out
        state = docker(engine.host, "inspect", "-f", "{{.State.Running}}", name)
        assert state.stdout.strip() == b"true", (state, out)
    finally:
        docker(engine.host, "rm", "-f", name)


def test_exec_over_tcp_with_tls_takes_the_sdk_path(engines, registry, daemon_ca, tmp_path):
    """tcp:// with TLS: the same requests through the SDK's client (SdkExec)."""
    import pytest
    from rig.engines import make_client_cert

    engine = engines["docker"]
    if isinstance(engine, str):
        pytest.skip(f"docker cannot start here: {engine}")
    cert, key = make_client_cert(daemon_ca.ca_cert, daemon_ca.ca_key, tmp_path / "client")
    tls = ["--tlsverify", "--tlscacert", str(daemon_ca.ca_cert), "--tlscert", str(cert),
           "--tlskey", str(key), "-H", engine.tcp_host]  # fmt: skip
    with container(engine, registry) as name:
        res = tuidock(*tls, "exec", "-e", "A=1", name, "sh", "-c", "echo $A; echo e >&2; exit 3")
        assert (res.code, res.out, res.err) == (3, "1\n", "e\n"), res
        argv = [sys.executable, "-m", "tuidock", *tls, "exec", "-it", name,
                "sh", "-c", "echo ready; read line; stty size; echo got-$line"]  # fmt: skip
        code, out = run_in_pty(argv, (30, 90), [(b"ready", b"hi\r")])
        assert (code, b"30 90" in out, b"got-hi" in out) == (0, True, True), out
        missing = tuidock(*tls, "exec", "tdk-no-such", "true")
        assert missing.code == 125 and "No such container: tdk-no-such" in missing.err
        assert_clean_error(missing)
    with container(engine, registry, start=False) as stopped:
        res = tuidock(*tls, "exec", stopped, "true")
        assert res.code == 125 and "is not running" in res.err, res


class _Scripted:
    """A unix socket that reads a request, then sends `parts` with pauses between them
    and closes: answers no real engine gives on cue (older Podman's plain 200 to an
    upgrade, headers split across reads)."""

    def __init__(self, path: str, parts: list[bytes]) -> None:
        import socket
        import threading

        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(path)
        self.sock.listen(1)
        self.parts = parts
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.recv(65536)
            for part in self.parts:
                conn.sendall(part)
                time.sleep(0.05)  # a separate read for each part, not a timing check

    def close(self) -> None:
        self.sock.close()
        self.thread.join(5)


def _stream(sock) -> bytes:
    out = b""
    while data := sock.recv(65536):
        out += data
    return out


def test_upgrade_takes_the_headers_and_leaves_the_stream(tmp_path):
    import pytest

    from tuidock.backends.unixget import UnixGet
    from tuidock.errors import Conflict, TuidockError

    frame = b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"
    cases = [
        # Podman before 101: a plain 200, the stream after the headers.
        [b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n" + frame],
        # Headers in pieces, the blank line split, the stream's first bytes with it.
        [
            b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r",
            b"\nUpgrade: tcp\r\n\r",
            b"\n" + frame[:5],
            frame[5:],
        ],
    ]
    for i, parts in enumerate(cases):
        path = str(tmp_path / f"s{i}.sock")
        server = _Scripted(path, parts)
        try:
            sock = UnixGet(f"unix://{path}").upgrade("/exec/x/start", {"Detach": False})
            with sock:
                assert _stream(sock) == frame
        finally:
            server.close()
    body = b'{"message":"it is paused\\n"}'
    refusals = [
        (
            b"HTTP/1.1 409 Conflict\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
            Conflict,
            "it is paused",
        ),
        (b"SSH-2.0-OpenSSH\r\n\r\n", TuidockError, "not an Engine API answer"),
    ]
    for i, (reply, kind, words) in enumerate(refusals):
        path = str(tmp_path / f"r{i}.sock")
        server = _Scripted(path, [reply])
        try:
            with pytest.raises(kind) as err:
                UnixGet(f"unix://{path}").upgrade("/exec/x/start", {"Detach": False})
            assert err.value.message.endswith(words), err.value.message
        finally:
            server.close()
