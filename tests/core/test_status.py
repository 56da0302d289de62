"""ContainerStatus: docker's states, their strings, and what each allows (unit)."""

from __future__ import annotations

import json

import pytest

from tuidock.core import statusrules
from tuidock.core.status import ACTIVE, ContainerStatus
from tuidock.runtime.container.views import ContainerInfo
from tuidock.runtime.store import ctrlayout
from tuidock.runtime.store.containers import ContainerStore, initial_state

S = ContainerStatus
ALL = list(ContainerStatus)

# What docker (and tuidock) do for each operation, per status.
RULES = {
    # `start` of a running container is a no-op; docker refuses a paused one
    # ("cannot start a paused container, try unpause instead"), a dead or a
    # removing one ("container is marked for removal and cannot be started").
    "can_start": {S.CREATED, S.EXITED},
    # `stop` of a created or exited container is a no-op in docker.
    "can_stop": {S.RUNNING, S.PAUSED, S.RESTARTING},
    # "Cannot kill container: X: Container Y is not running" otherwise.
    "can_kill": {S.RUNNING, S.PAUSED},
    # "Container X is paused, unpause the container before exec";
    # "Container X is restarting, wait until the container is running".
    "can_exec": {S.RUNNING},
    # "Container X is already paused" / "Container X is not running".
    "can_pause": {S.RUNNING},
    # "Container X is not paused".
    "can_unpause": {S.PAUSED},
    # rm without -f: "cannot remove container ...: container is running".
    "can_remove": {S.CREATED, S.EXITED, S.DEAD},
    "is_active": {S.RUNNING, S.PAUSED, S.RESTARTING},
    # docker's "Up …" (and " (Paused)"): top and stats apply.
    "is_up": {S.RUNNING, S.PAUSED},
}


def test_the_values_are_dockers_strings() -> None:
    assert [s.value for s in ALL] == [
        "created",
        "running",
        "paused",
        "restarting",
        "removing",
        "exited",
        "dead",
    ]


@pytest.mark.parametrize("predicate", sorted(RULES))
def test_predicates_follow_dockers_rules(predicate: str) -> None:
    allowed = {s for s in ALL if getattr(s, predicate)}
    assert allowed == RULES[predicate]


def test_one_active_set_and_it_holds_strings_and_members() -> None:
    assert ACTIVE is statusrules.ACTIVE
    assert {"running", "paused", "restarting"} == ACTIVE
    assert S.PAUSED in ACTIVE and "paused" in ACTIVE and S.EXITED not in ACTIVE


def test_a_status_is_its_string_on_disk_and_in_output() -> None:
    assert S.RUNNING == "running" and hash(S.RUNNING) == hash("running")
    assert json.dumps({"Status": S.EXITED}) == '{"Status": "exited"}'
    assert f"{S.PAUSED}" == str(S.PAUSED) == "paused"
    assert {"running": 1}[S.RUNNING] == 1
    assert S("restarting") is S.RESTARTING


def test_of_reads_state_json() -> None:
    assert S.of({"Status": "paused"}) is S.PAUSED
    assert S.of(initial_state()) is S.CREATED
    assert S.of({}) is S.CREATED
    # A status that is none of the seven can be removed, nothing else.
    assert S.of({"Status": "bogus"}) is S.DEAD


def test_exec_fast_path_rules_agree_with_the_type() -> None:
    """exec judges plain strings from statusrules, without enum: the same answer."""
    for s in ALL:
        assert (s.value in statusrules.EXECUTABLE) == s.can_exec
        assert getattr(statusrules, s.name) == s.value


def test_container_info_status_is_the_type() -> None:
    info = ContainerInfo("a" * 64, "n", "img", "sha256:x", "sh", "", {**initial_state()})
    assert info.status is S.CREATED and info.status_text() == "Created"
    info.state.update(Status="paused", StartedAt="2024-01-01T00:00:00Z")
    assert info.status is S.PAUSED and info.status_text().endswith("(Paused)")


def test_the_container_directory_layout_is_named_once(tmp_path) -> None:
    store = ContainerStore(tmp_path)
    cid = "c" * 64
    files = store.files(cid)
    assert files.path == str(store.path(cid)) == ctrlayout.container_dir(tmp_path, cid)
    assert ctrlayout.containers_dir(tmp_path) == str(store.dir)
    for attr, name in [
        ("config", "config.json"),
        ("state", "state.json"),
        ("spec", "spec.json"),
        ("network", "network.json"),
        ("log", "ctr.log"),
        ("upper", "upper"),
        ("work", "work"),
        ("merged", "merged"),
        ("hosts", "hosts"),
        ("resolv_conf", "resolv.conf"),
    ]:
        assert getattr(files, attr) == f"{tmp_path}/containers/{cid}/{name}"
    store.create(cid, {"Id": cid}, "status-layout")
    with open(files.state) as f:
        assert json.load(f)["Status"] == "created"
    assert store.exists(cid) and store.read_config(cid)["Name"] == "/status-layout"
