"""Pieces of the UI without the engine: stats formulas, the log view at 100k lines,
the log file tail, the keymap and the table's cell-level sync."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from textual.app import App, ComposeResult

from tuidock.backends.base import LogLine, printable
from tuidock.backends.local import LocalLogFollower
from tuidock.keymap import DEFAULT_KEYS, effective_keys, load_keymap, pretty_keys
from tuidock.runtime.container.statsampler import Sampler, cpu_percent, system_cpu_ns
from tuidock.runtime.linux.cgroups import CgroupStats
from tuidock.widgets.logview import LogView
from tuidock.widgets.resourcetable import ResourceTable, Row, compile_filter
from tuidock.widgets.spark import bars

# -- stats -------------------------------------------------------------------------------


def test_cpu_percent_is_dockers_formula():
    # 0.5 s of container CPU in 2 s of all-CPU time on 4 CPUs = 100% of one core.
    assert cpu_percent(0, 500_000_000, 0, 2_000_000_000, 4) == 100.0
    assert cpu_percent(10, 10, 0, 100, 4) == 0.0  # no container delta
    assert cpu_percent(0, 10, 100, 100, 4) == 0.0  # no system delta


def test_system_cpu_ns_sums_the_first_seven_fields():
    import os

    tck = os.sysconf("SC_CLK_TCK")
    text = "cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 1 1 1 1 1 1 1 1 1\n"
    assert system_cpu_ns(text) == 28 * 1_000_000_000 // tck
    assert system_cpu_ns() > 0


def test_sampler_needs_two_samples_and_forgets_gone_containers():
    cpu = {"a": 0}
    system = [0]

    def stats(cid: str) -> CgroupStats:
        if cid == "gone":
            raise LookupError(cid)
        return CgroupStats(cpu_ns=cpu[cid], memory_usage=50, memory_limit=200, pids_current=3)

    sampler = Sampler(read_stats=stats, read_system=lambda: system[0], ncpu=2)
    first = sampler.sample(["a", "gone"])
    assert first["a"].cpu_percent == 0.0 and "gone" not in first
    assert first["a"].memory_percent == 25.0
    cpu["a"], system[0] = 1_000, 4_000
    assert sampler.sample(["a"])["a"].cpu_percent == 50.0


def test_fixed_scale_sparkline():
    assert bars([0, 50, 100], 5, 100.0) == "   ▄█"
    assert bars([0.01], 1, 100.0) == "▁"  # any activity is visible


# -- logs ----------------------------------------------------------------------------------


def test_printable_strips_escapes_and_controls():
    assert printable("\x1b[31mred\x1b[0m\ttab\r\n") == "red     tab"
    assert printable("a\x07b\n") == "ab"


def test_log_tail_reads_then_follows_and_survives_rotation(tmp_path: Path):
    log = tmp_path / "ctr.log"

    def write(path: Path, *lines: tuple[str, str]) -> None:
        with open(path, "a") as f:
            for stream, text in lines:
                f.write(
                    json.dumps(
                        {
                            "log": text + "\n",
                            "stream": stream,
                            "time": "2024-01-01T00:00:00.000000000Z",
                        }
                    )
                    + "\n"
                )

    write(tmp_path / "ctr.log.1", ("stdout", "old"))
    write(log, ("stdout", "one"), ("stderr", "two"))
    tail = LocalLogFollower(str(tmp_path))
    got = tail.read_new()
    assert [(x.text, x.stderr) for x in got] == [("old", False), ("one", False), ("two", True)]
    assert tail.read_new() == []
    with open(log, "a") as f:
        f.write('{"log": "par')  # a torn line waits for its end
    assert tail.read_new() == []
    with open(log, "a") as f:
        f.write('tial\\n", "stream": "stdout", "time": ""}\n')
    assert [x.text for x in tail.read_new()] == ["partial"]
    log.rename(tmp_path / "ctr.log.1")
    write(log, ("stdout", "after rotation"))
    assert [x.text for x in tail.read_new()] == ["after rotation"]
    tail.close()


def test_backend_log_follower_reads_the_rotated_file_once(tuidock_root: Path):
    """Until the monitor makes ctr.log, polls bring nothing new, not ctr.log.1 again."""
    from uihelp import local_backend

    cid = "c" * 64
    cdir = tuidock_root / "containers" / cid
    cdir.mkdir(parents=True)
    entry = {"log": "old\n", "stream": "stdout", "time": "2024-01-01T00:00:00.000000000Z"}
    (cdir / "ctr.log.1").write_text(json.dumps(entry) + "\n")
    tail = local_backend().follow_log(cid)
    try:
        assert [x.text for x in tail.read_new()] == ["old"]
        assert tail.read_new() == []
        (cdir / "ctr.log").write_text(json.dumps(entry | {"log": "new\n"}) + "\n")
        assert [x.text for x in tail.read_new()] == ["new"]
        assert tail.read_new() == []
        assert not tail.gone()
    finally:
        tail.close()


class LogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LogView()


def test_log_view_holds_100k_lines_and_search_keeps_lines():
    """Behaviour only; bench/logview_bench.py measures the speed."""
    lines = [
        LogLine("2024-01-01T00:00:00.000000000Z", i % 10 == 0, f"line {i} " + "x" * (i % 50))
        for i in range(100_000)
    ]

    async def scenario() -> None:
        app = LogApp()
        async with app.run_test(size=(120, 40)) as pilot:
            view = app.query_one(LogView)
            view.budget = 64 * 1024 * 1024  # this test is about 100k lines, not the budget
            view.append(lines)
            await pilot.pause()
            assert view.virtual_size.height == 100_000
            view.scroll_to(y=50_000, animate=False, immediate=True)
            await pilot.pause()
            assert view.scroll_offset.y == 50_000
            view.set_search("line 4999")
            await pilot.pause(0.1)
            for _ in range(100):
                if view.matches:
                    break
                await pilot.pause(0.05)
            assert view.matches[:2] == [4999, 49990]
            assert len(view.lines) == 100_000  # highlight, not filter
            view.action_next_match()
            assert view.current == 49990
            view.action_prev_match()
            assert view.current == 4999
            view.wrap = True
            await pilot.pause()
            assert view.virtual_size.height >= 100_000

    asyncio.run(scenario())


# -- keys ----------------------------------------------------------------------------------


def test_keymap_overrides_and_problems(tmp_path: Path):
    (tmp_path / "keys.toml").write_text(
        '[keys]\n"app.pull" = ["P", "ctrl+p"]\n"bogus" = "x"\n"app.run" = 3\n'
    )
    keymap, problems = load_keymap(tmp_path)
    assert keymap == {"app.pull": "P,ctrl+p"}
    assert len(problems) == 2
    keys = effective_keys(keymap)
    assert keys["app.pull"] == "P,ctrl+p" and keys["app.quit"] == DEFAULT_KEYS["app.quit"].keys
    assert pretty_keys("question_mark,f1") == "? / f1"


# -- jobs ----------------------------------------------------------------------------------


def test_jobs_report_through_messages_on_the_ui_thread():
    """A job's call runs in a worker; done/then and the "<title> failed" notice run on
    the UI thread, the error worded by error_text (message, then hint)."""
    import threading

    from tuidock.errors import UsageError
    from tuidock.screens.jobs import JobScreen

    ui_thread: list[int] = []
    seen: list[tuple[str, object, bool]] = []

    def record(what: str) -> Callable[..., None]:
        return lambda *arg: seen.append((what, arg, threading.get_ident() == ui_thread[0]))

    def fail() -> None:
        raise UsageError("no such thing", hint="Try another.")

    class JobApp(App[None]):
        def on_mount(self) -> None:
            self.push_screen(JobScreen())

    async def scenario() -> None:
        app = JobApp()
        async with app.run_test() as pilot:
            ui_thread.append(threading.get_ident())
            screen = app.screen
            assert isinstance(screen, JobScreen)
            screen.run_job("Count", lambda: threading.get_ident(), record("done"), record("then"))
            await app.workers.wait_for_complete()
            await pilot.pause()
            screen.run_job("Fetch", fail, record("done"), record("then"))
            await app.workers.wait_for_complete()
            await pilot.pause()
            screen.run_job("Load", fail, failed=record("failed"))
            await app.workers.wait_for_complete()
            await pilot.pause()
            notices = [(n.title, n.message, n.severity) for n in app._notifications]
        (done, (worker,), on_ui), then, *rest = seen
        assert done == "done" and worker != ui_thread[0] and on_ui
        assert then == ("then", (), True)
        assert rest == [("then", (), True), ("failed", ("no such thing\nTry another.",), True)]
        assert notices == [("Fetch failed", "no such thing\nTry another.", "error")]

    asyncio.run(scenario())


# -- ui.toml -------------------------------------------------------------------------------


def test_ui_toml_is_one_reading_for_the_ui_and_the_shell_detection(tuidock_config: Path):
    """exec_shell comes from the same bounded, validated read as the UI's settings."""
    from tuidock.runtime.container.exec.shell import configured_shell
    from tuidock.uiconfig import load_ui_config

    ui = tuidock_config / "ui.toml"
    ui.write_text('exec_shell = " ash "\nshell = "sideways"\n')
    cfg = load_ui_config(tuidock_config)
    assert (cfg.exec_shell, cfg.shell) == ("ash", "embedded")
    assert cfg.problems == [f'{ui}: shell must be "embedded" or "fullscreen"']
    assert configured_shell() == "ash"
    ui.unlink()
    ui.symlink_to("/dev/zero")  # refused by the bounded read: defaults and a problem
    cfg = load_ui_config(tuidock_config)
    assert cfg.exec_shell is None and len(cfg.problems) == 1
    assert configured_shell() is None


