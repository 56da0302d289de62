"""DockerBackend against a real private dockerd and a real Podman service.

Both engines are started once per session by tests/rig/engines.py (their own
data dirs and sockets, no firewall changes) and pull the fixture images from
the session's plain-HTTP registry. Every backend test runs on both.
"""

from __future__ import annotations

import os
import pty
import select
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import uuid
from fcntl import ioctl
from pathlib import Path

import pytest
from rig.certs import make_test_ca
from rig.engines import EngineProc, make_client_cert

from tuidock.backends.base import BuildSpec, RunSpec
from tuidock.backends.docker import DockerBackend
from tuidock.backends.endpoint import Endpoint, TLSConfig
from tuidock.errors import Conflict, EngineUnreachable, NotFound, TuidockError

LOOP = ["sh", "-c", "i=0; while true; do echo out$i; echo err$i >&2; i=$((i+1)); sleep 0.2; done"]


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _wait(check, timeout: float = 20.0, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or check}")


def _running(backend: DockerBackend, registry, command=LOOP) -> str:
    return backend.run(
        RunSpec(registry.ref("oci/busybox"), list(command), name=_name("tdk"), network="none")
    ).id


def test_pull_with_layer_progress_then_list(backend, registry):
    image = registry.images["demo/multilayer"]
    try:  # the engines are the session's: another test may have pulled it
        backend.remove_images([image.reference], force=True)
    except NotFound:
        pass
    events = []
    outcome = backend.pull(image.reference, None, events.append, threading.Event())
    assert outcome.image_id == image.image_id
    assert events[0].kind == "status" and "Pulling from demo/multilayer" in events[0].status
    layers = {e.id for e in events if e.kind == "layer"}
    assert len(layers) >= 3
    listed = {i.id: i for i in backend.list_images()}
    assert image.reference in listed[image.image_id].repo_tags
    assert listed[image.image_id].created.endswith("Z")
    history = backend.image_history(image.reference)
    assert history[0].id == image.image_id
    assert backend.inspect_image(image.reference)["Id"] == image.image_id


def test_tag_and_remove_images(backend, registry):
    backend.pull(registry.ref("oci/busybox"), None, lambda e: None, threading.Event())
    extra = f"{registry.host}/tdk/{_name('tag')}:v1"
    backend.tag(registry.ref("oci/busybox"), extra)
    assert any(extra in i.repo_tags for i in backend.list_images())
    outcome = backend.remove_images([extra, f"{registry.host}/tdk/missing:v1"])
    assert outcome.untagged and extra.split("/", 1)[1] in outcome.untagged[0]
    assert len(outcome.errors) == 1 and "missing" in outcome.errors[0]
    assert not any(extra in i.repo_tags for i in backend.list_images())


def test_run_list_stats_logs_top_pause_stop_remove(backend, registry):
    cid = _running(backend, registry)
    try:
        row = _wait(lambda: next((c for c in backend.list_containers() if c.id == cid), None))
        assert row.status == "running" and row.started_at and row.pid > 0
        assert backend.inspect_container(cid)["HostConfig"]["NetworkMode"] == "none"

        sampler = backend.stats_sampler()
        try:
            sampler.sample([cid])
            # Docker's stream brings its first answer within the daemon's next cycle.
            sample = _wait(lambda: sampler.sample([cid]).get(cid), what="a sample")
        finally:
            sampler.close()
        assert 0 <= sample.cpu_percent < 100 * os.cpu_count()
        assert 0 < sample.memory_usage < sample.memory_limit and sample.pids >= 1

        follower = backend.follow_log(cid)
        try:
            lines = []
            _wait(lambda: lines.extend(follower.read_new()) or len(lines) >= 6, what="log lines")
            assert any(ln.text.startswith("out") and not ln.stderr for ln in lines)
            assert any(ln.text.startswith("err") and ln.stderr for ln in lines)
            assert all(ln.time[:4].isdigit() for ln in lines)
            assert not follower.gone()
        finally:
            follower.close()

        titles, rows = backend.top(cid)
        assert "PID" in titles and len(rows) >= 1 and len(rows[0]) == len(titles)

        backend.pause(cid)
        assert backend.inspect_container(cid)["State"]["Paused"]
        backend.unpause(cid)
        assert not backend.inspect_container(cid)["State"]["Paused"]

        with pytest.raises(Conflict):
            backend.remove(cid)  # running, no force
        backend.stop(cid, timeout=1)
        assert backend.inspect_container(cid)["State"]["Status"] == "exited"
        stamp = backend.containers_stamp()
        backend.remove(cid)
        assert cid not in {c.id for c in backend.list_containers()}
        _wait(lambda: backend.containers_stamp() not in (None, stamp), what="a new stamp")
    finally:
        try:
            backend.remove(cid, force=True)
        except NotFound:
            pass


