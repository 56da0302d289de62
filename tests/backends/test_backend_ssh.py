"""ssh:// endpoints for real: Debian's OpenSSH server on loopback, the system ssh client.

tests/rig/sshd.py starts `/usr/sbin/sshd -D` with throwaway keys in a temp
dir and `SetEnv DOCKER_HOST` aimed at the session's private dockerd, so
`ssh root@127.0.0.1 -p PORT docker system dial-stdio` reaches that engine;
the client's config and known_hosts are temp files too (a PATH wrapper), so
~/.ssh is never read or written. The sshd is stopped by its PID after the
module. Without an installed sshd the tests skip and say so (.ci/run
installs it through scripts/test-deps.sh).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from rig.sshd import SSHD, SSHDUnavailable, start_sshd

from tuidock.backends.base import RunSpec
from tuidock.backends.docker import DockerBackend
from tuidock.backends.endpoint import Endpoint, parse_host
from tuidock.errors import EngineUnreachable


@pytest.fixture(scope="module")
def sshd(engines) -> Iterator[SSHD]:
    docker = engines["docker"]
    if isinstance(docker, str):
        pytest.skip(f"docker cannot start here: {docker}")
    try:
        server = start_sshd(docker.host)
    except SSHDUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ssh_client(sshd: SSHD, monkeypatch: pytest.MonkeyPatch) -> SSHD:
    for key, value in sshd.client_env(known=True).items():
        monkeypatch.setenv(key, value)
    return sshd


def test_ssh_endpoint_lists_images_and_containers(ssh_client: SSHD, engines, registry) -> None:
    local = DockerBackend(Endpoint("docker", engines["docker"].host))
    host = parse_host(ssh_client.host())
    assert host == ssh_client.host()
    remote = DockerBackend(Endpoint("ssh", host))
    name = f"tdk-ssh-{uuid.uuid4().hex[:8]}"
    cid = local.run(
        RunSpec(registry.ref("oci/busybox"), ["sleep", "300"], name=name, network="none")
    ).id
    try:
        assert remote.facts().location == host
        listed = {c.id: c for c in remote.list_containers()}
        assert cid in listed and listed[cid].name == name and listed[cid].active
        images = {t for i in remote.list_images() for t in i.repo_tags}
        assert registry.ref("oci/busybox") in images, images
        # The same engine as over the unix socket: a stop over ssh shows there.
        remote.stop(cid, 1)
        assert local.inspect_container(cid)["State"]["Status"] == "exited"
    finally:
        local.remove(cid, force=True)
        remote.close()
        local.close()


def test_unknown_host_key_is_a_short_error(sshd: SSHD, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in sshd.client_env(known=False).items():
        monkeypatch.setenv(key, value)
    host = sshd.host()
    backend = DockerBackend(Endpoint("ssh", host))
    try:
        with pytest.raises(EngineUnreachable) as info:
            backend.list_containers()
    finally:
        backend.close()
    err = info.value
    assert err.message == f"cannot reach the Docker engine at {host}: host key verification failed"
    assert "\n" not in err.message and err.hint and "\n" not in err.hint
    assert "ssh" in err.hint
    for word in ("Traceback", "urllib3", "requests", "paramiko"):
        assert word not in f"{err.message} {err.hint}"


def test_ui_shows_the_containers_of_an_ssh_endpoint(
    ssh_client: SSHD, engines, registry, tuidock_config
) -> None:
    from uihelp import SIZE, run, wait_until

    from tuidock.app import TuidockApp
    from tuidock.widgets.containers import ContainersTable
    from tuidock.widgets.header import EngineHeader

    local = DockerBackend(Endpoint("docker", engines["docker"].host))
    cid = local.run(
        RunSpec(
            registry.ref("oci/busybox"),
            ["sleep", "300"],
            name=f"tdk-ssh-{uuid.uuid4().hex[:8]}",
            network="none",
        )
    ).id
    endpoint = Endpoint("over-ssh", ssh_client.host())
    backend = DockerBackend(endpoint)

    async def scenario() -> None:
        app = TuidockApp(backend, config_dir=tuidock_config, endpoint=endpoint)
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(ContainersTable)
            await wait_until(pilot, lambda: cid in table._order, timeout=30, what="the row")
            await wait_until(
                pilot, lambda: app.screen.samples.get(cid), timeout=30, what="a stats sample"
            )
            text = str(app.screen.query_one(EngineHeader).render())
            assert "ctx over-ssh" in text and ssh_client.host() in text, text

    try:
        run(scenario)
    finally:
        local.remove(cid, force=True)
        local.close()
        backend.close()


def _children(parent: int, comm: str) -> set[int]:
    """PIDs of live processes named `comm` whose parent is `parent` (zombies count: an
    unreaped ssh is one left behind)."""
    found: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # ended meanwhile
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == parent and name == comm:
            found.add(int(entry))
    return found


def _dial_stdios(sshd: SSHD) -> int:
    """`docker system dial-stdio` processes serving the rig's sshd sessions now."""
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        for var in env.split(b"\0"):
            # SSH_CONNECTION="client port server port": a session of this sshd.
            if b"dial-stdio" in argv and var.startswith(b"SSH_CONNECTION="):
                count += var.split()[-1] == str(sshd.port).encode()
    return count


