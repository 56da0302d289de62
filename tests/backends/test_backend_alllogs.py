"""AllLogsFollower on the local engine, Docker and Podman: the merged stream's
read_before walks back through every container's log in (time, ID) order,
with no line lost or repeated, in steps of about max_bytes; and the helpers
that merge (base.merge_new, base.merged_before) and find a stamp in a log
file (local.entry_at), on logs written here.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from containerhelp import image_fixture, no_leftovers_fixture
from logshelp import Site, names, parsed, script, site_fixture

from tuidock.backends.base import LogLine, merge_new, merged_before, tag_line
from tuidock.backends.local import entry_at

__all__ = ["image_fixture", "no_leftovers_fixture", "site_fixture"]  # fixtures, used by name


def walk_back(follower, newest: LogLine, step: int) -> list[LogLine]:  # type: ignore[no-untyped-def]
    """Every line before `newest`, read back `step` bytes at a time, oldest first."""
    out: list[LogLine] = []
    first = newest
    for _ in range(1000):
        older = follower.read_before(first, step)
        if not older:
            return out
        assert len(older) < 2 * step // 100, "a read-back holds about `step` bytes"
        out[:0] = older
        first = older[0]
    raise AssertionError("read_before did not reach the start")


def test_read_before_walks_the_merged_logs_back(site: Site) -> None:
    count = 1500
    srcs = names("walk", 3)
    at = int(time.time()) + 3
    cids = [site.start(name, script(f"w{k}", count, at)) for k, name in enumerate(srcs)]
    site.wait_written(cids, count)
    follower = site.backend.follow_all_logs()
    try:
        named = dict(zip(cids, srcs, strict=True))
        lines: list[LogLine] = []
        deadline = time.monotonic() + 30
        while not lines:  # the first reads (Docker: its streams' threads) bring the newest
            lines = follower.read_new(named)
            assert time.monotonic() < deadline, "the stream gave no lines"
            time.sleep(0.3)
        newest = lines[-1]
        back = [*walk_back(follower, newest, 32 << 10), newest]
        stamps = [x.time for x in back]
        assert stamps == sorted(stamps)
        # The logs were complete before the stream opened: everything before
        # the newest line is every line.
        for source in srcs:
            got = [parsed(x)[1] for x in back if x.source == source]
            assert got == list(range(1, count + 1)), source
    finally:
        follower.close()


# -- the merge, on lines made here -------------------------------------------------------------


def line(cid: str, stamp: str, n: int, at: object = None) -> LogLine:
    return tag_line(LogLine(stamp, False, f"n{n}", "", at), cid, cid)


def test_merge_new_cuts_at_the_latest_start_of_a_passed_over_part() -> None:
    a = [line("a", "t1", 1), line("a", "t3", 2), line("a", "t5", 3)]
    b = [line("b", "t4", 1), line("b", "t6", 2)]  # b passed lines over before t4
    got = merge_new([(a, False), (b, True)])
    assert [x.text for x in got] == ["b | n1", "a | n3", "b | n2"]
    # Under a tail window, no cut.
    got = merge_new([(a, False), (b, True)], cut_gaps=False)
    assert [x.text for x in got] == ["a | n1", "a | n2", "b | n1", "a | n3", "b | n2"]


def test_merged_before_orders_ties_by_id_and_stops_at_a_partial_read() -> None:
    top = line("b", "t5", 9)
    per = {
        "a": ([line("a", "t2", 1), line("a", "t5", 2)], True),  # a's t5 ties: a < b, before
        "b": ([line("b", "t3", 1), line("b", "t4", 2)], True),
        "c": ([line("c", "t1", 1), line("c", "t4", 2)], True),
    }
    got = merged_before(per, top, 1 << 20)
    assert [x.text for x in got] == ["c | n1", "a | n1", "b | n1", "b | n2", "c | n2", "a | n2"]
    # c read back only from t4 on: nothing older than that comes (no hole in c).
    per["c"] = ([line("c", "t4", 2)], False)
    got = merged_before(per, top, 1 << 20)
    assert [x.text for x in got] == ["c | n2", "a | n2"]
    # max_bytes keeps the newest.
    per["c"] = ([line("c", "t1", 1), line("c", "t4", 2)], True)
    got = merged_before(per, top, 1)
    assert [x.text for x in got] == ["a | n2"]


def entry(i: int, stamp: str) -> str:
    return json.dumps({"log": f"line {i}\n", "stream": "stdout", "time": stamp}) + "\n"


@pytest.mark.parametrize("rotated", [False, True])
def test_entry_at_finds_a_stamp_by_binary_search(tmp_path: Path, rotated: bool) -> None:
    stamps = [f"2024-01-01T00:00:{s:02d}.000000000Z" for s in range(60)]
    body = "".join(entry(i, stamps[i]) for i in range(60))
    if rotated:
        (tmp_path / "ctr.log.1").write_text("".join(entry(i, stamps[i]) for i in range(30)))
        (tmp_path / "ctr.log").write_text("".join(entry(i, stamps[i]) for i in range(30, 60)))
    else:
        (tmp_path / "ctr.log").write_text(body)
    from tuidock.runtime.container.logs import read_before

    def before(stamp: str, after: bool = False) -> list[int]:
        at = entry_at(str(tmp_path), stamp, after)
        if at is None:
            return []
        return [int(e.data.split()[1]) for e in read_before(str(tmp_path), at, 1 << 20)]

    for k in (0, 1, 17, 29, 30, 31, 59):
        assert before(stamps[k])[-1:] == ([k - 1] if k else []), k
        assert before(stamps[k], after=True)[-1] == k
    assert before("2030-01-01T00:00:00Z")[-1] == 59
    assert before("2000-01-01T00:00:00Z") == []
