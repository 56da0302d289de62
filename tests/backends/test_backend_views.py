"""The backend methods behind the views: events, diff, kill with a signal, I/O stats.

Each is run on the embedded engine (a real container in a temp data root)
and on both Docker and Podman (the session's private engines), and the two
must agree on what the UI reads: the same event actions, `docker diff`'s
A/C/D lines, a signal that reaches the process, I/O counters that grow.
"""

from __future__ import annotations

import time
import uuid

import pytest
from clihelp import tuidock
from containerhelp import image_fixture, no_leftovers_fixture, wait_for

from tuidock.backends.base import EventRecord, FileChange, RunSpec
from tuidock.errors import UsageError

__all__ = ["image_fixture", "no_leftovers_fixture"]  # fixtures, used by name

# Writes a file, removes one of the image's, then waits for signals: a HUP
# is written to the log, a TERM ends it with code 3.
SCRIPT = (
    "echo hi > /added; rm /etc/group; "
    "trap 'echo got-hup' HUP; trap 'exit 3' TERM; "
    "dd if=/dev/zero of=/big bs=1k count=256 2>/dev/null; "
    "while true; do sleep 0.1; done"
)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _wait(check, timeout: float = 20.0, what: str = ""):
    return wait_for(check, timeout, what)


def _events_until(follower, want, what: str) -> list[EventRecord]:
    seen: list[EventRecord] = []

    def check() -> bool:
        seen.extend(follower.read_new())
        return want(seen)

    _wait(check, what=what)
    return seen


def _exercise(backend, cid: str, name: str, since_ns: int) -> None:
    """What both engines must answer alike, on a container running SCRIPT."""
    # Events: the stored ones from `since` (the create and start), then live ones.
    follower = backend.follow_events(since_ns)
    try:
        seen = _events_until(
            follower,
            lambda s: any(e.action == "start" and e.actor_id == cid for e in s),
            "start event",
        )
        start = next(e for e in seen if e.action == "start" and e.actor_id == cid)
        assert start.type == "container" and start.name == name
        assert "busybox" in start.image
        assert all(e.time_ns >= since_ns for e in seen)

        want = {FileChange("A", "/added"), FileChange("D", "/etc/group"), FileChange("C", "/etc")}
        last: list[list[FileChange]] = [[]]

        def diffed() -> list[FileChange] | None:
            last[0] = backend.diff(cid)
            return last[0] if want <= set(last[0]) else None

        try:
            changes = _wait(diffed, what="diff")
        except AssertionError:
            raise AssertionError(f"diff: {last[0]}") from None
        assert all(c.kind in "ACD" and c.path.startswith("/") for c in changes)

        # I/O counters: present (the container's disk writes may sit in the page
        # cache, so only their presence and sign are checked).
        sampler = backend.stats_sampler(io=True)
        try:
            first = _wait(lambda: sampler.sample([cid]).get(cid), what="a sample")
            assert first.memory_usage > 0 and first.pids >= 1
            assert min(first.net_rx, first.net_tx, first.block_read, first.block_write) >= 0
        finally:
            sampler.close()

        with pytest.raises(UsageError, match="invalid signal"):
            backend.kill(cid, "SIGNOPE")
        backend.kill(cid, "HUP")
        seen = _events_until(
            follower,
            lambda s: any(e.action == "kill" and e.actor_id == cid for e in s),
            "kill event",
        )
        kill = next(e for e in seen if e.action == "kill" and e.actor_id == cid)
        # Podman's kill event names no signal; Docker's and the local engine's do.
        assert kill.attributes.get("signal", "1") == "1"
        backend.kill(cid, "SIGTERM")
        _wait(
            lambda: backend.inspect_container(cid)["State"]["Status"] == "exited",
            what="exit on TERM",
        )
        assert backend.inspect_container(cid)["State"]["ExitCode"] == 3
        # Read once it exited: the log's stream has ended, so closing it is prompt.
        log = backend.follow_log(cid)
        try:
            lines: list[str] = []
            _wait(
                lambda: lines.extend(ln.text for ln in log.read_new()) or "got-hup" in lines,
                what="the HUP trap's line",
            )
        finally:
            log.close()
        _events_until(
            follower,
            lambda s: any(e.action == "die" and e.actor_id == cid for e in s),
            "die event",
        )
    finally:
        follower.close()


def test_local_events_diff_kill_and_io_stats(image, tuidock_root):
    from uihelp import local_backend

    backend = local_backend()
    since = time.time_ns()
    name = _name("views")
    res = tuidock("run", "-d", "--name", name, image, "sh", "-c", SCRIPT)
    assert res.code == 0, res.err
    cid = res.out.strip()
    _exercise(backend, cid, name, since)
    # The log holds exactly what `tuidock events` prints.
    follower = backend.follow_events(since)
    try:
        actions = [e.action for e in follower.read_new() if e.actor_id == cid]
    finally:
        follower.close()
    assert actions[:2] == ["create", "start"] and actions[-1] == "die"


def test_local_events_from_now_skip_the_past(image, tuidock_root):
    from uihelp import local_backend

    backend = local_backend()
    tuidock("tag", image, "past:v1")
    follower = backend.follow_events()
    try:
        assert follower.read_new() == []
        assert tuidock("tag", image, "now:v1").code == 0
        seen = _events_until(follower, lambda s: any(e.action == "tag" for e in s), "tag")
        assert [e.image for e in seen if e.action == "tag"] == ["now:v1"]
    finally:
        follower.close()


def test_docker_events_diff_kill_and_io_stats(backend, registry):
    since = time.time_ns()
    name = _name("views")
    # A network, unlike the other backend tests: the counters of its interface are read.
    cid = backend.run(
        RunSpec(registry.ref("oci/busybox"), ["sh", "-c", SCRIPT], name=name, network="bridge")
    ).id
    try:
        _exercise(backend, cid, name, since)
    finally:
        backend.remove(cid, force=True)


def test_docker_kill_and_diff_of_unknown_containers(backend):
    from tuidock.errors import NotFound

    with pytest.raises(NotFound):
        backend.diff("no-such-container-" + uuid.uuid4().hex[:6])
    with pytest.raises(NotFound):
        backend.kill("no-such-container-" + uuid.uuid4().hex[:6], "TERM")


def test_docker_events_of_a_stopped_daemon_end_with_one_line(tmp_path):
    import socket

    from tuidock.backends.docker import DockerBackend
    from tuidock.backends.endpoint import Endpoint
    from tuidock.errors import EngineUnreachable

    path = tmp_path / "docker.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()
    follower = DockerBackend(Endpoint("gone", f"unix://{path}")).follow_events(time.time_ns())
    try:
        errors: list[EngineUnreachable] = []

        def failed() -> bool:
            try:
                assert follower.read_new() == []
            except EngineUnreachable as exc:
                errors.append(exc)
            return bool(errors)

        _wait(failed, what="the stream's end")
        assert errors[0].message == (
            f"the events stream of unix://{path} ended: connection refused"
        )
        assert follower.read_new() == []  # said once
    finally:
        follower.close()