# -- tables --------------------------------------------------------------------------------


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        table = ResourceTable(id="t")
        table.COLUMNS = (("a", "A", None), ("b", "B", 6))
        yield table


def test_table_sync_updates_only_changed_cells_and_keeps_cursor():
    async def scenario() -> None:
        app = TableApp()
        async with app.run_test() as pilot:
            table = app.query_one(ResourceTable)
            table.sync([Row("k1", ("one", "1"), "one"), Row("k2", ("two", "2"), "two")])
            await pilot.pause()
            table.select_key("k2")
            counter = table._update_count
            table.sync([Row("k1", ("one", "1"), "one"), Row("k2", ("two", "22"), "two")])
            assert str(table.get_cell("k2", "b")) == "22"  # held as Text: no markup parse
            assert table._update_count == counter, "a changed cell does not invalidate the table"
            table.sync(
                [
                    Row("k0", ("zero", "0"), "zero"),
                    Row("k1", ("one", "1"), "one"),
                    Row("k2", ("two", "2"), "two"),
                ]
            )
            assert table.current_key == "k2"
            table.set_filter("!one")
            assert table._order == ["k0", "k2"]
            table.set_filter("")
            table.focus()
            await pilot.press("space")
            assert table.marks == {"k2"}

    asyncio.run(scenario())
    assert compile_filter("a[")[0] is not None  # an invalid regex is searched literally


