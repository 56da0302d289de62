"""The run dialog against the real engine, and the registry errors the UI shows.

Containers run on this session's own default bridge (test_network's
`own_bridge`, which also checks that no link, netns or address is left);
published ports are reached from the test on 127.0.0.1. Registry failures
are real: a tag the fixture registry lacks, a loopback port nobody listens
on, a mirror that lacks a tag while the upstream (reached through a proxy
address nobody listens on) cannot answer.
"""

from __future__ import annotations

import json
import os
import socket

import pytest
from clihelp import assert_clean_error, tuidock
from containerhelp import image_fixture, no_leftovers_fixture
from test_network import USER_SUBNETS, http_get, own_bridge
from textual.widgets import Input, Select
from uihelp import SIZE, make_app, run, wait_until

from tuidock.errors import NotFound
from tuidock.screens.operations import error_text
from tuidock.screens.pull import PullScreen
from tuidock.screens.run import RunScreen

__all__ = ["image_fixture", "no_leftovers_fixture", "own_bridge"]  # fixtures, used by name

HTTPD = "mkdir -p /www && echo ui-published > /www/index.html && exec httpd -f -p 80 -h /www"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def inspect(name: str) -> dict:
    res = tuidock("inspect", "--type", "container", name)
    assert res.code == 0, res.err
    return json.loads(res.out)[0]


async def open_dialog(pilot, app, **values: str) -> RunScreen:
    """`r`, then the fields by their ID's tail (image, name, command, ports...)."""
    await pilot.press("r")
    dialog = app.screen
    assert isinstance(dialog, RunScreen)
    for field, value in values.items():
        dialog.query_one(f"#run-{field}", Input).value = value
    return dialog


async def run_and_close(pilot, app, dialog: RunScreen, timeout: float = 30) -> None:
    dialog.query_one("#run-ok").press()
    await wait_until(
        pilot,
        lambda: app.screen is not dialog or str(dialog.query_one("#run-error").render()).strip(),
        timeout,
        "the dialog to close",
    )
    assert app.screen is not dialog, str(dialog.query_one("#run-error").render())


def test_runs_on_the_default_bridge_and_publishes_a_port(image, tuidock_root):
    port = free_port()

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            dialog = await open_dialog(
                pilot,
                app,
                image=image,
                name="ui-web",
                command=f"sh -c '{HTTPD}'",
                ports=f"127.0.0.1:{port}:80",
            )
            select = dialog.query_one("#run-network", Select)
            assert select.value == "bridge"
            assert not dialog.query_one("#run-ports", Input).disabled
            await wait_until(
                pilot,
                lambda: {"bridge", "none", "host"} <= {v for _, v in select._options},
                what="the network list",
            )
            await run_and_close(pilot, app, dialog)

    run(scenario)
    info = inspect("ui-web")
    assert info["HostConfig"]["NetworkMode"] == "bridge"
    assert "ui-published" in http_get(port)


def test_runs_on_a_user_network_the_list_offers(image, tuidock_root):
    net = f"uinet{os.getpid():x}"
    res = tuidock("network", "create", "--subnet", str(USER_SUBNETS[0]), net)
    assert res.code == 0, res.err
    try:

        async def scenario() -> None:
            app = make_app()
            async with app.run_test(size=SIZE) as pilot:
                dialog = await open_dialog(
                    pilot, app, image=image, name="ui-onnet", command="sleep 60"
                )
                select = dialog.query_one("#run-network", Select)
                await wait_until(
                    pilot, lambda: net in {v for _, v in select._options}, what="user network"
                )
                select.value = net
                await run_and_close(pilot, app, dialog)

        run(scenario)
        info = inspect("ui-onnet")
        assert info["HostConfig"]["NetworkMode"] == net
        assert net in info["NetworkSettings"]["Networks"]
    finally:
        tuidock("rm", "-f", "ui-onnet")
        tuidock("network", "rm", net)


def test_missing_image_is_pulled_with_progress_then_run(registry, tuidock_root):
    ref = registry.images["oci/busybox"].reference
    seen: list[int] = []

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            dialog = await open_dialog(pilot, app, image=ref, name="ui-pulled", command="sleep 60")
            await run_and_close(pilot, app, dialog)
            seen.append(len(dialog.rows))

    run(scenario)
    assert seen[0] >= 1, "a progress row per layer in the dialog"
    assert inspect("ui-pulled")["State"]["Status"] == "running"


def test_a_bad_port_keeps_the_dialog_open_with_its_inputs(image, tuidock_root):
    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            dialog = await open_dialog(
                pilot, app, image=image, name="ui-badport", command="sleep 60", ports="99999:80"
            )
            dialog.query_one("#run-ok").press()
            error = dialog.query_one("#run-error")
            await wait_until(pilot, lambda: str(error.render()).strip(), what="an error")
            assert app.screen is dialog
            assert "99999" in str(error.render())
            assert dialog.query_one("#run-ports", Input).value == "99999:80"
            assert dialog.query_one("#run-name", Input).value == "ui-badport"
            assert not dialog.query_one("#run-ok").disabled, "Run can be pressed again"

    run(scenario)
    assert tuidock("ps", "-aq").out == ""


