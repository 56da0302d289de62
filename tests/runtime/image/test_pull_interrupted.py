"""Pulls that are killed or run side by side leave one consistent store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from clihelp import tuidock
from rig.slowproxy import SlowProxy


def _start_pull(ref: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tuidock", "pull", "-q", ref],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def _wait_for(cond, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_kill_9_mid_pull_lists_nothing_and_next_pull_resumes(registry, tuidock_root: Path) -> None:
    img = registry.images["oci/busybox"]
    partial_dir = tuidock_root / "blobs" / "partial"
    with SlowProxy(registry.registry.host, rate=64 * 1024) as proxy:
        ref = img.reference.replace(registry.registry.host, proxy.host)
        proc = _start_pull(ref)
        try:
            _wait_for(
                lambda: (
                    partial_dir.is_dir()
                    and any(p.stat().st_size > 100_000 for p in partial_dir.iterdir())
                )
            )
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        assert tuidock("images", "-q", "-a").out == ""
        (partial,) = list(partial_dir.iterdir())
        have = partial.stat().st_size
        proxy.rate = 0
        res = tuidock("pull", "-q", ref)
        assert res.code == 0, res.err
        assert res.out.strip() == img.image_id
        # The second pull asked only for the rest of the blob.
        assert proxy.saw(f"Range: bytes={have}-".encode()) or proxy.saw(b"Range: bytes=")
    assert list(partial_dir.iterdir()) == []
    assert list((tuidock_root / "layers-tmp").iterdir()) == []


def test_two_concurrent_pulls_end_with_one_copy(registry, tuidock_root: Path) -> None:
    img = registry.images["layers/whiteout"]
    with SlowProxy(registry.registry.host, rate=512 * 1024) as proxy:
        ref = img.reference.replace(registry.registry.host, proxy.host)
        procs = [_start_pull(ref) for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert out.strip() == img.image_id
    assert tuidock("images", "-q", "--no-trunc").out.split() == [img.image_id]
    assert len(list((tuidock_root / "layers").iterdir())) == len(img.diff_ids)
    assert list((tuidock_root / "layers-tmp").iterdir()) == []
    assert list((tuidock_root / "blobs" / "partial").iterdir()) == []


def _build_cache_row() -> dict:
    rows = map(json.loads, tuidock("system", "df", "--format", "json").out.splitlines())
    return next(r for r in rows if r["Type"] == "Build Cache")


def test_partial_blob_of_a_killed_pull_is_counted_and_pruned(registry, tuidock_root: Path) -> None:
    img = registry.images["oci/busybox"]
    partial_dir = tuidock_root / "blobs" / "partial"
    with SlowProxy(registry.registry.host, rate=64 * 1024) as proxy:
        ref = img.reference.replace(registry.registry.host, proxy.host)
        proc = _start_pull(ref)
        try:
            _wait_for(
                lambda: (
                    partial_dir.is_dir()
                    and any(p.stat().st_size > 100_000 for p in partial_dir.iterdir())
                )
            )
            # The live pull holds its partial blob (and staging dir): counted, not reclaimable.
            row = _build_cache_row()
            assert row["Active"] != "0" and row["Reclaimable"].startswith("0B"), row
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    row = _build_cache_row()
    assert row["Active"] == "0" and not row["Reclaimable"].startswith("0B"), row
    res = tuidock("system", "prune", "-f")
    assert res.code == 0, res.err
    assert "Deleted build cache objects:" in res.out
    assert "Total reclaimed space: 0B" not in res.out, res.out
    assert list(partial_dir.iterdir()) == []
    assert list((tuidock_root / "layers-tmp").iterdir()) == []
    assert _build_cache_row()["TotalCount"] == "0"
