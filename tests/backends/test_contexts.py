"""`tuidock context ...`, the global -H/--context flags and discovery, in fresh processes.

Each test has its own config dir and data root (fixture `tuidock_root`), a
HOME and DOCKER_CONFIG of its own (so the user's Docker CLI contexts stay
out), and reachability is checked against real unix sockets: a tiny HTTP
server answering /_ping, and Podman's own service when podman is installed.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clihelp import Result, assert_clean_error, tuidock


@pytest.fixture
def env(tuidock_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private HOME, DOCKER_CONFIG and XDG_RUNTIME_DIR; no engine chosen by the environment."""
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("DOCKER_CONFIG", str(home / ".docker"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "xdg"))
    for name in ("DOCKER_HOST", "DOCKER_CONTEXT", "TUIDOCK_HOST", "TUIDOCK_CONTEXT"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def config() -> Path:
    return Path(os.environ["TUIDOCK_CONFIG"])


def ok(*args: str) -> Result:
    res = tuidock(*args)
    assert res.code == 0, res.err
    assert "Traceback" not in res.err
    return res


def rows(*args: str) -> dict[str, dict]:
    res = ok("context", "ls", "--format", "json", *args)
    return {r["Name"]: r for r in map(json.loads, res.out.splitlines())}


class _Ping(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        body = b"OK"
        self.send_response(self.status if self.path == "/_ping" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass

    def address_string(self) -> str:
        return "unix"


class _NotDocker(_Ping):
    status = 404


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def ping_socket(env: Path) -> Iterator[str]:
    """A real unix socket with an HTTP server answering GET /_ping with 200 OK."""
    yield from _serve(env / "engine.sock", _Ping)


@pytest.fixture
def not_docker_socket(env: Path) -> Iterator[str]:
    yield from _serve(env / "other.sock", _NotDocker)


def _serve(path: Path, handler: type) -> Iterator[str]:
    server = _UnixServer(str(path), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield str(path)
    finally:
        server.shutdown()
        server.server_close()
        path.unlink(missing_ok=True)


# -- the store: create, ls, use, show, inspect, rm ----------------------------------------------


def test_create_ls_use_show_inspect_rm(env: Path) -> None:
    res = ok("context", "create", "remote", "--host", "tcp://127.0.0.1:1", "--description", "r1")
    assert res.out == "remote\n"
    assert 'Successfully created context "remote"' in res.err
    res = ok("context", "create", "sock", "--docker", f"host=unix://{env}/none.sock")
    assert res.out == "sock\n"

    table = ok("context", "ls").out.splitlines()
    assert table[0].split() == ["NAME", "DESCRIPTION", "DOCKER", "ENDPOINT", "ERROR"]
    assert table[1].startswith("local *")
    remote = next(line for line in table if line.startswith("remote "))
    assert "r1" in remote and "tcp://127.0.0.1:1" in remote
    assert "unreachable: connection refused" in remote
    assert "unreachable: no such socket" in next(x for x in table if x.startswith("sock "))
    assert ok("context", "ls", "-q").out.splitlines()[:3] == ["local", "remote", "sock"]
    assert ok("context", "show").out == "local\n"

    res = ok("context", "use", "remote")
    assert res.out == "remote\n" and 'Current context is now "remote"' in res.err
    assert ok("context", "show").out == "remote\n"
    assert rows()["remote"]["Current"] is True
    assert ok("context", "ls").out.splitlines()[1].startswith("local ")

    [doc] = json.loads(ok("context", "inspect").out)
    assert doc["Name"] == "remote"
    assert doc["Metadata"] == {"Description": "r1"}
    assert doc["Endpoints"]["docker"] == {"Host": "tcp://127.0.0.1:1", "SkipTLSVerify": False}
    assert doc["Storage"]["MetadataPath"] == str(config() / "contexts" / "remote.json")
    res = tuidock("context", "inspect", "sock", "nosuch")
    assert res.code == 1 and json.loads(res.out)[0]["Name"] == "sock"
    assert 'Error: context "nosuch" does not exist' in res.err

    res = tuidock("context", "rm", "remote")
    assert_clean_error(res)
    assert 'context "remote" is in use, set -f flag to force remove' in res.err
    res = tuidock("context", "rm", "local")
    assert_clean_error(res)
    assert 'context "local" cannot be removed' in res.err
    assert ok("context", "rm", "-f", "remote", "sock").out == "remote\nsock\n"
    assert ok("context", "show").out == "local\n"  # removing the current one falls back
    assert sorted(os.listdir(config() / "contexts")) == []


def test_create_refuses_what_docker_refuses_and_keeps_nothing(env: Path) -> None:
    ok("context", "create", "dup", "--host", "unix:///run/x.sock")
    cases = [
        (["dup", "--host", "unix:///y"], 'context "dup" already exists'),
        (["local", "--host", "unix:///y"], '"local" is a reserved context name'),
        (["b@d", "--host", "unix:///y"], 'context name "b@d" is invalid'),
        (["nohost"], 'context "nohost" needs a host'),
        (["h1", "--host", "ftp://x"], 'invalid host "ftp://x": unknown scheme "ftp"'),
        (["h2", "--host", "tcp://h:99999"], 'invalid host "tcp://h:99999": bad port'),
        (["h3", "--host", "unix://rel.sock"], "the socket path must be absolute"),
        (["h4", "--docker", "host=unix:///y,nope=1"], 'invalid --docker value "nope=1"'),
        (
            ["t1", "--host", "tcp://h:2376", "--tlsverify", "--tlscacert", str(env / "missing")],
            f"cannot read TLS CA certificate {env}/missing: no such file or directory",
        ),
        (
            ["t2", "--host", "tcp://h:2376", "--tlscacert", "/etc/hostname"],
            "TLS CA certificate /etc/hostname is not a PEM file",
        ),
        (
            ["t3", "--host", "tcp://h:2376", "--tlscert", "/etc/hostname"],
            "--tlscert and --tlskey go together",
        ),
    ]
    (env / "zero").write_bytes(b"\0" * 10)
    cases.append(
        (
            ["t4", "--host", "tcp://h:2376", "--tlscacert", str(env / "zero")],
            f'parsing TLS CA certificate "{env}/zero": line 1: holds a NUL byte',
        )
    )
    for args, message in cases:
        res = tuidock("context", "create", *args)
        assert_clean_error(res)
        assert message in res.err, (args, res.err)
    assert os.listdir(config() / "contexts") == ["dup.json"]


def test_tls_files_are_kept_and_shown(env: Path) -> None:
    for name in ("ca", "cert", "key"):
        (env / f"{name}.pem").write_text(f"-----BEGIN {name}-----\nx\n-----END {name}-----\n")
    ok(
        "context",
        "create",
        "tls",
        "--docker",
        f"host=tcp://127.0.0.1:1,ca={env}/ca.pem,cert={env}/cert.pem,key={env}/key.pem",
    )
    [doc] = json.loads(ok("context", "inspect", "tls").out)
    assert doc["Endpoints"]["docker"] == {"Host": "tcp://127.0.0.1:1", "SkipTLSVerify": False}
    assert doc["TLSMaterial"] == {"docker": [f"{env}/{n}.pem" for n in ("ca", "cert", "key")]}
    # tcp:// without a port: docker's TLS port
    ok("context", "create", "tls2", "--host", "tcp://h", "--tlsverify")
    assert rows()["tls2"]["DockerEndpoint"] == "tcp://h:2376"


def test_ls_formats(env: Path) -> None:
    ok("context", "create", "aa", "--host", "unix:///nowhere.sock")
    res = ok("context", "ls", "--format", "{{.Name}}|{{.DockerEndpoint}}|{{.Current}}")
    lines = res.out.splitlines()
    assert lines[:2] == ["local|embedded engine|True", "aa|unix:///nowhere.sock|False"]
    local = rows()["local"]
    assert local["Description"] == "tuidock's own engine" and local["Reachable"] is True
    res = tuidock("context", "ls", "--format", "{{.Nope}}")
    assert_clean_error(res)
    assert "can't evaluate field Nope" in res.err


# -- choosing the engine: flags, environment, current ---------------------------------------------


def test_resolution_order_is_dockers(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ok("context", "create", "cur", "--host", "unix:///cur.sock")
    ok("context", "create", "envctx", "--host", "unix:///envctx.sock")
    ok("context", "create", "flagctx", "--host", "unix:///flagctx.sock")

    def aimed(*args: str) -> str:
        res = tuidock(*args, "ps")
        if res.code == 0:
            return "local"
        assert_clean_error(res)
        assert len(res.err.strip().splitlines()) <= 2, res.err
        # "cannot reach the Docker engine at HOST: ..." (no daemon at these sockets)
        found = re.search(r"engine at (\S+?):? ", res.err)
        assert found, res.err
        return found.group(1)

    assert aimed() == "local"
    ok("context", "use", "cur")
    assert aimed() == "unix:///cur.sock"  # current > local
    monkeypatch.setenv("TUIDOCK_CONTEXT", "envctx")
    assert aimed() == "unix:///envctx.sock"  # $TUIDOCK_CONTEXT > current
    assert ok("context", "show").out == "envctx\n"
    monkeypatch.setenv("TUIDOCK_HOST", "unix:///envhost.sock")
    assert aimed() == "unix:///envhost.sock"  # $TUIDOCK_HOST > $TUIDOCK_CONTEXT
    assert aimed("--context", "flagctx") == "unix:///flagctx.sock"  # --context > $TUIDOCK_HOST
    assert aimed("-H", "unix:///flaghost.sock") == "unix:///flaghost.sock"
    assert aimed("--context", "local") == "local"
    res = tuidock("-H", "unix:///a.sock", "--context", "flagctx", "ps")
    assert_clean_error(res)
    assert "conflicting options: either specify --host or --context, not both" in res.err
    # exec's own fast path asks the same question
    res = tuidock("exec", "nosuch", "true")
    assert_clean_error(res)
    assert "engine at unix:///envhost.sock" in res.err
    # a command of the embedded engine alone names the endpoint, in the flag's words
    res = tuidock("--host", "unix:///x.sock", "image", "mount", "busybox")
    assert_clean_error(res)
    assert res.err.startswith(
        "Error: tuidock image mount: a command of tuidock's own engine; "
        "the Docker/Podman engine at unix:///x.sock does not have it"
    )
    res = tuidock("-H", "unix:///x.sock", "run", "busybox", "echo", "hi")  # `run` has a COMMAND
    assert_clean_error(res)
    assert "engine at unix:///x.sock" in res.err
    # the client-only commands work whatever the engine
    assert ok("context", "ls", "-q").out.startswith("local\n")
    res = ok("context", "use", "local")
    assert "Warning: TUIDOCK_HOST environment variable overrides the active context" in res.err
    monkeypatch.delenv("TUIDOCK_HOST")
    monkeypatch.delenv("TUIDOCK_CONTEXT")
    assert aimed() == "local"


def test_bad_choices_are_one_line_errors(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cases = [
        (["-H", "bogus", "ps"], '-H/--host: invalid host "bogus": it has no scheme'),
        (["-H", "ssh://u:pw@h", "ps"], "ssh:// takes no password"),
        (["--context", "nosuch", "ps"], 'context "nosuch" does not exist'),
        (["--context", "nosuch"], 'context "nosuch" does not exist'),  # the UI
        (["--tlscacert", "/nonexistent/ca.pem", "-H", "tcp://h", "ps"], "cannot read TLS CA"),
    ]
    for args, message in cases:
        res = tuidock(*args)
        assert_clean_error(res)
        assert message in res.err, (args, res.err)
    monkeypatch.setenv("TUIDOCK_HOST", "tcp://")
    res = tuidock("images")
    assert_clean_error(res)
    assert "$TUIDOCK_HOST: invalid host" in res.err
    monkeypatch.delenv("TUIDOCK_HOST")
    monkeypatch.setenv("TUIDOCK_CONTEXT", "gone")
    res = tuidock("ps")
    assert_clean_error(res)
    assert '$TUIDOCK_CONTEXT: context "gone" does not exist' in res.err
    monkeypatch.delenv("TUIDOCK_CONTEXT")
    (config() / "current-context").write_text("vanished\n")
    res = tuidock("ps")
    assert_clean_error(res)
    assert 'current context "vanished" does not exist' in res.err
    assert "tuidock context use" in res.err
    ok("context", "use", "local")
    assert not (config() / "current-context").exists()


def test_broken_context_files_are_named_and_nothing_is_rewritten(env: Path) -> None:
    d = config() / "contexts"
    d.mkdir()
    (d / "notjson.json").write_text("{bad")
    (d / "nohost.json").write_text('{"Name": "nohost"}')
    (d / "badhost.json").write_text('{"Host": "ftp://x"}')
    (d / "binary.json").write_bytes(b"\x00\xff")
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    table = rows()
    assert f'parsing context file "{d}/notjson.json"' in table["notjson"]["Error"]
    assert f'context file "{d}/nohost.json": no "Host"' in table["nohost"]["Error"]
    assert 'unknown scheme "ftp"' in table["badhost"]["Error"]
    assert "holds a NUL byte" in table["binary"]["Error"]
    for name in ("notjson", "nohost", "badhost", "binary"):
        res = tuidock("--context", name, "ps")
        assert_clean_error(res)
        assert str(d / f"{name}.json") in res.err, res.err
    assert_clean_error(tuidock("context", "use", "notjson"))
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before
    assert ok("context", "rm", "notjson").out == "notjson\n"  # a broken one can go


# -- discovery and reachability ---------------------------------------------------------------------


def _docker_cli_context(base: Path, name: str, host: str, tls: bool = False) -> None:
    import hashlib

    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = base / "contexts" / "meta" / digest
    meta.mkdir(parents=True)
    doc = {
        "Name": name,
        "Metadata": {"Description": f"{name} box"},
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": False}},
    }
    (meta / "meta.json").write_text(json.dumps(doc))
    if tls:
        tls_dir = base / "contexts" / "tls" / digest / "docker"
        tls_dir.mkdir(parents=True)
        for f in ("ca", "cert", "key"):
            (tls_dir / f"{f}.pem").write_text("-----BEGIN X-----\n")


def test_discovers_docker_cli_contexts_read_only(env: Path, ping_socket: str) -> None:
    docker_config = Path(os.environ["DOCKER_CONFIG"])
    _docker_cli_context(docker_config, "prod", "ssh://deploy@prod.example:2222")
    _docker_cli_context(docker_config, "tlsbox", "tcp://127.0.0.1:1", tls=True)
    _docker_cli_context(docker_config, "here", f"unix://{ping_socket}")
    broken = docker_config / "contexts" / "meta" / "f00" / "meta.json"
    broken.parent.mkdir()
    broken.write_text("[1, 2")
    before = sorted(p.read_bytes() for p in docker_config.rglob("*") if p.is_file())

    table = rows()
    prod = table["docker:prod"]
    assert prod["DockerEndpoint"] == "ssh://deploy@prod.example:2222"
    assert prod["Description"] == "prod box (discovered)"
    assert prod["Source"] == "docker-cli" and prod["Reachable"] is None  # ssh: not probed
    assert table["docker:here"]["Reachable"] is True and table["docker:here"]["Error"] == ""
    assert table["docker:tlsbox"]["Reachable"] is False
    assert table["docker:tlsbox"]["DockerEndpoint"] == "tcp://127.0.0.1:1"
    assert f'parsing Docker CLI context "{broken}"' in table["docker:f00"]["Error"]
    [doc] = json.loads(ok("context", "inspect", "docker:tlsbox").out)
    assert len(doc["TLSMaterial"]["docker"]) == 3
    assert doc["Storage"]["MetadataPath"].endswith("meta.json")

    res = tuidock("context", "rm", "docker:prod")
    assert_clean_error(res)
    assert 'context "docker:prod" is discovered, not created: nothing to remove' in res.err
    # resolved without connecting (nothing may reach prod.example): a local-only command
    res = tuidock("--context", "docker:prod", "image", "mount", "busybox")
    assert "engine at ssh://deploy@prod.example:2222 does not have it" in res.err
    ok("context", "use", "docker:here")  # usable as the current context, file left as is
    assert ok("context", "show").out == "docker:here\n"
    assert sorted(p.read_bytes() for p in docker_config.rglob("*") if p.is_file()) == before


def test_reachability_over_real_unix_sockets(
    env: Path, ping_socket: str, not_docker_socket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok("context", "create", "up", "--host", f"unix://{ping_socket}")
    ok("context", "create", "other", "--host", f"unix://{not_docker_socket}")
    ok("context", "create", "gone", "--host", f"unix://{env}/gone.sock")
    (env / "plain").write_text("")
    ok("context", "create", "file", "--host", f"unix://{env}/plain")
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()  # accepts, never answers: the probe's timeout
    port = listening.getsockname()[1]
    ok("context", "create", "silent", "--host", f"tcp://127.0.0.1:{port}")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{ping_socket}")
    try:
        started = time.monotonic()
        table = rows()
        elapsed = time.monotonic() - started
    finally:
        listening.close()
    assert table["up"]["Reachable"] is True and table["up"]["Error"] == ""
    assert table["other"]["Error"] == "unreachable: not a Docker API (/_ping answered 404)"
    assert table["gone"]["Error"] == "unreachable: no such socket"
    assert table["file"]["Error"] == "unreachable: connection refused"
    assert table["silent"]["Error"] == "unreachable: no answer within 0.5 s"
    # $DOCKER_HOST is the discovered `docker`
    assert table["docker"]["DockerEndpoint"] == f"unix://{ping_socket}"
    assert table["docker"]["Reachable"] is True
    assert table["docker"]["Description"] == "Docker ($DOCKER_HOST) (discovered)"
    assert elapsed < 10  # the probes run side by side, each bounded


def test_discovers_podmans_service_socket(env: Path) -> None:
    """Podman's real Docker-compatible service on the rootless path ($XDG_RUNTIME_DIR)."""
    podman = shutil.which("podman")
    if podman is None:
        pytest.skip("podman is not installed")
    runtime = Path(os.environ["XDG_RUNTIME_DIR"])
    sock = runtime / "podman" / "podman.sock"
    sock.parent.mkdir(parents=True)
    store = Path(tempfile.mkdtemp(prefix="pd-", dir="/tmp"))  # podman: runroot <= 50 chars
    proc = subprocess.Popen(
        [
            podman,
            "--root",
            str(store / "root"),
            "--runroot",
            str(store / "run"),
            "--runtime",
            "runc",
            "system",
            "service",
            "--time=0",
            f"unix://{sock}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "podman's service did not start"
            time.sleep(0.1)
        row = rows()["podman-rootless"]
        assert row["DockerEndpoint"] == f"unix://{sock}"
        assert row["Reachable"] is True, row
        assert row["Description"] == "Podman service (rootless) (discovered)"
        # The docker-style CLI drives that service: ps answers with docker's table.
        res = tuidock("--context", "podman-rootless", "ps", "-a")
        assert res.code == 0, res.err
        assert res.out.split("\n")[0].split() == [
            "CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES",
        ]  # fmt: skip
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        _unmount_under(store)  # podman leaves its overlay dir bind-mounted
        shutil.rmtree(store, ignore_errors=True)
    # gone again: not listed any more
    assert "podman-rootless" not in rows()


def _unmount_under(path: Path) -> None:
    prefix = str(path) + "/"
    with open("/proc/self/mountinfo") as info:
        points = [line.split()[4] for line in info if line.split()[4].startswith(prefix)]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", point], capture_output=True, check=False)


def test_fast_config_dir_matches_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    from tuidock.cli.endpoints import _config_dir
    from tuidock.runtime.store.paths import config_dir

    for env in (
        {},
        {"XDG_CONFIG_HOME": "/x/y"},
        {"XDG_CONFIG_HOME": " "},
        {"TUIDOCK_CONFIG": "/c"},
    ):
        monkeypatch.delenv("TUIDOCK_CONFIG", raising=False)
        monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        assert _config_dir() == str(config_dir()), env
