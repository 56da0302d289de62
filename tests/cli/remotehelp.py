"""Containers on the test engines for the remote CLI tests, made with the docker CLI.

`docker -H <engine>` is also the oracle: what it prints for an engine is what
`tuidock -H <engine>` must print.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

# Relative times move between two commands: one token for all of them.
_RELATIVE = re.compile(
    r"(Less than a second|About a minute|About an hour|\d+ (seconds?|minutes|hours))"
)


def docker(host: str, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", "-H", host, *args], input=input, capture_output=True, timeout=120
    )


def normalised(text: str) -> list[list[str]]:
    """A table's rows as cells (split on docker's 3-space gaps), relative times as T."""
    rows = []
    for line in text.splitlines():
        line = _RELATIVE.sub("T", line)
        rows.append([c.strip() for c in re.split(r" {2,}", line.strip())])
    return rows


@contextmanager
def container(engine, registry, *args: str, start: bool = True) -> Iterator[str]:
    """A busybox container named uniquely (its name yielded), removed after."""
    name = f"tdk-{uuid.uuid4().hex[:10]}"
    verb = ["run", "-d"] if start else ["create"]
    cmd = list(args) or ["sleep", "300"]
    res = docker(
        engine.host, *verb, "--name", name, "--network", "none",
        registry.ref("oci/busybox"), *cmd,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    try:
        yield name
    finally:
        docker(engine.host, "rm", "-f", name)