def test_unknown_names_raise_not_found(backend):
    with pytest.raises(NotFound):
        backend.inspect_container("tdk-no-such-container")
    with pytest.raises(NotFound):
        backend.stop("tdk-no-such-container")
    with pytest.raises(TuidockError):
        backend.inspect_image("127.0.0.1:1/no/such:image")


def test_a_stopped_daemon_is_a_one_line_error(tmp_path):
    # What a stopped daemon leaves: its socket file, nobody listening.
    path = tmp_path / "docker.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()
    backend = DockerBackend(Endpoint("gone", f"unix://{path}"))
    with pytest.raises(EngineUnreachable) as info:
        backend.list_containers()
    err = info.value
    assert err.message == f"cannot reach the Docker engine at unix://{path}: connection refused"
    assert err.hint and "\n" not in err.message
    for word in ("urllib3", "requests", "HTTPConnection", "Traceback", "http+docker"):
        assert word not in str(err)
    assert backend.containers_stamp() is None


def _dockerd(engines) -> EngineProc:
    engine = engines["docker"]
    if isinstance(engine, str):
        pytest.skip(f"docker cannot start here: {engine}")
    return engine


def test_tcp_with_tls_both_ways(engines, daemon_ca, tmp_path):
    """--tlsverify as the docker CLI: the daemon's certificate checked against the CA,
    the client's certificate checked by the daemon; a wrong CA is a one-line error."""
    engine = _dockerd(engines)
    cert, key = make_client_cert(daemon_ca.ca_cert, daemon_ca.ca_key, tmp_path / "client")
    tls = TLSConfig(True, str(daemon_ca.ca_cert), str(cert), str(key))
    good = DockerBackend(Endpoint("tls", engine.tcp_host, tls))
    try:
        assert good.facts().location == engine.tcp_host
        good.list_containers()
    finally:
        good.close()
    other = make_test_ca(tmp_path / "other")
    wrong = TLSConfig(True, str(other.ca_cert), str(cert), str(key))
    bad = DockerBackend(Endpoint("tls", engine.tcp_host, wrong))
    with pytest.raises(EngineUnreachable) as info:
        bad.list_containers()
    assert info.value.message.startswith(f"cannot reach the Docker engine at {engine.tcp_host}: ")
    assert "certificate_verify_failed" in info.value.reason
    assert "\n" not in info.value.message and "urllib3" not in str(info.value)


def test_shell_command_runs_in_a_pty_with_its_size(backend, registry):
    cid = _running(backend, registry, ["sleep", "300"])
    try:
        argv = backend.shell_command(cid)
        assert argv[-1] == "/bin/sh"
        # The pane's way: the argv in a PTY; a command instead of the shell.
        argv = [*argv[:-1], "sh", "-c", "sleep 0.5; stty size; tty; exit 3"]
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(argv[0], argv)
        ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
        out = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        assert b"33 101" in out, out
        assert b"/dev/pts/" in out, out
        assert os.waitstatus_to_exitcode(status) == 3
    finally:
        backend.remove(cid, force=True)


def test_shell_command_of_a_stopped_container_says_so(backend, registry):
    cid = _running(backend, registry, ["true"])
    try:
        _wait(lambda: not backend.inspect_container(cid)["State"]["Running"])
        with pytest.raises(TuidockError, match="is not running"):
            backend.shell_command(cid)
    finally:
        backend.remove(cid, force=True)


