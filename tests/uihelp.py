"""Helpers for the UI tests: run a Pilot scenario, wait for the app to reach a state.

Scenarios are plain coroutines run with asyncio.run from sync tests, so the
suite needs no asyncio plugin. Conditions are polled between short pauses:
the app's workers are real threads talking to the real engine.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from tuidock.app import TuidockApp
    from tuidock.backends.base import ContainerSummary
    from tuidock.backends.local import LocalBackend

SIZE = (160, 48)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())


async def wait_until(
    pilot: Pilot, check: Callable[[], object], timeout: float = 20.0, what: str = ""
) -> object:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await pilot.pause(0.05)


def local_backend() -> LocalBackend:
    """The local engine at $TUIDOCK_ROOT behind the seam, as `tuidock` hands it to the UI."""
    from tuidock.backends.local import LocalBackend
    from tuidock.runtime.engine import default_engine

    return LocalBackend(default_engine())


def make_app(**kwargs: object) -> TuidockApp:
    from tuidock.app import TuidockApp

    kwargs.setdefault("backend", local_backend())
    return TuidockApp(config_dir=Path(os.environ["TUIDOCK_CONFIG"]), **kwargs)  # type: ignore[arg-type]


def exec_available() -> bool:
    """Whether the exec engineer's shell_command() (tuidock exec -it) has landed."""
    for module in ("tuidock.runtime.container.exec.shell", "tuidock.runtime.container.exec.client"):
        try:
            if hasattr(__import__(module, fromlist=["shell_command"]), "shell_command"):
                return True
        except ImportError:
            continue
    return False


def container_shell(info: ContainerSummary) -> list[str]:
    """`tuidock exec -it` once it exists; until then nsenter into the container's
    namespaces (its pid 1's root and mounts), which is a shell in the container too."""
    if exec_available():
        return local_backend().shell_command(info.id)
    nsenter = shutil.which("nsenter")
    assert nsenter, "nsenter (util-linux) is needed until tuidock exec exists"
    pid = str(info.pid)
    return [nsenter, "-t", pid, "-m", "-u", "-i", "-n", "-p", "-r", "-w", "/bin/sh"]


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def python_cmd(code: str) -> str:
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"
