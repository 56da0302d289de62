"""Snapshot tests of the main layouts (pytest-textual-snapshot).

Only what renders the same on every run is snapshotted: an empty engine at a
fixed data root, the dialogs, the help. Rows of real images and containers
carry registry ports, ages and IDs that change per run; their behaviour is
covered by test_ui.py instead. Update with `pytest --snapshot-update`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tuidock.app import TuidockApp
from tuidock.backends.local import LocalBackend
from tuidock.runtime.engine import Engine
from tuidock.uiconfig import UIConfig

pytest.importorskip("pytest_textual_snapshot")

SIZE = (140, 40)
ROOT = Path("/tmp/tuidock-snapshot-root")
CONFIG = Path("/tmp/tuidock-snapshot-config")  # shown by the help: a fixed path


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch):
    # The header shows the cgroup layout of the machine: fixed here.
    monkeypatch.setattr("tuidock.runtime.linux.cgroups.cgroup_version", lambda: "v2")
    # A blinking cursor makes a dialog's picture depend on when it is taken.
    from textual.widgets import Input

    monkeypatch.setattr(Input.cursor_blink, "_default", False)
    monkeypatch.setenv("TUIDOCK_ROOT", str(ROOT))
    for path in (ROOT, CONFIG):
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
    yield TuidockApp(
        backend=LocalBackend(Engine(ROOT)), config_dir=CONFIG, ui=UIConfig(theme="textual-dark")
    )
    for path in (ROOT, CONFIG):
        shutil.rmtree(path, ignore_errors=True)


async def settle(pilot) -> None:
    """Until the first poll and image load are on screen (they run in threads)."""
    app = pilot.app
    for _ in range(200):
        main = app.main
        if main is not None and main.poll_count and main.images_loads and main._cgroup != "?":
            break
        await pilot.pause(0.05)
    await pilot.pause(0.2)
    await pilot.wait_for_scheduled_animations()


def test_main_screen_empty(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, run_before=settle)


def test_help_screen(snap_compare, app):
    assert snap_compare(app, press=["question_mark"], terminal_size=SIZE, run_before=settle)


def test_pull_dialog(snap_compare, app):
    assert snap_compare(app, press=["p"], terminal_size=SIZE, run_before=settle)


def test_run_dialog(snap_compare, app):
    assert snap_compare(app, press=["r"], terminal_size=SIZE, run_before=settle)


async def all_engines_local(pilot) -> None:
    """The all-engines view over the local engine alone (an empty one: the same every run)."""
    from tuidock.backends.contexts import BUILTIN_CONTEXT
    from tuidock.screens.allengines import AllEnginesScreen

    await settle(pilot)
    app = pilot.app
    app.show_all_engines([BUILTIN_CONTEXT])
    for _ in range(200):
        view = app.screen
        if isinstance(view, AllEnginesScreen) and view.poll_count:
            break
        await pilot.pause(0.05)
    assert isinstance(app.screen, AllEnginesScreen) and app.screen.poll_count
    await pilot.pause(0.2)
    await pilot.wait_for_scheduled_animations()


def test_all_engines_view(snap_compare, app):
    assert snap_compare(app, terminal_size=(160, 45), run_before=all_engines_local)
