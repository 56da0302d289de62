"""Helpers for tests that run real containers.

`image` pulls the busybox fixture into the test's own data root. The autouse
`no_leftovers` (import `no_leftovers_fixture` into a test module) removes every container of the
root after the test and fails it if a monitor or a cgroup of that root is
left behind; the `tuidock_root` fixture itself fails on leftover mounts.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from clihelp import tuidock

from tuidock.runtime.linux.cgroups import ContainerCgroup


@pytest.fixture(name="image")
def image_fixture(registry, tuidock_root: Path) -> str:
    ref = registry.images["oci/busybox"].reference
    res = tuidock("pull", "-q", ref)
    assert res.code == 0, res.err
    return ref


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """Live processes whose command line or working directory contains `text`.

    A monitor works in its container's directory (and an exec'd one also
    names it in its command line), so the data root or a container ID finds it.
    """
    out = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if (text in cmd or text in cwd) and state != b"Z":
            out.append((int(entry), f"{cmd} (in {cwd})"))
    return out


def monitors_of(cid: str) -> list[int]:
    """Monitor processes (comm tdmon-<ID prefix>) working for container `cid`."""
    return [
        pid
        for pid, _ in processes_mentioning(cid)
        if Path(f"/proc/{pid}/comm").read_text().strip() == f"tdmon-{cid[:9]}"
    ]


def cgroup_exists(cid: str) -> bool:
    return ContainerCgroup.load(cid).exists


def wait_for(check: Callable[[], object], timeout: float = 10.0, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.05)


def inspect(name: str) -> dict:
    res = tuidock("inspect", "--type", "container", name)
    assert res.code == 0, res.err
    return json.loads(res.out)[0]


def state(name: str) -> dict:
    return inspect(name)["State"]


@pytest.fixture(name="no_leftovers", autouse=True)
def no_leftovers_fixture(request: pytest.FixtureRequest) -> Iterator[None]:
    if "tuidock_root" not in request.fixturenames:
        yield
        return
    root: Path = request.getfixturevalue("tuidock_root")
    yield
    cdir = root / "containers"
    ids = [p.name for p in cdir.iterdir() if len(p.name) == 64] if cdir.is_dir() else []
    if ids:
        res = tuidock("rm", "-f", *ids)
        assert res.code == 0, res.err
    # Monitors exit right after their container; give the last ones a moment.
    deadline = time.monotonic() + 10
    while processes_mentioning(str(root)) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = processes_mentioning(str(root))
    assert not left, f"processes of the test's root left: {left}"
    leaked = [cid for cid in ids if cgroup_exists(cid)]
    assert not leaked, f"cgroups left: {leaked}"
