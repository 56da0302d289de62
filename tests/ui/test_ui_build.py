"""The build dialog (b in the images pane) against the real engine, driven by Pilot.

Builds are real: FROM the busybox fixture pulled into the test's root, RUN
steps in real containers. The dialog's output, its current step, cancel
(Esc during a `RUN sleep 30`), the error line and the selection of the new
image are checked, and what a build leaves behind is read back by the CLI.
"""

from __future__ import annotations

import time
from pathlib import Path

from clihelp import tuidock
from containerhelp import image_fixture, no_leftovers_fixture
from uihelp import SIZE, make_app, run, wait_until

from tuidock.keymap import DEFAULT_KEYS
from tuidock.screens.build import BuildForm, BuildScreen, error_line, parse_form
from tuidock.screens.menu import ActionMenu
from tuidock.screens.verbs import image_verbs
from tuidock.widgets.images import ImagesTable

__all__ = ["image_fixture", "no_leftovers_fixture"]  # fixtures, used by name


def _context(tmp_path: Path, dockerfile: str) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    (ctx / "hello.txt").write_text("hello\n")
    return ctx


def _ids(*flags: str) -> set[str]:
    res = tuidock("images", "-q", "--no-trunc", *flags)
    assert res.code == 0, res.err
    return set(res.out.split())


async def _open_dialog(pilot, app) -> BuildScreen:  # type: ignore[no-untyped-def]
    table = app.screen.query_one(ImagesTable)
    await wait_until(pilot, lambda: table.row_count > 0, what="images listed")
    table.focus()
    await pilot.press("b")
    await wait_until(pilot, lambda: isinstance(app.screen, BuildScreen), what="build dialog")
    return app.screen


async def _fill(pilot, dialog: BuildScreen, **fields: str) -> None:  # type: ignore[no-untyped-def]
    from textual.widgets import Input

    for name, value in fields.items():
        dialog.query_one(f"#build-{name}", Input).value = value
    await pilot.pause(0.05)


def test_form_parsing_and_error_line() -> None:
    spec = parse_form(BuildForm("/ctx", "/ctx/Dockerfile", "a:1 b", "A=1 'B=two words'"))
    assert spec.tags == ("a:1", "b") and spec.build_args == {"A": "1", "B": "two words"}
    for bad in ("A", "=1"):
        try:
            parse_form(BuildForm("/ctx", "", "", bad))
        except ValueError as exc:
            assert "KEY=VALUE" in str(exc)
        else:
            raise AssertionError(bad)

    from tuidock.errors import TuidockError

    run_failed = TuidockError(
        "The command '/bin/sh -c false' returned a non-zero code: 1", "Dockerfile:3: RUN false"
    )
    assert error_line(run_failed) == (
        "Dockerfile:3: The command '/bin/sh -c false' returned a non-zero code: 1"
    )
    parse_failed = TuidockError("Dockerfile:2: unknown instruction: FOO", "Check the spelling.")
    assert error_line(parse_failed) == "Dockerfile:2: unknown instruction: FOO"


def test_key_menu_and_help_name_the_build() -> None:
    assert DEFAULT_KEYS["images.build"].keys == "b"
    assert any(v.id == "build" and v.key == "b" for v in image_verbs())


