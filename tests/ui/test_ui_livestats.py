"""The UI sampler's open cgroup files (statsampler.LiveStats) on real containers."""

from __future__ import annotations

import pytest
from clihelp import tuidock
from containerhelp import image_fixture, no_leftovers_fixture

from tuidock.runtime.container import statsampler
from tuidock.runtime.linux.cgroups import ContainerCgroup

__all__ = ["image_fixture", "no_leftovers_fixture"]  # fixtures, used by name


def run_ok(*args: str) -> str:
    res = tuidock(*args)
    assert res.code == 0, res.err
    return res.out


def test_stat_line_finds_one_key() -> None:
    stat = b"active_file 5\ninactive_file 7\ntotal_inactive_file 9\n"
    assert statsampler._stat_line(stat, b"inactive_file") == 7
    assert statsampler._stat_line(stat, b"active_file") == 5
    assert statsampler._stat_line(stat, b"total_inactive_file") == 9
    assert statsampler._stat_line(b"usage_usec 12", b"usage_usec") == 12
    assert statsampler._stat_line(stat, b"file") == 0


@pytest.mark.parametrize("keep_open", [True, False])
def test_live_stats_read_what_stats_reads(image: str, keep_open: bool) -> None:
    cid = run_ok("run", "-d", "-m", "64m", image, "sleep", "60").strip()
    cg = ContainerCgroup.load(cid)
    live = statsampler.LiveStats(cg.usage_files(), keep_open=keep_open)
    try:
        assert live.open_fds == (5 if keep_open else 0)
        got, want = live.read(), cg.stats(block_io=False)
        assert got.memory_limit == want.memory_limit == 64 * 1024**2
        assert got.pids_current == want.pids_current == 1
        assert 0 < got.memory_usage <= 64 * 1024**2
        assert 0 < want.cpu_ns <= got.cpu_ns  # read after: never less CPU time
    finally:
        live.close()
        run_ok("rm", "-f", cid)


def test_sampler_follows_a_restart_and_forgets_a_stop(image: str) -> None:
    cid = run_ok("run", "-d", image, "sleep", "60").strip()
    try:
        first = statsampler._cgroup_stats(cid)
        assert first.pids_current == 1
        held = statsampler._live[cid]
        run_ok("restart", "-t", "0", cid)
        # The old cgroup was removed with its files: the sampler reopens the new one.
        again = statsampler._cgroup_stats(cid)
        assert again.pids_current == 1 and statsampler._live[cid] is not held
        run_ok("stop", "-t", "0", cid)
        with pytest.raises((LookupError, OSError)):
            statsampler._cgroup_stats(cid)
        assert cid not in statsampler._live
    finally:
        statsampler.forget([])
        run_ok("rm", "-f", cid)
    assert statsampler._live == {}
