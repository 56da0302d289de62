"""`version`, `volume ls --filter`, and --filter on the prune commands."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

from clihelp import assert_clean_error, tuidock
from containerhelp import image_fixture, no_leftovers_fixture

from tuidock import __version__
from tuidock.core.prunefilter import PruneFilter, parse_prune_filters

__all__ = ["image_fixture", "no_leftovers_fixture"]  # fixtures, used by name


def run_ok(*args: str) -> str:
    res = tuidock(*args)
    assert res.code == 0, (res.code, res.out, res.err)
    return res.out


def test_version_text_json_and_template(tuidock_root: Path) -> None:
    text = run_ok("version")
    assert f"Version:        {__version__}" in text
    assert f"Python Version: CPython {platform.python_version()}" in text
    assert f"Kernel Version: {platform.release()}" in text
    doc = json.loads(run_ok("version", "--format", "json"))["Client"]
    assert doc["Version"] == __version__ and doc["Os"] == "linux"
    assert doc["OsArch"] == f"linux/{doc['Arch']}"
    assert doc["CgroupVersion"] in ("v1", "v2", "hybrid", "none")
    assert run_ok("version", "-f", "{{.Client.Version}}") == __version__ + "\n"
    assert json.loads(run_ok("version", "--format", "{{json .Client}}")) == doc
    assert run_ok("--version") == f"tuidock {__version__}\n"  # unchanged
    assert_clean_error(tuidock("version", "--format", "{{.Client.Nope}}"))


def test_volume_ls_filters(image: str) -> None:
    run_ok("volume", "create", "--label", "env=test", "--label", "team=a", "fv-used")
    run_ok("volume", "create", "--label", "env=prod", "fv-free")
    run_ok("volume", "create", "other")
    cid = run_ok("create", "-v", "fv-used:/data", image, "true").strip()

    def names(*filters: str) -> list[str]:
        args = [a for f in filters for a in ("--filter", f)]
        return run_ok("volume", "ls", "-q", *args).split()

    assert names() == ["fv-free", "fv-used", "other"]
    assert names("dangling=true") == ["fv-free", "other"]
    assert names("dangling=false") == ["fv-used"]
    assert names("name=fv") == ["fv-free", "fv-used"]
    assert names("name=^oth") == ["other"]  # a regular expression, as Docker's
    assert names("name=other", "name=fv-free") == ["fv-free", "other"]  # same key: OR
    assert names("name=fv", "dangling=true") == ["fv-free"]  # different keys: AND
    assert names("label=env") == ["fv-free", "fv-used"]
    assert names("label=env=test") == ["fv-used"]
    assert names("label=env", "label=team=a") == ["fv-used"]  # labels: every one holds
    assert names("driver=local") == ["fv-free", "fv-used", "other"]
    assert names("driver=nfs") == []
    out = run_ok("volume", "ls", "--filter", "label=env=prod", "--format", "{{.Name}} {{.Driver}}")
    assert out == "fv-free local\n"
    out = run_ok("volume", "ls", "--filter", "name=fv-used", "--format", "{{.Labels}}")
    assert out == "env=test,team=a\n"
    table = run_ok("volume", "ls", "-f", "dangling=false")
    # The docker CLI's columns are at least 10 wide (its tabwriter's minwidth).
    assert table.splitlines() == ["DRIVER    VOLUME NAME", "local     fv-used"]
    assert_clean_error(tuidock("volume", "ls", "--filter", "size=1"))
    assert_clean_error(tuidock("volume", "ls", "--filter", "dangling=maybe"))
    assert_clean_error(tuidock("volume", "ls", "--filter", "nokey"))

    # prune --filter label: only unused volumes that carry it (-a: named ones too)
    out = run_ok("volume", "prune", "-a", "-f", "--filter", "label=env")
    assert out.splitlines()[:2] == ["Deleted Volumes:", "fv-free"]
    assert names() == ["fv-used", "other"]
    assert_clean_error(tuidock("volume", "prune", "-f", "--filter", "until=1h"))
    run_ok("rm", cid)


def test_container_prune_until_and_label(image: str) -> None:
    old = run_ok("create", "--label", "keep=no", image, "true").strip()
    labelled = run_ok("create", "--label", "keep=yes", image, "true").strip()
    time.sleep(1.1)
    bound = time.time()
    new = run_ok("create", image, "true").strip()

    out = run_ok(
        "container", "prune", "-f", "--filter", f"until={bound:.3f}", "--filter", "label!=keep=yes"
    )
    assert out.splitlines()[:2] == ["Deleted Containers:", old]
    left = set(run_ok("ps", "-a", "-q", "--no-trunc").split())
    assert left == {labelled, new}
    out = run_ok("container", "prune", "-f", "--filter", "label=keep")
    assert labelled in out and new not in out
    assert run_ok("ps", "-a", "-q", "--no-trunc").split() == [new]
    assert_clean_error(tuidock("container", "prune", "-f", "--filter", "name=x"))
    assert_clean_error(tuidock("container", "prune", "-f", "--filter", "until=whenever"))
    run_ok("rm", new)


def test_image_and_system_prune_filters(image: str) -> None:
    # The fixture image was built long before this test: until=<an hour ago> takes it...
    # but label=nosuch keeps it, and until in the far past keeps it too.
    out = run_ok("image", "prune", "-a", "-f", "--filter", "until=1970-01-02T00:00:00Z")
    assert "Deleted Images" not in out
    out = run_ok("image", "prune", "-a", "-f", "--filter", "label=nosuch")
    assert "Deleted Images" not in out
    assert run_ok("images", "-q")

    cid = run_ok("create", "--label", "stage=ci", image, "true").strip()
    other = run_ok("create", image, "true").strip()
    assert_clean_error(tuidock("system", "prune", "-f", "--volumes", "--filter", "until=1h"))
    out = run_ok("system", "prune", "-f", "-a", "--filter", "label=stage=ci")
    assert "Deleted Containers:" in out and cid in out and other not in out
    assert "Deleted Images" not in out  # the image has no such label
    assert run_ok("ps", "-a", "-q", "--no-trunc").split() == [other]
    out = run_ok("system", "prune", "-f", "-a", "--filter", "until=0s")
    assert other in out and "deleted: sha256:" in out
    assert run_ok("images", "-q") == ""
    # Each image the prune removed is an untag then a delete event.
    fmt = "{{.Action}} {{.Actor.ID}}"
    evs = run_ok(
        "events", "--since", "0", "--until", "0s", "--filter", "type=image", "--format", fmt
    )
    deleted = [line.split()[1] for line in evs.splitlines() if line.startswith("delete ")]
    assert deleted and all(f"deleted: {i}" in out for i in deleted)


def test_prune_filter_units() -> None:
    f = parse_prune_filters(["until=2024-01-01T00:00:00Z", "label=a", "label!=b=1"])
    assert isinstance(f, PruneFilter)
    assert f.allows("2023-12-31T23:59:59Z", {"a": ""})
    assert not f.allows("2024-01-01T00:00:01Z", {"a": ""})  # newer than until: kept
    assert not f.allows("2023-01-01T00:00:00Z", {})  # lacks label a
    assert not f.allows("2023-01-01T00:00:00Z", {"a": "", "b": "1"})
    assert f.allows("2023-01-01T00:00:00Z", {"a": "", "b": "2"})
    assert f.allows(1_600_000_000.0, {"a": "x"})
    assert not f.allows("", {"a": ""})  # unknown creation time: kept
    assert parse_prune_filters([]).allows(None, None)
