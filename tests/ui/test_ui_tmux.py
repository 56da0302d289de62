"""End to end in a real terminal: tmux runs `python -m tuidock`, keys go in with
send-keys, the screen comes back with capture-pane. Only the tmux session made
here (a unique name) is ever killed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest
from clihelp import tuidock
from containerhelp import image_fixture, no_leftovers_fixture  # noqa: F401

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")


class Tmux:
    def __init__(self, command: list[str], width: int = 160, height: int = 48) -> None:
        self.name = f"tuidock-test-{uuid.uuid4().hex[:10]}"
        subprocess.run(
            [
                "tmux",
                "new-session",
                "-d",
                "-s",
                self.name,
                "-x",
                str(width),
                "-y",
                str(height),
                *command,
            ],
            check=True,
        )
        # -x/-y are ignored when the server has a default-size from other sessions.
        subprocess.run(
            ["tmux", "resize-window", "-t", self.name, "-x", str(width), "-y", str(height)],
            capture_output=True,
            check=False,
        )

    def screen(self) -> str:
        return subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name],
            capture_output=True,
            text=True,
            check=False,
        ).stdout

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def alive(self) -> bool:
        return (
            subprocess.run(
                ["tmux", "has-session", "-t", self.name], capture_output=True, check=False
            ).returncode
            == 0
        )

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not on screen:\n{screen}")
            time.sleep(0.1)

    def kill(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True, check=False)


def test_app_in_a_real_terminal(registry, image, tuidock_root):
    res = tuidock(
        "run",
        "-d",
        "--name",
        "tmux-ctr",
        image,
        "sh",
        "-c",
        "while true; do echo tick; sleep 0.5; done",
    )
    assert res.code == 0, res.err
    cid = res.out.strip()
    other = registry.images["demo/multilayer"].reference
    env = [f"{k}={os.environ[k]}" for k in ("TUIDOCK_ROOT", "TUIDOCK_CONFIG")]
    term = Tmux(["env", *env, sys.executable, "-m", "tuidock"])
    try:
        screen = term.wait_for("2 Containers (1 running / 1)")
        assert "1 Images (1)" in screen and "tmux-ctr" in screen
        term.wait_for("tick")  # the logs pane follows the selected container
        term.keys("p")
        term.wait_for("Pull an image")
        term.keys(other, "Enter")
        term.wait_for("Pulled", timeout=60)
        term.keys("Enter")
        term.wait_for("1 Images (2)")  # the list behind the dialog may show it first
        deadline = time.monotonic() + 10
        while "Pull an image" in term.screen() and time.monotonic() < deadline:
            time.sleep(0.1)
        term.keys("?")
        term.wait_for("tuidock keys")
        term.keys("Escape")
        # Esc then q at once would read as alt+q: wait until the help is gone.
        deadline = time.monotonic() + 10
        while "tuidock keys" in term.screen() and time.monotonic() < deadline:
            time.sleep(0.1)
        term.keys("q")
        deadline = time.monotonic() + 15
        while term.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not term.alive(), "q ends the app (and with it the tmux session)"
    finally:
        term.kill()
    state = tuidock("inspect", "--type", "container", cid)
    assert '"Status": "running"' in state.out


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_keys_answer_and_memory_stays_bounded_while_a_log_floods(image, tuidock_root, capsys):
    """A container writing as fast as its monitor takes; the app in a real terminal
    follows it. Keys are timed (figures printed; the bound only catches a hang:
    speed is measured in bench/logflood_bench.py) and the app's RSS is bounded."""
    line = "flood " + "0123456789" * 9
    res = tuidock("run", "-d", "--name", "tmux-flood", image, "sh", "-c", f"yes '{line}'")
    assert res.code == 0, res.err
    env = [f"{k}={os.environ[k]}" for k in ("TUIDOCK_ROOT", "TUIDOCK_CONFIG")]
    term = Tmux(["env", *env, sys.executable, "-m", "tuidock"])
    try:
        term.wait_for("flood 0123456789")
        pid = int(
            subprocess.run(
                ["tmux", "list-panes", "-t", term.name, "-F", "#{pane_pid}"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()[0]
        )
        term.keys("3")  # the log view takes the keys
        time.sleep(1)

        def stamps_shown() -> bool:
            title = next((r for r in term.screen().splitlines() if "Logs: " in r), "")
            return "timestamps" in title

        latencies, rss = [], []
        for _ in range(12):
            was = stamps_shown()
            t0 = time.monotonic()
            term.keys("t")
            while stamps_shown() == was:
                assert time.monotonic() - t0 < 15, "the app stopped answering keys"
                time.sleep(0.01)
            latencies.append(time.monotonic() - t0)
            rss.append(rss_mib(pid))
            time.sleep(0.5)
        latencies.sort()
        with capsys.disabled():
            print(
                f"\ntmux log flood: keypress to screen median {latencies[6] * 1000:.0f} ms, "
                f"max {latencies[-1] * 1000:.0f} ms; RSS {min(rss):.0f}-{max(rss):.0f} MiB"
            )
        # The view holds 8 MiB of lines; the app with its tables stays well under this
        # whatever the log's size (the flood writes hundreds of MB).
        assert max(rss) < 300, rss
        assert term.alive()
    finally:
        term.kill()