def test_build_streams_steps_and_selects_the_new_image(tmp_path, image, tuidock_root):
    ctx = _context(
        tmp_path,
        f'FROM {image}\nCOPY hello.txt /\nRUN echo "made $((6*7))" > /made && cat /made\nCMD ["cat", "/made"]\n',
    )
    steps: list[str] = []

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            dialog = await _open_dialog(pilot, app)
            file_input = dialog.query_one("#build-file")
            await _fill(pilot, dialog, context=str(ctx), tags="uibuilt:1")
            # The Dockerfile follows the context while the user did not change it.
            assert file_input.value == str(ctx / "Dockerfile")  # type: ignore[attr-defined]
            await pilot.press("enter")

            def watch() -> bool:
                if dialog.step and dialog.step not in steps:
                    steps.append(dialog.step)
                return not dialog.is_attached

            await wait_until(pilot, watch, timeout=60, what="build done")
            assert steps and steps[0].startswith("Step ")
            table = app.screen.query_one(ImagesTable)
            image_id = tuidock("images", "-q", "--no-trunc", "uibuilt:1").out.strip()
            want = f"{image_id}|docker.io/library/uibuilt:1"
            await wait_until(pilot, lambda: table.current_key == want, what="new image selected")
            assert table.has_focus
            # The build steps' images are not rows: the pane lists what `images` lists.
            listed = {k.partition("|")[0] for k in table._order}
            assert listed == _ids()
            assert len(_ids("-a")) > len(listed)

            # The menu offers the build too, and the dialog comes back with the last input.
            await pilot.press("x")
            await wait_until(pilot, lambda: isinstance(app.screen, ActionMenu), what="menu")
            assert "build" in [v.id for v in app.screen.verbs]
            await pilot.press("escape")
            await pilot.press("b")
            await wait_until(pilot, lambda: isinstance(app.screen, BuildScreen), what="dialog")
            assert app.screen.query_one("#build-tags").value == "uibuilt:1"  # type: ignore[attr-defined]

    run(scenario)
    assert all(
        s.startswith(("Step 1/4 : ", "Step 2/4 : ", "Step 3/4 : ", "Step 4/4 : ")) for s in steps
    )
    res = tuidock("run", "--rm", "--network", "none", "uibuilt:1")
    assert res.out == "made 42\n", res.out + res.err


def test_cancel_during_run_sleep_leaves_nothing(tmp_path, image, tuidock_root):
    ctx = _context(tmp_path, f"FROM {image}\nRUN echo started && sleep 30\nCMD x\n")
    before = _ids("-a")

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            dialog = await _open_dialog(pilot, app)
            await _fill(pilot, dialog, context=str(ctx), tags="never:1")
            await pilot.press("enter")
            await wait_until(
                pilot,
                lambda: dialog.step == "Step 2/3 : RUN echo started && sleep 30",
                timeout=30,
                what="RUN step shown",
            )
            shown = str(dialog.query_one("#build-step").render())
            assert shown == "Step 2/3 : RUN echo started && sleep 30"
            log = dialog.query_one("#build-output")
            await wait_until(
                pilot,
                lambda: "started" in log.lines,  # type: ignore[attr-defined]
                timeout=30,
                what="RUN output",
            )
            await wait_until(
                pilot, lambda: tuidock("ps", "-q").out.strip() != "", what="build container"
            )
            started = time.monotonic()
            await pilot.press("escape")
            await wait_until(pilot, lambda: not dialog.building, timeout=15, what="cancelled")
            assert time.monotonic() - started < 10
            status = dialog.query_one("#build-status").render()
            assert "Build cancelled" in str(status)
            assert dialog.is_attached  # the dialog stays, with what was typed
            assert dialog.query_one("#build-tags").value == "never:1"  # type: ignore[attr-defined]
            assert not dialog.query_one("#build-context").disabled
            await pilot.press("escape")
            await wait_until(pilot, lambda: not dialog.is_attached, what="dialog closed")

    run(scenario)
    assert tuidock("ps", "-aq").out.strip() == ""
    assert _ids("-a") == before
    tmp = tuidock_root / "tmp"
    assert not tmp.exists() or not list(tmp.iterdir())


def test_failed_build_names_file_and_line_and_keeps_the_form(tmp_path, image, tuidock_root):
    ctx = _context(tmp_path, f"FROM {image}\nENV A=1\nRUN exit 3\n")
    notices: list[str] = []

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            original = app.notify

            def spy(message, *args, **kwargs):  # type: ignore[no-untyped-def]
                notices.append(str(message))
                return original(message, *args, **kwargs)

            app.notify = spy  # type: ignore[method-assign]
            dialog = await _open_dialog(pilot, app)
            await _fill(pilot, dialog, context=str(ctx), tags="bad:1", args="X=1")
            await pilot.press("enter")
            await wait_until(pilot, lambda: notices, timeout=60, what="error notice")
            await wait_until(pilot, lambda: not dialog.building, what="build ended")
            assert dialog.is_attached
            assert dialog.query_one("#build-tags").value == "bad:1"  # type: ignore[attr-defined]
            assert dialog.query_one("#build-args").value == "X=1"  # type: ignore[attr-defined]
            assert dialog.query_one("#build-context").value == str(ctx)  # type: ignore[attr-defined]

    run(scenario)
    assert notices == ["Dockerfile:3: The command '/bin/sh -c exit 3' returned a non-zero code: 3"]
    assert tuidock("ps", "-aq").out.strip() == ""