def test_table_sort_cycles_columns_compares_typed_keys_and_keeps_cursor():
    async def scenario() -> None:
        app = TableApp()
        async with app.run_test() as pilot:
            table = app.query_one(ResourceTable)
            # Text of the sizes sorts "9 MB" after "10 GB"; the typed keys do not.
            rows = [
                Row("a", ("beta", "9 MB"), "beta", ("beta", 9e6)),
                Row("b", ("Alpha", "10 GB"), "alpha", ("alpha", 10e9)),
                Row("c", ("gamma", "100 kB"), "gamma", ("gamma", 1e5)),
            ]
            table.sync(rows)
            await pilot.pause()
            table.focus()
            table.select_key("a")
            assert table._order == ["a", "b", "c"]
            await pilot.press("o")
            assert table._order == ["b", "a", "c"]
            assert table.current_key == "a", "the cursor stays on its row"
            assert "▲" in str(table.columns[table._column_key(1)].label)  # type: ignore[index]
            await pilot.press("o")
            assert table._order == ["c", "a", "b"]
            await pilot.press("O")
            assert table._order == ["b", "a", "c"]
            assert "▼" in str(table.columns[table._column_key(2)].label)  # type: ignore[index]
            # A refresh with new values re-sorts, ties keep the given order.
            table.sync([*rows[:2], Row("c", ("gamma", "1 TB"), "gamma", ("gamma", 1e12))])
            assert table._order == ["c", "b", "a"]
            await pilot.press("o")
            assert table.sort_column is None
            assert table._order == ["a", "b", "c"]

    asyncio.run(scenario())


