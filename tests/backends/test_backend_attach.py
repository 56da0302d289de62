"""Backend.attach: the AttachStream on the embedded engine and on Docker/Podman.

Each case runs on a real container of the busybox fixture image: the local
engine's (a temp TUIDOCK_ROOT) and the session's private dockerd and Podman
service (the `engine` fixture), the latter two also over the lean unix://
client (`-lean`: backends/dockerattach.py LeanAttachOps). A container that should write only after
the attach waits for a file that an exec makes, so no output can come
before the stream is open. The detach keys are the session's
(backends/attachrelay.py), checked here on `DetachWatch` with real bytes.
"""

from __future__ import annotations

import select
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from clihelp import tuidock
from containerhelp import image_fixture, no_leftovers_fixture  # noqa: F401

from tuidock.backends.attachrelay import DetachWatch
from tuidock.backends.base import AttachStream, Backend
from tuidock.errors import Conflict

# Writes to stdout and stderr once /go exists, then exits with 5.
ON_CUE = "while [ ! -e /go ]; do sleep 0.05; done; echo out-$((2+3)); echo err-7 >&2; exit 5"


@dataclass
class Rig:
    """One engine behind the seam, and how to make and poke containers on it."""

    backend: Backend
    run: Callable[[list[str], bool], str]  # (command, -it) -> ID, started
    exec: Callable[[str, list[str]], None]
    running: Callable[[str], bool]


def _local_rig(image: str) -> Rig:
    from tuidock.backends.local import open_local

    def run(command: list[str], it: bool) -> str:
        flags = ["-dit"] if it else ["-d"]
        res = tuidock(
            "run",
            *flags,
            "--network",
            "none",
            "--name",
            f"att-{uuid.uuid4().hex[:8]}",
            image,
            *command,
        )
        assert res.code == 0, res.err
        return res.out.strip()

    def exec_(cid: str, command: list[str]) -> None:
        res = tuidock("exec", cid, *command)
        assert res.code == 0, res.err

    backend = open_local()
    return Rig(backend, run, exec_, lambda cid: backend.inspect_container(cid)["State"]["Running"])


def _engine_rig(backend, registry, started: list[str]) -> Rig:  # type: ignore[no-untyped-def]
    api = backend.api()
    image = registry.ref("oci/busybox")
    repo, tag = image.rsplit(":", 1)
    api.pull(repo, tag=tag)

    def run(command: list[str], it: bool) -> str:
        cid = api.create_container(
            image,
            command,
            name=f"att-{uuid.uuid4().hex[:8]}",
            tty=it,
            stdin_open=it,
            host_config=api.create_host_config(network_mode="none"),
        )["Id"]
        started.append(cid)
        api.start(cid)
        return cid

    def exec_(cid: str, command: list[str]) -> None:
        api.exec_start(api.exec_create(cid, command)["Id"])

    return Rig(backend, run, exec_, lambda cid: api.inspect_container(cid)["State"]["Running"])


def _lean_backend(endpoint):  # type: ignore[no-untyped-def]
    """A DockerBackend whose `attach` goes over the lean unix:// client, as the UI's
    attach session does on such a host (backends/attachrelay.py)."""
    from tuidock.backends.docker import DockerBackend
    from tuidock.backends.dockerattach import DockerAttach, LeanAttachOps
    from tuidock.backends.unixget import UnixGet

    class LeanAttachBackend(DockerBackend):
        def attach(self, cid: str) -> DockerAttach:
            return DockerAttach.open(LeanAttachOps(UnixGet(self.location)), cid)

    return LeanAttachBackend(endpoint)


@pytest.fixture(params=["local", "docker", "podman", "docker-lean", "podman-lean"])
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    if request.param == "local":
        yield _local_rig(request.getfixturevalue("image"))
        return
    from tuidock.backends.docker import DockerBackend
    from tuidock.backends.endpoint import Endpoint

    name, _, lean = request.param.partition("-")
    engine = request.getfixturevalue("engines")[name]
    if isinstance(engine, str):
        pytest.skip(f"{name} cannot start here: {engine}")
    endpoint = Endpoint(engine.name, engine.host)
    backend = _lean_backend(endpoint) if lean else DockerBackend(endpoint)
    started: list[str] = []
    yield _engine_rig(backend, request.getfixturevalue("registry"), started)
    for cid in started:
        try:
            backend.remove(cid, force=True)
        except Exception:
            pass
    backend.close()


def _read_until(stream: AttachStream, done: Callable[[list[tuple[int, bytes]]], bool]) -> list:
    """Pieces read until `done(pieces)` or the stream's end (60 s at most)."""
    pieces: list[tuple[int, bytes]] = []
    deadline = time.monotonic() + 60
    while not done(pieces) and not stream.ended:
        assert time.monotonic() < deadline, f"stream gave only {pieces!r}"
        if select.select([stream.fileno()], [], [], 1)[0]:
            pieces += stream.read()
    return pieces