def test_stats_of_many_containers_over_ssh_keep_ssh_processes_bounded(
    ssh_client: SSHD, engines, registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """50 running containers over ssh://: at most SSH_STREAMS + SSH_POLLERS ssh processes
    here (and dial-stdio processes on the sshd side) for the sampler, at once and over
    its whole life (no new ssh per poll); every container's figures arrive (streams for
    the first ones, round-robin one-shot polls for the rest), a busy polled one reads
    busy; close() ends every ssh process and thread the sampler started."""
    from tuidock.backends import sshdial
    from tuidock.backends.docker import SSH_POLLERS, SSH_STREAMS

    n = 50
    bound = SSH_STREAMS + SSH_POLLERS
    local = DockerBackend(Endpoint("docker", engines["docker"].host))
    remote = DockerBackend(Endpoint("ssh", ssh_client.host()))
    tag = uuid.uuid4().hex[:8]
    ids: list[str] = []
    try:
        for i in range(n):
            # The last (polled, not streamed) spins: its CPU% comes from its own polls.
            argv = ["sh", "-c", "while :; do :; done"] if i == n - 1 else ["sleep", "600"]
            spec = RunSpec(
                registry.ref("oci/busybox"),
                argv,
                name=f"tdk-sst-{tag}-{i}",
                network="none",
            )
            ids.append(local.run(spec).id)
        assert not remote.is_podman
        me = os.getpid()
        ssh_before = _children(me, "ssh")  # the backend's own connections
        dial_before = _dial_stdios(ssh_client)
        threads_before = set(threading.enumerate())
        dials: list[str] = []
        real_dial = sshdial.dial

        def counted_dial(host: str, timeout: float | None) -> sshdial.SSHStream:
            dials.append(threading.current_thread().name)
            return real_dial(host, timeout)

        monkeypatch.setattr(sshdial, "dial", counted_dial)
        sampler = remote.stats_sampler()
        most_ssh = most_dial = 0

        def tick() -> dict:
            nonlocal most_ssh, most_dial
            got = sampler.sample(ids)
            most_ssh = max(most_ssh, len(_children(me, "ssh") - ssh_before))
            most_dial = max(most_dial, _dial_stdios(ssh_client) - dial_before)
            return got

        try:
            deadline = time.monotonic() + 120
            got = tick()
            while got.keys() != set(ids) and time.monotonic() < deadline:
                time.sleep(0.5)
                got = tick()
            assert got.keys() == set(ids), f"{n - len(got)} containers without figures"
            assert all(s.memory_usage > 0 and s.pids >= 1 for s in got.values())
            busy = ids[-1]

            def busy_seen() -> bool:
                return busy in got and ids[0] in got and got[busy].cpu_percent > 1.0

            while not busy_seen() and time.monotonic() < deadline:
                time.sleep(0.5)  # the pollers go round: no new ssh meanwhile
                got = tick()
            assert busy_seen(), got.get(busy)
            assert got[ids[0]].cpu_percent < got[busy].cpu_percent
            assert 0 < most_ssh <= bound, most_ssh
            assert 0 < most_dial <= bound, most_dial
            # The stream client's version probe and the pollers' are dials of their own
            # that the first stream and poll take over.
            assert len(dials) <= bound, dials
            names = [t.name for t in sampler.threads()]
            assert sum(x.startswith("docker-stats-poll") for x in names) == SSH_POLLERS
            assert len(names) == bound, names
        finally:
            sampler.close()
        assert _children(me, "ssh") <= ssh_before  # every ssh it started ended and was reaped
        left = [t.name for t in set(threading.enumerate()) - threads_before if t.is_alive()]
        assert not [x for x in left if x.startswith("docker-stats")], left
    finally:
        remote.close()
        for cid in ids:
            local.remove(cid, force=True)
        local.close()
