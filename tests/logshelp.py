"""Helpers for the tests of the all-containers log stream: containers on the
local engine or on an engine of the `engines` fixture, writing numbered lines.

`site` (import `site_fixture`, and `image_fixture` / `no_leftovers_fixture`
from containerhelp, into a test module) runs a test on the local engine,
Docker and Podman; `Site.start` starts a container there, removed after
the test.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from clihelp import tuidock
from uihelp import local_backend, make_app

from tuidock.backends.base import ALL_SEPARATOR, LogLine, RunSpec

PAD = "x" * 80


def script(word: str, count: int, at: int = 0, then: str = "", pad: str = PAD) -> str:
    """Print `word 000001 pad` .. `word <count> pad` from the UNIX second `at` on
    (so containers started one after another write at the same time), then
    run `then`, then wait for TERM."""
    wait = f"while [ $(date +%s) -lt {at} ]; do sleep 0.1; done; " if at else ""
    then = f"{then}; " if then else ""
    return (
        f"{wait}i=1; while [ $i -le {count} ]; do "
        f'printf "{word} %06d {pad}\\n" $i; i=$((i+1)); done; {then}'
        "trap 'exit 0' TERM; while true; do sleep 1; done"
    )


class Site:
    """Where the containers run: the local engine (started as `tuidock run -d`
    does) or an engine of the `engines` fixture (through its DockerBackend)."""

    def __init__(self, kind: str, backend, image: str, endpoint=None) -> None:  # type: ignore[no-untyped-def]
        self.kind = kind
        self.backend = backend
        self.image = image
        self.endpoint = endpoint
        self.ids: list[str] = []

    def start(self, name: str, command: str) -> str:
        if self.kind == "local":
            res = tuidock("run", "-d", "--name", name, self.image, "sh", "-c", command)
            assert res.code == 0, res.err
            cid = res.out.strip()
        else:
            spec = RunSpec(self.image, ["sh", "-c", command], name=name, network="none")
            cid = self.backend.run(spec).id
        self.ids.append(cid)
        return cid

    def last_line(self, cid: str) -> str:
        """The container's last log line as its engine has it now."""
        if self.kind == "local":
            follower = self.backend.follow_log(cid, tail=1)
            try:
                lines = follower.read_new()
            finally:
                follower.close()
            return lines[-1].text if lines else ""
        return self.backend.api().logs(cid, tail=1).decode().strip()

    def wait_written(self, cids: list[str], count: int) -> None:
        """Until each container wrote its line `count` (the log is complete)."""
        deadline = time.monotonic() + 60
        while not all(f" {count:06d} " in self.last_line(cid) for cid in cids):
            assert time.monotonic() < deadline, "the containers did not write their lines"
            time.sleep(0.2)

    def app(self):  # type: ignore[no-untyped-def]
        if self.endpoint is None:
            return make_app(backend=self.backend)
        return make_app(backend=self.backend, endpoint=self.endpoint)


@pytest.fixture(name="site", params=["local", "docker", "podman"])
def site_fixture(request: pytest.FixtureRequest, tuidock_root) -> Iterator[Site]:  # type: ignore[no-untyped-def]
    if request.param == "local":
        yield Site("local", local_backend(), request.getfixturevalue("image"))
        return  # no_leftovers removes the root's containers
    from tuidock.backends.docker import DockerBackend
    from tuidock.backends.endpoint import Endpoint

    got = request.getfixturevalue("engines")[request.param]
    if isinstance(got, str):
        pytest.skip(f"{request.param} cannot start here: {got}")
    registry = request.getfixturevalue("registry")
    endpoint = Endpoint(got.name, got.host)
    backend = DockerBackend(endpoint)
    where = Site(request.param, backend, registry.ref("oci/busybox"), endpoint)
    try:
        yield where
    finally:
        for cid in where.ids:
            try:
                backend.remove(cid, force=True)
            except Exception:
                pass
        backend.close()


def names(prefix: str, count: int) -> list[str]:
    tag = uuid.uuid4().hex[:6]
    return [f"{prefix}-{tag}-{k}" for k in range(count)]


def parsed(line: LogLine) -> tuple[str, int]:
    """(the container's word, the line's number) of a stream line."""
    word, number, *_ = line.text.split(ALL_SEPARATOR, 1)[1].split()
    return word, int(number)
