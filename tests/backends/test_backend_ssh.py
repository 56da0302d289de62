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
