"""Run the tuidock CLI as a user would: a fresh process, its own environment."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass


@dataclass
class Result:
    code: int
    out: str
    err: str


def tuidock(*args: str, input: str | None = None, timeout: float = 120) -> Result:
    proc = subprocess.run(
        [sys.executable, "-m", "tuidock", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ),
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def assert_clean_error(res: Result) -> None:
    """A failure the way users must see one: non-zero, short, no traceback."""
    assert res.code != 0, res.out
    assert "Traceback" not in res.err, res.err
    lines = [line for line in res.err.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 3, res.err
    assert lines[0].startswith("Error: "), res.err


def tuidock_popen(*args: str) -> subprocess.Popen:
    """The CLI as a background process (a stream such as `events`), text pipes."""
    return subprocess.Popen(
        [sys.executable, "-m", "tuidock", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