def test_dockerexec_reports_an_unreachable_engine_in_one_line():
    sock = Path(tempfile.gettempdir()) / f"tdk-none-{uuid.uuid4().hex[:8]}.sock"
    proc = subprocess.run(
        [sys.executable, "-m", "tuidock.backends.dockerexec", f"unix://{sock}", "x", "true"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[0] == (
        f"Error: cannot reach the Docker engine at unix://{sock}: no such file or directory"
    )
    assert "Traceback" not in proc.stderr


def test_ui_lists_and_stops_a_dockerd_container(engines, registry, tuidock_config):
    from textual.widgets import DataTable  # noqa: F401  (the UI's table base)
    from uihelp import SIZE, run, wait_until

    from tuidock.app import TuidockApp
    from tuidock.widgets.containers import ContainersTable

    engine = _dockerd(engines)
    backend = DockerBackend(Endpoint("docker", engine.host))
    cid = _running(backend, registry, ["sleep", "300"])

    async def scenario() -> None:
        app = TuidockApp(backend, config_dir=tuidock_config)
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ContainersTable)
            await wait_until(pilot, lambda: cid in table._order, what="the container's row")
            table.focus()
            table.select_key(cid)
            await pilot.pause(0.05)
            await wait_until(pilot, lambda: app.screen.samples.get(cid), what="a stats sample")
            await pilot.press("s")
            await wait_until(
                pilot,
                lambda: backend.inspect_container(cid)["State"]["Status"] == "exited",
                timeout=30,
                what="stopped",
            )
            await wait_until(
                pilot, lambda: "exited" in str(table.get_cell(cid, "status")), what="row exited"
            )

    try:
        run(scenario)
    finally:
        backend.remove(cid, force=True)
        backend.close()


def test_build_streams_steps_tags_and_cancels(backend, registry, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "hello.txt").write_text("hi\n")
    (ctx / "secret.txt").write_text("never in the image\n")
    (ctx / ".dockerignore").write_text("secret.txt\n")
    (ctx / "Dockerfile").write_text(
        f"FROM {registry.ref('oci/busybox')}\n"
        "ARG WHO=nobody\n"
        "COPY . /ctx/\n"
        'RUN echo "built by $WHO" > /ctx/by && ls /ctx >> /ctx/by\n'
        'CMD ["cat", "/ctx/by"]\n'
    )
    name = f"{registry.host}/tdk/{_name('built')}"
    lines: list[str] = []
    outcome = backend.build(
        BuildSpec(str(ctx), tags=(f"{name}:v1", f"{name}:v2"), build_args={"WHO": "tests"}),
        lines.append,
        threading.Event(),
    )
    try:
        assert any(line.startswith("STEP 1/5") or line.startswith("Step 1/5") for line in lines)
        listed = {i.id: i for i in backend.list_images()}
        assert {f"{name}:v1", f"{name}:v2"} <= set(listed[outcome.image_id].repo_tags)
        cid = backend.run(RunSpec(f"{name}:v1", [], name=_name("b"), network="none")).id
        _wait(lambda: not backend.inspect_container(cid)["State"]["Running"], what="exit")
        logs = backend.follow_log(cid)
        try:
            text = _wait(lambda: [line.text for line in logs.read_new()], what="logs")
        finally:
            logs.close()
        assert text[0] == "built by tests" and "hello.txt" in text, text
        assert "secret.txt" not in text  # .dockerignore'd
        backend.remove(cid, force=True)
    finally:
        backend.remove_images([f"{name}:v1", f"{name}:v2"])

    (ctx / "Dockerfile").write_text(f"FROM {registry.ref('oci/busybox')}\nRUN sleep 30\n")
    cancel = threading.Event()
    seen: list[str] = []

    def on_line(line: str) -> None:
        seen.append(line)
        if "RUN sleep 30" in line:
            threading.Timer(1.0, cancel.set).start()

    started = time.monotonic()
    with pytest.raises(TuidockError, match="cancelled"):
        backend.build(BuildSpec(str(ctx), tags=(f"{name}:gone",)), on_line, cancel)
    assert time.monotonic() - started < 20, seen
    assert not any(f"{name}:gone" in i.repo_tags for i in backend.list_images())

    def no_build_containers():
        return not [
            c for c in backend.api().containers(all=True) if "sleep 30" in str(c.get("Command"))
        ]

    _wait(no_build_containers, timeout=30, what="the build container to go")


def test_run_options_reach_inspect_and_bad_ones_fail_before_anything(backend, registry):
    spec = RunSpec(
        registry.ref("oci/busybox"),
        ["sleep", "60"],
        name=_name("opts"),
        network="none",
        restart="on-failure:3",
        memory="64m",
        cpus="0.5",
        pids_limit="50",
    )
    backend.check_run(spec)
    cid = backend.run(spec).id
    try:
        host = backend.inspect_container(cid)["HostConfig"]
        assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
        assert host["Memory"] == 64 << 20 and host["NanoCpus"] == 500_000_000
        assert host["PidsLimit"] == 50
    finally:
        backend.remove(cid, force=True)
    before = {c.id for c in backend.list_containers()}
    for bad, words in (
        ({"ports": ["8080:80"]}, "discarded"),
        ({"memory": "lots"}, "memory"),
        ({"restart": "sometimes"}, "restart policy"),
        ({"network": f"missing-{uuid.uuid4().hex[:6]}"}, "not found"),
    ):
        fields = {**spec.__dict__, "name": _name("bad"), **bad}
        with pytest.raises(TuidockError, match=words):
            backend.check_run(RunSpec(**fields))
    assert {c.id for c in backend.list_containers()} == before
    net = _name("net")
    backend.api().create_network(net, driver="bridge")
    try:
        names = [n.name for n in backend.list_networks()]
    finally:
        backend.api().remove_network(net)
    assert net in names and "host" not in names and "none" not in names
    # The default network first where the engine has one (the test dockerd runs --bridge=none).
    assert names[0] in ("bridge", "podman") or not {"bridge", "podman"} & set(names)


def test_logs_read_back_before_a_line_and_tail_window(backend, registry):
    """read_before asks the engine for --since/--until windows: the lines before a
    given one, the newest of them when max_bytes bounds it; follow_log(tail=N)."""
    script = (
        'i=1; while [ $i -le 200 ]; do printf "line %03d\\n" $i; i=$((i+1)); done; '
        "trap 'exit 0' TERM; while true; do sleep 1; done"
    )
    cid = _running(backend, registry, ["sh", "-c", script])
    try:
        follower = backend.follow_log(cid)
        try:
            lines = []
            _wait(lambda: lines.extend(follower.read_new()) or len(lines) >= 200, what="200")
            before = follower.read_before(lines[150], 1 << 20)
            assert [x.text for x in before] == [f"line {i:03d}" for i in range(1, 151)]
            newest = follower.read_before(lines[150], 10 * (len("line 000") + 40))
            assert [x.text for x in newest] == [f"line {i:03d}" for i in range(141, 151)]
            assert follower.read_before(lines[0], 1 << 20) == []
        finally:
            follower.close()
        tail = backend.follow_log(cid, tail=5)
        try:
            got = []
            _wait(lambda: got.extend(tail.read_new()) or len(got) >= 5, what="the tail")
            time.sleep(0.5)
            got.extend(tail.read_new())
            assert [x.text for x in got] == [f"line {i:03d}" for i in range(196, 201)]
        finally:
            tail.close()
    finally:
        backend.remove(cid, force=True)


def _log_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "docker-logs" and t.is_alive()}


