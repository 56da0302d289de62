"""Volumes, networks, disk use and prune through the Backend seam, on every engine.

The same checks run on the local engine (a temp data root) and on the
session's private dockerd and Podman service: what the UI's panes rely on
(users of a volume, containers of a network, a refused duplicate or in-use
removal, a prune that says what went) must read the same on each.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from containerhelp import image_fixture

from tuidock.backends.base import PRUNE_KINDS, RunSpec
from tuidock.errors import Conflict, TuidockError

__all__ = ["image_fixture"]  # a fixture, used by name


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=["local", "docker", "podman"])
def any_backend(request: pytest.FixtureRequest) -> Iterator[tuple[object, str]]:
    """(a Backend, an image it can run): the local engine, then Docker and Podman."""
    if request.param == "local":
        request.getfixturevalue("tuidock_root")
        from uihelp import local_backend

        yield local_backend(), request.getfixturevalue("image")
        return
    from tuidock.backends.docker import DockerBackend
    from tuidock.backends.endpoint import Endpoint

    engine = request.getfixturevalue("engines")[request.param]
    if isinstance(engine, str):
        pytest.skip(f"{request.param} cannot start here: {engine}")
    registry = request.getfixturevalue("registry")
    backend = DockerBackend(Endpoint(engine.name, engine.host))
    ref = registry.ref("oci/busybox")
    try:
        backend.pull(ref, None, lambda ev: None, threading.Event())
        yield backend, ref
    finally:
        backend.close()


def test_volume_create_list_users_remove(any_backend):
    backend, image = any_backend
    vol, other = _name("vol"), _name("ctr")
    backend.create_volume(vol)
    try:
        with pytest.raises(Conflict, match="already exists"):
            backend.create_volume(vol)
        listed = {v.name: v for v in backend.list_volumes()}
        assert listed[vol].containers == () and listed[vol].driver == "local"
        assert backend.inspect_volume(vol)["Name"] == vol
        cid = backend.run(
            RunSpec(image, ["true"], name=other, network="none", volumes=[f"{vol}:/data"])
        ).id
        try:
            listed = {v.name: v for v in backend.list_volumes()}
            assert listed[vol].containers == (other,)
            with pytest.raises(TuidockError, match=r"in use|being used"):
                backend.remove_volume(vol)
            assert vol in {v.name for v in backend.list_volumes()}
            if backend.force_removes_volume_users:
                # Podman's force: the volume goes, and the container that used it.
                backend.remove_volume(vol, force=True)
                assert cid not in {c.id for c in backend.list_containers()}
            else:
                with pytest.raises(TuidockError, match=r"in use|being used"):
                    backend.remove_volume(vol, force=True)
        finally:
            with contextlib.suppress(TuidockError):
                backend.remove(cid, force=True)
        with contextlib.suppress(TuidockError):
            backend.remove_volume(vol)
        assert vol not in {v.name for v in backend.list_volumes()}
    finally:
        with contextlib.suppress(TuidockError):
            backend.remove_volume(vol, force=True)


def test_network_create_connect_disconnect_remove(any_backend):
    backend, image = any_backend
    net, ctr = _name("net"), _name("ctr")
    made = backend.create_network(net, "10.77.9.0/24")
    try:
        assert made.name == net
        with pytest.raises(Conflict):
            backend.create_network(net)
        listed = {n.name: n for n in backend.list_networks()}
        assert listed[net].subnet == "10.77.9.0/24" and listed[net].containers == ()
        assert backend.inspect_network(net)["Name"] == net
        cid = backend.run(RunSpec(image, ["sleep", "300"], name=ctr)).id
        try:
            backend.connect_network(net, ctr)
            assert {n.name: n for n in backend.list_networks()}[net].containers == (ctr,)
            with pytest.raises(TuidockError):
                backend.remove_network(net)
            backend.disconnect_network(net, ctr)
            assert {n.name: n for n in backend.list_networks()}[net].containers == ()
        finally:
            backend.remove(cid, force=True)
        backend.remove_network(net)
        assert net not in {n.name for n in backend.list_networks()}
    finally:
        with contextlib.suppress(TuidockError):
            backend.remove_network(net)


def test_disk_usage_rows_and_prune_of_what_was_made(any_backend):
    backend, image = any_backend
    vol, net, ctr = _name("vol"), _name("net"), _name("ctr")
    backend.create_volume(vol)
    backend.create_network(net)
    cid = backend.run(RunSpec(image, ["true"], name=ctr, network="none")).id
    usage = backend.disk_usage()
    assert [r.type for r in usage.rows] == [
        "Images",
        "Containers",
        "Local Volumes",
        "Build Cache",
    ]
    assert vol in usage.volume_sizes and cid in usage.container_sizes
    for row in usage.rows:
        assert 0 <= row.active <= row.total and 0 <= row.reclaimable <= row.size
    assert set(PRUNE_KINDS) == {"containers", "images", "volumes", "networks"}
    volumes = backend.prune("volumes")
    assert vol in volumes.removed and vol not in {v.name for v in backend.list_volumes()}
    networks = backend.prune("networks")
    assert net in networks.removed and net not in {n.name for n in backend.list_networks()}
    # The container exits at once ("true"); a prune of stopped ones takes it.
    deadline = time.monotonic() + 20
    while backend.inspect_container(cid)["State"]["Running"] and time.monotonic() < deadline:
        time.sleep(0.1)
    containers = backend.prune("containers")
    assert cid in containers.removed
    assert cid not in {c.id for c in backend.list_containers()}
    images = backend.prune("images")  # dangling only: the tagged image stays
    assert any("busybox" in t for i in backend.list_images() for t in i.repo_tags)
    assert images.reclaimed >= 0
