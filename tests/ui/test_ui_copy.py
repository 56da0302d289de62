"""The copy dialog (F on a container) driven by Pilot, on the embedded engine and on
the session's Docker and Podman (`engine`); on the embedded engine on a stopped
container too (started afterwards for the exec check).

One scenario on each: a bad container path gives a one-line error inside the
dialog with both inputs kept; the fixed path copies a file out (its content
read on disk, the notice says what was copied); F again, the direction
switched, a directory copied in (read back with exec cat/ls in the container).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from clihelp import tuidock
from containerhelp import image_fixture, wait_for
from test_ui import focus_row, start
from uihelp import SIZE, make_app, run, wait_until

from tuidock.backends.base import RunSpec
from tuidock.backends.endpoint import Endpoint
from tuidock.screens.copy import CopyDialog
from tuidock.widgets.containers import ContainersTable

__all__ = ["image_fixture"]  # a fixture, used by name

SCRIPT = "mkdir -p /data && echo hello-copy > /data/greeting; sleep 1000"


def _host_tree(tmp: Path) -> Path:
    src = tmp / f"bundle-{uuid.uuid4().hex[:6]}"
    (src / "inner").mkdir(parents=True)
    (src / "one.txt").write_text("first\n")
    (src / "inner" / "two.txt").write_text("second\n")
    return src


async def _fill(pilot, container_path: str, host_path: str) -> CopyDialog:  # type: ignore[no-untyped-def]
    dialog = pilot.app.screen
    assert isinstance(dialog, CopyDialog)
    box = dialog.query_one("#copy-container")
    box.value = ""
    box.focus()
    await pilot.press(*container_path)
    dialog.query_one("#copy-host").value = host_path
    await pilot.press("enter")
    return dialog


async def scenario(app, cid: str, tmp: Path, exec_out: Callable[[list[str]], str]) -> None:  # type: ignore[no-untyped-def]
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(ContainersTable)
        await wait_until(pilot, lambda: cid in table._order, timeout=30, what="the row")
        await focus_row(pilot, table, cid)
        await pilot.press("F")
        await wait_until(pilot, lambda: isinstance(app.screen, CopyDialog), what="dialog")

        # A bad path: the error in the dialog, one line, what was typed kept.
        dialog = await _fill(pilot, "/no/such/place", str(tmp))
        await wait_until(pilot, lambda: dialog.error, timeout=30, what="the error")
        assert "\n" not in dialog.error.strip(), dialog.error
        assert app.screen is dialog
        assert dialog.query_one("#copy-container").value == "/no/such/place"
        assert dialog.query_one("#copy-host").value == str(tmp)
        assert list(tmp.iterdir()) == []

        # Fixed: the file lands in the host directory; the notice says what came.
        await _fill(pilot, "/data/greeting", str(tmp))
        await wait_until(pilot, lambda: app.screen is not dialog, timeout=30, what="closed")
        assert (tmp / "greeting").read_text() == "hello-copy\n"
        notes = [str(n.message) for n in app._notifications if n.title == "Copy"]
        assert notes == [f"copied 1 file, 11B to {tmp}/greeting"], notes

        # The other way: a directory from the host into the container's /tmp.
        src = _host_tree(tmp)
        await pilot.press("F")
        await wait_until(pilot, lambda: isinstance(app.screen, CopyDialog), what="dialog")
        dialog = app.screen
        await pilot.click("#copy-in")
        await wait_until(pilot, lambda: not dialog.out, what="direction in")
        assert dialog.query_one("#copy-host").value == ""  # the download default left
        await _fill(pilot, "/tmp", str(src))
        await wait_until(pilot, lambda: app.screen is not dialog, timeout=30, what="closed")
        await wait_until(
            pilot,
            lambda: [
                n
                for n in app._notifications
                if str(n.message).startswith("copied 2 files, 13B to ")
                and str(n.message).endswith(f":/tmp/{src.name}")
            ],
            what="the notice of the copy in",
        )
    assert exec_out(["cat", f"/tmp/{src.name}/one.txt", f"/tmp/{src.name}/inner/two.txt"]) == (
        "first\nsecond\n"
    )
    assert exec_out(["ls", f"/tmp/{src.name}"]).split() == ["inner", "one.txt"]


@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_copy_dialog_on_the_local_engine(image, tuidock_root, tmp_path: Path, running) -> None:
    cid = start(f"ui-cp-{uuid.uuid4().hex[:8]}", image, SCRIPT)
    try:
        wait_for(lambda: tuidock("exec", cid, "test", "-f", "/data/greeting").code == 0)
        if not running:
            # A stopped container's files come from its layers, mounted by a child process.
            assert tuidock("stop", "-t", "0", cid).code == 0

        def exec_out(argv: list[str]) -> str:
            if tuidock("inspect", "-f", "{{.State.Running}}", cid).out.strip() != "true":
                assert tuidock("start", cid).code == 0  # what was copied in is still there
            res = tuidock("exec", cid, *argv)
            assert res.code == 0, res.err
            return res.out

        out = tmp_path / "out"
        out.mkdir()
        run(lambda: scenario(make_app(), cid, out, exec_out))
    finally:
        tuidock("rm", "-f", cid)


def test_copy_dialog_on_docker_and_podman(
    backend, engine, registry, tuidock_config, tmp_path: Path
) -> None:
    spec = RunSpec(
        registry.ref("oci/busybox"),
        ["sh", "-c", SCRIPT],
        name=f"tdk-ui-cp-{uuid.uuid4().hex[:8]}",
        network="none",
    )
    cid = backend.run(spec).id
    api = backend.api()

    def exec_out(argv: list[str]) -> str:
        ex = api.exec_create(cid, argv, stdout=True, stderr=True)
        out = api.exec_start(ex["Id"]).decode()
        assert api.exec_inspect(ex["Id"])["ExitCode"] == 0, out
        return out

    try:

        def ready() -> bool:
            try:
                return "greeting" in exec_out(["ls", "/data"])
            except AssertionError:
                return False  # /data not made yet

        wait_for(ready, timeout=30)
        out = tmp_path / "out"
        out.mkdir()
        app = make_app(backend=backend, endpoint=Endpoint(engine.name, engine.host))
        run(lambda: scenario(app, cid, out, exec_out))
    finally:
        backend.remove(cid, force=True)
