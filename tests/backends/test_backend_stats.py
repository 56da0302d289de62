"""The Docker/Podman stats sampler's lifecycle on the real engines (the `engine` fixture).

On Docker the sampler keeps one stream (and one thread) per running container
it is asked for: the streams of containers no longer asked for (stopped,
removed) end, a restarted container gets a new one, and close() leaves no
thread behind. On Podman one request a tick answers every container: no
thread at all. Either way the samples follow the containers that come and go.
"""

from __future__ import annotations

import threading
import time
import uuid

from tuidock.backends.base import RunSpec
from tuidock.backends.docker import DockerBackend


def _wait(check, timeout: float = 30.0, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or check}")


def _stats_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("docker-stats")}


def _run(backend: DockerBackend, registry) -> str:
    spec = RunSpec(
        registry.ref("oci/busybox"),
        ["sleep", "600"],
        name=f"tdk-stats-{uuid.uuid4().hex[:8]}",
        network="none",
    )
    return backend.run(spec).id


def test_sampler_follows_containers_that_come_and_go(backend, registry):
    before = _stats_threads()
    a, b, c = (_run(backend, registry) for _ in range(3))
    sampler = backend.stats_sampler()
    try:
        ids = [a, b, c]
        got = _wait(lambda: (s := sampler.sample(ids)).keys() == {a, b, c} and s, what="samples")
        assert all(s.memory_usage > 0 and s.pids >= 1 for s in got.values())
        mine = _stats_threads() - before
        if backend.is_podman:
            assert not mine  # one request a tick, no stream
        else:
            assert {f"docker-stats-{x[:12]}" for x in ids} == mine
            assert len(sampler.threads()) == 3

        # a stops, b goes: the poller asks for the running ones only.
        backend.stop(a, timeout=0)
        backend.remove(b, force=True)
        got = sampler.sample([c])
        assert set(got) <= {c}
        if not backend.is_podman:
            _wait(lambda: _stats_threads() - before == {f"docker-stats-{c[:12]}"}, what="ends")
            assert [t.name for t in sampler.threads()] == [f"docker-stats-{c[:12]}"]

        # A restarted container is sampled again (on Docker, by a new stream).
        backend.start(a)
        _wait(lambda: sampler.sample([a, c]).keys() == {a, c}, what="a sampled again")
        if not backend.is_podman:
            assert _stats_threads() - before == {f"docker-stats-{x[:12]}" for x in (a, c)}
    finally:
        sampler.close()
        for cid in (a, b, c):
            try:
                backend.remove(cid, force=True)
            except Exception:
                pass  # b is gone already
    assert _stats_threads() == before  # close() joined every stream's thread


def test_sampler_keeps_no_stream_of_a_container_stopped_while_asked_for(backend, registry):
    """A listing a tick old still names a stopped container: its stream ends by itself
    or on the next tick, and the sample leaves it out."""
    before = _stats_threads()
    cid = _run(backend, registry)
    sampler = backend.stats_sampler()
    try:
        _wait(lambda: cid in sampler.sample([cid]), what="a sample")
        backend.stop(cid, timeout=0)
        _wait(lambda: cid not in sampler.sample([cid]), what="the stopped container left out")
        sampler.sample([])
        _wait(lambda: _stats_threads() == before, what="the stream's thread to end")
    finally:
        sampler.close()
        backend.remove(cid, force=True)
    assert _stats_threads() == before


def test_sampler_of_nothing_and_close_twice(backend):
    sampler = backend.stats_sampler()
    assert sampler.sample([]) == {}
    sampler.close()
    sampler.close()
    assert not sampler.threads()


def test_sampler_shows_a_busy_container_busy(backend, registry):
    """CPU% from consecutive counters (Docker: the answer's precpu_stats; Podman: the
    previous tick's): a container spinning in a loop reads above 1% of a core, an
    idle one of the same run below the busy one."""
    busy = backend.run(
        RunSpec(
            registry.ref("oci/busybox"),
            ["sh", "-c", "while :; do :; done"],
            name=f"tdk-stats-{uuid.uuid4().hex[:8]}",
            network="none",
        )
    ).id
    idle = _run(backend, registry)
    sampler = backend.stats_sampler()
    try:

        def busy_seen():
            s = sampler.sample([busy, idle])
            return busy in s and idle in s and s[busy].cpu_percent > 1.0 and s

        got = _wait(busy_seen, what="the busy container's CPU%")
        assert got[idle].cpu_percent < got[busy].cpu_percent
    finally:
        sampler.close()
        backend.remove(busy, force=True)
        backend.remove(idle, force=True)
