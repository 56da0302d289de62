"""The docker CLI as the oracle of the remote image and system tests: its own
output for the same engine, and the normalising both outputs go through."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid

import pytest

DOCKER_CLI = shutil.which("docker")


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def docker(engine, *args: str, input: str | bytes | None = None, check: bool = True):
    """The docker CLI against `engine` (the oracle of these tests)."""
    if DOCKER_CLI is None:
        pytest.skip("the docker CLI is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "TUIDOCK_"))}
    proc = subprocess.run(
        [DOCKER_CLI, "-H", engine.host, *args],
        input=input,
        capture_output=True,
        text=not isinstance(input, bytes),
        env=env,
        timeout=120,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def lines(text: str) -> list[str]:
    """Lines without the trailing blanks the docker CLI's tabwriter leaves."""
    return [line.rstrip() for line in text.splitlines()]


def daemon_error(text: str) -> str:
    """The daemon's words of a docker CLI error line (its first line)."""
    first = text.strip().splitlines()[0]
    return re.sub(r"^(Error response from daemon: |Error: )", "", first)