def _text(pieces: list[tuple[int, bytes]], fd: int | None = None) -> str:
    return b"".join(d for f, d in pieces if fd is None or f == fd).decode(errors="replace")


def test_tty_session_types_reads_and_ends_with_the_exit_code(rig: Rig) -> None:
    cid = rig.run(["sh"], True)
    stream = rig.backend.attach(cid)
    try:
        assert (stream.tty, stream.stdin) == (True, True)
        stream.resize(30, 100)
        stream.write(b"echo hi-$((6*7)) $(stty size)\r")
        pieces = _read_until(stream, lambda p: "hi-42 30 100" in _text(p))
        assert {fd for fd, _ in pieces} == {1}  # a terminal has one stream
        stream.write(b"exit 3\r")
        _read_until(stream, lambda p: False)
        assert stream.ended
        assert stream.exit_code() == 3
    finally:
        stream.close()


def test_close_is_a_detach_and_the_container_runs_on(rig: Rig) -> None:
    cid = rig.run(["sh"], True)
    stream = rig.backend.attach(cid)
    stream.write(b"echo before-$((1+1))\r")
    _read_until(stream, lambda p: "before-2" in _text(p))
    stream.close()
    time.sleep(0.5)  # a close that stopped it would show by now (not a timing assertion)
    assert rig.running(cid)
    again = rig.backend.attach(cid)  # and it can be attached to again
    try:
        again.write(b"echo again-$((2+2))\r")
        _read_until(again, lambda p: "again-4" in _text(p))
    finally:
        again.close()
    assert rig.running(cid)


def test_without_a_tty_output_comes_split_and_input_is_off(rig: Rig) -> None:
    cid = rig.run(["sh", "-c", ON_CUE], False)
    stream = rig.backend.attach(cid)
    try:
        assert (stream.tty, stream.stdin) == (False, False)
        stream.write(b"ignored\n")  # output only: nothing is sent
        rig.exec(cid, ["touch", "/go"])
        pieces = _read_until(stream, lambda p: False)
        assert "out-5" in _text(pieces, 1) and "out-5" not in _text(pieces, 2)
        assert "err-7" in _text(pieces, 2) and "err-7" not in _text(pieces, 1)
        assert stream.exit_code() == 5
    finally:
        stream.close()


def test_a_stopped_container_is_refused(rig: Rig) -> None:
    cid = rig.run(["true"], False)
    deadline = time.monotonic() + 30
    while rig.running(cid):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    with pytest.raises(Conflict) as info:
        rig.backend.attach(cid)
    assert "stopped container" in str(info.value)


def test_a_paused_container_is_refused(rig: Rig) -> None:
    cid = rig.run(["sleep", "300"], False)
    rig.backend.pause(cid)
    try:
        with pytest.raises(Conflict) as info:
            rig.backend.attach(cid)
        assert "paused" in str(info.value)
    finally:
        rig.backend.unpause(cid)


@pytest.mark.parametrize(
    ("chunks", "sent", "detached"),
    [
        ([b"ls\r"], b"ls\r", False),
        ([b"ab\x10\x11cd"], b"ab", True),
        ([b"ab\x10", b"\x11"], b"ab", True),  # the pair split over two reads
        ([b"\x10", b"x"], b"\x10x", False),  # ctrl-p alone goes on with the next key
        ([b"\x10\x10\x11"], b"\x10", True),
    ],
)
def test_detach_watch(chunks: list[bytes], sent: bytes, detached: bool) -> None:
    watch = DetachWatch()
    out, hit = b"", False
    for chunk in chunks:
        piece, hit = watch.feed(chunk)
        out += piece
        if hit:
            break
    assert (out, hit) == (sent, detached)


# -- the session program in a real terminal ------------------------------------------------


def test_relay_without_tty_takes_typed_lines_and_detaches(image, tuidock_root) -> None:
    """-i without -t: typed lines reach the process (echoed here, CR as NL), its
    output comes back, and ctrl-p ctrl-q still detaches (the mode is not canonical)."""
    from clihelp import run_in_pty

    from tuidock.backends.local import open_local

    res = tuidock(
        "run", "-di", "--network", "none", image, "sh", "-c", "while read l; do echo got:$l; done"
    )
    assert res.code == 0, res.err
    cid = res.out.strip()
    argv = open_local().attach_command(cid)
    code, out = run_in_pty(
        argv,
        (24, 80),
        replies=[(b"input and output", b"ping\r"), (b"got:ping", b"\x10\x11")],
    )
    text = out.decode(errors="replace")
    assert code == 0, text
    assert "ping\r\n" in text  # the local echo
    assert "got:ping" in text
    assert "detached from" in text and "keeps running" in text
    assert open_local().inspect_container(cid)["State"]["Running"]