def test_restart_policy_limits_and_volumes_reach_inspect(image, tuidock_root, tmp_path):
    (tmp_path / "hello").write_text("from the host")

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            dialog = await open_dialog(
                pilot,
                app,
                image=image,
                name="ui-limits",
                command="sh -c 'cat /data/hello > /tmp/seen; sleep 60'",
                volumes=f"{tmp_path}:/data:ro",
                restart="on-failure:3",
                memory="64m",
                cpus="0.5",
                pids="50",
            )
            await run_and_close(pilot, app, dialog)

    run(scenario)
    info = inspect("ui-limits")
    host = info["HostConfig"]
    mount = next(m for m in info["Mounts"] if m["Destination"] == "/data")
    assert (mount["Type"], mount["Source"], mount["RW"]) == ("bind", str(tmp_path), False)
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert host["Memory"] == 64 << 20
    assert host["NanoCpus"] == 500_000_000
    assert host["PidsLimit"] == 50


# -- error lines --------------------------------------------------------------------------


def test_hint_naming_a_cli_command_names_the_ui_key() -> None:
    exc = NotFound(
        "No such image: x",
        "List local images with `tuidock images`, or fetch it with `tuidock pull`.",
    )
    assert error_text(exc) == "No such image: x\nPress p to pull it."
    assert error_text(exc, {"app.pull": "P"}) == "No such image: x\nPress P to pull it."


def _pull_status(ref: str) -> str:
    out: list[str] = []

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("p")
            dialog = app.screen
            assert isinstance(dialog, PullScreen)
            dialog.query_one("#pull-ref", Input).value = ref
            await pilot.press("enter")
            await wait_until(
                pilot, lambda: dialog.query_one("#pull-close").display, what="end of pull"
            )
            status = dialog.query_one("#pull-status")
            box = dialog.query_one("#pull-dialog").content_region
            assert box.contains_region(status.region), "the error wraps inside the dialog"
            out.append(str(status.render()))

    run(scenario)
    return out[0]


def test_pull_of_a_missing_tag_is_one_line_in_ui_and_cli(registry, tuidock_root):
    ref = registry.images["oci/busybox"].reference.rsplit(":", 1)[0] + ":no-such-tag"
    shown = _pull_status(ref)
    res = tuidock("pull", ref)
    assert_clean_error(res)
    message = res.err.splitlines()[0].removeprefix("Error: ")
    assert message.endswith("not found: manifest unknown"), message
    assert shown.splitlines()[0] == message
    assert "insecure" not in shown + res.err


def test_mirror_without_the_tag_and_upstream_unreachable(registry, tuidock_config, monkeypatch):
    # Docker Hub is reached through a proxy at a port nobody listens on: no
    # traffic leaves the machine and the upstream reliably cannot answer.
    (tuidock_config / "registries.toml").write_text(
        f'[registries."docker.io"]\nmirrors = ["{registry.registry.host}"]\n'
    )
    for var in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{free_port()}")
    res = tuidock("pull", "oci/busybox:no-such-tag")
    assert_clean_error(res)
    first = res.err.splitlines()[0]
    assert "oci/busybox:no-such-tag not found on the mirror" in first, first
    assert "Docker Hub (registry-1.docker.io) unreachable" in first, first
    shown = _pull_status("oci/busybox:no-such-tag")
    assert shown.splitlines()[0] == first.removeprefix("Error: ")


def test_push_to_a_closed_loopback_port_is_one_line_in_ui_and_cli(image, tuidock_root):
    dest = f"127.0.0.1:{free_port()}/ui/busybox:1"
    assert tuidock("tag", image, dest).code == 0
    res = tuidock("push", dest)
    assert_clean_error(res)
    assert "connection refused" in res.err
    assert "insecure" not in res.err, "loopback registries are insecure already"
    notices: list[str] = []

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            app.screen._push(dest, None)
            await wait_until(
                pilot,
                lambda: [n for n in app._notifications if n.title == "Push failed"],
                what="the push error",
            )
            notices.extend(n.message for n in app._notifications if n.title == "Push failed")

    run(scenario)
    lines = notices[0].splitlines()
    assert lines[0] == res.err.splitlines()[0].removeprefix("Error: ")
    assert lines[0].endswith(": connection refused")
    assert "insecure" not in notices[0]
    assert "Nothing listens" in lines[1]


@pytest.mark.parametrize("network", ["none", "host"])
def test_ports_with_none_or_host_show_the_engines_error(image, tuidock_root, network):
    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            dialog = await open_dialog(pilot, app, image=image, command="true", ports="80")
            dialog.query_one("#run-network", Select).value = network
            dialog.query_one("#run-ok").press()
            error = dialog.query_one("#run-error")
            await wait_until(pilot, lambda: str(error.render()).strip(), what="an error")
            shown = str(error.render())
            assert "port publishing needs the bridge network" in shown
            assert "Pick bridge or a user network, or clear the ports." in shown
            assert app.screen is dialog

    run(scenario)