def test_log_followers_close_promptly_on_a_quiet_container(backend, registry):
    """A follower whose reader waits in recv on a container that writes nothing
    more closes at once, and its reader thread ends with it (one container's
    follower and the every-container stream alike)."""
    quiet = ["sh", "-c", "echo hello; exec sleep 1000"]
    cid = _running(backend, registry, quiet)
    try:
        before = _log_threads()
        follower = backend.follow_log(cid)
        lines: list = []
        _wait(lambda: lines.extend(follower.read_new()) or lines, what="the one line")
        assert [ln.text for ln in lines] == ["hello"]
        time.sleep(0.5)  # the reader is now blocked reading a stream that stays silent
        assert _log_threads() - before, "the follower reads in a thread of its own"
        started = time.monotonic()
        follower.close()
        took = time.monotonic() - started
        assert took < 5, f"close took {took:.1f}s"  # a correctness bound: unfixed, it is 60 s
        assert not _log_threads() - before, "the reader thread outlived close()"

        every = backend.follow_all_logs()
        got: list = []
        _wait(lambda: got.extend(every.read_new({cid: "quiet"})) or got, what="all-logs line")
        assert got[0].text == "quiet | hello"
        time.sleep(0.5)
        started = time.monotonic()
        every.close()
        took = time.monotonic() - started
        assert took < 5, f"close took {took:.1f}s"
        assert not _log_threads() - before, "a reader thread outlived close()"
    finally:
        backend.remove(cid, force=True)
