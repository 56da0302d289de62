"""The UI and its engine: the header names it, the switcher changes it, a lost engine shows red.

Two real local engines (two data roots) stand for two contexts: the app's
opener maps the context the switcher picks to the engine of its root, as
open_backend maps a Docker endpoint to the Docker backend.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from uihelp import SIZE, make_app, run, wait_until

from tuidock.backends.contexts import ContextStore
from tuidock.backends.endpoint import Endpoint
from tuidock.backends.local import LocalBackend
from tuidock.runtime.engine import Engine


def header_text(app) -> str:  # app: TuidockApp
    from tuidock.widgets.header import EngineHeader

    return str(app.screen.query_one(EngineHeader).render())


def import_image(root: Path, name: str) -> None:
    """One tiny image in the engine at `root` (`tuidock import` of a one-file tar)."""
    tar_path = root.parent / f"{name}.tar"
    with tarfile.open(tar_path, "w") as tar:
        data = b"hello\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    env = dict(os.environ, TUIDOCK_ROOT=str(root))
    subprocess.run(
        [sys.executable, "-m", "tuidock", "import", str(tar_path), name],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_header_names_the_context_and_the_engine(tuidock_root: Path) -> None:
    async def scenario() -> None:
        app = make_app(endpoint=Endpoint())
        async with app.run_test(size=SIZE) as pilot:
            text = await wait_until(pilot, lambda: header_text(app), what="header")
            assert "ctx local" in str(text)
            assert f"engine {tuidock_root}" in str(text)

    run(scenario)


def test_switcher_changes_the_engine_and_back(tuidock_root: Path, tuidock_config: Path) -> None:
    other = Path(tempfile.mkdtemp(prefix="tuidock-test-other-")) / "root"
    other.mkdir()
    try:
        import_image(other, "only-in-other:1")
        ContextStore(tuidock_config).create("other", f"unix://{other.parent}/engine.sock")
        roots = {"local": tuidock_root, "other": other}

        def opener(endpoint: Endpoint) -> LocalBackend:
            return LocalBackend(Engine(roots[endpoint.name]))

        async def scenario() -> None:
            app = make_app(endpoint=Endpoint(), opener=opener)
            async with app.run_test(size=SIZE) as pilot:
                main = await wait_until(pilot, lambda: app.main, what="main screen")
                await wait_until(pilot, lambda: main.images_loads, what="images")
                assert main._image_count == 0
                first_main = main

                await pilot.press("c")
                from tuidock.screens.contexts import ContextSwitcher

                switcher = await wait_until(
                    pilot,
                    lambda: isinstance(app.screen, ContextSwitcher) and app.screen.loaded,
                    what="the switcher's list",
                )
                assert switcher
                names = [c.name for c in app.screen.contexts]
                assert names[:2] == ["local", "other"], names
                await pilot.press("down", "enter")

                new = await wait_until(
                    pilot,
                    lambda: app.main is not first_main and app.main,
                    what="a new main screen",
                )
                await wait_until(pilot, lambda: new.images_loads, what="images of other")
                assert new._image_count == 1
                assert app.backend.location == str(other)
                text = header_text(app)
                assert "ctx other" in text and str(other) in text, text
                assert first_main.sampler is None  # the old engine's sampler was released

                # ... and back, through the command palette's action
                app.action_contexts()
                await wait_until(
                    pilot,
                    lambda: isinstance(app.screen, ContextSwitcher) and app.screen.loaded,
                    what="the switcher's list",
                )
                await pilot.press("up", "enter")
                back = await wait_until(
                    pilot, lambda: app.main is not new and app.main, what="main screen"
                )
                await wait_until(pilot, lambda: back.images_loads, what="images of local")
                assert back._image_count == 0
                assert "ctx local" in header_text(app)

        run(scenario)
    finally:
        import shutil

        shutil.rmtree(other.parent, ignore_errors=True)


def test_an_engine_that_goes_away_turns_the_header_red_until_it_answers(
    tuidock_root: Path,
) -> None:
    from tuidock.widgets.header import EngineHeader

    moved = tuidock_root.with_name("root.away")

    async def scenario() -> None:
        app = make_app(endpoint=Endpoint())
        async with app.run_test(size=SIZE) as pilot:
            main = await wait_until(pilot, lambda: app.main, what="main screen")
            await wait_until(pilot, lambda: main.poll_count, what="a first poll")
            header = app.screen.query_one(EngineHeader)
            assert not header.has_class("-down")
            # The engine's data root is gone (a file in its place): every read fails.
            tuidock_root.rename(moved)
            tuidock_root.write_text("")
            try:
                await wait_until(pilot, lambda: main.down, timeout=15, what="down")
                assert header.has_class("-down")
                text = header_text(app)
                assert "unreachable: Not a directory" in text, text
                assert "Traceback" not in text
            finally:
                tuidock_root.unlink()
                moved.rename(tuidock_root)
            await wait_until(pilot, lambda: not main.down, timeout=15, what="back up")
            assert not header.has_class("-down")
            assert "unreachable" not in header_text(app)

    run(scenario)