def test_range_mark_from_the_last_marked_row_to_the_cursor():
    async def scenario() -> None:
        app = TableApp()
        async with app.run_test() as pilot:
            table = app.query_one(ResourceTable)
            table.sync([Row(f"k{i}", (f"r{i}", str(i)), f"r{i}") for i in range(6)])
            await pilot.pause()
            table.focus()
            table.select_key("k1")
            await pilot.press("space")  # marks k1, cursor moves to k2
            table.select_key("k4")
            await pilot.press("V")
            assert table.marks == {"k1", "k2", "k3", "k4"}
            table.select_key("k5")
            await pilot.press("V")  # the range goes on from k4
            assert table.marks == {"k1", "k2", "k3", "k4", "k5"}
            assert table.selection() == ["k1", "k2", "k3", "k4", "k5"]

    asyncio.run(scenario())


def test_log_tail_skips_a_backlog_larger_than_asked_from_a_line_start(tmp_path: Path):
    """A flood's backlog is passed over to its last max_bytes; the file keeps it all."""
    from tuidock.runtime.container.logs import LogTail

    def line(i: int) -> str:
        entry = {"log": f"line {i}\n", "stream": "stdout", "time": "2024-01-01T00:00:00Z"}
        return json.dumps(entry) + "\n"

    log = tmp_path / "ctr.log"
    log.write_text("".join(line(i) for i in range(1000)))
    tail = LogTail(str(tmp_path))
    try:
        got = [e.data for e in tail.read_new(max_bytes=len(line(990)) * 10 + 5)]
        assert got == [f"line {i}\n".encode() for i in range(990, 1000)]
        assert tail.skipped == log.stat().st_size - len("".join(line(i) for i in range(990, 1000)))
        with open(log, "a") as f:
            f.write(line(1000))
        assert len(tail.read_new(max_bytes=1 << 20)) == 1  # small appends are all read
        assert len(LogTail(str(tmp_path)).read_new()) == 1001  # without a bound: everything
    finally:
        tail.close()


# -- Textual's own attributes --------------------------------------------------------------


def _self_assigned(cls: type) -> set[str]:
    """The attribute names `cls`'s own methods assign on self (`self.x = ...`)."""
    import ast
    import inspect
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return set()
    names = set()
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign | ast.AugAssign):
            targets = [node.target]
        while targets:  # `self.x = ` and `a, self.x = `; not `self.x[k] = ` (a use of x)
            t = targets.pop()
            if isinstance(t, ast.Tuple | ast.List):
                targets += t.elts
            elif isinstance(t, ast.Starred):
                targets.append(t.value)
            elif isinstance(t, ast.Attribute) and getattr(t.value, "id", "") == "self":
                names.add(t.attr)
    return names


def test_no_screen_or_widget_reuses_a_private_name_of_textual():
    """A private attribute of ours named as one of Textual's overwrites its state:
    a screen that set `_closed` (the message pump's flag) could never be removed."""
    import importlib
    import pkgutil

    from textual.message_pump import MessagePump

    import tuidock.screens
    import tuidock.widgets

    modules = ["tuidock.app"]
    for pkg in (tuidock.screens, tuidock.widgets):
        modules += [f"{pkg.__name__}.{m.name}" for m in pkgutil.walk_packages(pkg.__path__)]
    ours: set[type] = set()
    for name in modules:
        module = importlib.import_module(name)
        ours |= {
            c
            for c in vars(module).values()
            if isinstance(c, type)
            and issubclass(c, MessagePump)
            and c.__module__.startswith("tuidock.")
        }
    assert ours
    clashes = []
    for cls in ours:
        theirs = set()
        for base in cls.__mro__:
            if base.__module__.split(".")[0] == "textual":  # Textual's own, not a plug-in's
                theirs |= _self_assigned(base)
                theirs |= {n for n in vars(base) if not n.startswith("__")}
        mine = {n for n in _self_assigned(cls) if n.startswith("_") and not n.startswith("__")}
        clashes += [f"{cls.__module__}.{cls.__name__}.{n}" for n in sorted(mine & theirs)]
    assert not clashes, clashes
