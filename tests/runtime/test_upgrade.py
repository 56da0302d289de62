"""Containers started before an upgrade keep working after it.

A monitor lives as long as its container, while the package under it is
replaced (pip install over the same site-packages). Here the tree of an older
release starts the containers, then the current tree replaces it in place and
stops, removes and lets them exit. What the old monitors import at their exit
must still resolve, and nothing may be left behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clihelp import Result
from containerhelp import image_fixture, no_leftovers_fixture

__all__ = ["image_fixture", "no_leftovers_fixture"]  # fixtures, used by name

REPO = Path(__file__).resolve().parents[2]
# The last release before the package was split into layers.
OLD_RELEASE = "e012122"


def _old_tree(dest: Path) -> None:
    have = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", "-q", f"{OLD_RELEASE}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    if have.returncode != 0:
        pytest.skip(f"this clone lacks the history of release {OLD_RELEASE}")
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", OLD_RELEASE, "tuidock"],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)


def _cli(site: Path, *args: str) -> Result:
    env = dict(os.environ, PYTHONPATH=str(site))
    proc = subprocess.run(
        [sys.executable, "-m", "tuidock", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def test_containers_of_the_old_tree_stop_and_go_after_the_upgrade(
    image: str, tuidock_root: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    _old_tree(site)
    kept = _cli(site, "run", "-d", "--name", "kept", image, "sleep", "1000")
    assert kept.code == 0, kept.err
    gone = _cli(site, "run", "-d", "--rm", "-v", "/data", "--name", "gone", image, "sleep", "1000")
    assert gone.code == 0, gone.err

    # The upgrade: the current tree replaces the old one in place.
    shutil.rmtree(site / "tuidock")
    shutil.copytree(
        REPO / "tuidock", site / "tuidock", ignore=shutil.ignore_patterns("__pycache__")
    )

    ps = _cli(site, "ps", "--format", "{{.Names}} {{.Status}}")
    assert ps.code == 0, ps.err
    assert sorted(line.split()[0] for line in ps.out.splitlines()) == ["gone", "kept"]

    stop = _cli(site, "stop", "-t", "1", "gone")
    assert stop.code == 0, stop.err
    deadline = time.monotonic() + 10
    while _cli(site, "ps", "-a", "-q", "--filter", "name=gone").out.strip():
        assert time.monotonic() < deadline, "--rm container of the old tree was not removed"
        time.sleep(0.1)
    volumes = _cli(site, "volume", "ls", "-q")
    assert volumes.out.strip() == "", "the --rm container's anonymous volume was left behind"

    for args in (("stop", "-t", "1", "kept"), ("start", "kept"), ("rm", "-f", "kept")):
        res = _cli(site, *args)
        assert res.code == 0, (args, res.err)
    assert _cli(site, "ps", "-a", "-q").out.strip() == ""
