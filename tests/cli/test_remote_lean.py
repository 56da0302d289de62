"""ps and images on a unix:// engine through the lean client (backends/unixget.py),
against `docker -H` on Docker and Podman; its errors against the SDK path's.

The lean path is what `tuidock -H unix://...` runs for ps and images (the
import budget test checks that it loads no SDK); these tests hold its output
to the docker CLI's for the flags and filters the two share, and its error
lines to the SDK path's words for the same failures.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from clihelp import assert_clean_error, tuidock
from dockeroracle import daemon_error, docker, lines, name
from remotehelp import _RELATIVE, container, normalised

from tuidock.backends.unixget import UnixGet, parse_response


def _json_lines(text: str) -> list[dict]:
    """--format json rows, the relative time masked (it moves between two commands)."""
    rows = [json.loads(line) for line in text.splitlines()]
    for row in rows:
        row.pop("RunningFor", None)
        row.pop("CreatedSince", None)
        if "Status" in row:
            row["Status"] = _RELATIVE.sub("T", row["Status"])
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))


def _exited(engine, ctr: str) -> None:
    deadline = time.monotonic() + 20
    while (
        "exited"
        not in docker(engine, "ps", "-a", "--format", "{{.State}}", "-f", f"name={ctr}").stdout
    ):
        assert time.monotonic() < deadline, f"{ctr} did not exit"
        time.sleep(0.2)


@contextmanager
def _labelled(engine, registry, label: str, *cmd: str) -> Iterator[str]:
    """A busybox container with `label`, named uniquely, removed after."""
    ctr = name("tdk")
    run = ["run", "-d", "--name", ctr, "--label", label, "--network", "none"]
    docker(engine, *run, registry.ref("oci/busybox"), *cmd)
    try:
        yield ctr
    finally:
        docker(engine, "rm", "-f", ctr, check=False)


def test_ps_flags_and_filters_match_docker(engine, registry):
    label = f"tdk.lean={uuid.uuid4().hex[:8]}"
    with (
        _labelled(engine, registry, label, "sleep", "300") as up,
        _labelled(engine, registry, label, "true") as done,
    ):
        _exited(engine, done)
        mine_of = {"label": f"label={label}"}
        cases = [
            ["-a", "-q"],
            ["-q"],
            ["-a", "--no-trunc", "-q"],
            ["-n", "1", "-q"],
            ["-a", "-f", "status=exited", "-q"],
            ["-a", "-f", f"name={up}", "--format", "{{.Names}} {{.State}} {{.Command}}"],
            ["-a", "--format", "table {{.Names}}\t{{.Status}}\t{{.Image}}"],
            ["-a", "-s", "--format", "{{.Names}} {{.Size}}", "-f", f"name={done}"],
        ]
        for flags in cases:
            args = [*flags, "--filter", mine_of["label"]]
            mine = tuidock("-H", engine.host, "ps", *args)
            theirs = docker(engine, "ps", *args)
            assert mine.code == 0, (flags, mine.err)
            # Podman's list is not newest first, tuidock's is (cmd_ps): rows as a set.
            got, want = normalised(mine.out), normalised(theirs.stdout)
            fmt = flags[flags.index("--format") + 1] if "--format" in flags else "table"
            head = 0 if "-q" in flags or not fmt.startswith("table") else 1
            assert got[:head] == want[:head] and sorted(got[head:]) == sorted(want[head:]), flags
        mine = tuidock("-H", engine.host, "ps", "-a", "--format", "json", "-f", mine_of["label"])
        theirs = docker(engine, "ps", "-a", "--format", "json", "-f", mine_of["label"])
        assert mine.code == 0, mine.err
        got, want = _json_lines(mine.out), _json_lines(theirs.stdout)
        assert sorted(r["Names"] for r in got) == sorted([up, done])
        for row in want:
            # The docker CLI's newer Platform field, null for these images: not a ps field
            # of tuidock's (PS_FIELDS); a platform it does show would fail here.
            if row.get("Platform", 0) is None:
                del row["Platform"]
        assert got == want


def test_images_flags_match_docker(engine, registry):
    ref = registry.ref("oci/busybox")
    docker(engine, "pull", "-q", ref)
    tag = f"{name('tdk/lean')}:v1"
    docker(engine, "tag", ref, tag)
    repo = tag.split(":")[0]
    try:
        for args in (
            [tag],
            ["-a", "-q", repo],
            ["--digests", "--no-trunc", repo],
            ["--format", "table {{.Repository}}:{{.Tag}}\t{{.ID}}", repo],
            [f"{repo}:nosuchtag"],
        ):
            mine = tuidock("-H", engine.host, "images", *args)
            theirs = docker(engine, "images", *args)
            assert mine.code == 0, (args, mine.err)
            assert sorted(normalised(mine.out)) == sorted(normalised(theirs.stdout)), args
            assert lines(mine.out)[:1] == lines(theirs.stdout)[:1] or "-q" in args
        mine = tuidock("-H", engine.host, "images", "--format", "json", tag)
        theirs = docker(engine, "images", "--format", "json", tag)
        got, want = _json_lines(mine.out), _json_lines(theirs.stdout)
        assert "v1" in [r["Tag"] for r in got]  # Podman adds the image's other names
        assert got == want
    finally:
        docker(engine, "rmi", tag, check=False)


def test_a_daemon_error_reads_as_docker_s(engine):
    mine = tuidock("-H", engine.host, "ps", "--filter", "status=bogus")
    theirs = docker(engine, "ps", "--filter", "status=bogus", check=False)
    assert_clean_error(mine)
    assert theirs.returncode != 0
    assert mine.err.startswith("Error: Error response from daemon: ")
    assert daemon_error(mine.err.removeprefix("Error: ")) == daemon_error(theirs.stderr)


def test_lean_and_sdk_readers_get_the_same_answers(engine, registry):
    """The two readers dispatch chooses between, on one engine and one query."""
    from argparse import Namespace

    from tuidock.backends.docker import DockerBackend
    from tuidock.backends.endpoint import Endpoint
    from tuidock.cli.remote._shared import SdkGet
    from tuidock.cli.remote.container_views import ps_query
    from tuidock.cli.remote.image import images_query

    ref = registry.ref("oci/busybox")
    docker(engine, "pull", "-q", ref)
    backend = DockerBackend(Endpoint(engine.host, engine.host))
    lean, sdk = UnixGet(engine.host), SdkGet(backend)
    try:
        with container(engine, registry) as up:
            args = Namespace(all=True, size=False)
            query = ps_query(args, {"name": [up]}, -1)
            lean_rows, sdk_rows = (
                lean.get("/containers/json", query),
                sdk.get("/containers/json", query),
            )
            assert [c["Names"] for c in lean_rows] == [[f"/{up}"]]
            for rows in (lean_rows, sdk_rows):
                for c in rows:
                    c.pop("Status")  # "Up 2 seconds" moves
            assert lean_rows == sdk_rows
        query = images_query(Namespace(all=False, repository=ref))
        assert lean.get("/images/json", query) == sdk.get("/images/json", query)
        assert lean.get("/images/json", query)
    finally:
        backend.close()


# -- errors: the SDK path's words -----------------------------------------------------------------


def _first_line(res) -> str:
    return res.err.splitlines()[0]


def test_missing_and_refusing_sockets_are_the_sdk_paths_errors(tmp_path):
    gone = f"unix://{tmp_path}/none-{uuid.uuid4().hex[:8]}.sock"
    refusing = tmp_path / "refusing.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(refusing))  # bound, never listening: connect is refused
    try:
        for host, reason in (
            (gone, "no such file or directory"),
            (f"unix://{refusing}", "connection refused"),
        ):
            want = f"Error: cannot reach the Docker engine at {host}: {reason}"
            for args in (["ps"], ["ps", "-a", "--format", "json"], ["images", "-q"]):
                res = tuidock("-H", host, *args)
                assert_clean_error(res)
                assert _first_line(res) == want, args
            # `stop` still goes through the SDK: the same line.
            assert _first_line(tuidock("-H", host, "stop", "x")) == want
    finally:
        listener.close()


class _Misbehaving:
    """A unix socket that accepts and then answers `reply` (b"": nothing) and closes:
    what no real engine does on cue."""

    def __init__(self, path: str, reply: bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(path)
        self.sock.listen(8)
        self.reply = reply
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(self.reply)

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(5)


def _http(status: int, reason: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


@pytest.mark.parametrize(
    "reply,words",
    [
        (b"", "cannot reach the Docker engine at {host}: no answer"),
        (b"SSH-2.0-OpenSSH\r\n", "the Docker engine at {host} failed: not an Engine API answer"),
        (
            _http(500, "Internal Server Error", b'{"message":"it  broke\\n"}'),
            "Error response from daemon: it broke",
        ),
        (_http(404, "Not Found", b"page not found"), "page not found"),
    ],
    ids=["silent", "not-http", "http-500", "http-404-text"],
)
def test_a_misbehaving_engine_is_one_line(tmp_path, reply, words):
    path = str(tmp_path / "odd.sock")
    server = _Misbehaving(path, reply)
    try:
        host = f"unix://{path}"
        res = tuidock("-H", host, "ps")
        assert_clean_error(res)
        assert _first_line(res) == "Error: " + words.format(host=host)
    finally:
        server.close()


def test_context_to_a_unix_engine_takes_the_lean_reader(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("TUIDOCK_CONFIG", str(tmp_path / "config"))
    ctx = name("lean")
    res = tuidock("context", "create", ctx, "--docker", f"host={engine.host}")
    assert res.code == 0, res.err
    for args in (["ps", "-a", "-q", "--no-trunc"],):
        # The engine is the session's: a test before may still be settling
        # (an image removed late), so the answers are read again until docker's
        # before and after ours agree.
        for _ in range(5):
            want = docker(engine, *args).stdout.split()
            mine = tuidock("--context", ctx, *args)
            assert mine.code == 0, mine.err
            if want == docker(engine, *args).stdout.split():
                break
            time.sleep(0.5)
        assert mine.out.split() == want, args
    # The same context through $TUIDOCK_CONTEXT, then as the current one.
    monkeypatch.setenv("TUIDOCK_CONTEXT", ctx)
    assert tuidock("ps", "-a", "-q", "--no-trunc").out.split() == want_ps(engine)
    monkeypatch.delenv("TUIDOCK_CONTEXT")
    assert tuidock("context", "use", ctx).code == 0
    assert tuidock("ps", "-a", "-q", "--no-trunc").out.split() == want_ps(engine)
    # and $TUIDOCK_HOST before the current context
    monkeypatch.setenv("TUIDOCK_HOST", engine.host)
    assert tuidock("ps", "-a", "-q", "--no-trunc").out.split() == want_ps(engine)


def want_ps(engine) -> list[str]:
    return docker(engine, "ps", "-a", "-q", "--no-trunc").stdout.split()


def test_a_broken_context_file_is_still_contexts_error(tmp_path, monkeypatch):
    """A context file the lean reading does not take goes to contexts.py: its words."""
    config = tmp_path / "config"
    monkeypatch.setenv("TUIDOCK_CONFIG", str(config))
    (config / "contexts").mkdir(parents=True)
    for body, words in (
        ("{not json", "parsing context file"),
        ('{"Host": "unix://relative.sock"}', "the socket path must be absolute"),
        ("[]", "not a JSON object"),
    ):
        (config / "contexts" / "bad.json").write_text(body)
        res = tuidock("--context", "bad", "ps")
        assert_clean_error(res)
        assert words in res.err, res.err


def test_the_command_word_after_engine_flags():
    from tuidock.cli.endpoints import command_word

    assert command_word(["-H", "unix:///x", "ps", "-a"]) == "ps"
    assert command_word(["--host=unix:///x", "--tlsverify", "images", "-q"]) == "images"
    assert command_word(["-Hunix:///x", "-c", "ctx", "--tlscert", "c.pem", "ps"]) == "ps"
    assert command_word(["--context", "ctx"]) is None
    assert command_word(["-H", "unix:///x", "--help"]) is None


# -- the HTTP reading itself ----------------------------------------------------------------------


def test_chunked_and_sized_bodies_are_read_whole():
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1,\r\n2;x=y\r\n2]\r\n0\r\n\r\n"
    )
    assert parse_response(chunked) == (200, "OK", b"[1,2]")
    sized = b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}extra"
    assert parse_response(sized) == (404, "Not Found", b"{}")
    for broken in (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n[1,",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n[]",
        b"HTTP/1.1 200 OK\r\n",
    ):
        with pytest.raises(ValueError):
            parse_response(broken)
